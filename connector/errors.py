"""One error hierarchy, grouped by what the caller does with it.

- ``ConfigError``: the admin fixes a file or a variable and reruns.
- ``InputFileError``: a file named on the command line cannot be read at all.
- ``StoreError``: the state store cannot be reached or migrated.
- ``RetriableError``: back off and try again; raised by adapters for 429/5xx/timeouts.
- ``FatalError``: stop now, cursors not advanced.
- ``RejectedRecord``: one record is set aside with its reason; the run goes on.

Each error carries its facts as attributes so logs can render them as fields, and its
``exit_code`` is the CLI's exit status for that category.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "ConfigError",
    "ExitCode",
    "FatalError",
    "InputFileError",
    "LeadsyncError",
    "LimitReached",
    "RejectedRecord",
    "RetriableError",
    "StoreError",
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
        # cross from the reader process to the writer (connector/_pipeline.py).
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


class StoreError(LeadsyncError):
    """The state store cannot be opened, reached or migrated."""

    exit_code = ExitCode.STORE


class RetriableError(LeadsyncError):
    """A transient failure (rate limit, 5xx, timeout): retrying may succeed."""

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


class FatalError(LeadsyncError):
    """Stop the run; nothing after this point is committed."""

    exit_code = ExitCode.FATAL


class LimitReached(FatalError):
    """A CRM's API limit stopped the run; what was done is kept, the rest waits for the
    next run (exit status 8, so a scheduler can tell it from a failure)."""

    exit_code = ExitCode.LIMIT_REACHED


class RejectedRecord(LeadsyncError):
    """One input record is set aside with its reason; the rest of the run goes on."""

    def __init__(
        self, reason: str, *, location: str | None = None, line: int | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.location = location
        self.line = line
