"""What adapters implement and the core calls: the only thing the two sides share."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from connector.model import Event

__all__ = ["EventSource", "Page", "RejectedInput"]


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
