"""One error hierarchy, grouped by what the caller does with it.

Every exception leadsync raises on purpose, in the core or in an adapter, is defined here:

- ``ConfigError``: the admin fixes a file or a variable and reruns.
- ``InputFileError``: a file named on the command line cannot be read at all;
  ``ContactNotFoundError``: a contact asked for by e-mail does not exist.
- ``StoreError``: the state store cannot be reached or migrated; ``BusyError``: another
  command holds the store's lock for the same work (a scoring pass, a push to one CRM).
- ``RetriableError``: a transient failure (429, 5xx, the network) still failing after the
  adapter's retries; the same run later may succeed. Every adapter means the same by it.
- ``LimitReachedError``: paused, resumable. A vendor refuses further calls until
  ``retry_after``; what was done before is kept and the rest waits for a run after then.
- ``FatalError``: stop now; nothing in flight is committed, cursors are not advanced.
- ``WriteInterruptedError``: a CRM write failed part-way after the CRM took some records;
  it carries those and the failure, which the core raises once they are recorded.
- ``RejectedRecordError``: one record is set aside with its reason; the run goes on.
- ``Interrupted``: not an error but Ctrl-C or SIGTERM, once the run is recorded as such.

Each error carries its facts as attributes so logs can render them as fields, and its
``exit_code`` is the CLI's exit status for that category.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connector.ports import WriteResult

__all__ = [
    "BusyError",
    "ConfigError",
    "ContactNotFoundError",
    "ExitCode",
    "FatalError",
    "InputFileError",
    "Interrupted",
    "LeadsyncError",
    "LimitReachedError",
    "RejectedRecordError",
    "RetriableError",
    "StoreError",
    "WriteInterruptedError",
    "interrupted_underneath",
]


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1
    USAGE = 2
    CONFIG = 3
    INPUT = 4
    STORE = 5
    RETRIES_EXHAUSTED = 6
    FATAL = 7
    LIMIT_REACHED = 8


class LeadsyncError(Exception):
    """Root of every error leadsync raises on purpose."""

    exit_code: ExitCode = ExitCode.FATAL

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def attrs(self) -> dict[str, object]:
        """Facts for structured logs: every public attribute but the message."""
        return {
            key: value
            for key, value in vars(self).items()
            if not key.startswith("_") and key not in {"message", "args"} and value is not None
        }

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message}; {self.hint}"

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only constructors do not survive the default exception pickling; errors
        # cross from the reader process to the writer (connector/runners/pipeline.py).
        return (_rebuild, (type(self), self.args, dict(vars(self))))


def _rebuild(
    cls: type[LeadsyncError], args: tuple[object, ...], state: dict[str, object]
) -> LeadsyncError:
    error = cls.__new__(cls)
    error.args = args
    vars(error).update(state)
    return error


class ConfigError(LeadsyncError):
    """A configuration or mapping file, or a variable, is wrong: fix it and rerun."""

    exit_code = ExitCode.CONFIG

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        key: str | None = None,
        hint: str | None = None,
    ) -> None:
        location = file or ""
        if file and line:
            location = f"{file}:{line}"
        prefix = f"{location}: " if location else ""
        where = f"[{key}] " if key and f"[{key}]" not in message and key not in message else ""
        super().__init__(f"{prefix}{where}{message}", hint=hint)
        self.file = file
        self.line = line
        self.key = key


class InputFileError(LeadsyncError):
    """A file given to a command is missing or unreadable as a whole."""

    exit_code = ExitCode.INPUT

    def __init__(self, message: str, *, file: str, hint: str | None = None) -> None:
        super().__init__(f"{file}: {message}", hint=hint)
        self.file = file


class ContactNotFoundError(LeadsyncError):
    """No contact has the e-mail asked for."""

    exit_code = ExitCode.INPUT


class StoreError(LeadsyncError):
    """The state store cannot be opened, reached or migrated."""

    exit_code = ExitCode.STORE


class BusyError(StoreError):
    """Another command holds the store's lock for ``what`` ("scoring pass", "push to
    hubspot"): nothing was done; retry when it has finished.

    Exit status 5, as a ``StoreError``; a class of its own lets a caller that can do
    without the work (``sync`` skipping one CRM's push) tell it from a store that is down.
    """

    def __init__(self, message: str, *, what: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.what = what


class RetriableError(LeadsyncError):
    """A transient failure (429, 5xx, timeout, unreachable) that outlasted the adapter's
    retries: the same run later may succeed."""

    exit_code = ExitCode.RETRIES_EXHAUSTED

    def __init__(
        self,
        message: str,
        *,
        vendor: str | None = None,
        status: int | None = None,
        retry_after_s: float | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.vendor = vendor
        self.status = status
        self.retry_after_s = retry_after_s


class LimitReachedError(LeadsyncError):
    """Paused, resumable: a vendor's API limit (or the share of it leadsync may use) stops
    the run, which makes no further call to it before ``retry_after``.

    Not a failure: what was done before the stop is kept, the rest waits for a run after
    ``retry_after`` (exit status 8, so a scheduler can tell it from one). A CRM writer puts
    the records it wrote or refused before the stop in ``results``, for the core to record.
    """

    exit_code = ExitCode.LIMIT_REACHED

    def __init__(
        self,
        message: str,
        *,
        retry_after: datetime,
        vendor: str | None = None,
        results: Sequence[WriteResult] = (),
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after
        self.vendor = vendor
        self.results = list(results)

    def attrs(self) -> dict[str, object]:
        facts = super().attrs()
        facts["results"] = len(self.results)
        return facts


class FatalError(LeadsyncError):
    """Stop the run; nothing in flight is committed and cursors are not advanced."""

    exit_code = ExitCode.FATAL


class WriteInterruptedError(LeadsyncError):
    """A CRM write failed or was stopped part-way (``cause``: the network, a refusal of the
    whole call, Ctrl-C or SIGTERM...) after the CRM had taken some records: ``results`` are
    those, which the core records before it raises ``cause``, so they are not sent again."""

    def __init__(
        self, cause: LeadsyncError | KeyboardInterrupt, *, results: Sequence[WriteResult]
    ) -> None:
        if isinstance(cause, LeadsyncError):
            super().__init__(cause.message, hint=cause.hint)
            self.exit_code = cause.exit_code
        else:
            super().__init__("stopped by Ctrl-C or SIGTERM")
        self.cause = cause
        self.results = list(results)

    def attrs(self) -> dict[str, object]:
        own = self.cause.attrs() if isinstance(self.cause, LeadsyncError) else {}
        return {**own, "results": len(self.results)}


class RejectedRecordError(LeadsyncError):
    """One input record is set aside with its reason; the rest of the run goes on."""

    def __init__(
        self, reason: str, *, location: str | None = None, line: int | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.location = location
        self.line = line


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM ended a command after it recorded its run as interrupted.

    A ``KeyboardInterrupt``, so that whatever stops on Ctrl-C stops on it too; ``kept``
    says what the run stored before the stop ("12,000 events stored, 3 set aside").
    """

    def __init__(self, kept: str) -> None:
        super().__init__(kept)
        self.kept = kept


def interrupted_underneath(error: BaseException) -> bool:
    """Whether Ctrl-C or SIGTERM is what ``error`` replaced.

    A stop that lands in a driver's cleanup is lost behind the cleanup's own failure:
    SQLAlchemy's ping of a pooled PostgreSQL connection sets autocommit back in a
    ``finally``, which fails on the statement the stop cut short ("can't change
    'autocommit' now: connection in transaction status ACTIVE").
    """
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
