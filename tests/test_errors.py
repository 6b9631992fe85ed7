"""The one error tree: what each branch means to the caller, and that errors cross processes."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import pytest

from connector.errors import (
    ConfigError,
    ContactNotFoundError,
    ExitCode,
    FatalError,
    InputFileError,
    LeadsyncError,
    LimitReachedError,
    RejectedRecordError,
    RetriableError,
    StoreError,
    WriteInterruptedError,
)
from connector.ports import WriteResult

RETRY_AFTER = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConfigError("bad key", file="config.toml", line=3, key="scoring.x"), ExitCode.CONFIG),
        (InputFileError("not found", file="x.jsonl"), ExitCode.INPUT),
        (ContactNotFoundError("no contact has the e-mail 'a@b.example'"), ExitCode.INPUT),
        (StoreError("cannot reach the store"), ExitCode.STORE),
        (RetriableError("503", vendor="hubspot", status=503), ExitCode.RETRIES_EXHAUSTED),
        (LimitReachedError("daily limit", retry_after=RETRY_AFTER), ExitCode.LIMIT_REACHED),
        (FatalError("refused"), ExitCode.FATAL),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, LeadsyncError) else str(value),
)
def test_each_branch_has_its_exit_code(error: LeadsyncError, code: ExitCode) -> None:
    assert error.exit_code == code


def test_a_limit_stop_is_not_a_fatal_error_and_says_when_to_retry() -> None:
    written = [WriteResult(7, "ok", crm_id="501")]
    stop = LimitReachedError(
        "daily limit", retry_after=RETRY_AFTER, vendor="salesforce", results=written
    )
    assert not isinstance(stop, FatalError)
    assert (stop.retry_after, stop.vendor, stop.results) == (RETRY_AFTER, "salesforce", written)
    assert stop.attrs() == {"retry_after": RETRY_AFTER, "vendor": "salesforce", "results": 1}


def test_an_interrupted_write_exits_as_its_cause_does() -> None:
    cause = RetriableError("HubSpot kept answering 503", vendor="hubspot", status=503)
    interrupted = WriteInterruptedError(cause, results=[WriteResult(1, "ok")])
    assert interrupted.exit_code == ExitCode.RETRIES_EXHAUSTED
    assert interrupted.message == cause.message
    assert interrupted.attrs() == {"vendor": "hubspot", "status": 503, "results": 1}


@pytest.mark.parametrize(
    "error",
    [
        ConfigError("bad key", file="config.toml", line=3, key="scoring.x", hint="fix it"),
        RetriableError("503", vendor="salesforce", status=503, retry_after_s=2.0),
        LimitReachedError("daily limit", retry_after=RETRY_AFTER, vendor="hubspot"),
        RejectedRecordError("missing kind", location="x.jsonl", line=4),
    ],
    ids=lambda error: type(error).__name__,
)
def test_errors_cross_a_process_boundary_with_their_facts(error: LeadsyncError) -> None:
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object
    assert (type(copy), str(copy), vars(copy)) == (type(error), str(error), vars(error))
