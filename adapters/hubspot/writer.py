"""Write scores and stages to HubSpot contacts through the official client.

- Known contacts (a HubSpot id linked to the contact) are updated by id.
- Others are looked up by e-mail (batch read, ``idProperty=email``) and created only when
  the record says it may be.
- 100 inputs a call; a 207 answer is read item by item: refused records come back
  rejected with HubSpot's message, the rest succeed. A 400 for a whole batch is split in
  halves until the record at fault is alone, so one bad record never sinks 99 good ones.
- A stage moving back (lifecyclestage only moves forward) is cleared in one call and set
  in a later one.

Responses are read as raw JSON (``_preload_content=False``): turning a 100-record answer
into the client's model objects costs about 70 ms, more than the call itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import orjson
from hubspot import HubSpot
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchReadInputSimplePublicObjectId,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectId,
)

from adapters.hubspot.client import Caller, hubspot_client, message_of
from adapters.hubspot.pacing import Pacer
from connector.errors import FatalError
from connector.ports import (
    CrmRecordWrite,
    CrmValue,
    WriteResult,
    crm_number_text,
    linked_to_another,
)

__all__ = ["HubSpotWriter", "hubspot_writer"]


def _text(value: CrmValue) -> str:
    """HubSpot takes every property value as a string; an empty one clears it."""
    if value is None:
        return ""
    if isinstance(value, float):
        return crm_number_text(value)
    return str(value)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class HubSpotWriter:
    name = "hubspot"

    def __init__(
        self,
        client: HubSpot,
        *,
        caller: Caller,
        batch_size: int = 100,
        timeout_s: float = 30,
        in_flight: int = 1,
    ) -> None:
        self._batch = client.crm.contacts.batch_api
        self._caller = caller
        self._batch_size = batch_size
        self._timeout_s = timeout_s
        self._in_flight = in_flight

    # -- the port ------------------------------------------------------------------------

    def write(
        self, records: Sequence[CrmRecordWrite], *, linked: Mapping[str, int] | None = None
    ) -> list[WriteResult]:
        results: dict[int, WriteResult] = {}
        ids = {record.contact_id: record.crm_id for record in records if record.crm_id}
        unknown = [record for record in records if not record.crm_id]
        found = self._ids_by_email([record.email for record in unknown if record.email])
        to_create: list[CrmRecordWrite] = []
        owners = linked or {}
        for record in unknown:
            crm_id = found.get(record.email or "")
            taken = linked_to_another(record, crm_id, owners, shown_as="HubSpot contact")
            if taken is not None:
                results[record.contact_id] = taken
            elif crm_id is not None:
                ids[record.contact_id] = crm_id
            elif record.email and record.may_create:
                to_create.append(record)
            else:
                results[record.contact_id] = WriteResult(
                    record.contact_id,
                    "deferred",
                    reason="not in HubSpot and [crm.hubspot] create does not allow creating it",
                )
        for result in self._create(to_create):
            results[result.contact_id] = result

        known = [record for record in records if record.contact_id in ids]
        clears = [
            (record.contact_id, ids[record.contact_id], dict.fromkeys(record.clear_first, ""))
            for record in known
            if record.clear_first
        ]
        # The clear goes first, in calls of its own: a batch is not applied in order.
        cleared: set[int] = set()
        for result in self._update(clears):
            if result.status != "ok":
                results[result.contact_id] = result
            else:
                cleared.add(result.contact_id)
        updates = [
            (
                record.contact_id,
                ids[record.contact_id],
                {name: _text(value) for name, value in record.fields.items()},
            )
            for record in known
            if record.contact_id not in results
        ]
        for result in self._update(updates):
            results[result.contact_id] = result
        # A record refused after its stage was cleared: the stage alone is set back, so
        # a refused field never leaves HubSpot's stage blank.
        restore = [
            (
                record.contact_id,
                ids[record.contact_id],
                {name: _text(record.fields[name]) for name in record.clear_first},
            )
            for record in known
            if record.contact_id in cleared and results[record.contact_id].status != "ok"
        ]
        self._update(restore)
        return [results[record.contact_id] for record in records]

    # -- calls -----------------------------------------------------------------------------

    def _in_parallel(self, work: Callable[[Any], list[Any]], batches: list[Any]) -> list[Any]:
        """``work`` on each batch, a few calls in flight: one at a time, a call's round
        trip (100-300 ms to HubSpot) would leave most of the rate limit unused. The pacer
        still spaces the calls."""
        if len(batches) <= 1 or self._in_flight <= 1:
            return [item for batch in batches for item in work(batch)]
        with ThreadPoolExecutor(max_workers=self._in_flight) as pool:
            return [item for done in pool.map(work, batches) for item in done]

    def _ids_by_email(self, emails: Sequence[str]) -> dict[str, str]:
        batches = list(_chunks(sorted(set(emails)), self._batch_size))
        return dict(self._in_parallel(self._look_up, batches))

    def _look_up(self, batch: Sequence[str]) -> list[tuple[str, str]]:
        body = BatchReadInputSimplePublicObjectId(
            id_property="email",
            inputs=[SimplePublicObjectId(id=email) for email in batch],
            properties=["email"],
            properties_with_history=[],
        )
        status, answer = self._caller.call(
            partial(
                self._batch.read,
                body,
                archived=False,
                _preload_content=False,
                _request_timeout=self._timeout_s,
            )
        )
        if status >= 400:
            raise FatalError(f"HubSpot refused a look-up by e-mail: {message_of(answer)}")
        found = []
        for item in answer.get("results", []):
            email = str((item.get("properties") or {}).get("email") or "").lower()
            if email:
                found.append((email, str(item["id"])))
        return found

    def _create(self, records: Sequence[CrmRecordWrite]) -> list[WriteResult]:
        return self._in_parallel(self._create_batch, list(_chunks(records, self._batch_size)))

    def _create_batch(self, batch: Sequence[CrmRecordWrite]) -> list[WriteResult]:
        body = BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[
                SimplePublicObjectBatchInputForCreate(
                    associations=[],
                    properties={
                        "email": record.email,
                        **{name: _text(value) for name, value in record.fields.items()},
                    },
                )
                for record in batch
            ]
        )
        status, answer = self._caller.call(
            partial(
                self._batch.create, body, _preload_content=False, _request_timeout=self._timeout_s
            )
        )
        if status in (400, 409):
            _stop_if_properties_are_missing(answer)
            if len(batch) > 1:
                middle = len(batch) // 2
                return self._create_batch(batch[:middle]) + self._create_batch(batch[middle:])
            # 409: it exists (an earlier attempt may have created it): the next push finds
            # it by e-mail and writes it.
            return [WriteResult(batch[0].contact_id, "rejected", reason=message_of(answer))]
        created = {
            str((item.get("properties") or {}).get("email") or "").lower(): str(item["id"])
            for item in answer.get("results", [])
        }
        errors = answer.get("errors") or []
        reason = message_of(errors[0]) if errors else "HubSpot did not confirm the creation"
        return [
            WriteResult(record.contact_id, "ok", crm_id=created[key])
            if (key := (record.email or "").lower()) in created
            else WriteResult(record.contact_id, "rejected", reason=reason)
            for record in batch
        ]

    def _update(self, items: Sequence[tuple[int, str, dict[str, str]]]) -> list[WriteResult]:
        return self._in_parallel(self._update_batch, list(_chunks(items, self._batch_size)))

    def _update_batch(self, batch: Sequence[tuple[int, str, dict[str, str]]]) -> list[WriteResult]:
        body = BatchInputSimplePublicObjectBatchInput(
            inputs=[
                SimplePublicObjectBatchInput(id=crm_id, properties=properties)
                for _, crm_id, properties in batch
            ]
        )
        status, answer = self._caller.call(
            lambda: self._batch.update(
                body, _preload_content=False, _request_timeout=self._timeout_s
            )
        )
        if status == 400:
            _stop_if_properties_are_missing(answer)
            reason = message_of(answer)
            if len(batch) > 1:
                # Which record is at fault? The first alone first: when it fails the same
                # way, the cause is the batch's, not one record's (all are kept for the
                # next push, which rejected records always are).
                alone = self._update_batch(batch[:1])
                if alone[0].status == "rejected" and alone[0].reason == reason:
                    return alone + [
                        WriteResult(contact_id, "rejected", crm_id=crm_id, reason=reason)
                        for contact_id, crm_id, _ in batch[1:]
                    ]
                rest = batch[1:]
                middle = len(rest) // 2
                halves = [rest[:middle], rest[middle:]]
                return alone + [r for half in halves if half for r in self._update_batch(half)]
            contact_id, crm_id, _ = batch[0]
            return [WriteResult(contact_id, "rejected", crm_id=crm_id, reason=reason)]
        written = {str(item.get("id")) for item in answer.get("results", [])}
        refused = _refusals(answer.get("errors", []))
        results = []
        for contact_id, crm_id, _ in batch:
            if crm_id in written:
                results.append(WriteResult(contact_id, "ok", crm_id=crm_id))
            else:
                reason = refused.get(crm_id) or refused.get("") or "HubSpot did not confirm it"
                results.append(WriteResult(contact_id, "rejected", crm_id=crm_id, reason=reason))
        return results


def _stop_if_properties_are_missing(answer: Mapping[str, Any]) -> None:
    """A property the portal lacks fails every record: no use splitting the batch."""
    text = orjson.dumps(answer).decode()
    if "PROPERTY_DOESNT_EXIST" in text or "does not exist" in text:
        raise FatalError(
            f"HubSpot lacks a mapped property: {message_of(answer)}",
            hint="run `leadsync check --online`, then `leadsync crm setup hubspot` or fix "
            "mappings/hubspot.toml",
        )


def _refusals(errors: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """HubSpot id -> reason, from a 207's errors (ids are in each error's context)."""
    refused: dict[str, str] = {}
    for error in errors:
        message = message_of(error)
        context = error.get("context") or {}
        # Only "ids" names records; other context keys (propertyName...) name fields.
        named = [str(value) for value in context.get("ids") or ()]
        for crm_id in named or [""]:
            refused.setdefault(crm_id, message)
    return refused


def hubspot_writer(
    *,
    base_url: str,
    requests_per_10s: int,
    batch_size: int,
    timeout_s: float,
    in_flight: int = 4,
) -> HubSpotWriter:
    """A writer on the official client (token from the environment, retries, pacing)."""
    return HubSpotWriter(
        hubspot_client(base_url, pool_size=in_flight),
        caller=Caller(Pacer(requests_per_10s, 10.0)),
        batch_size=batch_size,
        timeout_s=timeout_s,
        in_flight=in_flight,
    )
