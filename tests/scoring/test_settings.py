"""Scoring rules in config.toml: what admins write, what leadsync makes of it, and the
errors that name the file, the line and the key when a rule cannot work."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connector.config import Settings, check_rules, load_settings, scoring_rules
from connector.errors import ConfigError, ExitCode
from connector.model import EventKind, ScoringEvent
from connector.scoring.scorer import score_contact
from connector.scoring.settings import BUILT_IN_ROUTES
from tests.cli.test_cli import assert_clean_failure, cfg, leadsync, write_jsonl
from tests.conftest import REPO_ROOT
from tests.test_config import config_error, write_config

BOTH_MAPPINGS = {
    "mappings/hubspot.toml": frozenset(BUILT_IN_ROUTES),
    "mappings/salesforce.toml": frozenset(BUILT_IN_ROUTES),
}

RULES_TOML = """\
[scoring]
warm_from = 15
hot_above = 40
normalised = true

[[scoring.behaviour]]
name = "pricing_q4"
kind = "page_view"
url = ["*/pricing*", "*/tarifs*"]
campaign = "q4*"
points = 8
route = "telemarketing"
treatment = "project_detection"
max_times = 2

[[scoring.behaviour]]
name = "recent_visit"
kind = "site_visit"
points = 2
window_days = 30

[[scoring.behaviour]]
name = "demo_form"
kind = "form_submit"
form = "demo-request"
points = 25
route = "sales"
treatment = "appointment"

[[scoring.behaviour]]
name = "fading_webinar"
kind = "webinar_attended"
attributes = { topic = ["pricing", "roi"], live = true }
points = 12
half_life_days = 45

[[scoring.fit]]
name = "decision_maker"
field = "job_title"
regex = "\\\\b(ceo|cto|vp|head of)\\\\b"
points = 10

[[scoring.fit]]
name = "mid_market"
field = "company_size"
min = 50
max = 5000
points = 5

[[scoring.fit]]
name = "competitor"
field = "email_domain"
in = ["rival.example", "other-rival.example"]
disqualify = true

