"""Read HubSpot contacts changed since a cursor: profile fields, stage, lead status, BANT,
and when sales set the stage and for how much the contact was won.

Sorted by ``lastmodifieddate`` ascending, each page starts again from the newest
modification time read (the ones read at that instant are skipped): the search API's
10,000-result cap per query is never reached, and a contact edited during the read, which
moves to the end of the order, shifts nothing that is still to come. The cursor, committed
with each page, stays five minutes behind now, as HubSpot's search index lags writes.

A stage sales set (SQL, customer) is dated by HubSpot's ``hs_lifecyclestage_<value>_date``
property of the value the contact holds ("Became a customer date"; a portal's custom
stage values have none, and are then dated by the read); a won contact's close date is
the customer one. The won amount is the property the mapping names in
``won_amount_property`` (HubSpot's own ``total_revenue``: the sum of the contact's closed
won deals).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from hubspot import HubSpot
from hubspot.crm.contacts import Filter, FilterGroup, PublicObjectSearchRequest

from adapters.hubspot.client import Caller, message_of
from connector.crm.mapping import CrmMapping
from connector.errors import FatalError
from connector.model import SalesSignals, Stage, crm_stage_field
from connector.ports import ProfileSnapshot, SnapshotPage

__all__ = ["SEARCH_CAP", "HubSpotReader", "stage_date_property"]

SEARCH_CAP = 10_000  # results one search query can page through
_PAGE = 200  # the search API's largest page
_MODIFIED = "lastmodifieddate"
_TRUE = frozenset({"true", "1", "yes", "y"})
_INDEX_LAG = timedelta(minutes=5)


def stage_date_property(value: str) -> str:
    """HubSpot's property holding when a contact last entered the stage ``value``."""
    return f"hs_lifecyclestage_{value}_date"


def _amount(value: str | None) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        amount = float(value)
    except ValueError:
        return None
    return amount if math.isfinite(amount) else None  # float() also reads "nan", "inf"


def _millis_of(item: Mapping[str, Any]) -> int:
    modified = _moment((item.get("properties") or {}).get(_MODIFIED))
    return 0 if modified is None else int(modified.timestamp() * 1000)


def _moment(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        if value.isdigit():
            return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


class HubSpotReader:
    name = "hubspot"

    def __init__(
        self, client: HubSpot, *, caller: Caller, mapping: CrmMapping, timeout_s: float = 30
    ) -> None:
        self._search = client.crm.contacts.search_api
        self._caller = caller
        self._mapping = mapping
        self._timeout_s = timeout_s
        self._stages = mapping.stage_of_value()
        read = {"email", _MODIFIED, "lifecyclestage", *mapping.profile, *mapping.bant.values()}
        if mapping.lead_status_property:
            read.add(mapping.lead_status_property)
        # Only the dates of the stages sales set: the others are not signals.
        read.update(stage_date_property(value) for value in self._stages)
        if mapping.won_amount_property:
            read.add(mapping.won_amount_property)
        self._properties = sorted(read)
        self.queries = 0

    def read_changes(self, cursor: str | None) -> Iterator[SnapshotPage]:
        since = int(cursor or 0)  # epoch milliseconds of the last modification read
        at_since: set[str] = set()  # ids already read whose modification time is `since`
        offset = 0  # only used while one page's worth of contacts shares `since`
        while True:
            answer = self._page(since, offset)
            results = answer.get("results", [])
            times = [_millis_of(item) for item in results]
            fresh = [item for item in results if str(item["id"]) not in at_since]
            newest = max(times, default=since)
            if newest > since:
                # Next page from the newest time read, from the first result again: an
                # offset would shift when a contact is edited during the read.
                at_since = {
                    str(item["id"]) for item, ms in zip(results, times, strict=True) if ms == newest
                }
                since, offset = newest, 0
            else:
                at_since.update(str(item["id"]) for item in results)
                offset += len(results)
                if offset + _PAGE > SEARCH_CAP:
                    raise FatalError(
                        f"more than {SEARCH_CAP:,} HubSpot contacts share the modification "
                        f"time {since}: the search API cannot page through them",
                        hint="report it: leadsync would need another tie-breaker here",
                    )
            # The cursor stays a little behind now: HubSpot's search index lags writes.
            lagging = int((datetime.now(UTC) - _INDEX_LAG).timestamp() * 1000)
            yield SnapshotPage(
                [self._snapshot(item) for item in fresh], cursor=str(min(since, lagging))
            )
            if not (answer.get("paging") or {}).get("next") or not results:
                return

    def _page(self, since: int, after: int) -> dict[str, Any]:
        request = PublicObjectSearchRequest(
            filter_groups=[
                FilterGroup(
                    filters=[Filter(property_name=_MODIFIED, operator="GTE", value=str(since))]
                )
            ],
            sorts=[_MODIFIED],
            properties=self._properties,
            limit=_PAGE,
            after=str(after),
        )
        self.queries += 1
        status, answer = self._caller.call(
            partial(
                self._search.do_search,
                request,
                _preload_content=False,
                _request_timeout=self._timeout_s,
            )
        )
        if status >= 300:
            raise FatalError(f"HubSpot refused the contact search: {message_of(answer)}")
        return answer

    def _snapshot(self, item: Mapping[str, Any]) -> ProfileSnapshot:
        properties: Mapping[str, str | None] = item.get("properties") or {}
        email = properties.get("email") or None
        observed = _moment(properties.get(_MODIFIED)) or datetime.now(UTC)
        mapping = self._mapping
        fields = {
            ours: properties.get(theirs)
            for theirs, ours in mapping.profile.items()
            if properties.get(theirs) not in (None, "")
        }
        # What HubSpot holds now: pushes compare with it, not with their last write.
        fields[crm_stage_field("hubspot")] = properties.get("lifecyclestage") or ""
        status_value = (
            properties.get(mapping.lead_status_property) if mapping.lead_status_property else None
        )
        stage = properties.get("lifecyclestage") or ""
        signal_stage = self._stages.get(stage)
        won = bool(stage) and stage == mapping.stages.get(Stage.CUSTOMER)
        changed_at = _moment(properties.get(stage_date_property(stage))) if signal_stage else None
        sales = SalesSignals(
            stage=signal_stage,
            status=mapping.lead_statuses.get(status_value or ""),
            bant=frozenset(
                answer
                for answer, theirs in mapping.bant.items()
                if str(properties.get(theirs) or "").strip().lower() in _TRUE
            ),
            won=won,
            changed_at=changed_at,
            won_at=changed_at if won else None,
            won_amount=(
                _amount(properties.get(mapping.won_amount_property))
                if mapping.won_amount_property
                else None
            ),
        )
        return ProfileSnapshot(
            "hubspot",
            observed,
            email,
            ids={"hubspot": str(item["id"])},
            fields=fields,
            sales=sales,
        )
