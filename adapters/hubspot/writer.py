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

from collections.abc import Iterator, Mapping, Sequence
from functools import partial
from typing import Any

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
from connector.ports import CrmRecordWrite, CrmValue, WriteResult

__all__ = ["HubSpotWriter", "hubspot_writer"]


def _text(value: CrmValue) -> str:
    """HubSpot takes every property value as a string; an empty one clears it."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class HubSpotWriter:
    name = "hubspot"

    def __init__(
        self, client: HubSpot, *, caller: Caller, batch_size: int = 100, timeout_s: float = 30
    ) -> None:
        self._batch = client.crm.contacts.batch_api
        self._caller = caller
        self._batch_size = batch_size
        self._timeout_s = timeout_s

    # -- the port ------------------------------------------------------------------------

    def write(self, records: Sequence[CrmRecordWrite]) -> list[WriteResult]:
        results: dict[int, WriteResult] = {}
        ids = {record.contact_id: record.crm_id for record in records if record.crm_id}
        unknown = [record for record in records if not record.crm_id]
        found = self._ids_by_email([record.email for record in unknown if record.email])
        to_create: list[CrmRecordWrite] = []
        for record in unknown:
            crm_id = found.get(record.email or "")
            if crm_id is not None:
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
        for result in self._update(clears):
            if result.status != "ok":
                results[result.contact_id] = result
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
        return [results[record.contact_id] for record in records]

    # -- calls -----------------------------------------------------------------------------

    def _ids_by_email(self, emails: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for batch in _chunks(sorted(set(emails)), self._batch_size):
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
            for item in answer.get("results", []):
                email = str((item.get("properties") or {}).get("email") or "").lower()
                if email:
                    found[email] = str(item["id"])
        return found

    def _create(self, records: Sequence[CrmRecordWrite]) -> list[WriteResult]:
        results: list[WriteResult] = []
        for batch in _chunks(records, self._batch_size):
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
                    self._batch.create,
                    body,
                    _preload_content=False,
                    _request_timeout=self._timeout_s,
                )
            )
            created = {
                str((item.get("properties") or {}).get("email") or "").lower(): str(item["id"])
                for item in answer.get("results", [])
            }
            reason = message_of(answer.get("errors", [answer])[0]) if status >= 207 else None
            for record in batch:
                crm_id = created.get((record.email or "").lower())
                results.append(
                    WriteResult(record.contact_id, "ok", crm_id=crm_id)
                    if crm_id is not None
                    else WriteResult(record.contact_id, "rejected", reason=reason or "not created")
                )
        return results

    def _update(self, items: Sequence[tuple[int, str, dict[str, str]]]) -> list[WriteResult]:
        results: list[WriteResult] = []
        for batch in _chunks(items, self._batch_size):
            results.extend(self._update_batch(batch))
        return results

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
            if len(batch) > 1:
                # Which record is at fault? Halves, until it stands alone.
                middle = len(batch) // 2
                return self._update_batch(batch[:middle]) + self._update_batch(batch[middle:])
            contact_id, crm_id, _ = batch[0]
            return [WriteResult(contact_id, "rejected", crm_id=crm_id, reason=message_of(answer))]
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


def _refusals(errors: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """HubSpot id -> reason, from a 207's errors (ids are in each error's context)."""
    refused: dict[str, str] = {}
    for error in errors:
        message = message_of(error)
        context = error.get("context") or {}
        named = [str(value) for values in context.values() for value in values or ()]
        for crm_id in named or [""]:
            refused.setdefault(crm_id, message)
    return refused


def hubspot_writer(
    *, base_url: str, requests_per_10s: int, batch_size: int, timeout_s: float
) -> HubSpotWriter:
    """A writer on the official client (token from the environment, retries, pacing)."""
    return HubSpotWriter(
        hubspot_client(base_url),
        caller=Caller(Pacer(requests_per_10s, 10.0)),
        batch_size=batch_size,
        timeout_s=timeout_s,
    )