[lifecycle]
bant_required = ["budget", "need"]
"""


def test_rules_from_config_are_tried_before_the_built_in_table(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, RULES_TOML))
    rules = scoring_rules(settings)
    names = [rule.name for rule in rules.behaviour]
    assert names[:4] == ["pricing_q4", "recent_visit", "demo_form", "fading_webinar"]
    assert "quote_request" in names[4:]  # the built-in table follows
    assert (rules.bands.warm_from, rules.bands.hot_above) == (15, 40)
    assert rules.lifecycle.bant_required == {"budget", "need"}
    assert [rule.operator for rule in rules.fit] == ["regex", "range", "in"]

    now = datetime(2026, 11, 2, tzinfo=UTC)
    result = score_contact(
        [
            ScoringEvent("page_view", now, "https://a.example/pricing", {"campaign": "Q4"}, "w"),
            ScoringEvent("page_view", now, "https://a.example/pricing", {"campaign": "q3"}, "w"),
            ScoringEvent("site_visit", now - timedelta(days=40), None, None, "w"),
            ScoringEvent("form_submit", now, None, {"form": "demo-request"}, "w"),
            ScoringEvent("webinar_attended", now, None, {"topic": "roi", "live": "yes"}, "w"),
        ],
        rules,
        {"job_title": "Head of Sales", "company_size": 120},
        as_of=now,
        email="ann@acme.example",
    )
    points = sorted((line.rule, line.points) for line in result.lines)
    assert points == [
        ("decision_maker", 10),
        ("demo_form", 25),
        ("fading_webinar", 12),
        ("mid_market", 5),
        ("pricing_page", 3),  # campaign q3: the built-in pricing rule takes it
        ("pricing_q4", 8),
        ("recent_visit", 0),  # 40 days old, window 30
    ]
    assert (result.behaviour_score, result.fit_score, result.score) == (48, 15, 63)
    assert result.normalised_score == 61.2  # 100 * 63 / (63 + 40), hot_above 40


def test_default_rules_can_be_switched_off(tmp_path: Path) -> None:
    text = RULES_TOML.replace("normalised = true", "normalised = true\ndefault_rules = false")
    rules = scoring_rules(load_settings(write_config(tmp_path, text)))
    assert [rule.name for rule in rules.behaviour] == [
        "pricing_q4",
        "recent_visit",
        "demo_form",
        "fading_webinar",
    ]


@pytest.mark.parametrize(
    ("change", "at", "message"),
    [
        (
            ('kind = "site_visit"', 'kind = "site_vist"'),
            'kind = "site_vist"',
            r"\[scoring\.behaviour\.1\.kind\] Input should be 'email_open', 'email_click'",
        ),
        (
            ("window_days = 30", 'url_regex = "(unclosed"'),
            "url_regex",
            r"\[scoring\.behaviour\.1\.url_regex\] is not a valid regular expression",
        ),
        (
            ("max_times = 2", "max_times = 0"),
            "max_times = 0",
            r"\[scoring\.behaviour\.0\.max_times\] .*greater than or equal to 1",
        ),
        (
            ("min = 50", "min = 9000"),
            "[[scoring.fit]]#2",
            r"\[scoring\.fit\.1\] .*min \(9000\) is above max \(5000\); no value can match",
        ),
        (
            (
                'field = "company_size"\nmin = 50\nmax = 5000\npoints = 5',
                'field = "company_size"\nmin = 50',
            ),
            "[[scoring.fit]]#2",
            r"\[scoring\.fit\.1\] .*gives 0 points and does not disqualify",
        ),
        (
            ('regex = "', 'contains = "x"\nregex = "'),
            "[[scoring.fit]]#1",
            r"\[scoring\.fit\.0\] .*exactly one test .*\(found: contains, regex\)",
        ),
        (
            ("warm_from = 15", "warm_from = 50"),
            "[scoring]",
            r"\[scoring\] warm_from \(50\) is above hot_above \(40\)",
        ),
        (
            ('bant_required = ["budget", "need"]', 'bant_required = ["budget", "money"]'),
            "bant_required",
            r"\[lifecycle\.bant_required\.1\] Input should be 'budget', 'authority'",
        ),
        (
            ('route = "sales"', 'route = "telemarketing_north_region"'),
            "telemarketing_north_region",
            r"\[scoring\.behaviour\.2\.route\] String should match pattern",
        ),
        (
            ('route = "sales"\n', ""),
            "[[scoring.behaviour]]#3",
            r"\[scoring\.behaviour\.2\] .*has a treatment but no route",
        ),
        (
            ('in = ["rival.example", "other-rival.example"]', "in = []"),
            "in = []",
            r"\[scoring\.fit\.2\.in\] is an empty list, which matches nothing",
        ),
        (
            ('url = ["*/pricing*", "*/tarifs*"]', "url = []"),
            "url = []",
            r"\[scoring\.behaviour\.0\.url\] is an empty list, which matches nothing",
        ),
        (
            ('bant_required = ["budget", "need"]', "bant_required = []"),
            "bant_required",
            r"\[lifecycle\.bant_required\] .*at least 1 item",
        ),
        (
            ('name = "recent_visit"', 'name = "recent visit!"'),
            "recent visit!",
            r"\[scoring\.behaviour\.1\.name\] rule name 'recent visit!' must be",
        ),
    ],
)
def test_impossible_rules_name_the_file_line_and_key(
    tmp_path: Path, change: tuple[str, str], at: str, message: str
) -> None:
    old, new = change
    assert old in RULES_TOML
    text = RULES_TOML.replace(old, new, 1)
    error = config_error(tmp_path, text)
    assert re.search(message, str(error)), str(error)
    marker, _, nth = at.partition("#")
    lines = [number for number, line in enumerate(text.splitlines(), 1) if marker in line]
    line = lines[int(nth or 1) - 1]
    assert str(error).startswith(f"{tmp_path / 'config.toml'}:{line}: "), str(error)


def _check(tmp_path: Path, text: str) -> ConfigError:
    settings = load_settings(write_config(tmp_path, text))
    with pytest.raises(ConfigError) as caught:
        check_rules(settings, BOTH_MAPPINGS)
    return caught.value


def test_check_finds_a_rule_no_event_can_reach(tmp_path: Path) -> None:
    text = RULES_TOML.replace(
        "window_days = 30",
        "window_days = 30\n\n[[scoring.behaviour]]\n"
        'name = "pricing_visit"\nkind = "site_visit"\nurl = "*pricing*"\npoints = 4',
    )
    error = _check(tmp_path, text)
    line = text.splitlines().index('kind = "site_visit"', 20) + 1
    assert str(error).startswith(f"{tmp_path / 'config.toml'}:{line}: [scoring.behaviour.2.kind]")
    assert (
        "rule 'pricing_visit' can never match: rule 'recent_visit' before it takes every "
        "site_visit event" in str(error)
    )


def test_check_finds_a_route_no_mapping_knows(tmp_path: Path) -> None:
    text = RULES_TOML.replace('route = "sales"', 'route = "partners"')
    error = _check(tmp_path, text)
    line = text.splitlines().index('route = "partners"') + 1
    assert str(error).startswith(f"{tmp_path / 'config.toml'}:{line}: [scoring.behaviour.2.route]")
    assert "route 'partners' is known to no mapping file (known: sales, telemarketing)" in str(
        error
    )
    # The same rules with a known route pass (check_rules raises on a problem).
    check_rules(load_settings(write_config(tmp_path, RULES_TOML)), BOTH_MAPPINGS)


def test_check_finds_a_route_one_mapping_lacks(tmp_path: Path) -> None:
    text = RULES_TOML.replace('route = "sales"', 'route = "partners"')
    settings = load_settings(write_config(tmp_path, text))
    with pytest.raises(ConfigError) as caught:
        check_rules(
            settings,
            {
                "mappings/hubspot.toml": frozenset({"sales", "telemarketing", "partners"}),
                "mappings/salesforce.toml": frozenset(BUILT_IN_ROUTES),
            },
        )
    assert "route 'partners' is missing from [routes] in mappings/salesforce.toml" in str(
        caught.value
    )


def test_default_rules_need_no_config() -> None:
    assert scoring_rules(Settings()).behaviour[0].kind is EventKind.EMAIL_CLICK


__all__ = ["cfg"]  # the fixture, shared with test_cli


# -- through the command line -----------------------------------------------------------------


def test_check_command_reports_a_route_unknown_to_the_mappings(cfg: Path) -> None:
    text = (
        cfg.read_text(encoding="utf-8")
        + '\n[[scoring.behaviour]]\nname = "x"\nkind = "goal"\npoints = 1\nroute = "partners"\n'
    )
    cfg.write_text(text, encoding="utf-8")
    result = leadsync("--config", cfg, "check", cwd=cfg.parent)
    assert_clean_failure(result, ExitCode.CONFIG)
    assert (
        "[scoring.behaviour.0.route] route 'partners' is known to no mapping file" in result.stderr
    )
    line = text.splitlines().index('route = "partners"') + 1
    assert f"config.toml:{line}:" in result.stderr


def test_explain_json_has_fit_lines_adding_up_and_as_of_is_reproducible(cfg: Path) -> None:
    cfg.write_text(
        cfg.read_text(encoding="utf-8")
        + '\n[[scoring.fit]]\nname = "cto"\nfield = "job_title"\nequals = "CTO"\npoints = 7\n'
        + '\n[[scoring.behaviour]]\nname = "fading_visit"\nkind = "site_visit"\npoints = 4\n'
        + "half_life_days = 10\n",
        encoding="utf-8",
    )
    events = cfg.parent / "events.jsonl"
    records: list[dict[str, object]] = [
        {
            "kind": "site_visit",
            "occurred_at": f"2026-10-{day:02d}T09:00:00Z",
            "email": "max@acme.example",
            "profile": {"job_title": "cto"},
        }
        for day in (1, 11)
    ]
    records.append(
        {
            "kind": "quote_request",
            "occurred_at": "2026-10-25T09:00:00Z",
            "email": "max@acme.example",
        }
    )
    write_jsonl(events, records)
    assert leadsync("--config", cfg, "ingest", events, cwd=cfg.parent).returncode == 0
    scored = leadsync("--config", cfg, "score", "--as-of", "2026-10-21T09:00:00Z", cwd=cfg.parent)
    assert scored.returncode == 0, scored.stderr

    def explain(*extra: str) -> dict[str, object]:
        done = leadsync(
            "--config", cfg, "explain", "max@acme.example", "--json", *extra, cwd=cfg.parent
        )
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout))

    early = explain("--as-of", "2026-10-21T09:00:00Z")
    assert early == explain("--as-of", "2026-10-21T09:00:00Z")
    lines = early["lines"]
    assert isinstance(lines, list)
    assert [(line["rule"], line["kind"], line["points"]) for line in lines] == [
        ("cto", "fit", 7),
        ("fading_visit", "site_visit", 1),  # 20 days old: two half-lives
        ("fading_visit", "site_visit", 2),  # 10 days old: one
    ]
    assert lines[0]["occurred_at"] is None
    assert sum(line["points"] for line in lines) == early["score"] == 10
    assert (early["behaviour_score"], early["fit_score"], early["temperature"]) == (3, 7, "warm")
    assert early["stage"] == "lead"

    later = explain("--as-of", "2026-10-26")
    # 24.625 and 14.625 days old at midnight: 4 x 0.5^2.4625 and 4 x 0.5^1.4625, each
    # rounded to cents, plus the quote request and the fit line.
    faded = round(4 * 0.5**2.4625, 2) + round(4 * 0.5**1.4625, 2)
    assert later["score"] == round(7 + faded + 20, 2) == 29.18
    # As it stood then: no pass had recorded a stage change yet.
    assert (later["stage"], later["stage_set_by"], later["route"]) == ("lead", None, "sales")

    # The pass with --as-of left the quote request (10-25) out; the next ordinary pass
    # rescores everyone and records the MQL, with the reason.
    rescored = leadsync("--config", cfg, "score", cwd=cfg.parent)
    assert "scored 1 contact(s)" in rescored.stdout, rescored.stdout
    assert "the last pass scored as of 2026-10-21T09:00:00+00:00" in rescored.stdout
    now = explain()
    assert now["stage"] == "mql"
    # 20 for the quote, 7 for the fit, and whatever is left of the fading visits today.
    set_by = now["stage_set_by"]
    assert isinstance(set_by, dict)
    assert re.fullmatch(r"score 27(\.\d+)? is above 20 \(hot\)", set_by["reason"]), set_by
    assert set_by["recorded"] is True
    for key in (
        "email",
        "score",
        "behaviour_score",
        "fit_score",
        "temperature",
        "stage",
        "route",
        "treatment",
        "reasons",
        "lines",
    ):
        assert key in later

    bad = leadsync(
        "--config", cfg, "explain", "max@acme.example", "--as-of", "26/10/2026", cwd=cfg.parent
    )
    assert bad.returncode == 2 and "not an ISO 8601 time" in bad.stderr


def test_the_example_rules_in_config_example_work_as_written(tmp_path: Path) -> None:
    """The commented examples in config.example.toml, uncommented, load and pass check."""
    lines, in_example = [], False
    for line in (REPO_ROOT / "config.example.toml").read_text(encoding="utf-8").splitlines():
        if re.match(r"^# \[\[scoring\.(behaviour|fit)\]\]$", line):
            in_example = True
        elif not line.startswith("#"):
            in_example = False
        lines.append(line[2:] if in_example and line.startswith("# ") else line)
    settings = load_settings(write_config(tmp_path, "\n".join(lines) + "\n"))
    check_rules(settings, BOTH_MAPPINGS)
    rules = scoring_rules(settings)
    assert [rule.name for rule in rules.behaviour[:3]] == [
        "pricing_page_q4",
        "recent_visit",
        "webinar_attended",
    ]
    assert [rule.name for rule in rules.fit] == [
        "decision_maker",
        "mid_market",
        "region_not_served",
        "competitor",
    ]
    result = score_contact(
        [], rules, {"job_title": "Head of Marketing", "country": "kp"}, email="x@rival.example"
    )
    assert (result.fit_score, result.disqualified_by) == (-10, "competitor")


def test_check_command_reports_a_mapping_whose_routes_lack_a_built_in_one(cfg: Path) -> None:
    mapping = cfg.parent / "mappings" / "salesforce.toml"
    text = mapping.read_text(encoding="utf-8")
    assert 'telemarketing = "Telemarketing"\n' in text
    mapping.write_text(text.replace('telemarketing = "Telemarketing"\n', ""), encoding="utf-8")
    result = leadsync("--config", cfg, "check", cwd=cfg.parent)
    assert_clean_failure(result, ExitCode.CONFIG)
    line = mapping.read_text(encoding="utf-8").splitlines().index("[routes]") + 1
    assert f"mappings/salesforce.toml:{line}: [routes] lacks 'telemarketing'" in result.stderr


def test_check_finds_a_rule_whose_conditions_an_earlier_one_repeats(tmp_path: Path) -> None:
    text = RULES_TOML.replace(
        "max_times = 2",
        'max_times = 2\n\n[[scoring.behaviour]]\nname = "pricing_again"\nkind = "page_view"\n'
        'url = ["*/pricing*", "*/tarifs*"]\ncampaign = "q4*"\npoints = 1',
    )
    error = _check(tmp_path, text)
    assert "rule 'pricing_again' can never match: rule 'pricing_q4' before it has the same" in (
        str(error)
    )
    line = text.splitlines().index('name = "pricing_again"') + 2  # its kind's line
    assert str(error).startswith(f"{tmp_path / 'config.toml'}:{line}: [scoring.behaviour.1.kind]")
