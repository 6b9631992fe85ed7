"""What adapters implement and the core calls: the only thing the two sides share."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from connector.errors import FatalError, LeadsyncError
from connector.lifecycle import SalesSignals
from connector.model import Event, ProfileValue

__all__ = [
    "RECORDS_PER_WRITE",
    "CrmReader",
    "CrmRecordWrite",
    "CrmValue",
    "CrmWriter",
    "EventSource",
    "Page",
    "ProfileSnapshot",
    "RejectedInput",
    "SnapshotPage",
    "WriteInterrupted",
    "WriteResult",
    "WriteStopped",
    "WritesInChunks",
]


@dataclass(frozen=True, slots=True)
class RejectedInput:
    """A record set aside: where it was, why, and its raw text (cut to a readable length)."""

    source: str
    location: str
    line: int | None
    reason: str
    raw: str


@dataclass(frozen=True, slots=True)
class Page:
    """Events and rejects read together, and the cursor to resume from after them.

    The core stores the events, the rejects and the cursor in one transaction, so a crash
    between pages loses nothing and a rerun starts after the last committed page.
    ``cursor`` is None when the source cannot resume mid-way (the next pull starts over,
    and the ledger's dedupe makes that safe).
    """

    events: Sequence[Event]
    rejects: Sequence[RejectedInput] = field(default_factory=tuple)
    cursor: str | None = None
    bytes_read: int = 0


@runtime_checkable
class EventSource(Protocol):
    """A system events are pulled from: files, e-mail routers, web analytics."""

    name: str

    def pull(self, cursor: str | None) -> Iterator[Page]:
        """Pages of events after ``cursor`` (None: from the beginning)."""
        ...


@dataclass(frozen=True, slots=True)
class ProfileSnapshot:
    """What a CRM knows of one person at ``observed_at``, in our words.

    ``fields`` are profile fields by our names (the mapping file translates the CRM's);
    fit rules read them. ``sales`` is what sales said (stage, status, BANT, won deal); the
    lifecycle machine reads it. Newer snapshots win field by field.
    """

    source: str
    observed_at: datetime
    email: str | None
    ids: Mapping[str, str] = field(default_factory=dict)
    fields: Mapping[str, ProfileValue] = field(default_factory=dict)
    sales: SalesSignals | None = None


@dataclass(frozen=True, slots=True)
class SnapshotPage:
    """Snapshots read together, and the cursor to resume from after them."""

    snapshots: Sequence[ProfileSnapshot]
    rejects: Sequence[RejectedInput] = field(default_factory=tuple)
    cursor: str | None = None


@runtime_checkable
class CrmReader(Protocol):
    """A CRM read for profile fields, stages, BANT answers and won deals."""

    name: str

    def read_changes(self, cursor: str | None) -> Iterator[SnapshotPage]:
        """Pages of the people changed after ``cursor`` (None: everyone)."""
        ...


CrmValue = str | float | None
# Records the core hands a writer at once, unless it says otherwise (``WritesInChunks``):
# each chunk is recorded once written, so a crash resends at most one chunk.
RECORDS_PER_WRITE = 1_000


@dataclass(frozen=True, slots=True)
class CrmRecordWrite:
    """The fields to write for one contact, by the CRM's field names (mapping applied).

    ``crm_id`` is the CRM's id when known (from an earlier write or read); otherwise the
    writer finds the record by ``email`` and creates it only if ``may_create``.
    ``clear_first`` are fields to blank in an earlier, separate call: a CRM stage that
    only moves forward is moved back by clearing it, then setting it.
    """

    contact_id: int
    email: str | None
    crm_id: str | None
    fields: Mapping[str, CrmValue]
    clear_first: tuple[str, ...] = ()
    may_create: bool = False


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What happened to one record: ``ok`` (written), ``rejected`` (the CRM refused it,
    with its reason: fix the data), or ``deferred`` (not written this time, e.g. unknown
    to the CRM and not to be created; tried again next push)."""

    contact_id: int
    status: str  # "ok" | "rejected" | "deferred"
    crm_id: str | None = None
    reason: str | None = None
    # A CRM id the CRM no longer knows (the record was deleted or merged away): the core
    # drops its link, and the contact counts as not in the CRM.
    unlink: str | None = None


class WriteStopped(FatalError):
    """The CRM refuses further calls for now (its daily API limit, or the share of it
    leadsync may use): the push stops at once. ``results`` are the records already
    written or refused before the stop (the core records them); the rest are kept for the
    next push, which may run any time after ``retry_after``."""

    def __init__(self, reason: str, *, results: Sequence[WriteResult], retry_after: datetime):
        super().__init__(reason)
        self.results = list(results)
        self.retry_after = retry_after


class WriteInterrupted(FatalError):
    """A write failed part-way (``cause``: the network, a refusal of the whole call...)
    after the CRM had taken some records: ``results`` are those, which the core records
    before it re-raises ``cause``, so they are not sent again."""

    def __init__(self, cause: LeadsyncError, *, results: Sequence[WriteResult]):
        super().__init__(cause.message, hint=cause.hint)
        self.cause = cause
        self.results = list(results)


@runtime_checkable
class CrmWriter(Protocol):
    """A CRM written with scores and stages."""

    name: str

    def write(
        self, records: Sequence[CrmRecordWrite], *, linked: Mapping[str, int] | None = None
    ) -> list[WriteResult]:
        """Write ``records`` (one result per record, any order); raise only when the
        push itself cannot go on (auth, unreachable after retries; ``WriteStopped``, with
        the results so far, when the CRM's API limit is reached). ``linked`` maps the
        CRM ids already linked to our contacts: a record found by e-mail whose CRM id
        belongs to another contact must be rejected, not written."""
        ...


@runtime_checkable
class WritesInChunks(Protocol):
    """A writer that says how many records to hand it at once (else
    ``RECORDS_PER_WRITE``): a Salesforce push above ``bulk_above`` goes in Bulk API jobs,
    which only pay off with many records each."""

    def records_per_write(self, total: int) -> int:
        """Records per ``write`` call for a push of ``total`` records."""
        ...
