"""A CRM held in memory behind the ``CrmWriter`` port, for tests of the push core.

The HubSpot and Salesforce suites need the vendors' own spec files (their fakes validate
every call against them) and skip without them; the push core's rules — changed-only
writes, one result per record, a limit stop, an interruption, rejects — must be tested on
every run, so they are tested through this writer. ``tests/crm/test_writer_contract.py``
holds it to what the real writers do, so what passes here means something there.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from connector.errors import LimitReachedError, RetriableError, WriteInterruptedError
from connector.ports import CrmRecordWrite, CrmValue, WriteResult, linked_to_another

__all__ = ["MemoryCrm"]


@dataclass
class MemoryCrm:
    """Records by id; what to refuse, when to stop; every call made and every write applied.

    ``limit_after`` and ``interrupt_after`` count the records taken (written or refused)
    before the stop, over all calls, as a CRM's API budget would.
    """

    name: str = "memory"
    records: dict[str, dict[str, CrmValue]] = field(default_factory=dict)  # id -> fields
    refused: dict[str, str] = field(default_factory=dict)  # e-mail (lower case) -> reason
    limit_after: int | None = None  # records taken before LimitReachedError
    interrupt_after: int | None = None  # records taken before the connection fails
    retry_after: datetime = datetime(2026, 11, 3, tzinfo=UTC)
    calls: list[list[CrmRecordWrite]] = field(default_factory=list)  # each write's records
    applied: list[tuple[str, dict[str, CrmValue]]] = field(default_factory=list)  # in order
    _taken: int = 0
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def add(self, email: str, **fields: CrmValue) -> str:
        """A record the CRM already holds (created by sales, say); its id."""
        crm_id = f"m-{next(self._ids)}"
        self.records[crm_id] = {"email": email, **fields}
        return crm_id

    @property
    def taken(self) -> int:
        """Records taken so far, over all calls (what ``limit_after`` counts)."""
        return self._taken

    def by_email(self, email: str) -> str | None:
        return next(
            (
                crm_id
                for crm_id, held in self.records.items()
                if str(held.get("email") or "").lower() == email.lower()
            ),
            None,
        )

    # -- the port ------------------------------------------------------------------------

    def write(
        self, records: Sequence[CrmRecordWrite], *, linked: Mapping[str, int] | None = None
    ) -> list[WriteResult]:
        """Write ``records`` one by one, stopping as ``limit_after`` or ``interrupt_after``
        say.

        Raises:
            LimitReachedError: ``limit_after`` records were taken; ``results`` are those of
                this call.
            WriteInterruptedError: ``interrupt_after`` records were taken, some in this call
                (its ``cause`` a RetriableError); with none taken in it, the bare cause.
        """
        self.calls.append(list(records))
        results: list[WriteResult] = []
        for record in records:
            if self.limit_after is not None and self._taken >= self.limit_after:
                raise LimitReachedError(
                    f"the memory CRM took its {self.limit_after} records",
                    retry_after=self.retry_after,
                    vendor=self.name,
                    results=results,
                )
            if self.interrupt_after is not None and self._taken >= self.interrupt_after:
                cause = RetriableError("the memory CRM stopped answering", vendor=self.name)
                if not results:
                    raise cause
                raise WriteInterruptedError(cause, results=results)
            results.append(self._write_one(record, linked or {}))
            self._taken += 1
        return results

    def _write_one(self, record: CrmRecordWrite, owners: Mapping[str, int]) -> WriteResult:
        crm_id = record.crm_id
        if crm_id is not None and crm_id not in self.records:
            return WriteResult(
                record.contact_id, "deferred", reason=f"no record {crm_id}", unlink=crm_id
            )
        if crm_id is None and record.email:
            found = self.by_email(record.email)
            taken = linked_to_another(record, found, owners, shown_as="memory record")
            if taken is not None:
                return taken
            crm_id = found
        if crm_id is None and not (record.email and record.may_create):
            return WriteResult(
                record.contact_id, "deferred", reason="not in the memory CRM, not to be created"
            )
        reason = self.refused.get((record.email or "").lower())
        if reason is not None:
            return WriteResult(record.contact_id, "rejected", crm_id=crm_id, reason=reason)
        if crm_id is None:
            crm_id = self.add(record.email or "")
        if record.clear_first:
            self._apply(crm_id, dict.fromkeys(record.clear_first))
        self._apply(crm_id, dict(record.fields))
        return WriteResult(record.contact_id, "ok", crm_id=crm_id)

    def _apply(self, crm_id: str, fields: dict[str, CrmValue]) -> None:
        self.records[crm_id].update(fields)
        self.applied.append((crm_id, fields))
