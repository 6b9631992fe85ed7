"""`leadsync contacts` and `leadsync rejects` on a store bigger than a screen.

The table shows the top of the list and says how many more there are; `contacts --json`
streams every contact with flat memory; `rejects` says how many it left out and counts
them by reason. At 80 and 100 columns every row keeps to one line: an e-mail or a file
name is never wrapped or cut, reasons are cut with "…". Each runs the real CLI, on a
real SQLite file and the real PostgreSQL.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.cli.test_cli import LEADSYNC, clean_env, leadsync, write_jsonl
from tests.cli.test_terminal_output import on_terminal

LONG_EMAIL = "jean-baptiste.delacroix@machines.example"
# Yesterday: inside every window of the default rules, whenever the tests run.
DAY = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")


def _project(folder: Path, store_url: str) -> dict[str, str]:
    env = clean_env(LEADSYNC_STORE_URL=store_url)
    assert leadsync("init", folder, cwd=folder, env=env).returncode == 0
    return env


def _visits(contacts: int, *, email: str = "c{n}@acme.example") -> list[dict[str, object]]:
    """Contact n gets n + 1 site visits, so each has its own score (n + 1 points)."""
    return [
        {
            "id": f"v{n}-{visit}",
            "kind": "site_visit",
            "occurred_at": f"{DAY}T10:{visit % 60:02d}:00Z",
            "email": email.format(n=n),
        }
        for n in range(contacts)
        for visit in range(n + 1)
    ]


def _scored(folder: Path, env: dict[str, str], records: list[dict[str, object]]) -> None:
    write_jsonl(folder / "events.jsonl", records)
    for command in (("ingest", "events.jsonl"), ("score",)):
        result = leadsync(*command, cwd=folder, env=env, timeout=300)
        assert result.returncode == 0, result.stderr


def _rows(stdout: str) -> list[str]:
    """The table's contact lines (the header and the notes left out)."""
    return [line for line in stdout.splitlines() if "@acme.example" in line]


def test_contacts_shows_the_top_50_and_says_how_many_more(tmp_path: Path, store_url: str) -> None:
    env = _project(tmp_path, store_url)
    _scored(tmp_path, env, _visits(60))

    default = leadsync("contacts", cwd=tmp_path, env=env)
    assert default.returncode == 0, default.stderr
    rows = _rows(default.stdout)
    assert len(rows) == 50
    assert rows[0].split()[:2] == ["c59@acme.example", "60"]  # highest first
    assert rows[-1].split()[:2] == ["c10@acme.example", "11"]
    assert default.stdout.rstrip().endswith(
        "… 10 more of 60 (--limit N shows more, --json lists every contact)"
    )

    five = leadsync("contacts", "--limit", "5", cwd=tmp_path, env=env)
    assert len(_rows(five.stdout)) == 5
    assert "… 55 more of 60" in five.stdout

    everyone = leadsync("contacts", "--limit", "100", cwd=tmp_path, env=env)
    assert len(_rows(everyone.stdout)) == 60
    assert "more of" not in everyone.stdout


def test_contacts_json_lists_every_contact_and_limit_cuts_it(
    tmp_path: Path, store_url: str
) -> None:
    env = _project(tmp_path, store_url)
    empty = leadsync("contacts", "--json", cwd=tmp_path, env=env)
    assert (empty.returncode, json.loads(empty.stdout)) == (0, [])
    no_table = leadsync("contacts", cwd=tmp_path, env=env)
    assert no_table.stdout == "no scored contacts: run `leadsync score` after an ingest\n"
    _scored(tmp_path, env, _visits(60))

    listed = json.loads(leadsync("contacts", "--json", cwd=tmp_path, env=env).stdout)
    assert [contact["score"] for contact in listed] == [float(n) for n in range(60, 0, -1)]
    assert {contact["email"] for contact in listed} == {f"c{n}@acme.example" for n in range(60)}
    assert set(listed[0]) >= {"email", "score", "temperature", "stage", "reasons", "scored_at"}

    three = json.loads(leadsync("contacts", "--json", "--limit", "3", cwd=tmp_path, env=env).stdout)
    assert [contact["email"] for contact in three] == [
        "c59@acme.example",
        "c58@acme.example",
        "c57@acme.example",
    ]


def _json_peak_rss_mb(folder: Path, env: dict[str, str]) -> float:
    """Peak RSS of `leadsync contacts --json` (output to /dev/null), in its own process."""
    code = (
        "import resource, subprocess, sys\n"
        "with open('/dev/null', 'wb') as out:\n"
        "    subprocess.run(sys.argv[1:], stdout=out, check=True)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)\n"
    )
    measured = subprocess.run(
        [sys.executable, "-c", code, LEADSYNC, "contacts", "--json"],
        capture_output=True,
        text=True,
        cwd=folder,
        env=env,
        timeout=300,
        check=True,
    )
    return float(measured.stdout.strip())


def test_contacts_json_memory_does_not_grow_with_the_store(tmp_path: Path, store_url: str) -> None:
    """4,000 then 32,000 contacts in one store: building the list in memory cost about
    2.5 KB a contact (70 MB more at the larger size); streamed, the peak stays flat."""
    env = _project(tmp_path, store_url)
    peaks = []
    for first, last in ((0, 4_000), (4_000, 32_000)):
        records = [
            {
                "id": f"v{n}",
                "kind": "site_visit",
                "occurred_at": f"{DAY}T10:00:00Z",
                "email": f"person{n}@acme.example",
            }
            for n in range(first, last)
        ]
        _scored(tmp_path, env, records)
        peaks.append(_json_peak_rss_mb(tmp_path, env))
    small, large = peaks
    print(f"contacts --json peak RSS: {small:.0f} MB at 4,000 contacts, {large:.0f} at 32,000")
    # What may grow is SQLite's page cache, as the file does, up to its 64 MiB.
    assert large - small < 40, f"peak RSS {small:.0f} MB at 4,000 contacts, {large:.0f} at 32,000"


