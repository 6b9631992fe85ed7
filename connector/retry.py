"""One retry policy for every call leadsync makes to an outside system, on tenacity.

An adapter turns each failed answer into ``connector.errors`` at its boundary; a
``RetriableError`` (429, 5xx, no answer) is worth another attempt and nothing else is.
The adapter hands the whole call, pacing and budget check included, to ``call_retried``:
each attempt then takes its own pacer slot and budget unit, so the pacer counts the
retries like any other call and the budget stops them like any other.

- The wait is the server's ``Retry-After`` when it sent one, else an exponential backoff
  with jitter (so calls in flight that failed together do not come back together).
- A ``Retry-After`` beyond ``max_wait_s`` is not waited: the error goes up, and the run
  stops with what it did kept (a scheduler comes back later; a push does not sleep an hour).
- A call that is not safe to repeat (a create: a lost answer may hide a record the server
  made) is retried only after an answer saying it was not done (``NOT_APPLIED_STATUSES``);
  any other failure goes up at once, for the adapter to find out what happened first.
- Every retry is logged (call, attempt, wait, what failed), and so are giving up
  (``call.gave_up``) and a call not resent for fear it was done (``call.not_resent``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base
from tenacity.wait import wait_base, wait_exponential, wait_random

from connector.errors import RetriableError

__all__ = ["DEFAULT_POLICY", "NOT_APPLIED_STATUSES", "RetryPolicy", "call_retried"]

log = structlog.get_logger(__name__)

T = TypeVar("T")

# Answers of a server that refused the call before doing anything: too many requests, and
# unavailable (both come with Retry-After when the server knows when to come back).
NOT_APPLIED_STATUSES = frozenset({429, 503})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to try one call again."""

    attempts: int = 5  # the first and four more
    backoff_s: float = 0.5  # the first wait without Retry-After; each next doubles it
    max_wait_s: float = 60.0  # the longest wait, Retry-After included


DEFAULT_POLICY = RetryPolicy()


class _RetryAfterOrBackoff(wait_base):
    def __init__(self, policy: RetryPolicy) -> None:
        self._backoff = wait_exponential(
            multiplier=policy.backoff_s, max=policy.max_wait_s
        ) + wait_random(0, policy.backoff_s)

    def __call__(self, retry_state: RetryCallState) -> float:
        asked = _retry_after_s(retry_state)
        return asked if asked is not None else self._backoff(retry_state)


class _RetryAfterTooLong(stop_base):
    def __init__(self, policy: RetryPolicy) -> None:
        self._max_wait_s = policy.max_wait_s

    def __call__(self, retry_state: RetryCallState) -> bool:
        asked = _retry_after_s(retry_state)
        return asked is not None and asked > self._max_wait_s


def _retry_after_s(retry_state: RetryCallState) -> float | None:
    error = retry_state.outcome.exception() if retry_state.outcome else None
    if isinstance(error, RetriableError) and error.retry_after_s is not None:
        return max(error.retry_after_s, 0.0)
    return None


def _worth_another_attempt(safe_to_repeat: bool) -> Callable[[BaseException], bool]:
    def worth(error: BaseException) -> bool:
        if not isinstance(error, RetriableError):
            return False
        return safe_to_repeat or error.status in NOT_APPLIED_STATUSES

    return worth


def call_retried(
    call: Callable[[], T],
    *,
    what: str,
    vendor: str,
    safe_to_repeat: bool = True,
    policy: RetryPolicy = DEFAULT_POLICY,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``call``, tried again on ``RetriableError`` as ``policy`` allows.

    Args:
        call: one attempt (pacing and budget included): it raises ``connector.errors``.
        what: the call, for the log ("a batch update").
        vendor: the system called, for the log.
        safe_to_repeat: whether sending the call twice does no harm (reads, updates by
            id); if not, only an answer saying it was not done is retried.

    Raises:
        The last attempt's error: a ``RetriableError`` once the attempts are spent, the
        ``Retry-After`` is too long or the call may have been done; any other error at once.
    """

    def logged(retry_state: RetryCallState) -> None:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        log.warning(
            "call.retry",
            vendor=vendor,
            call=what,
            attempt=retry_state.attempt_number,
            of=policy.attempts,
            wait_s=round(retry_state.next_action.sleep if retry_state.next_action else 0, 3),
            status=getattr(error, "status", None),
            error=str(error),
        )

    retrying = Retrying(
        stop=stop_after_attempt(policy.attempts) | _RetryAfterTooLong(policy),
        wait=_RetryAfterOrBackoff(policy),
        retry=retry_if_exception(_worth_another_attempt(safe_to_repeat)),
        before_sleep=logged,
        sleep=sleep,
        reraise=True,
    )
    try:
        return retrying(call)
    except RetriableError as error:
        attempts = retrying.statistics.get("attempt_number", 1)
        not_resent = not _worth_another_attempt(safe_to_repeat)(error)
        if not_resent or attempts > 1:
            # Not resent: the adapter finds out first whether it was done (a look-up) and
            # may well recover, so a warning; retries spent are an error.
            (log.warning if not_resent else log.error)(
                "call.not_resent" if not_resent else "call.gave_up",
                vendor=vendor,
                call=what,
                attempts=attempts,
                status=error.status,
                error=str(error),
            )
        raise
