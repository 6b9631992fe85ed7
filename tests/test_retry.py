"""The one retry policy every adapter shares (connector/retry.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from structlog.testing import capture_logs

from connector.errors import FatalError, RetriableError
from connector.retry import RetryPolicy, call_retried

POLICY = RetryPolicy(attempts=4, backoff_s=0.5, max_wait_s=30)


def _failing(*errors: Exception) -> tuple[Callable[[], str], list[int]]:
    """A call raising ``errors`` one per attempt, then answering "done"."""
    attempts: list[int] = []

    def call() -> str:
        attempts.append(len(attempts) + 1)
        if len(attempts) <= len(errors):
            raise errors[len(attempts) - 1]
        return "done"

    return call, attempts


def _unavailable(retry_after_s: float | None = None, status: int | None = 503) -> RetriableError:
    return RetriableError("down", vendor="crm", status=status, retry_after_s=retry_after_s)


def test_a_retriable_failure_is_tried_again_with_backoff_and_each_retry_is_logged() -> None:
    call, attempts = _failing(_unavailable(), _unavailable())
    waits: list[float] = []
    with capture_logs() as logs:
        answer = call_retried(
            call, what="a batch update", vendor="crm", policy=POLICY, sleep=waits.append
        )
    assert answer == "done"
    assert attempts == [1, 2, 3]
    # Exponential: 0.5 then 1 s, plus up to 0.5 s of jitter each.
    assert 0.5 <= waits[0] <= 1.0
    assert 1.0 <= waits[1] <= 1.5
    retries = [line for line in logs if line["event"] == "call.retry"]
    assert [(line["call"], line["attempt"], line["status"]) for line in retries] == [
        ("a batch update", 1, 503),
        ("a batch update", 2, 503),
    ]
    assert [line["wait_s"] for line in retries] == [round(wait, 3) for wait in waits]


def test_retry_after_is_honoured() -> None:
    call, _ = _failing(_unavailable(retry_after_s=7), _unavailable(retry_after_s=0))
    waits: list[float] = []
    call_retried(call, what="a query", vendor="crm", policy=POLICY, sleep=waits.append)
    assert waits == [7, 0]


def test_a_retry_after_beyond_the_longest_wait_goes_up_at_once() -> None:
    call, attempts = _failing(_unavailable(retry_after_s=3600))
    waits: list[float] = []
    with pytest.raises(RetriableError):
        call_retried(call, what="a query", vendor="crm", policy=POLICY, sleep=waits.append)
    assert attempts == [1]
    assert waits == []


def test_attempts_are_bounded_and_giving_up_is_logged() -> None:
    call, attempts = _failing(*[_unavailable() for _ in range(10)])
    with capture_logs() as logs, pytest.raises(RetriableError):
        call_retried(call, what="a query", vendor="crm", policy=POLICY, sleep=lambda _: None)
    assert attempts == [1, 2, 3, 4]
    (gave_up,) = [line for line in logs if line["event"] == "call.gave_up"]
    assert gave_up["attempts"] == 4


def test_other_errors_are_not_retried() -> None:
    call, attempts = _failing(FatalError("no such field"))
    with pytest.raises(FatalError):
        call_retried(call, what="a query", vendor="crm", policy=POLICY, sleep=lambda _: None)
    assert attempts == [1]


@pytest.mark.parametrize("status", [None, 500, 502, 504])
def test_a_call_unsafe_to_repeat_is_not_resent_when_it_may_have_been_done(
    status: int | None,
) -> None:
    call, attempts = _failing(_unavailable(status=status))
    with capture_logs() as logs, pytest.raises(RetriableError):
        call_retried(
            call,
            what="a create",
            vendor="crm",
            safe_to_repeat=False,
            policy=POLICY,
            sleep=lambda _: None,
        )
    assert attempts == [1]
    # A warning, not an error: the adapter looks it up next and may well recover.
    assert [(line["event"], line["log_level"]) for line in logs] == [("call.not_resent", "warning")]


@pytest.mark.parametrize("status", [429, 503])
def test_a_call_unsafe_to_repeat_is_resent_after_an_answer_that_it_was_not_done(
    status: int,
) -> None:
    call, attempts = _failing(_unavailable(status=status))
    assert (
        call_retried(
            call,
            what="a create",
            vendor="crm",
            safe_to_repeat=False,
            policy=POLICY,
            sleep=lambda _: None,
        )
        == "done"
    )
    assert attempts == [1, 2]
