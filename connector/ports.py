"""What adapters implement and the core calls: the only thing the two sides share."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from connector.lifecycle import SalesSignals
from connector.model import Event, ProfileValue

__all__ = [
    "CrmReader",
    "EventSource",
    "Page",
    "ProfileSnapshot",
    "RejectedInput",
    "SnapshotPage",
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