def test_contacts_shows_the_0_to_100_score_when_normalised(tmp_path: Path, store_url: str) -> None:
    env = _project(tmp_path, store_url)
    # 20 visits: 20 points, half way on the 0-100 scale (normalised_half_at = hot_above).
    _scored(tmp_path, env, _visits(20))
    plain = leadsync("contacts", cwd=tmp_path, env=env).stdout.splitlines()
    assert plain[0].split()[:3] == ["email", "score", "temperature"]

    config = tmp_path / "config.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("normalised = false", "normalised = true"), "utf-8")
    assert leadsync("score", cwd=tmp_path, env=env).returncode == 0  # new rules: a full pass
    lines = leadsync("contacts", cwd=tmp_path, env=env).stdout.splitlines()
    assert lines[0].split()[:4] == ["email", "score", "0-100", "temperature"]
    assert lines[1].split()[:3] == ["c19@acme.example", "20", "50"]


def _rejected(folder: Path, env: dict[str, str]) -> None:
    lines = [
        json.dumps({"kind": "site_visit", "occurred_at": f"{DAY}T10:00:00Z", "email": f"x{n}"})
        for n in range(100)
    ] + [json.dumps({"occurred_at": f"{DAY}T10:00:00Z", "email": "a@acme.example"})] * 50
    (folder / "bad.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = leadsync("ingest", "bad.jsonl", cwd=folder, env=env)
    assert result.returncode == 0, result.stderr


def test_rejects_says_how_many_it_left_out_and_counts_them_by_reason(
    tmp_path: Path, store_url: str
) -> None:
    env = _project(tmp_path, store_url)
    _rejected(tmp_path, env)

    newest = leadsync("rejects", cwd=tmp_path, env=env)
    assert newest.returncode == 0, newest.stderr
    assert len([line for line in newest.stdout.splitlines() if "bad.jsonl:" in line]) == 100
    assert newest.stdout.rstrip().endswith(
        "showing the newest 100 of 150 (--limit N shows more, --by-reason counts them by reason)"
    )
    assert "bad.jsonl:150" in newest.stdout  # newest first, the path as the user wrote it
    every = leadsync("rejects", "--limit", "500", cwd=tmp_path, env=env)
    assert len([line for line in every.stdout.splitlines() if "bad.jsonl:" in line]) == 150
    assert "showing" not in every.stdout

    counted = leadsync("rejects", "--by-reason", cwd=tmp_path, env=env)
    assert counted.returncode == 0, counted.stderr
    lines = [line.rstrip() for line in counted.stdout.splitlines()]
    assert lines[0].split() == ["records", "reason"]
    assert lines[1].split(maxsplit=1) == ["100", "invalid e-mail '…'"]
    assert lines[2].split(maxsplit=1) == ["50", "missing kind"]
    assert lines[3] == "150 rejected record(s) in all"
    as_json = json.loads(leadsync("rejects", "--by-reason", "--json", cwd=tmp_path, env=env).stdout)
    assert [(entry["reason"], entry["count"]) for entry in as_json] == [
        ("invalid e-mail '…'", 100),
        ("missing kind", 50),
    ]
    assert as_json[0]["example"].startswith("invalid e-mail 'x")
    other = leadsync("rejects", "--by-reason", "--source", "elsewhere", cwd=tmp_path, env=env)
    assert other.stdout.strip() == "no rejected records"


@pytest.mark.parametrize("columns", [80, 100])
def test_at_80_and_100_columns_each_contact_and_reject_keeps_to_one_line(
    tmp_path: Path, store_url: str, columns: int
) -> None:
    env = _project(tmp_path, store_url)
    records = _visits(3, email="{n}." + LONG_EMAIL) + [
        {
            "id": f"q{n}",
            "kind": kind,
            "occurred_at": f"{DAY}T11:00:00Z",
            "email": f"0.{LONG_EMAIL}",
        }
        for n, kind in enumerate(["quote_request", "callback_request", "document_download"])
    ]
    _scored(tmp_path, env, records)
    url_env = {"LEADSYNC_STORE_URL": store_url}

    shown = on_terminal("contacts", cwd=tmp_path, columns=columns, **url_env)
    rows = [line for line in shown if LONG_EMAIL in line]
    assert len(rows) == 3
    assert all(len(line.rstrip()) <= columns for line in shown)
    assert [row.split()[0] for row in rows] == [f"{n}.{LONG_EMAIL}" for n in (0, 2, 1)]
    if columns == 100:  # room for the reasons, cut with an ellipsis
        assert "reasons" in shown[0] and rows[0].rstrip().endswith("…")
    else:
        assert any("left out: the terminal is too narrow" in line for line in shown)

    _rejected(tmp_path, env)
    listed = on_terminal("rejects", "--limit", "3", cwd=tmp_path, columns=columns, **url_env)
    records_shown = [line for line in listed if "bad.jsonl:" in line]
    assert len(records_shown) == 3
    assert all(len(line.rstrip()) <= columns for line in listed)
    assert all(line.split()[1].startswith("bad.jsonl:1") for line in records_shown)
    assert all("missing kind" in line for line in records_shown)
