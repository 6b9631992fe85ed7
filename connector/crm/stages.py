"""Whose is the stage a CRM holds, and how ours is written over it.

Pure and vendor-free: the write plan (``connector.crm.plan``) asks it for each record, and
``leadsync check --online`` asks it why a CRM's stage differs from leadsync's.

What the CRM holds is the newer of what it was last read holding and what it was last
told: a read before our last write is old news, and a write the CRM answered without
applying is only found out by the read after it. Over that value:

- nothing there, or a value the mapping's funnel lists ([stages]: leadsync's own words,
  ``lead``, ``marketingqualifiedlead``, ``other``...): our stage is written, cleared first
  when it comes before the held value (in the funnel, or in the CRM's ``stage_order``,
  whose forward-only rule is what drops a backward write);
- but a value sales set (the [stages] values of SQL and customer) ahead of ours, read
  after the contact was last scored and not what we last wrote, waits for the next
  scoring pass, which takes it as sales' answer: we would otherwise clear it;
- a value of the CRM's order that [stages] does not list is placed in that order: one
  before ours (HubSpot's ``subscriber``) is moved forward, one at or after it
  (``opportunity``, ``evangelist``) was set by sales and is left alone. The disqualified
  value (HubSpot's ``other``, last in its list) is not a step of the funnel: a
  disqualification only moves such values that come before the funnel's first one;
- a value neither lists (a stage the portal added) is the CRM's: left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from connector.crm.mapping import CrmMapping
from connector.model import Stage

__all__ = ["HeldStage", "StageCall", "StageOrder", "held_stage", "stage_call"]


class StageCall(StrEnum):
    """What a push does with the stage field of one record."""

    KEEP = "keep"  # the CRM holds our value already
    SET = "set"  # written (a forward move, or over a blank)
    CLEAR_AND_SET = "clear_and_set"  # a backward move: cleared in one call, set in a later
    THEIRS = "theirs"  # a value someone else set: left alone
    WAIT_FOR_SCORING = "wait_for_scoring"  # sales' stage, not yet seen by a scoring pass


@dataclass(frozen=True, slots=True)
class StageOrder:
    """A mapping's stage values: the funnel's order, the CRM's own, and whose they are."""

    funnel: dict[str, int]  # [stages] values in funnel order (the first line of a value)
    crm: dict[str, int]  # stage_order positions; empty without stage_order
    sales_values: frozenset[str]  # the [stages] values only sales set (SQL, customer)
    disqualified: str | None  # the value [stages] writes for a disqualified contact

    @classmethod
    def of(cls, mapping: CrmMapping) -> StageOrder:
        funnel: dict[str, int] = {}
        for value in mapping.stages.values():
            funnel.setdefault(value, len(funnel))
        return cls(
            funnel,
            {value: position for position, value in enumerate(mapping.stage_order)},
            frozenset(mapping.stage_of_value()),
            mapping.stages.get(Stage.DISQUALIFIED),
        )

    def is_before(self, value: str, other: str) -> bool:
        """Whether ``value`` comes before ``other``: the funnel decides between its own
        values, the CRM's order otherwise (False when neither places both)."""
        if value in self.funnel and other in self.funnel:
            return self.funnel[value] < self.funnel[other]
        if value in self.crm and other in self.crm:
            return self.crm[value] < self.crm[other]
        return False

    def is_backward(self, value: str, held: str) -> bool:
        """Whether writing ``value`` over ``held`` moves back, in our funnel or in the
        CRM's order (where a forward-only CRM drops such a write)."""
        in_crm = value in self.crm and held in self.crm and self.crm[value] < self.crm[held]
        return in_crm or self.is_before(value, held)


@dataclass(frozen=True, slots=True)
class HeldStage:
    """The stage value a CRM is known to hold for one contact, and where that is known."""

    value: str | None  # None: unknown (never read nor written); "" blank
    # Read after our last write (or with none) and not what we last wrote: a change made
    # in the CRM, or a write of ours it did not apply.
    changed_there: bool = False
    read_after_scoring: bool = False


def held_stage(
    *,
    read: str | None,
    read_at: datetime | None,
    written: str | None,
    written_at: datetime | None,
    scored_at: datetime | None,
) -> HeldStage:
    """The newer of the last read (``read`` at ``read_at``) and the last write.

    A read whose time the store does not know (made before leadsync kept it) wins, as
    every read did then: the first read since is timed and settles it."""
    if read is None:
        return HeldStage(written)
    is_newer = written_at is None or read_at is None or read_at > written_at
    if not is_newer:
        return HeldStage(written)
    return HeldStage(
        read,
        changed_there=read != written,
        read_after_scoring=(read_at is not None and (scored_at is None or read_at > scored_at)),
    )


def stage_call(held: HeldStage, wanted: str, order: StageOrder) -> StageCall:
    """What to do with the stage field to bring the CRM from ``held`` to ``wanted``."""
    value = held.value
    if not value:
        return StageCall.SET
    if value == wanted:
        return StageCall.KEEP
    if value in order.funnel:
        if (
            held.changed_there
            and held.read_after_scoring
            and value in order.sales_values
            and order.is_before(wanted, value)
        ):
            return StageCall.WAIT_FOR_SCORING
        if order.is_backward(wanted, value):
            return StageCall.CLEAR_AND_SET
        return StageCall.SET
    if value not in order.crm or wanted not in order.crm:
        return StageCall.THEIRS
    if wanted == order.disqualified:
        # HubSpot lists "other" last, after every stage sales set: placed there, a
        # disqualification would overwrite an opportunity or an evangelist.
        first = min(order.funnel, key=order.funnel.__getitem__, default=None)
        if first is None or first not in order.crm or order.crm[value] >= order.crm[first]:
            return StageCall.THEIRS
        return StageCall.SET
    return StageCall.SET if order.crm[value] < order.crm[wanted] else StageCall.THEIRS
