"""Machine activity: the four rules through the scorer, their explain lines, each rule
turned off, and machine events counting for nothing else (no route, no cap, no window)."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from connector.config import Settings, scoring_rules
from connector.model import EventKind, JsonValue, LifecycleState, ScoreLine, ScoringEvent
from connector.scoring.decide import decide
from connector.scoring.explain import ContactToExplain, explain
from connector.scoring.machine import MachineRules
from connector.scoring.rules import BehaviourRule, ScoringRules
from connector.scoring.scorer import Scorer
from connector.scoring.settings import ScoringSettings

RULES = scoring_rules(Settings())
SENT = datetime(2026, 11, 2, 10, tzinfo=UTC)
NOW = SENT + timedelta(days=1)
HUMAN_UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 Safari/605.1.15"


def _event(
    kind: str, seconds: float, url: str | None = None, **attributes: JsonValue
) -> ScoringEvent:
    return ScoringEvent(
        kind, SENT + timedelta(seconds=seconds), url, attributes, "router", f"{kind}-{seconds}"
    )


def _as_stored(event: ScoringEvent) -> ScoringEvent:
    """As the store hands it over: naive UTC text for the time, JSON text attributes."""
    when = event.occurred_at
    assert isinstance(when, datetime)
    text = when.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    return event._replace(occurred_at=text, attributes=orjson.dumps(event.attributes).decode())


def _lines(events: list[ScoringEvent], rules: ScoringRules = RULES) -> list[ScoreLine]:
    return list(Scorer(rules, as_of=NOW).score(events, {}).lines)


def _with(rules: ScoringRules = RULES, **changes: object) -> ScoringRules:
    return dataclasses.replace(rules, machine=dataclasses.replace(rules.machine, **changes))


def _at(seconds: float) -> datetime:
    return SENT + timedelta(seconds=seconds)


DELIVERED = _event("email_delivered", 0, message_id="m1")
SCANNER_CLICK = _event("email_click", 3, "https://acme.example/blog", message_id="m1")
HUMAN_CLICK = _event("email_click", 63, "https://acme.example/blog", message_id="m1")


class TestRouterFlag:
    def test_a_flagged_open_is_an_ignored_line_and_scores_nothing(self) -> None:
        """An open the router flagged shows as ignored with the flag, 0 points."""
        flagged = _event("email_open", 5, machine="sendgrid sg_machine_open", message_id="m1")
        result = Scorer(RULES, as_of=NOW).score([flagged], {})
        assert result.score == 0
        assert result.tallies == ()
        assert list(result.lines) == [
            ScoreLine(
                "machine_router_flag",
                "email_open",
                _at(5),
                0.0,
                "router",
                None,
                note="ignored as machine activity: the router flagged it "
                "(sendgrid sg_machine_open)",
            )
        ]

    def test_a_flagged_click_loses_the_points_its_rule_would_give(self) -> None:
        """A flagged click on a pricing link gives neither the 3 points nor the route."""
        click = _event("email_click", 600, "https://acme.example/pricing", machine=True)
        result = Scorer(RULES, as_of=NOW).score([click], {})
        assert (result.score, result.route, result.reasons) == (0, None, "no scored activity")
        assert [line.note for line in result.lines] == [
            "ignored as machine activity: the router flagged it (true); "
            "strong_email_click +3 not counted"
        ]

    def test_a_false_empty_or_no_flag_is_no_flag(self) -> None:
        clicks = [
            _event("email_click", 600 + n, f"https://acme.example/{n}", machine=value)
            for n, value in enumerate([False, "", 0, "false", "No", None])
        ]
        assert Scorer(RULES, as_of=NOW).score(clicks, {}).score == 6
        flagged = [clicks[0]._replace(attributes={"machine": value}) for value in (1, "yes")]
        assert Scorer(RULES, as_of=NOW).score(flagged[:1], {}).score == 0
        assert Scorer(RULES, as_of=NOW).score(flagged[1:], {}).score == 0

    def test_turned_off_the_flag_is_read_as_any_attribute(self) -> None:
        click = _event("email_click", 600, "https://acme.example/pricing", machine=True)
        result = Scorer(_with(router_flag=False), as_of=NOW).score([click], {})
        assert result.score == 3
        assert [line.rule for line in result.lines] == ["strong_email_click"]


class TestUserAgent:
    @pytest.mark.parametrize(
        "agent",
        [
            "python-requests/2.31.0",
            "curl/8.4.0",
            "Go-http-client/1.1",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/120.0 Safari",
            "Barracuda Sentinel (EE)",
            "Mozilla/5.0 (compatible; Proofpoint URL Defense)",
        ],
    )
    def test_a_scanner_user_agent_makes_a_click_machine_activity(self, agent: str) -> None:
        click = _event("email_click", 600, "https://acme.example/blog", user_agent=agent)
        result = Scorer(RULES, as_of=NOW).score([click], {})
        assert result.score == 0
        assert [line.rule for line in result.lines] == ["machine_user_agent"]
        assert result.lines[0].note == (
            f"ignored as machine activity: scanner user agent {agent!r} (machine_user_agents); "
            "weak_email_click +1 not counted"
        )

    @pytest.mark.parametrize(
        ("globs", "agent", "is_machine"),
        [
            (("curl/*",), "curl/8.4.0", True),
            (("curl/*",), "Mozilla/5.0 curl/8.4.0", False),  # a prefix, not anywhere
            (("*mimecast*",), "Mozilla/5.0 (Mimecast URL protect)", True),
            (("exact-scanner",), "Exact-Scanner", True),
            (("exact-scanner",), "exact-scanner/2", False),
            (("*scan?er*",), "MyScanner 1.0", True),
            (("*scan[nm]er*",), "scanmer", True),
            (("go*client",), "Go-http-client/1.1", False),
        ],
    )
    def test_globs_match_the_whole_user_agent_ignoring_case(
        self, globs: tuple[str, ...], agent: str, is_machine: bool
    ) -> None:
        click = _event("email_click", 600, "https://acme.example/blog", user_agent=agent)
        result = Scorer(_with(user_agents=globs), as_of=NOW).score([click], {})
        assert (result.score == 0) is is_machine

    def test_a_browser_is_a_person(self) -> None:
        click = _event("email_click", 600, "https://acme.example/blog", user_agent=HUMAN_UA)
        assert Scorer(RULES, as_of=NOW).score([click], {}).score == 1

    def test_your_globs_replace_the_list_and_none_turns_it_off(self) -> None:
        click = _event("email_click", 600, "https://acme.example/blog", user_agent="curl/8.4.0")
        ours = Scorer(_with(user_agents=("*safari*",)), as_of=NOW)
        assert ours.score([click], {}).score == 1
        other = _event("email_click", 700, "https://acme.example/x", user_agent=HUMAN_UA)
        assert ours.score([other], {}).score == 0
        assert Scorer(_with(user_agents=()), as_of=NOW).score([click], {}).score == 1


class TestClickAfterDelivery:
    def test_a_click_3_s_after_delivery_is_ignored_and_one_a_minute_later_counts(self) -> None:
        result = Scorer(RULES, as_of=NOW).score([DELIVERED, SCANNER_CLICK, HUMAN_CLICK], {})
        assert result.score == 1
        assert [(line.rule, line.occurred_at, line.points, line.note) for line in result.lines] == [
            (
                "machine_click_after_delivery",
                _at(3),
                0.0,
                "ignored as machine activity: clicked 3 s after delivery "
                "(machine_click_within_s 10); weak_email_click +1 not counted",
            ),
            ("weak_email_click", _at(63), 1.0, None),
        ]

    def test_the_threshold_is_strict_and_configurable(self) -> None:
        at_10 = _event("email_click", 10, "https://acme.example/blog", message_id="m1")
        assert Scorer(RULES, as_of=NOW).score([DELIVERED, at_10], {}).score == 1
        longer = Scorer(_with(click_within_s=11), as_of=NOW)
        assert longer.score([DELIVERED, at_10], {}).score == 0

    def test_sent_stands_in_for_delivered_and_delivered_wins(self) -> None:
        sent = _event("email_sent", 0, message_id="m1")
        late_delivery = _event("email_delivered", 120, message_id="m1")
        click = _event("email_click", 5, "https://acme.example/blog", message_id="m1")
        assert Scorer(RULES, as_of=NOW).score([sent, click], {}).score == 0
        # Delivered two minutes after: the click came before it, which a gateway does.
        assert Scorer(RULES, as_of=NOW).score([sent, late_delivery, click], {}).score == 0
        far_click = _event("email_click", 200, "https://acme.example/blog", message_id="m1")
        assert Scorer(RULES, as_of=NOW).score([sent, late_delivery, far_click], {}).score == 1

    def test_another_message_or_none_is_no_delivery(self) -> None:
        other = _event("email_click", 3, "https://acme.example/blog", message_id="m2")
        bare = _event("email_click", 3, "https://acme.example/blog")
        assert Scorer(RULES, as_of=NOW).score([DELIVERED, other, bare], {}).score == 2

    def test_turned_off_with_0_the_fast_click_counts(self) -> None:
        rules = _with(click_within_s=0)
        assert Scorer(rules, as_of=NOW).score([DELIVERED, SCANNER_CLICK], {}).score == 1


BURST = [
    _event("email_click", 7200 + 0.0, "https://acme.example/a", message_id="m1"),
    _event("email_click", 7200 + 1.5, "https://acme.example/b", message_id="m1"),
    _event("email_click", 7200 + 3.0, "https://acme.example/c", message_id="m1"),
    _event("email_click", 7200 + 4.0, "https://acme.example/a", message_id="m1"),
]


class TestClickBurst:
    def test_three_links_of_one_message_in_5_s_are_all_ignored(self) -> None:
        lines = _lines([*BURST, HUMAN_CLICK])
        assert [(line.rule, line.url) for line in lines] == [
            ("weak_email_click", "https://acme.example/blog"),
            ("machine_click_burst", "https://acme.example/a"),
            ("machine_click_burst", "https://acme.example/b"),
            ("machine_click_burst", "https://acme.example/c"),
            ("machine_click_burst", "https://acme.example/a"),
        ]
        assert lines[1].note == (
            "ignored as machine activity: 3+ links of the message clicked within 5 s "
            "(machine_burst_links, machine_burst_s); weak_email_click +1 not counted"
        )

    def test_the_same_link_clicked_three_times_is_no_burst(self) -> None:
        again = [
            event._replace(url="https://acme.example/a", source_event_id=f"x{n}")
            for n, event in enumerate(BURST)
        ]
        assert Scorer(RULES, as_of=NOW).score(again, {}).score == 4

    def test_links_spread_over_more_than_5_s_or_over_two_messages_are_no_burst(self) -> None:
        slow = [event._replace(occurred_at=_at(7200 + 3 * n)) for n, event in enumerate(BURST)]
        assert Scorer(RULES, as_of=NOW).score(slow, {}).score == 4
        split = [
            event._replace(attributes={"message_id": f"m{n % 2}"}) for n, event in enumerate(BURST)
        ]
        assert Scorer(RULES, as_of=NOW).score(split, {}).score == 4

    def test_turned_off_or_raised_the_burst_counts(self) -> None:
        assert Scorer(_with(burst_links=0), as_of=NOW).score(BURST, {}).score == 4
        assert Scorer(_with(burst_links=4), as_of=NOW).score(BURST, {}).score == 4
        assert Scorer(_with(burst_s=1), as_of=NOW).score(BURST, {}).score == 4
        assert Scorer(_with(burst_s=3), as_of=NOW).score(BURST, {}).score == 0


class TestCountsForNothingElse:
    def test_a_machine_click_earns_no_route_and_uses_no_cap(self) -> None:
        """With max_times 1, the scanner's click must not take the person's one count."""
        capped = BehaviourRule(
            "pricing_click", EventKind.EMAIL_CLICK, 5, route="sales", max_times=1, window_days=30
        )
        rules = dataclasses.replace(RULES, behaviour=(capped, *RULES.behaviour))
        pricing = "https://acme.example/pricing"
        scanner = _event("email_click", 2, pricing, message_id="m1")
        person = _event("email_click", 3600, pricing, message_id="m1")
        result = Scorer(rules, as_of=NOW).score([DELIVERED, scanner, person], {})
        assert (result.score, result.route) == (5, "sales")
        assert [(tally.rule, tally.times, tally.points) for tally in result.tallies] == [
            ("pricing_click", 1, 5.0)
        ]
        alone = Scorer(rules, as_of=NOW).score([DELIVERED, scanner], {})
        assert (alone.score, alone.route, alone.tallies) == (0, None, ())
        assert alone.rescore_after is None

    def test_explain_lists_the_ignored_events_and_counts_them(self) -> None:
        flagged_open = _event("email_open", 4, machine="brevo proxy open")
        contact = ContactToExplain(
            "alice@acme.example",
            1,
            "alice@acme.example",
            [DELIVERED, SCANNER_CLICK, HUMAN_CLICK, flagged_open],
            {},
            LifecycleState(),
            (),
        )
        explanation = explain(RULES, contact, now=NOW)
        assert explanation.outcome.score.score == 1
        assert explanation.machine_activity == {
            "machine_click_after_delivery": 1,
            "machine_router_flag": 1,
        }
        shown = explanation.as_dict()
        assert shown["machine_activity"] == explanation.machine_activity
        lines = shown["lines"]
        assert isinstance(lines, list)
        assert [(line["rule"], line["points"]) for line in lines] == [
            ("machine_click_after_delivery", 0.0),
            ("machine_router_flag", 0.0),
            ("weak_email_click", 1.0),
        ]


class TestReproducible:
    def test_stored_rows_lines_off_and_any_order_give_the_same_score(self) -> None:
        """The store's text rows, a pass without lines, any event order: one result."""
        events = [
            DELIVERED,
            SCANNER_CLICK,
            HUMAN_CLICK,
            *BURST,
            _event("email_open", 4, machine="brevo proxy open"),
            _event("email_click", 900, "https://acme.example/pricing", user_agent="curl/8"),
            _event("site_visit", 1000, "https://acme.example/"),
        ]
        detailed = Scorer(RULES, as_of=NOW).score(events, {})
        assert detailed.score == 2
        stored = [_as_stored(event) for event in events]
        shuffled = list(stored)
        random.Random(3).shuffle(shuffled)
        scorer = Scorer(RULES, as_of=NOW)
        for run in (stored, shuffled, stored):
            assert scorer.score(run, {}, detailed=False).tallies == detailed.tallies
            assert scorer.score(run, {}).lines == detailed.lines
        outcome = decide(scorer, shuffled, {}, LifecycleState(), email=None, at=NOW)
        assert outcome.score.score == 2

    def test_the_fingerprint_changes_with_each_machine_setting(self) -> None:
        variants = [
            RULES,
            _with(router_flag=False),
            _with(click_within_s=0),
            _with(burst_links=4),
            _with(burst_s=2),
            _with(user_agents=("*curl*",)),
        ]
        assert len({rules.fingerprint() for rules in variants}) == len(variants)
        assert RULES.machine == MachineRules()
        assert ScoringSettings().machine_rules() == MachineRules()
