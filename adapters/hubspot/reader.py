"""Read HubSpot contacts changed since a cursor: profile fields, stage, lead status, BANT.

Sorted by ``lastmodifieddate`` ascending, each page starts again from the newest
modification time read (the ones read at that instant are skipped): the search API's
10,000-result cap per query is never reached, and a contact edited during the read, which
moves to the end of the order, shifts nothing that is still to come. The cursor, committed
with each page, stays five minutes behind now, as HubSpot's search index lags writes.
"""

from __future__ import annotations

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

__all__ = ["SEARCH_CAP", "HubSpotReader"]

SEARCH_CAP = 10_000  # results one search query can page through
_PAGE = 200  # the search API's largest page
_MODIFIED = "lastmodifieddate"
_TRUE = frozenset({"true", "1", "yes", "y"})
_INDEX_LAG = timedelta(minutes=5)


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
        read = {"email", _MODIFIED, "lifecyclestage", *mapping.profile, *mapping.bant.values()}
        if mapping.lead_status_property:
            read.add(mapping.lead_status_property)
        self._properties = sorted(read)
        self._stages = mapping.stage_of_value()
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
        sales = SalesSignals(
            stage=self._stages.get(stage),
            status=mapping.lead_statuses.get(status_value or ""),
            bant=frozenset(
                answer
                for answer, theirs in mapping.bant.items()
                if str(properties.get(theirs) or "").strip().lower() in _TRUE
            ),
            won=bool(stage) and stage == mapping.stages.get(Stage.CUSTOMER),
        )
        return ProfileSnapshot(
            "hubspot",
            observed,
            email,
            ids={"hubspot": str(item["id"])},
            fields=fields,
            sales=sales,
        )
