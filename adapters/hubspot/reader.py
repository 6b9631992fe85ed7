"""Read HubSpot contacts changed since a cursor: profile fields, stage, lead status, BANT.

The search API returns at most 10,000 results per query (HubSpot answers 400 beyond), so
the read goes in windows: sorted by ``lastmodifieddate`` ascending, and when a window
nears the cap, the next one starts again from the last modification time seen. Contacts
at that very instant are read twice, which is harmless: snapshots merge idempotently.
The cursor is that modification time, committed with each page.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any

from hubspot import HubSpot
from hubspot.crm.contacts import Filter, FilterGroup, PublicObjectSearchRequest

from adapters.hubspot.client import Caller, message_of
from connector.crm_mapping import CrmMapping
from connector.errors import FatalError
from connector.lifecycle import SalesSignals
from connector.model import Stage
from connector.ports import ProfileSnapshot, SnapshotPage

__all__ = ["SEARCH_CAP", "HubSpotReader"]

SEARCH_CAP = 10_000  # results one search query can page through
_PAGE = 200  # the search API's largest page
_MODIFIED = "lastmodifieddate"
_TRUE = frozenset({"true", "1", "yes", "y"})


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
        while True:
            after = 0
            newest = since
            while True:
                answer = self._page(since, after)
                results = answer.get("results", [])
                for item in results:
                    modified = _moment((item.get("properties") or {}).get(_MODIFIED))
                    if modified is not None:
                        newest = max(newest, int(modified.timestamp() * 1000))
                yield SnapshotPage([self._snapshot(item) for item in results], cursor=str(newest))
                following = ((answer.get("paging") or {}).get("next") or {}).get("after")
                if not following or not results:
                    return
                after = int(following)
                if after + _PAGE > SEARCH_CAP:
                    break  # this window is spent: the next one starts from `newest`
            if newest == since:
                raise FatalError(
                    f"more than {SEARCH_CAP:,} HubSpot contacts share the modification time "
                    f"{since}: the search API cannot page through them",
                    hint="report it: leadsync would need another tie-breaker here",
                )
            since = newest

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
