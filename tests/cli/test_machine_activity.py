"""Machine activity end to end: a scanner's click 3 s after delivery and a proxy's open are
stored, score nothing and show in `leadsync explain` as ignored; the person's click a
minute later counts."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_cli import cfg, leadsync, write_jsonl

__all__ = ["cfg"]  # the fixture, used by name

PERSON = "dana@buyer.example"
PRICING = "https://acme.example/pricing?utm_campaign=dec"


def _newsletter() -> list[dict[str, object]]:
    message = {"message_id": "msg-1", "campaign": "dec-newsletter"}
    return [
        {
            "id": "d1",
            "kind": "email_delivered",
            "occurred_at": "2026-12-01T09:00:00Z",
            "email": PERSON,
            "attributes": message,
        },
        {
            "id": "c1",
            "kind": "email_click",
            "occurred_at": "2026-12-01T09:00:03+00:00",
            "email": PERSON,
            "url": PRICING,
            "attributes": message,
        },
        {
            "id": "o1",
            "kind": "email_open",
            "occurred_at": "2026-12-01T09:00:04+00:00",
            "email": PERSON,
            "attributes": {**message, "machine": "brevo proxy open"},
        },
        {
            "id": "c2",
            "kind": "email_click",
            "occurred_at": "2026-12-01T09:01:03Z",
            "email": PERSON,
            "url": PRICING,
            "attributes": {**message, "user_agent": "Mozilla/5.0 (Windows NT 10.0) Firefox/120"},
        },
    ]


def test_scanner_click_and_proxy_open_are_stored_ignored_and_explained(cfg: Path) -> None:
    run = cfg.parent
    events = run / "newsletter.jsonl"
    write_jsonl(events, _newsletter())
    ingested = leadsync("--config", cfg, "ingest", events, cwd=run)
    assert ingested.returncode == 0, ingested.stderr
    assert "read 4, stored 4" in ingested.stdout
    scored = leadsync("--config", cfg, "score", cwd=run)
    assert scored.returncode == 0, scored.stderr

    listed = leadsync("--config", cfg, "contacts", "--json", cwd=run)
    assert listed.returncode == 0, listed.stderr
    (contact,) = json.loads(listed.stdout)
    assert {key: contact[key] for key in ("email", "score", "route", "treatment")} == {
        "email": PERSON,
        "score": 3,
        "route": "telemarketing",
        "treatment": "project_detection",
    }

    explained = leadsync("--config", cfg, "explain", PERSON, "--json", cwd=run)
    assert explained.returncode == 0, explained.stderr
    explanation = json.loads(explained.stdout)
    assert explanation["score"] == 3
    assert explanation["reasons"] == "strong_email_click ×1 (+3)"
    assert explanation["machine_activity"] == {
        "machine_click_after_delivery": 1,
        "machine_router_flag": 1,
    }
    assert [
        (line["rule"], line["kind"], line["occurred_at"], line["points"], line["note"])
        for line in explanation["lines"]
    ] == [
        (
            "machine_click_after_delivery",
            "email_click",
            "2026-12-01T09:00:03+00:00",
            0,
            "ignored as machine activity: clicked 3 s after delivery "
            "(machine_click_within_s 10); strong_email_click +3 not counted",
        ),
        (
            "machine_router_flag",
            "email_open",
            "2026-12-01T09:00:04+00:00",
            0,
            "ignored as machine activity: the router flagged it (brevo proxy open)",
        ),
        ("strong_email_click", "email_click", "2026-12-01T09:01:03+00:00", 3, None),
    ]

    text = leadsync("--config", cfg, "explain", PERSON, cwd=run)
    assert text.returncode == 0, text.stderr
    shown = text.stdout.splitlines()
    assert shown[0] == f"{PERSON}  score 3 = behaviour 3 + fit 0"
    assert (
        "ignored as machine activity: 2 event(s) "
        "(machine_click_after_delivery 1, machine_router_flag 1)"
    ) in shown
    assert [line.split()[:2] for line in shown if line.startswith(("machine_", "strong_"))] == [
        ["machine_click_after_delivery", "email_click"],
        ["machine_router_flag", "email_open"],
        ["strong_email_click", "email_click"],
    ]
    assert [line.count("+0") for line in shown if line.startswith("machine_")] == [1, 1]


def test_with_the_rules_off_the_scanner_counts(cfg: Path) -> None:
    """Turned off in config.toml, the same events score as they did before the rules."""
    run = cfg.parent
    text = cfg.read_text(encoding="utf-8")
    for key, off in (
        ("machine_router_flag = true", "machine_router_flag = false"),
        ("machine_click_within_s = 10", "machine_click_within_s = 0"),
    ):
        assert key in text
        text = text.replace(key, off)
    cfg.write_text(text, encoding="utf-8")
    events = run / "newsletter.jsonl"
    write_jsonl(events, _newsletter())
    assert leadsync("--config", cfg, "ingest", events, cwd=run).returncode == 0
    assert leadsync("--config", cfg, "score", cwd=run).returncode == 0
    explained = leadsync("--config", cfg, "explain", PERSON, "--json", cwd=run)
    explanation = json.loads(explained.stdout)
    assert (explanation["score"], explanation["machine_activity"]) == (6, {})
    assert [line["rule"] for line in explanation["lines"]] == [
        "strong_email_click",
        "strong_email_click",
    ]
