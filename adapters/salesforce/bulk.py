"""Large pushes through Bulk API 2.0 ingest jobs: one ``update`` job per object.

simple-salesforce creates the job, uploads the CSV, closes it and polls it to the end.
Each row's fate is then read from the job's successful and failed results, matched by
``sf__Id`` (their order is not the upload's): successes are written, failures become
rejects with Salesforce's error, and rows in neither list (a job that failed or was
aborted) stay for the next push.

In a Bulk CSV an empty cell leaves the field as it is, so a record's unchanged fields are
left empty and a field to blank is sent as ``#N/A``.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import structlog
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceOperationError,
    SalesforceRefusedRequest,
)

from adapters.salesforce.client import LIMIT_CODE, RETRY_LIMIT_AFTER, ApiLimit, errors_of
from connector.ports import CrmValue, WriteResult
from connector.secrets import redact

__all__ = ["BulkRow", "bulk_update", "csv_value"]

log = structlog.get_logger(__name__)

_NULL = "#N/A"


class BulkRow(NamedTuple):
    contact_id: int
    crm_id: str
    fields: Mapping[str, CrmValue]


def csv_value(value: CrmValue) -> str:
    if value is None:
        return _NULL
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


def _write_csv(path: Path, rows: Sequence[BulkRow]) -> None:
    names = sorted({name for row in rows for name in row.fields})
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["Id", *names], lineterminator="\n")
        writer.writeheader()
        for row in rows:
            # A field this record does not change stays empty: Bulk leaves it as it is.
            writer.writerow({"Id": row.crm_id, **{n: csv_value(v) for n, v in row.fields.items()}})


def _rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text))) if text.strip() else []


def bulk_update(
    sf: Salesforce, rows_by_object: Mapping[str, Sequence[BulkRow]], poll_s: float
) -> Iterator[WriteResult]:
    """One result per row. ``ApiLimit`` (from ``adapters.salesforce.client``) stops it
    when Salesforce answers REQUEST_LIMIT_EXCEEDED; the rows of the objects not done yet
    are then kept for the next push."""
    for sobject, rows in rows_by_object.items():
        by_id = {row.crm_id: row for row in rows}
        handler: Any = getattr(sf.bulk2, sobject)
        done: set[str] = set()
        try:
            with tempfile.TemporaryDirectory(prefix="leadsync-bulk-") as scratch:
                # Handed over as a file: simple-salesforce sizes in-memory data with
                # sys.getsizeof, which splits non-ASCII text into needless extra jobs.
                upload = Path(scratch) / f"{sobject}.csv"
                _write_csv(upload, rows)
                jobs = handler.update(csv_file=str(upload), wait=poll_s)
            for job in jobs:
                job_id = str(job["job_id"])
                for line in _rows_of(handler.get_successful_records(job_id)):
                    row = by_id.get(line.get("sf__Id") or line.get("Id") or "")
                    if row is not None and row.crm_id not in done:
                        done.add(row.crm_id)
                        yield WriteResult(row.contact_id, "ok", crm_id=row.crm_id)
                for line in _rows_of(handler.get_failed_records(job_id)):
                    row = by_id.get(line.get("sf__Id") or line.get("Id") or "")
                    if row is not None and row.crm_id not in done:
                        done.add(row.crm_id)
                        yield WriteResult(
                            row.contact_id,
                            "rejected",
                            crm_id=row.crm_id,
                            reason=redact(line.get("sf__Error") or "failed in a Bulk API job"),
                        )
                log.info(
                    "salesforce.bulk_job_done",
                    object=sobject,
                    job_id=job_id,
                    processed=job.get("numberRecordsProcessed"),
                    failed=job.get("numberRecordsFailed"),
                )
            why = "Salesforce reported no result for it in the Bulk API job"
        except SalesforceRefusedRequest as exc:
            if any(code == LIMIT_CODE for code, _ in errors_of(exc.content)):
                raise ApiLimit(
                    f"Salesforce answered {LIMIT_CODE} during a Bulk API job",
                    datetime.now(UTC) + RETRY_LIMIT_AFTER,
                ) from None
            why = f"Salesforce refused the Bulk API job: {redact(str(errors_of(exc.content)))}"
        except (SalesforceOperationError, SalesforceError) as exc:
            why = f"the Bulk API job for {sobject} did not finish: {redact(str(exc))[:300]}"
            log.error("salesforce.bulk_job_failed", object=sobject, reason=why)
        for row in rows:
            if row.crm_id not in done:
                yield WriteResult(row.contact_id, "deferred", crm_id=row.crm_id, reason=why)
