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
