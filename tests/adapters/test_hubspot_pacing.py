"""The pacer alone, on a fake clock: at most N calls in any window, headers respected."""

from __future__ import annotations

from adapters.hubspot.pacing import Pacer


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_no_more_than_the_limit_in_any_window_and_no_wait_below_it() -> None:
    clock = FakeClock()
    pacer = Pacer(100, 10.0, margin_s=0.3, clock=clock, sleep=clock.sleep)
    sent = []
    for _ in range(350):
        pacer.before_call()
        sent.append(clock.now)
        clock.now += 0.01  # each call takes 10 ms
    assert clock.slept[0] > 0 and sent[99] < 1.0  # the first 100 go at once
    for index in range(100, len(sent)):
        assert sent[index] - sent[index - 100] >= 10.3 - 1e-9  # never 101 in a window
    # Sustained: 100 calls per 10.3 s, the margin being the only loss.
    assert 350 / sent[-1] * 10 >= 0.95 * 100


def test_a_spent_window_reported_by_hubspot_waits_until_the_oldest_call_leaves_it() -> None:
    clock = FakeClock()
    pacer = Pacer(100, 10.0, margin_s=0.0, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        pacer.before_call()
        clock.now += 1.0
    # Calls we did not see (another process) have spent HubSpot's window.
    pacer.after_response({"X-HubSpot-RateLimit-Remaining": "0"})
    pacer.before_call()
    assert clock.now == 10.0  # the oldest of ours, sent at 0, left the window at 10


def _sustained(pacer: Pacer, clock: FakeClock, calls: int, answer: dict[str, str]) -> list[float]:
    """Send times of ``calls`` calls of 20 ms each, every answer carrying ``answer``."""
    sent = []
    for _ in range(calls):
        pacer.before_call()
        sent.append(clock.now)
        clock.now += 0.02
        pacer.after_response(answer)
    return sent


def _most_in_any(sent: list[float], seconds: float) -> int:
    return max(
        sum(1 for later in sent[index:] if later - moment < seconds)
        for index, moment in enumerate(sent)
    )


SECONDLY = {"X-HubSpot-RateLimit-Secondly": "10", "X-HubSpot-RateLimit-Secondly-Remaining": "5"}
ROLLING = {
    "X-HubSpot-RateLimit-Max": "100",
    "X-HubSpot-RateLimit-Remaining": "50",
    "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
}


def test_the_secondly_family_alone_adds_a_one_second_window_kept_near_its_rate() -> None:
    clock = FakeClock()
    pacer = Pacer(100, 10.0, clock=clock, sleep=clock.sleep)
    sent = _sustained(pacer, clock, 300, SECONDLY)
    assert pacer.windows() == {10.0: 100, 1.0: 10}
    assert _most_in_any(sent, 1.0) <= 10
    assert _most_in_any(sent, 10.0) <= 100
    assert 300 / sent[-1] >= 0.9 * 10


def test_both_families_each_against_its_own_interval() -> None:
    """The measured stall: with both families on every answer, a spent second was waited
    out as a spent 10 s window (130 calls in 80 s against 10/s allowed)."""
    clock = FakeClock()
    pacer = Pacer(100, 10.0, clock=clock, sleep=clock.sleep)
    sent = _sustained(pacer, clock, 400, {**ROLLING, **SECONDLY})
    assert _most_in_any(sent, 1.0) <= 10
    assert _most_in_any(sent, 10.0) <= 100
    assert 400 / sent[-1] >= 0.9 * 10
    # A spent second frees within a second, not ten.
    pacer.after_response({**ROLLING, "X-HubSpot-RateLimit-Secondly-Remaining": "0"})
    before = clock.now
    pacer.before_call()
    assert clock.now - before <= 1.1


def test_the_rolling_family_alone_takes_the_interval_it_names() -> None:
    clock = FakeClock()
    pacer = Pacer(100, 10.0, clock=clock, sleep=clock.sleep)
    sent = _sustained(
        pacer,
        clock,
        200,
        {
            **ROLLING,
            "X-HubSpot-RateLimit-Max": "20",
            "X-HubSpot-RateLimit-Interval-Milliseconds": "2000",
        },
    )
    assert pacer.windows() == {10.0: 100, 2.0: 20}
    assert _most_in_any(sent, 2.0) <= 20
    assert 200 / sent[-1] >= 0.9 * 10


def test_without_headers_the_configured_window_alone_paces() -> None:
    clock = FakeClock()
    pacer = Pacer(50, 10.0, clock=clock, sleep=clock.sleep)
    sent = _sustained(pacer, clock, 200, {})
    assert pacer.windows() == {10.0: 50}
    assert _most_in_any(sent, 10.0) <= 50
    assert 200 / sent[-1] >= 0.9 * 5


def test_a_portal_allowing_more_than_configured_keeps_the_configured_ceiling() -> None:
    clock = FakeClock()
    pacer = Pacer(100, 10.0, clock=clock, sleep=clock.sleep)
    pacer.after_response({**ROLLING, "X-HubSpot-RateLimit-Max": "190"})
    assert pacer.windows() == {10.0: 100}
    pacer.after_response({**ROLLING, "X-HubSpot-RateLimit-Max": "80"})
    assert pacer.windows() == {10.0: 80}


def test_a_window_learnt_late_counts_the_calls_already_sent_in_it() -> None:
    clock = FakeClock()
    pacer = Pacer(100, 10.0, clock=clock, sleep=clock.sleep)
    for _ in range(8):  # a burst before the first answer came back
        pacer.before_call()
    pacer.after_response(SECONDLY)
    for _ in range(3):
        pacer.before_call()
    assert clock.slept and clock.now >= 1.0  # the 11th call of that second waited


def test_a_refusal_of_the_second_widens_its_margin() -> None:
    clock = FakeClock()
    pacer = Pacer(100, 10.0, clock=clock, sleep=clock.sleep)
    pacer.after_response(SECONDLY)
    for _ in range(10):
        pacer.before_call()
    pacer.after_response(
        {**SECONDLY, "X-HubSpot-RateLimit-Secondly-Remaining": "0"}, policy="SECONDLY"
    )
    pacer.before_call()
    assert clock.now >= 1.1  # 1 s plus twice the 50 ms margin


def test_a_spent_day_is_said_not_waited() -> None:
    clock = FakeClock()
    pacer = Pacer(100, 10.0, clock=clock, sleep=clock.sleep)
    pacer.after_response(
        {"X-HubSpot-RateLimit-Daily": "500000", "X-HubSpot-RateLimit-Daily-Remaining": "3"}
    )
    assert not pacer.day_spent
    pacer.after_response(
        {"X-HubSpot-RateLimit-Daily": "500000", "X-HubSpot-RateLimit-Daily-Remaining": "0"}
    )
    assert pacer.day_spent
    assert clock.slept == []
