"""What calibration counts: one observation per known contact, its band, when it entered
that band, and whether it became a customer within the horizon after.

Pure. The band is that of the contact's peak score before it became a customer (the score
it had when sales could still act on it), under the bands' own rules: warm from
``warm_from``, hot above ``hot_above``. The contact entered that band when its running
score first reached it; a cold contact, with its first event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from connector.model import ScoreLine, Temperature
from connector.scoring.lifecycle import Bands, temperature_for
from connector.scoring.trajectory import first_above, first_reaching, peak_score

__all__ = ["Observation", "Outcome", "observe", "outcome_of"]


class Outcome(StrEnum):
    CONVERTED = "converted"
    NOT_CONVERTED = "not_converted"
    # The horizon has not passed yet and the contact is no customer: nothing to count.
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Observation:
    contact_id: int
    peak: float
    band: Temperature
    entered_at: datetime
    customer_at: datetime | None
    outcome: Outcome


def outcome_of(
    entered_at: datetime, customer_at: datetime | None, *, as_of: datetime, horizon: timedelta
) -> Outcome:
    """Converted if the contact became a customer within ``horizon`` after entering its
    band (both ends included); not converted once the horizon has passed without that;
    else unknown."""
    deadline = entered_at + horizon
    if customer_at is not None and entered_at <= customer_at <= deadline:
        return Outcome.CONVERTED
    if deadline <= as_of:
        return Outcome.NOT_CONVERTED
    return Outcome.UNKNOWN


def _entered(lines: Sequence[ScoreLine], band: Temperature, bands: Bands) -> ScoreLine | None:
    if band is Temperature.HOT:
        return first_above(lines, bands.hot_above)
    if band is Temperature.WARM:
        return first_reaching(lines, bands.warm_from)
    return None


def observe(
    contact_id: int,
    lines: Sequence[ScoreLine],
    *,
    first_event_at: datetime | None,
    customer_at: datetime | None,
    bands: Bands,
    as_of: datetime,
    horizon: timedelta,
) -> Observation | None:
    """The contact's observation, or None when it has none: no event, or no point earned
    before it became a customer (a customer before any activity tells nothing of a band).

    ``lines`` are its detailed score's lines; ``first_event_at`` its first event's time;
    ``customer_at`` when it first became a customer (None: never).
    """
    if first_event_at is None or (customer_at is not None and customer_at < first_event_at):
        return None
    peak = peak_score(lines, before=customer_at)
    if peak is None:
        return None
    band = temperature_for(peak, bands)
    reached = _entered(lines, band, bands)
    # A fit line (the profile alone) has no time: the band holds from the first event,
    # when the contact became a lead.
    entered_at = first_event_at
    if reached is not None and reached.occurred_at is not None:
        entered_at = reached.occurred_at
    return Observation(
        contact_id,
        peak,
        band,
        entered_at,
        customer_at,
        outcome_of(entered_at, customer_at, as_of=as_of, horizon=horizon),
    )
