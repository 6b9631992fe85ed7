"""Pull configured sources one by one, so one that fails does not hold back the others.

A source whose file is missing, whose settings are wrong or whose remote kept failing is
reported and skipped; the others are pulled, and ``sync`` goes on to score and push what
they brought. The caller exits non-zero at the end with the first failure's code. A
store that fails stops everything: every source writes to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog
from sqlalchemy.engine import Engine

from connector.config import Settings
from connector.errors import (
    ConfigError,
    InputFileError,
    LeadsyncError,
    LimitReachedError,
    RetriableError,
)
from connector.plugins import source_of
from connector.runners.ingest import IngestSummary, ProgressCallback, ingest
from connector.secrets import redact

__all__ = ["SourceFailure", "pull_source", "raise_first_failure"]

log = structlog.get_logger(__name__)

# What one source can get wrong on its own; anything else stops the whole run.
# A source's API quota (GA4's hourly tokens) pauses that source alone: what it read is
# kept, the others are pulled, and the command ends with its exit status (8).
_ONE_SOURCE_ERRORS = (InputFileError, ConfigError, RetriableError, LimitReachedError)


@dataclass(frozen=True, slots=True)
class SourceFailure:
    """A source that could not be pulled, and why."""

    source: str
    error: LeadsyncError = field(repr=False)

    @property
    def message(self) -> str:
        return redact(str(self.error))

    def as_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "failed": self.message,
            "exit_code": int(self.error.exit_code),
        }


def pull_source(
    engine: Engine,
    settings: Settings,
    name: str,
    *,
    command: str,
    on_progress: ProgressCallback | None = None,
) -> IngestSummary | SourceFailure:
    """Pull source ``name`` from its cursor; a failure of its own is returned, not raised.

    Raises:
        LeadsyncError: the store failed or the run was stopped: no source can go on.
    """
    try:
        return ingest(
            engine,
            source_of(settings, name),
            command=command,
            resume=True,
            on_progress=on_progress,
            subprocess_above_bytes=settings.ingest.subprocess_above_bytes,
        )
    except _ONE_SOURCE_ERRORS as error:
        failure = SourceFailure(name, error)
        log.warning(
            "pull.source_failed",
            source=name,
            error=failure.message,
            exit_code=int(error.exit_code),
        )
        return failure


def raise_first_failure(outcomes: Sequence[object]) -> None:
    """Raise the first source's failure, once every source has been reported.

    Raises:
        LeadsyncError: the first failure among ``outcomes``, with its own exit code.
    """
    for outcome in outcomes:
        if isinstance(outcome, SourceFailure):
            raise outcome.error
