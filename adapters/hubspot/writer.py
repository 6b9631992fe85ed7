"""Write scores and stages to HubSpot contacts through the official client.

- Known contacts (a HubSpot id linked to the contact) are updated by id.
- Others are looked up by e-mail (batch read, ``idProperty=email``) and created only when
  the record says it may be.
- 100 inputs a call; a 207 answer is read item by item: refused records come back
  rejected with HubSpot's message, the rest succeed. A 400 for a whole batch is split in
  halves until the record at fault is alone, so one bad record never sinks 99 good ones.
- A stage moving back (lifecyclestage only moves forward) is cleared in one call and set
  in a later one; the sets of cleared records go first, so few are left blank if HubSpot
  fails in between, and those are reported so (``WriteResult.applied``). Their stage is
  then read back (a batch read per 100): HubSpot answers 200 to a stage it did not
  apply, and such a record is deferred with what HubSpot holds, not reported written.
- A failure part-way (HubSpot down after its retries, a refused token, the daily limit)
  hands over what HubSpot took before it: ``WriteInterruptedError``, or
  ``LimitReachedError`` with its results, so the core records them and the next push
  sends only the rest. Once one call fails, no further call is sent; those in flight are
  waited for and what they wrote is kept.

Responses are read as raw JSON (``_preload_content=False``): turning a 100-record answer
into the client's model objects costs about 70 ms, more than the call itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from datetime import tzinfo
from functools import partial
from itertools import islice
from typing import Any

import orjson
import structlog
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
from adapters.hubspot.errors import VENDOR
from adapters.hubspot.pacing import Pacer
from connector.errors import (
    FatalError,
    LeadsyncError,
    LimitReachedError,
    RetriableError,
    WriteInterruptedError,
)
from connector.ports import (
    ApiBudget,
    CrmRecordWrite,
    CrmValue,
    WriteResult,
    crm_number_text,
    linked_to_another,
)
from connector.retry import DEFAULT_POLICY, NOT_APPLIED_STATUSES, RetryPolicy

__all__ = ["HubSpotWriter", "hubspot_writer"]

log = structlog.get_logger(__name__)

# Batch calls per ``write`` of the core (``records_per_write``).
CALLS_PER_WRITE = 50
# (contact, HubSpot id, properties): one input of a batch update.
_Input = tuple[int, str, dict[str, str]]
# Takes the results of one call as it is answered (from the thread that made it).
_Take = Callable[[list[WriteResult]], None]
_NOT_OK = WriteResult(0, "deferred")


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


@dataclass
class _Progress:
    """What HubSpot has taken so far in one ``write``: a failure hands it over as it
    stands. Calls in flight report to it from their threads."""

    results: dict[int, WriteResult] = dataclass_field(default_factory=dict)
    # Contact -> its HubSpot id and the properties our clear blanked there, no set since.
    blanked: dict[int, tuple[str, tuple[str, ...]]] = dataclass_field(default_factory=dict)
    lock: threading.Lock = dataclass_field(default_factory=threading.Lock)

    def take(self, results: list[WriteResult]) -> None:
        """Results of one answered call; a record set there is no longer blank."""
        with self.lock:
            for result in results:
                self.results[result.contact_id] = result
                if result.status == "ok":
                    self.blanked.pop(result.contact_id, None)

    def settled(self) -> dict[int, WriteResult]:
        """Every result so far; a record its clear left blank says so, and one whose
        clear went through but nothing else is deferred to the next push."""
        with self.lock:
            settled = dict(self.results)
            for contact_id, (crm_id, names) in self.blanked.items():
                result = settled.get(contact_id) or WriteResult(
                    contact_id,
                    "deferred",
                    crm_id=crm_id,
                    reason=f"HubSpot cleared {', '.join(names)}; the call setting it failed",
                )
                settled[contact_id] = replace(result, applied=dict.fromkeys(names))
            return settled


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
        lost_answers_max: int = 3,
    ) -> None:
        self._batch = client.crm.contacts.batch_api
        self._caller = caller
        self._batch_size = batch_size
        self._timeout_s = timeout_s
        self._in_flight = in_flight
        # Creates whose answer was lost, in a row, before the batch's failure goes up.
        self._lost_answers_max = lost_answers_max

    # -- the port ------------------------------------------------------------------------

    def api_budget(self) -> ApiBudget | None:
        """The portal's day: calls used and allowed, as HubSpot's last answer said."""
        return self._caller.api_budget()

    def records_per_write(self, total: int) -> int:
        """Records per ``write``: 50 calls' worth. Between two writes the calls in
        flight run out while the core records the first; at 10 calls a second that
        pause of a round trip costs a few percent of the rate, not the fifth it cost
        with 1,000 records (10 calls) a write. A crash resends at most one write's."""
        return max(self._batch_size * CALLS_PER_WRITE, 1)

    def write(
        self, records: Sequence[CrmRecordWrite], *, linked: Mapping[str, int] | None = None
    ) -> list[WriteResult]:
        """Write ``records``: one result each.

        Raises:
            LimitReachedError: the portal's daily limit is spent; ``results`` are what
                HubSpot took before it.
            WriteInterruptedError: a call failed, or a stop came, after HubSpot took some
                records (those are its ``results``; its ``cause`` the failure or the stop).
            ConfigError, RetriableError, FatalError: a call failed before HubSpot took
                anything.
        """
        progress = _Progress()
        try:
            self._write(records, linked or {}, progress)
        except LimitReachedError as limit:
            raise LimitReachedError(
                limit.message,
                retry_after=limit.retry_after,
                vendor=VENDOR,
                results=list(progress.settled().values()),
                hint=limit.hint,
            ) from None
        except (LeadsyncError, KeyboardInterrupt) as error:
            # A stop (Ctrl-C, SIGTERM) between calls too: what HubSpot took is recorded,
            # so only the calls in flight are sent again.
            taken = list(progress.settled().values())
            if not taken:
                raise
            raise WriteInterruptedError(error, results=taken) from None
        settled = progress.settled()
        return [settled[record.contact_id] for record in records]

    def _write(
        self, records: Sequence[CrmRecordWrite], owners: Mapping[str, int], progress: _Progress
    ) -> None:
        results = progress.results
        ids = {record.contact_id: record.crm_id for record in records if record.crm_id}
        unknown = [record for record in records if not record.crm_id]
        found = self._ids_by_email([record.email for record in unknown if record.email])
        to_create: list[CrmRecordWrite] = []
        for record in unknown:
            crm_id = found.get(record.email or "")
            taken = linked_to_another(record, crm_id, owners, shown_as="HubSpot contact")
            if taken is not None:
                progress.take([taken])
            elif crm_id is not None:
                ids[record.contact_id] = crm_id
            elif record.email and record.may_create:
                to_create.append(record)
            else:
                progress.take(
                    [
                        WriteResult(
                            record.contact_id,
                            "deferred",
                            reason="not in HubSpot and [crm.hubspot] create does not allow "
                            "creating it",
                        )
                    ]
                )
        self._in_parallel(
            partial(self._create_batch, take=progress.take),
            list(_chunks(to_create, self._batch_size)),
        )

        known = [record for record in records if record.contact_id in ids]
        by_contact = {record.contact_id: record for record in known}
        clears = [
            (record.contact_id, ids[record.contact_id], dict.fromkeys(record.clear_first, ""))
            for record in known
            if record.clear_first
        ]

        def cleared(answered: list[WriteResult]) -> None:
            with progress.lock:
                for result in answered:
                    if result.status == "ok":
                        names = by_contact[result.contact_id].clear_first
                        progress.blanked[result.contact_id] = (ids[result.contact_id], names)
                    else:
                        results[result.contact_id] = result

        # The clear goes first, in calls of its own: a batch is not applied in order.
        self._update(clears, cleared)
        updates = [
            (
                record.contact_id,
                ids[record.contact_id],
                {name: _text(value) for name, value in record.fields.items()},
            )
            for record in known
            if record.contact_id not in results
        ]
        # Cleared records first: a failure in a later call leaves none of them blank.
        updates.sort(key=lambda item: item[0] not in progress.blanked)
        self._update(updates, progress.take)
        # A record refused after its stage was cleared: the stage alone is set back, so
        # a refused field never leaves HubSpot's stage blank.
        restore = [
            (
                contact_id,
                crm_id,
                {name: _text(by_contact[contact_id].fields[name]) for name in names},
            )
            for contact_id, (crm_id, names) in list(progress.blanked.items())
        ]

        def restored(answered: list[WriteResult]) -> None:
            with progress.lock:
                for result in answered:
                    if result.status != "ok":
                        continue  # still blank: ``settled`` says so
                    _, names = progress.blanked.pop(result.contact_id)
                    fields = by_contact[result.contact_id].fields
                    results[result.contact_id] = replace(
                        results[result.contact_id],
                        applied={name: fields[name] for name in names},
                    )

        self._update(restore, restored)
        self._check_moved_back(
            [
                (record, ids[record.contact_id])
                for record in known
                if record.clear_first and results.get(record.contact_id, _NOT_OK).status == "ok"
            ],
            progress,
        )

    def _check_moved_back(
        self, moved: Sequence[tuple[CrmRecordWrite, str]], progress: _Progress
    ) -> None:
        """Read back the stage of records moved back: HubSpot answers 200 to a
        lifecyclestage it keeps unchanged (a workflow setting it again, a clear that did
        not take), and a record so left is deferred, with what HubSpot holds as
        ``applied``, so the push records that and the next one sets it again."""
        if not moved:
            return
        names = sorted({name for record, _ in moved for name in record.clear_first})
        held: dict[str, dict[str, str]] = {}
        lock = threading.Lock()

        def read(batch: Sequence[tuple[CrmRecordWrite, str]]) -> None:
            found = self._read_properties([crm_id for _, crm_id in batch], names)
            with lock:
                held.update(found)

        self._in_parallel(read, list(_chunks(moved, self._batch_size)))
        unapplied: list[WriteResult] = []
        for record, crm_id in moved:
            properties = held.get(crm_id, {})
            kept = {
                name: properties.get(name) or None
                for name in record.clear_first
                if (properties.get(name) or "") != _text(record.fields.get(name))
            }
            if not kept:
                continue
            shown = ", ".join(
                f"{name}={_text(record.fields.get(name))!r} (it holds {value or ''!r})"
                for name, value in kept.items()
            )
            unapplied.append(
                WriteResult(
                    record.contact_id,
                    "deferred",
                    crm_id=crm_id,
                    reason=f"HubSpot answered without applying {shown}; the next push sets "
                    "it again",
                    applied={**record.fields, **kept},
                )
            )
        progress.take(unapplied)

    def _read_properties(
        self, crm_ids: Sequence[str], names: Sequence[str]
    ) -> dict[str, dict[str, str]]:
        """HubSpot id -> the values of ``names`` it holds (one batch read)."""
        return {
            str(item["id"]): {
                name: str(value)
                for name, value in (item.get("properties") or {}).items()
                if value is not None
            }
            for item in self._batch_read(crm_ids, names, what="a read-back of stages")
        }

    def _batch_read(
        self,
        ids: Sequence[str],
        properties: Sequence[str],
        *,
        what: str,
        id_property: str | None = None,
    ) -> list[dict[str, Any]]:
        """The records HubSpot holds for ``ids`` (by ``id_property`` if given), with
        ``properties``; one call, 100 ids at most."""
        body = BatchReadInputSimplePublicObjectId(
            id_property=id_property,
            inputs=[SimplePublicObjectId(id=one) for one in ids],
            properties=list(properties),
            properties_with_history=[],
        )
        status, answer = self._caller.call(
            partial(
                self._batch.read,
                body,
                archived=False,
                _preload_content=False,
                _request_timeout=self._timeout_s,
            ),
            what=what,
        )
        if status >= 400:
            raise FatalError(f"HubSpot refused {what}: {message_of(answer)}")
        return list(answer.get("results", []))

    # -- calls -----------------------------------------------------------------------------

    def _in_parallel(self, work: Callable[[Any], None], batches: Sequence[Any]) -> None:
        """``work`` on each batch, a few calls in flight: one at a time, a call's round
        trip (100-300 ms to HubSpot) would leave most of the rate limit unused. The pacer
        still spaces the calls.

        Once a call fails, no other is started; those in flight are waited for (what
        they wrote is reported like the rest), then the failure is raised: a limit stop
        before any other, as it says when to come back.
        """
        if len(batches) <= 1 or self._in_flight <= 1:
            for batch in batches:
                work(batch)
            return
        failures: list[LeadsyncError] = []
        queued = iter(batches)
        with ThreadPoolExecutor(max_workers=self._in_flight) as pool:
            running: set[Future[None]] = {
                pool.submit(work, batch) for batch in islice(queued, self._in_flight)
            }
            while running:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    error = future.exception()
                    if isinstance(error, LeadsyncError):
                        failures.append(error)
                    elif error is not None:
                        for other in running:
                            other.cancel()
                        raise error
                if not failures:
                    running |= {pool.submit(work, batch) for batch in islice(queued, len(done))}
        if failures:
            limits = [error for error in failures if isinstance(error, LimitReachedError)]
            raise (limits or failures)[0]

    def _ids_by_email(self, emails: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        lock = threading.Lock()

        def look_up(batch: Sequence[str]) -> None:
            pairs = self._look_up(batch)
            with lock:
                found.update(pairs)

        self._in_parallel(look_up, list(_chunks(sorted(set(emails)), self._batch_size)))
        return found

    def _look_up(self, batch: Sequence[str]) -> list[tuple[str, str]]:
        found = []
        for item in self._batch_read(
            batch, ["email"], what="a look-up by e-mail", id_property="email"
        ):
            email = str((item.get("properties") or {}).get("email") or "").lower()
            if email:
                found.append((email, str(item["id"])))
        return found

    def _create_batch(
        self, batch: Sequence[CrmRecordWrite], *, take: _Take, answers_lost: int = 0
    ) -> None:
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
        try:
            status, answer = self._caller.call(
                partial(
                    self._batch.create,
                    body,
                    _preload_content=False,
                    _request_timeout=self._timeout_s,
                ),
                what="a batch create",
                safe_to_repeat=False,
            )
        except RetriableError as lost:
            if lost.status in NOT_APPLIED_STATUSES or answers_lost + 1 >= self._lost_answers_max:
                raise
            self._after_a_lost_create(batch, take=take, answers_lost=answers_lost + 1)
            return
        if status in (400, 409):
            _stop_if_properties_are_missing(answer)
            if len(batch) > 1:
                middle = len(batch) // 2
                self._create_batch(batch[:middle], take=take)
                self._create_batch(batch[middle:], take=take)
                return
            # 409: it exists (an earlier attempt may have created it): the next push finds
            # it by e-mail and writes it.
            take([WriteResult(batch[0].contact_id, "rejected", reason=message_of(answer))])
            return
        created = {
            str((item.get("properties") or {}).get("email") or "").lower(): str(item["id"])
            for item in answer.get("results", [])
        }
        errors = answer.get("errors") or []
        reason = message_of(errors[0]) if errors else "HubSpot did not confirm the creation"
        take(
            [
                WriteResult(record.contact_id, "ok", crm_id=created[key])
                if (key := (record.email or "").lower()) in created
                else WriteResult(record.contact_id, "rejected", reason=reason)
                for record in batch
            ]
        )

    def _after_a_lost_create(
        self, batch: Sequence[CrmRecordWrite], *, take: _Take, answers_lost: int
    ) -> None:
        """A create whose answer never came may have been done: the records it made are
        found by e-mail (none of them was in HubSpot before it) and only the rest is sent
        again, so no contact is made twice."""
        log.warning("hubspot.create_answer_lost", records=len(batch), attempt=answers_lost)
        found = self._ids_by_email([record.email for record in batch if record.email])
        made = [record for record in batch if (record.email or "").lower() in found]
        take(
            [
                WriteResult(record.contact_id, "ok", crm_id=found[(record.email or "").lower()])
                for record in made
            ]
        )
        rest = [record for record in batch if record not in made]
        if rest:
            self._create_batch(rest, take=take, answers_lost=answers_lost)

    def _update(self, items: Sequence[_Input], take: _Take) -> None:
        self._in_parallel(
            partial(self._update_batch, take=take), list(_chunks(items, self._batch_size))
        )

    def _update_batch(self, batch: Sequence[_Input], *, take: _Take) -> None:
        """One batch update; each call's results go to ``take`` once it is answered, so
        a failure while a batch is split still reports what the calls before it wrote."""
        body = BatchInputSimplePublicObjectBatchInput(
            inputs=[
                SimplePublicObjectBatchInput(id=crm_id, properties=properties)
                for _, crm_id, properties in batch
            ]
        )
        status, answer = self._caller.call(
            lambda: self._batch.update(
                body, _preload_content=False, _request_timeout=self._timeout_s
            ),
            what="a batch update",
        )
        if status == 400:
            _stop_if_properties_are_missing(answer)
            reason = message_of(answer)
            if len(batch) == 1:
                contact_id, crm_id, _ = batch[0]
                take([WriteResult(contact_id, "rejected", crm_id=crm_id, reason=reason)])
                return
            # Which record is at fault? The first alone first: when it fails the same
            # way, the cause is the batch's, not one record's (all are kept for the
            # next push, which rejected records always are).
            alone: list[WriteResult] = []
            self._update_batch(batch[:1], take=alone.extend)
            take(alone)
            if alone[0].status == "rejected" and alone[0].reason == reason:
                take(
                    [
                        WriteResult(contact_id, "rejected", crm_id=crm_id, reason=reason)
                        for contact_id, crm_id, _ in batch[1:]
                    ]
                )
                return
            rest = batch[1:]
            middle = len(rest) // 2
            for half in (rest[:middle], rest[middle:]):
                if half:
                    self._update_batch(half, take=take)
            return
        written = {str(item.get("id")) for item in answer.get("results", [])}
        refused = _refusals(answer.get("errors", []))
        results = []
        for contact_id, crm_id, _ in batch:
            if crm_id in written:
                results.append(WriteResult(contact_id, "ok", crm_id=crm_id))
            else:
                reason = refused.get(crm_id) or refused.get("") or "HubSpot did not confirm it"
                results.append(WriteResult(contact_id, "rejected", crm_id=crm_id, reason=reason))
        take(results)


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
    time_zone: tzinfo | None = None,
    retry: RetryPolicy = DEFAULT_POLICY,
) -> HubSpotWriter:
    """A writer on the official client (token from the environment, retries, pacing).

    ``time_zone`` is the portal's, when known: a spent daily limit then names its
    midnight as the time to retry after, instead of an estimate.
    """
    return HubSpotWriter(
        hubspot_client(base_url, pool_size=in_flight),
        caller=Caller(Pacer(requests_per_10s, 10.0), time_zone=time_zone, retry=retry),
        batch_size=batch_size,
        timeout_s=timeout_s,
        in_flight=in_flight,
    )
