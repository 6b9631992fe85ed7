"""The won deals of Contacts: when the first closed and what they all add up to.

A contact role of a won Opportunity makes its Contact a customer. The date that counts is
the first won deal's ``CloseDate`` (when the Contact became a customer: a later deal does
not move the stage again); the amount is the sum of the ``Amount`` of every won deal the
Contact has a role on, as HubSpot's own ``total_revenue`` is (KPIs compute the margin on
it). The reader's query only finds the roles changed since its cursor, so each page is
followed by a look-up of all the won roles of the Contacts it names: a second deal won
this week adds to the first, it does not replace it.

Opportunity fields (developer.salesforce.com/docs/atlas.en-us.object_reference.meta/
object_reference/sforce_api_objects_opportunity.htm): ``Amount`` is a currency field,
nillable ("Estimated total sale amount"); ``CloseDate`` a date (no time), required.
A won deal without an Amount adds nothing; a Contact none of whose won deals has one has
no amount (not 0). A deal with several Contacts counts in full for each of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from adapters.salesforce.client import SalesforceApi
from connector.crm.mapping import CrmMapping
from connector.errors import ConfigError

__all__ = ["ContactDeals", "WonDeals", "WonTotal", "close_day", "won_amount_field"]

_ROLE = "OpportunityContactRole"
_OPPORTUNITY = "Opportunity"
# Ids go into the look-up's text: only Salesforce's own 15 or 18 characters get there.
_RECORD_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
# A GET query is refused past 16,384 bytes (414): 300 quoted, URL-encoded ids take ~8 KB.
IDS_PER_LOOK_UP = 300


def won_amount_field(mapping: CrmMapping) -> str | None:
    """The Opportunity field holding a won deal's amount, from ``won_amount_property``
    ("Opportunity.Amount" or "Amount"); None when the mapping names none.

    Raises:
        ConfigError: the property names a field of another object.
    """
    name = (mapping.won_amount_property or "").strip()
    if not name:
        return None
    owner, dot, rest = name.partition(".")
    if not dot:
        return owner
    if owner.lower() == _OPPORTUNITY.lower() and rest and "." not in rest:
        return rest
    raise ConfigError(
        f"won_amount_property {name!r} is not a field of the won Opportunity",
        key="won_amount_property",
        hint='fix `won_amount_property` in the Salesforce mapping file: "Opportunity.Amount" '
        "or another Opportunity field",
    )


def close_day(value: Any) -> datetime | None:
    """A Salesforce date ("2026-11-27", no time) as midnight UTC; None if not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        day = date.fromisoformat(value[:10])
    except ValueError:
        return None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _related(record: Mapping[str, Any], name: str) -> Any:
    related = record.get(_OPPORTUNITY)
    if not isinstance(related, Mapping):
        return None
    if name in related:
        return related[name]
    wanted = name.lower()  # answers spell names as the org does
    return next((value for key, value in related.items() if key.lower() == wanted), None)


@dataclass(frozen=True, slots=True)
class WonTotal:
    first_closed: datetime | None
    amount: float | None


@dataclass(slots=True)
class ContactDeals:
    """Each Contact's won deals: Opportunity id -> (amount, close date)."""

    amount_field: str | None
    by_contact: dict[str, dict[str, tuple[float | None, datetime | None]]] = field(
        default_factory=dict
    )

    def add(self, contact_id: str, record: Mapping[str, Any]) -> None:
        amount = _number(_related(record, self.amount_field)) if self.amount_field else None
        closed = close_day(_related(record, "CloseDate"))
        # Keyed by the Opportunity: a deal read twice (the page and the look-up) counts once.
        deal = str(record.get("OpportunityId") or f"{amount}@{closed}")
        self.by_contact.setdefault(contact_id, {})[deal] = (amount, closed)

    def of(self, contact_id: str | None, record: Mapping[str, Any]) -> WonTotal:
        """The totals of ``contact_id``, or of ``record``'s deal alone if it names none."""
        if contact_id is None:
            alone = ContactDeals(self.amount_field)
            alone.add("", record)
            deals = alone.by_contact[""]
        else:
            deals = self.by_contact.get(contact_id) or {}
        amounts = [amount for amount, _ in deals.values() if amount is not None]
        closes = [closed for _, closed in deals.values() if closed is not None]
        return WonTotal(min(closes, default=None), sum(amounts) if amounts else None)


class WonDeals:
    """Looks up the won deals of the Contacts a page of won contact roles names."""

    def __init__(self, api: SalesforceApi, *, amount_field: str | None) -> None:
        self._api = api
        self._amount_field = amount_field
        amount = (f"{_OPPORTUNITY}.{amount_field}",) if amount_field else ()
        # What the reader's role query selects too, so that a deal un-won between the two
        # queries still dates its page's snapshot.
        self.select: tuple[str, ...] = ("OpportunityId", f"{_OPPORTUNITY}.CloseDate", *amount)

    def of_contacts(self, records: Sequence[Mapping[str, Any]]) -> ContactDeals:
        deals = ContactDeals(self._amount_field)
        ids = sorted(
            {
                contact_id
                for record in records
                if isinstance(contact_id := record.get("ContactId"), str)
                and _RECORD_ID.fullmatch(contact_id)
            }
        )
        for chunk in _chunks(ids, IDS_PER_LOOK_UP):
            listed = ", ".join(f"'{contact_id}'" for contact_id in chunk)
            soql = (
                f"SELECT ContactId, {', '.join(self.select)} FROM {_ROLE} "
                f"WHERE ContactId IN ({listed}) AND {_OPPORTUNITY}.IsWon = true"
            )
            for page in self._api.query_pages(soql):
                for found in page:
                    contact_id = found.get("ContactId")
                    if isinstance(contact_id, str):
                        deals.add(contact_id, found)
        for record in records:
            contact_id = record.get("ContactId")
            if isinstance(contact_id, str) and contact_id:
                deals.add(contact_id, record)
        return deals


def _chunks(values: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
