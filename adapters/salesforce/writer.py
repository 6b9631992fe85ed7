"""Write scores and stages to Salesforce Leads and Contacts.

- Records known by id are updated by id; the others are looked up by e-mail (SOQL, lists
  kept well under Salesforce's URI limit), preferring a Contact, and following a
  converted Lead to its Contact at once. They are created (as Leads) only when the record
  may be, and never twice: after a create whose answer was lost, what it made is found by
  e-mail before the rest is sent again (``adapters.salesforce.creates``).
- Leads and Contacts share sObject Collections calls (``PATCH composite/sobjects``,
  ``allOrNone=false``, 200 records a call). Results come back in request order and are
  read by position: refusals become rejects with Salesforce's code and message; a row
  locked by another transaction (``UNABLE_TO_LOCK_ROW``) is sent again, alone with the
  other locked ones; a Lead converted since it was linked
  (``CANNOT_UPDATE_CONVERTED_LEAD``) is followed to its Contact (one query for all of
  them) and written there in the same run; a record deleted or merged away since it was
  linked is looked up again by e-mail. Each call's records are grouped by object:
  Salesforce takes at most ten runs of one type in a call.
- More than ``bulk_above`` updates go through Bulk API 2.0 (``adapters.salesforce.bulk``);
  its locked and converted rows then go through collections.
- Every call goes through ``SalesforceApi.run``, which tries a 429, a 5xx, a reset or a
  timeout again (look-ups, updates by id and Bulk steps are safe to repeat). The API
  budget may stop the push at any call: ``LimitReachedError`` carries what was written so
  far, and the rest is kept for the next push. Any other failure mid-way, retries spent
  (``WriteInterruptedError``), also hands over what Salesforce already took.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from simple_salesforce.format import format_soql, quote_soql_value

from adapters.salesforce.bulk import BulkRow, bulk_update
from adapters.salesforce.client import SalesforceApi
from adapters.salesforce.creates import create_batch
from adapters.salesforce.errors import (
    CONVERTED_CODE,
    GONE_CODES,
    LOCKED_CODE,
    errors_of,
    reason_of,
)
from adapters.salesforce.records import KNOWN_OBJECTS, fields_for, object_of
from connector.errors import LeadsyncError, LimitReachedError, WriteInterruptedError
from connector.ports import (
    RECORDS_PER_WRITE,
    ApiBudget,
    CrmRecordWrite,
    CrmValue,
    WriteResult,
    linked_to_another,
)

__all__ = ["COLLECTION_SIZE", "SalesforceWriter", "email_batches"]

COLLECTION_SIZE = 200  # records per sObject Collections call (Salesforce's limit)
# Records per Bulk API write: one job per object each (Salesforce splits a job into
# internal batches of 10,000 itself); a crash mid-job resends at most this many.
BULK_CHUNK = 100_000
# Salesforce refuses a request URI over 16,384 bytes; a look-up stays at half of it.
_QUERY_URI_BUDGET = 8_000


@dataclass(frozen=True, slots=True)
class _Update:
    contact_id: int
    crm_id: str
    sobject: str
    wanted: Mapping[str, CrmValue]  # as planned, "Object.Field" ones included
    email: str | None = None

    @property
    def fields(self) -> dict[str, CrmValue]:
        return fields_for(self.sobject, self.wanted)


def email_batches(emails: Sequence[str], select: str) -> Iterator[list[str]]:
    """``emails`` in lists whose ``select ... WHERE Email IN (...)`` query, URL-encoded,
    stays within the URI budget."""
    batch: list[str] = []
    size = len(quote(select))
    for email in emails:
        # Quoted as ``_email_query`` quotes it: what is counted is what is sent.
        cost = len(quote(quote_soql_value(email) + ","))
        if batch and size + cost > _QUERY_URI_BUDGET:
            yield batch
            batch, size = [], len(quote(select))
        batch.append(email)
        size += cost
    if batch:
        yield batch


def _email_query(select: str, emails: Sequence[str], order: str) -> str:
    """``select`` (ending ``Email IN ()``) for ``emails``, then ``order``."""
    return format_soql(
        "{select:literal}{emails} {order:literal}",
        select=select.removesuffix("()"),
        emails=list(emails),
        order=order,
    )


def _codes(errors: Any) -> set[str]:
    return {code for item in errors or [] for code, _ in errors_of(item)}


class SalesforceWriter:
    name = "salesforce"

    def __init__(
        self,
        api: SalesforceApi,
        *,
        objects: Sequence[str] = KNOWN_OBJECTS,
        bulk_above: int = 10_000,
        lock_retries: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        bulk_poll_s: float = 5.0,
    ) -> None:
        self._api = api
        self._objects = tuple(objects)
        self._bulk_above = bulk_above
        self._lock_retries = lock_retries
        self._sleep = sleep
        self._bulk_poll_s = bulk_poll_s

    # -- the port ------------------------------------------------------------------------

    def api_budget(self) -> ApiBudget | None:
        """The org's API requests of the last 24 hours, as its last answer said."""
        usage = self._api.usage()
        return None if usage is None else ApiBudget(*usage)

    def records_per_write(self, total: int) -> int:
        """Collections calls take the core's chunks; a push above ``bulk_above`` goes in
        chunks big enough for Bulk API jobs (a remainder at or below it goes through
        collections)."""
        return (
            max(BULK_CHUNK, self._bulk_above + 1) if total > self._bulk_above else RECORDS_PER_WRITE
        )

    def write(
        self, records: Sequence[CrmRecordWrite], *, linked: Mapping[str, int] | None = None
    ) -> list[WriteResult]:
        results: dict[int, WriteResult] = {}
        try:
            self._write(records, linked or {}, results)
        except LimitReachedError as limit:
            raise LimitReachedError(
                limit.message,
                retry_after=limit.retry_after,
                vendor="salesforce",
                results=list(results.values()),
            ) from None
        except LeadsyncError as error:
            if not results:
                raise
            raise WriteInterruptedError(error, results=list(results.values())) from None
        return [
            results.get(record.contact_id)
            or WriteResult(
                record.contact_id,
                "deferred",
                crm_id=record.crm_id,
                reason="Salesforce gave no result for it: sent again next push",
            )
            for record in records
        ]

    def _write(
        self,
        records: Sequence[CrmRecordWrite],
        owners: Mapping[str, int],
        results: dict[int, WriteResult],
    ) -> None:
        # Salesforce id -> the contact written to it: the links made before this push and
        # those this push makes, so that no record is written for two of our contacts.
        claims: dict[str, int] = dict(owners)
        updates: list[_Update] = []
        unknown: list[CrmRecordWrite] = []
        for record in records:
            if not record.crm_id:
                unknown.append(record)
                continue
            sobject = object_of(record.crm_id)
            if sobject is None or sobject not in self._objects:
                results[record.contact_id] = WriteResult(
                    record.contact_id,
                    "rejected",
                    crm_id=record.crm_id,
                    reason=f"Salesforce id {record.crm_id} is not a record of "
                    f"{' or '.join(self._objects)} (objects in the mapping)",
                )
                continue
            claims.setdefault(record.crm_id, record.contact_id)
            updates.append(
                _Update(record.contact_id, record.crm_id, sobject, record.fields, record.email)
            )
        found = self._ids_by_email([record.email for record in unknown if record.email])
        to_create: list[CrmRecordWrite] = []
        for record in unknown:
            crm_id = found.get((record.email or "").lower())
            taken = linked_to_another(record, crm_id, claims, shown_as="Salesforce record")
            if taken is not None:
                results[record.contact_id] = taken
            elif crm_id is not None:
                claims[crm_id] = record.contact_id
                sobject = object_of(crm_id) or "Contact"
                updates.append(
                    _Update(record.contact_id, crm_id, sobject, record.fields, record.email)
                )
            elif record.email and record.may_create:
                to_create.append(record)
            else:
                results[record.contact_id] = WriteResult(
                    record.contact_id,
                    "deferred",
                    reason="not in Salesforce and [crm.salesforce] create does not allow "
                    "creating it",
                )
        self._create(to_create, claims, results)
        if len(updates) <= self._bulk_above:
            self._update(updates, claims, results)
            return
        by_contact = {update.contact_id: update for update in updates}
        locked: list[_Update] = []
        converted: list[_Update] = []
        gone: list[tuple[_Update, str]] = []
        rows = [
            BulkRow(update.contact_id, update.crm_id, update.sobject, update.fields)
            for update in updates
        ]
        for row, outcome, reason in bulk_update(self._api, rows, self._bulk_poll_s, self._sleep):
            update = by_contact[row.contact_id]
            if outcome == "ok":
                results[row.contact_id] = WriteResult(row.contact_id, "ok", crm_id=row.crm_id)
            elif outcome == LOCKED_CODE:
                locked.append(update)
            elif outcome == CONVERTED_CODE and update.sobject == "Lead":
                converted.append(update)
            elif outcome in GONE_CODES and update.email:
                gone.append((update, reason or outcome))
            else:
                status = (
                    "rejected"
                    if outcome in ("rejected", *GONE_CODES, CONVERTED_CODE)
                    else "deferred"
                )
                results[row.contact_id] = WriteResult(
                    row.contact_id, status, crm_id=row.crm_id, reason=reason
                )
        # The few rows a job could not write for these reasons go through collections.
        self._update(locked, claims, results, converted=converted, gone=gone)

    # -- look-ups ------------------------------------------------------------------------

    def _ids_by_email(self, emails: Sequence[str]) -> dict[str, str]:
        """e-mail (lower case) -> the record to write: a Contact if there is one, else the
        Contact a converted Lead became, else the Lead."""
        wanted = sorted({email.lower() for email in emails})
        contacts: dict[str, str] = {}
        leads: dict[str, str] = {}
        if not wanted:
            return {}
        if "Contact" in self._objects:
            select = "SELECT Id, Email FROM Contact WHERE Email IN ()"
            for row in self._rows_by_email(select, wanted, "ORDER BY CreatedDate"):
                contacts.setdefault(str(row.get("Email") or "").lower(), str(row["Id"]))
        if "Lead" in self._objects:
            select = "SELECT Id, Email, IsConverted, ConvertedContactId FROM Lead WHERE Email IN ()"
            remaining = [email for email in wanted if email not in contacts]
            for row in self._rows_by_email(select, remaining, "ORDER BY IsConverted, CreatedDate"):
                email = str(row.get("Email") or "").lower()
                converted_to = row.get("ConvertedContactId")
                if row.get("IsConverted") and converted_to and "Contact" in self._objects:
                    # Its Contact carries on; written at once, not after a refusal.
                    leads[email] = str(converted_to)
                elif not row.get("IsConverted"):
                    leads.setdefault(email, str(row["Id"]))
        return {**leads, **contacts}

    def _rows_by_email(
        self, select: str, emails: Sequence[str], order: str
    ) -> Iterator[dict[str, Any]]:
        """``select`` (ending ``Email IN ()``) for ``emails``, in lists under the URI limit."""
        for batch in email_batches(emails, select):
            yield from self._api.query(_email_query(select, batch, order))

    # -- writes --------------------------------------------------------------------------

    def _create(
        self,
        records: Sequence[CrmRecordWrite],
        claims: dict[str, int],
        results: dict[int, WriteResult],
    ) -> None:
        sobject = "Lead" if "Lead" in self._objects else "Contact"
        for start in range(0, len(records), COLLECTION_SIZE):
            create_batch(
                self._api,
                records[start : start + COLLECTION_SIZE],
                sobject=sobject,
                find=self._ids_by_email,
                claims=claims,
                results=results,
            )

    def _update(
        self,
        updates: Sequence[_Update],
        owners: Mapping[str, int],
        results: dict[int, WriteResult],
        *,
        converted: Sequence[_Update] = (),
        gone: Sequence[tuple[_Update, str]] = (),
    ) -> None:
        """``owners`` (Salesforce id -> contact) grows with each record this run links."""
        claims = dict(owners)
        pending = list(updates)
        followed = self._follow_conversions(converted, claims, results)
        followed += self._find_again(gone, claims, results)
        looked_up = {update.contact_id for update, _ in gone}
        attempt = 0
        while pending or followed:
            locked: list[_Update] = []
            now_converted: list[_Update] = []
            now_gone: list[tuple[_Update, str]] = []
            for update, item in self._send([*pending, *followed]):
                self._judge(update, item, results, locked, now_converted, now_gone)
            followed = self._follow_conversions(now_converted, claims, results)
            followed += self._find_again(
                [(update, why) for update, why in now_gone if update.contact_id not in looked_up],
                claims,
                results,
            )
            for update, why in now_gone:
                if update.contact_id in looked_up:
                    results[update.contact_id] = WriteResult(
                        update.contact_id, "rejected", crm_id=update.crm_id, reason=why
                    )
            looked_up.update(update.contact_id for update, _ in now_gone)
            if locked and attempt >= self._lock_retries:
                for update in locked:
                    results[update.contact_id] = WriteResult(
                        update.contact_id,
                        "deferred",
                        crm_id=update.crm_id,
                        reason=f"{LOCKED_CODE} after {attempt + 1} attempts: sent again next push",
                    )
                locked = []
            if locked:
                # Another transaction holds the rows: wait a little, then send only them
                # (with any records followed meanwhile, in the same calls).
                self._sleep(min(2.0**attempt, 8.0))
            attempt += 1
            pending = locked

    def _judge(
        self,
        update: _Update,
        item: Mapping[str, Any] | None,
        results: dict[int, WriteResult],
        locked: list[_Update],
        converted: list[_Update],
        gone: list[tuple[_Update, str]],
    ) -> None:
        """One record's result: written, refused (a reject), or to send again."""
        if item is None:
            results[update.contact_id] = WriteResult(
                update.contact_id,
                "deferred",
                crm_id=update.crm_id,
                reason="Salesforce gave no result for it: sent again next push",
            )
            return
        codes = _codes(item.get("errors"))
        if item.get("success"):
            results[update.contact_id] = WriteResult(update.contact_id, "ok", crm_id=update.crm_id)
        elif LOCKED_CODE in codes:
            locked.append(update)
        elif CONVERTED_CODE in codes and update.sobject == "Lead":
            converted.append(update)
        elif codes & GONE_CODES and update.email:
            gone.append((update, reason_of(item.get("errors"))))
        else:
            results[update.contact_id] = WriteResult(
                update.contact_id,
                "rejected",
                crm_id=update.crm_id,
                reason=reason_of(item.get("errors")),
            )

    def _find_again(
        self,
        gone: Sequence[tuple[_Update, str]],
        claims: dict[str, int],
        results: dict[int, WriteResult],
    ) -> list[_Update]:
        """Records whose linked id Salesforce no longer knows (deleted, or merged into
        another), looked up by e-mail: the one found is written in this run, and linked.
        None found: the dead link is dropped, and the record is treated as new."""
        if not gone:
            return []
        found = self._ids_by_email([update.email for update, _ in gone if update.email])
        again: list[_Update] = []
        for update, why in gone:
            crm_id = found.get((update.email or "").lower())
            record = CrmRecordWrite(update.contact_id, update.email, None, update.wanted)
            taken = linked_to_another(record, crm_id, claims, shown_as="Salesforce record")
            if taken is not None:
                results[update.contact_id] = taken
            elif crm_id == update.crm_id:
                # The record is there: the refusal was about something else.
                results[update.contact_id] = WriteResult(
                    update.contact_id, "rejected", crm_id=update.crm_id, reason=why
                )
            elif crm_id is None:
                results[update.contact_id] = WriteResult(
                    update.contact_id,
                    "deferred",
                    reason=f"Salesforce record {update.crm_id} is gone ({why}) and no Lead or "
                    f"Contact has the e-mail {update.email} now",
                    unlink=update.crm_id,
                )
            else:
                claims[crm_id] = update.contact_id
                sobject = object_of(crm_id) or "Contact"
                again.append(
                    _Update(update.contact_id, crm_id, sobject, update.wanted, update.email)
                )
        return again

    def _send(
        self, updates: Sequence[_Update]
    ) -> Iterator[tuple[_Update, Mapping[str, Any] | None]]:
        # Grouped by object: Salesforce processes a call's records in runs of one type and
        # refuses more than ten runs; sorted, a call holds at most two.
        grouped = sorted(updates, key=lambda update: update.sobject)
        for start in range(0, len(grouped), COLLECTION_SIZE):
            batch = grouped[start : start + COLLECTION_SIZE]
            answer = self._api.restful(
                "an update of records",
                "composite/sobjects",
                method="PATCH",
                body=_collection(batch),
            )
            yield from _by_position(batch, answer)

    def _follow_conversions(
        self,
        converted: Sequence[_Update],
        owners: dict[str, int],
        results: dict[int, WriteResult],
    ) -> list[_Update]:
        """The Contacts that converted Leads became, to write in their place: one query for
        all of them, then the writes go with the next collections calls. Read before
        writing, so a Contact that stands for another of our contacts is never written."""
        if not converted:
            return []
        contact_of: dict[str, Any] = {}
        if "Contact" in self._objects:
            for batch in _id_batches([update.crm_id for update in converted]):
                soql = format_soql(
                    "SELECT Id, ConvertedContactId FROM Lead WHERE Id IN {ids}", ids=list(batch)
                )
                for row in self._api.query(soql):
                    contact_of[str(row["Id"])] = row.get("ConvertedContactId")
        followed: list[_Update] = []
        for update in converted:
            contact_id = contact_of.get(update.crm_id)
            owner = owners.get(str(contact_id or ""))
            if not contact_id or "Contact" not in self._objects:
                reason = (
                    f"Lead {update.crm_id} was converted"
                    + (f" to Contact {contact_id}" if contact_id else "")
                    + (
                        ", and the mapping does not write Contacts"
                        if "Contact" not in self._objects
                        else ", and Salesforce names no Contact for it"
                    )
                )
            elif owner is not None and owner != update.contact_id:
                reason = (
                    f"Lead {update.crm_id} was converted to Contact {contact_id}, which is "
                    f"linked to leadsync contact #{owner}; merge the two or fix the e-mails"
                )
            else:
                followed.append(
                    _Update(
                        update.contact_id, str(contact_id), "Contact", update.wanted, update.email
                    )
                )
                continue
            results[update.contact_id] = WriteResult(
                update.contact_id, "rejected", crm_id=update.crm_id, reason=reason
            )
        return followed


def _id_batches(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    # An 18-character id quoted and URL-encoded takes about 25 bytes of the URI.
    for start in range(0, len(ids), 300):
        yield ids[start : start + 300]


def _collection(updates: Sequence[_Update]) -> dict[str, Any]:
    """An sObject Collections update body; Leads and Contacts may share it."""
    return {
        "allOrNone": False,
        "records": [
            {"attributes": {"type": update.sobject}, "id": update.crm_id, **update.fields}
            for update in updates
        ],
    }


def _by_position(
    updates: Sequence[_Update], answer: Any
) -> Iterator[tuple[_Update, Mapping[str, Any] | None]]:
    """Each record with its result (None if Salesforce gave none): they come in request
    order, and a failed one carries no id."""
    items = list(answer) if isinstance(answer, list) else []
    for position, update in enumerate(updates):
        item = items[position] if position < len(items) else None
        yield update, item if isinstance(item, Mapping) else None
