"""Large pushes through Bulk API 2.0 ingest jobs: one ``update`` job per object.

Each step is one call of simple-salesforce's Bulk 2.0 client (create the job, upload the
CSV, close it, poll it, fetch its successful and failed rows), made through
``SalesforceApi.run``: every call (each retry too) is counted and checked against the API
budget, a 5xx, a reset or a timeout is tried again, and a ``REQUEST_LIMIT_EXCEEDED`` stops
at once, with no clean-up call after it (the library's own ``update`` helper would still
read and abort the job).

Each row's fate is read from the job's results, matched by ``sf__Id`` (their order is not
the upload's): written, refused (a reject with Salesforce's error), or, for a locked row
or a converted Lead, handed back to the writer, which sends those few through sObject
Collections. Rows in neither list (a job that failed or timed out) stay for the next push.

In a Bulk CSV an empty cell leaves the field as it is, so a record's unchanged fields are
left empty and a field to blank is sent as ``#N/A``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import structlog
from simple_salesforce.bulk2 import JobState, Operation, ResultsType, _Bulk2Client

from adapters.salesforce.client import SalesforceApi
from adapters.salesforce.errors import RESENT_CODES
from connector.ports import CrmValue, crm_number_text
from connector.secrets import redact

__all__ = ["BULK_TIMEOUT_S", "BulkRow", "bulk_update", "csv_value"]

log = structlog.get_logger(__name__)

_NULL = "#N/A"
# A job still running after this long is left to finish on its own; its rows are sent
# again next push (the same values: harmless).
BULK_TIMEOUT_S = 3_600.0
_DONE = frozenset({JobState.job_complete, JobState.failed, JobState.aborted})


class BulkRow(NamedTuple):
    contact_id: int
    crm_id: str
    sobject: str
    fields: Mapping[str, CrmValue]


def csv_value(value: CrmValue) -> str:
    if value is None:
        return _NULL
    if isinstance(value, float):
        return crm_number_text(value)
    return str(value)


def _csv_of(rows: Sequence[BulkRow]) -> str:
    names = sorted({name for row in rows for name in row.fields})
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["Id", *names], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        # A field this record does not change stays empty: Bulk leaves it as it is.
        writer.writerow({"Id": row.crm_id, **{n: csv_value(v) for n, v in row.fields.items()}})
    return out.getvalue()


def _rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text))) if text.strip() else []


def bulk_update(
    api: SalesforceApi,
    rows: Sequence[BulkRow],
    poll_s: float,
    sleep: Callable[[float], None],
) -> Iterator[tuple[BulkRow, str, str | None]]:
    """(row, outcome, reason) per row, outcome being ``ok``, ``rejected``, ``deferred`` or
    the error code of a row handed back to the writer (one of ``RESENT_CODES``, which it
    deals with as it does in collections). Results come as each object's job ends; a
    ``LimitReachedError``, ``RetriableError`` or ``FatalError`` may stop it in between."""
    by_object: dict[str, list[BulkRow]] = {}
    for row in rows:
        by_object.setdefault(row.sobject, []).append(row)
    handler: Any = api.sf.bulk2
    for sobject, object_rows in by_object.items():
        client = _Bulk2Client(sobject, handler.bulk2_url, handler.headers, handler.session)
        yield from _one_job(api, client, sobject, object_rows, poll_s, sleep)


def _one_job(
    api: SalesforceApi,
    client: _Bulk2Client,
    sobject: str,
    rows: Sequence[BulkRow],
    poll_s: float,
    sleep: Callable[[float], None],
) -> Iterator[tuple[BulkRow, str, str | None]]:
    # Each step is retried by ``run`` (a 5xx, a reset, a timeout). Creating the job is not
    # strictly safe to repeat: a lost answer may leave an extra Open job behind, but that
    # job gets no data and is never closed, so it writes nothing; that is better than
    # ending a large push for it. The upload and the
    # close name the job, the reads change nothing, and the rows are updates by id: sent
    # twice, the same values land once more.
    job = api.run(f"a Bulk API job for {sobject}", lambda: client.create_job(Operation.update))
    job_id = str(job["id"])
    api.run("a Bulk API upload", lambda: client.upload_job_data(job_id, _csv_of(rows)))
    api.run("the close of a Bulk API job", lambda: client.close_job(job_id))
    waited = 0.0
    info: Mapping[str, Any] = {}
    while waited <= BULK_TIMEOUT_S:
        sleep(poll_s)
        waited += max(poll_s, 0.001)
        info = api.run("a Bulk API job's state", lambda: client.get_job(job_id, False))
        # A big job runs for minutes: each poll says how far it got.
        log.info(
            "salesforce.bulk_job_polled",
            object=sobject,
            job_id=job_id,
            state=info.get("state"),
            processed=info.get("numberRecordsProcessed"),
            of=len(rows),
        )
        if info.get("state") in _DONE:
            break
    state = str(info.get("state") or "unknown")
    log.info(
        "salesforce.bulk_job_ended",
        object=sobject,
        job_id=job_id,
        state=state,
        processed=info.get("numberRecordsProcessed"),
        failed=info.get("numberRecordsFailed"),
    )
    if state not in _DONE:
        why = f"Bulk API job {job_id} still {state} after {BULK_TIMEOUT_S:.0f} s"
        yield from ((row, "deferred", why) for row in rows)
        return
    by_id = {row.crm_id: row for row in rows}
    done: set[str] = set()
    successful = api.run(
        "a Bulk API job's results",
        lambda: client.get_ingest_results(job_id, ResultsType.successful),
    )
    for line in _rows_of(successful):
        row = by_id.get(line.get("sf__Id") or line.get("Id") or "")
        if row is not None and row.crm_id not in done:
            done.add(row.crm_id)
            yield row, "ok", None
    failed = api.run(
        "a Bulk API job's failed rows",
        lambda: client.get_ingest_results(job_id, ResultsType.failed),
    )
    for line in _rows_of(failed):
        row = by_id.get(line.get("sf__Id") or line.get("Id") or "")
        if row is None or row.crm_id in done:
            continue
        done.add(row.crm_id)
        error = redact(line.get("sf__Error") or "failed in a Bulk API job")
        code = error.split(":", 1)[0].strip()
        if code in RESENT_CODES:
            yield row, code, error
        else:
            yield row, "rejected", error
    why = f"Bulk API job {job_id} ended {state} without a result for it" + (
        f": {redact(str(info.get('errorMessage')))}" if info.get("errorMessage") else ""
    )
    for row in rows:
        if row.crm_id not in done:
            yield row, "deferred", why
