"""What a person sees at an 80-column terminal: the bar, the logs, one summary, times.

The commands run as real processes on a pseudo-terminal, so rich draws its progress bar
and structlog renders for the console, as they do for someone typing the command.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from tests.adapters.hubspot_fake import FakeHubSpot
from tests.adapters.test_hubspot import CONTACTS_SPEC, fake
from tests.adapters.test_hubspot import TOKEN as HUBSPOT_TOKEN
from tests.cli.test_cli import LEADSYNC, cfg, clean_env, leadsync, write_jsonl

__all__ = ["cfg", "fake"]  # the fixtures, imported for the tests here

COLUMNS = 80
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def on_terminal(
    *args: str | Path, cwd: Path, timeout_s: float = 60, columns: int = COLUMNS, **env: str
) -> list[str]:
    """Run leadsync with stdout and stderr on a terminal of ``columns`` columns (and ``env``
    added to its environment); returns what the terminal received, cut at each carriage
    return or newline, colours taken out."""
    parent, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    process = subprocess.Popen(
        [LEADSYNC, *map(str, args)],
        stdin=child,
        stdout=child,
        stderr=child,
        cwd=cwd,
        env=clean_env(COLUMNS=str(columns), TERM="xterm-256color", **env),
    )
    os.close(child)
    received = bytearray()
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([parent], [], [], 0.5)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(parent, 65536)
            except OSError:  # the process closed the terminal
                break
            if not chunk:
                break
            received += chunk
    finally:
        os.close(parent)
        process.wait(timeout=10)
    assert process.returncode == 0, received.decode(errors="replace")
    text = _ANSI.sub("", received.decode())
    return [segment for segment in re.split(r"[\r\n]", text) if segment.strip()]


def visits(count: int) -> list[dict[str, object]]:
    return [
        {
            "id": f"v-{n}",
            "kind": "site_visit",
            "occurred_at": "2026-11-02T10:00:00Z",
            "email": f"visitor-{n}@example.com",
        }
        for n in range(count)
    ]


@pytest.fixture
def small_pages(cfg: Path) -> Path:
    """The project's config with pages of 100 events, so an ingest logs page after page."""
    text = cfg.read_text(encoding="utf-8")
    assert "\npage_size = 20000\n" in text
    cfg.write_text(text.replace("\npage_size = 20000\n", "\npage_size = 100\n"), encoding="utf-8")
    return cfg


class TestProgressAndLogs:
    def test_ingest_prints_its_summary_once(self, cfg: Path) -> None:
        """The summary line on stdout is the only one: the console shows no
        ``ingest.finished`` log line repeating it."""
        write_jsonl(cfg.parent / "visits.jsonl", visits(300))
        lines = on_terminal("--config", cfg, "ingest", "visits.jsonl", cwd=cfg.parent)
        summaries = [line for line in lines if "read" in line and "stored" in line]
        assert summaries == [
            "visits: read 300, stored 300, duplicates 0, rejected 0, new contacts 300 in "
            + summaries[0].rsplit(" in ", 1)[1]
        ]
        assert not [line for line in lines if "ingest.finished" in line]

    def test_a_log_line_during_the_bar_prints_on_its_own_line(self, small_pages: Path) -> None:
        """Each page's debug line is printed above the bar, never glued to a frame of it."""
        write_jsonl(small_pages.parent / "visits.jsonl", visits(300))
        lines = on_terminal(
            "--config", small_pages, "ingest", "visits.jsonl", "--debug", cwd=small_pages.parent
        )
        pages = [line for line in lines if "ingest.page" in line]
        assert len(pages) == 4  # three pages of 100 events, then the end of the file
        for line in pages:
            assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[debug\s*\] ingest\.page", line), line

    def test_progress_counts_have_thousands_separators(self, cfg: Path) -> None:
        write_jsonl(cfg.parent / "visits.jsonl", visits(1_200))
        assert leadsync("--config", cfg, "ingest", "visits.jsonl", cwd=cfg.parent).returncode == 0
        lines = on_terminal("--config", cfg, "score", cwd=cfg.parent)
        counts = {found for line in lines for found in re.findall(r"\b[\d,]+/[\d,?]+", line)}
        assert "1,200/1,200" in counts
        assert not [count for count in counts if re.search(r"\d{4}", count)]
        assert [line for line in lines if line.startswith("scored")] == [
            next(line for line in lines if line.startswith("scored 1,200 contact(s)"))
        ]

    @pytest.mark.skipif(not CONTACTS_SPEC.exists(), reason="HubSpot's OpenAPI files absent")
    def test_push_prints_its_summary_once(
        self, cfg: Path, httpserver: HTTPServer, fake: FakeHubSpot
    ) -> None:
        """A push to HubSpot (the local fake) ends on one line of figures, and the console
        shows no ``push.finished`` line repeating them."""
        write_jsonl(cfg.parent / "visits.jsonl", visits(30))
        with cfg.open("a", encoding="utf-8") as config:
            config.write(f'\n[crm.hubspot]\nbase_url = "{httpserver.url_for("/").rstrip("/")}"\n')
        for command in (["ingest", "visits.jsonl"], ["score"]):
            assert leadsync("--config", cfg, *command, cwd=cfg.parent).returncode == 0
        for n in range(30):
            fake.add_contact(f"visitor-{n}@example.com")
        lines = on_terminal(
            "--config", cfg, "push", cwd=cfg.parent, HUBSPOT_ACCESS_TOKEN=HUBSPOT_TOKEN
        )
        summaries = [line for line in lines if line.startswith("hubspot: ")]
        assert len(summaries) == 1
        assert summaries[0].startswith("hubspot: 30 written, 0 unchanged, 0 rejected, 0 deferred")
        assert not [line for line in lines if "push.finished" in line]


class TestExplainInWords:
    def test_stage_history_says_when_and_why_to_the_minute(self, cfg: Path) -> None:
        """``explain`` tells how the contact got its stage in a sentence, its time to the
        minute: no microseconds anywhere."""
        quotes = [
            {
                "id": f"q-{n}",
                "kind": "quote_request",
                "occurred_at": f"2026-11-0{n + 1}T10:00:00.123456Z",
                "email": "ann@acme.example",
            }
            for n in range(2)
        ]
        write_jsonl(cfg.parent / "quotes.jsonl", quotes)
        for command in (["ingest", "quotes.jsonl"], ["score"]):
            assert leadsync("--config", cfg, *command, cwd=cfg.parent).returncode == 0
        result = leadsync("--config", cfg, "explain", "ann@acme.example", cwd=cfg.parent)
        assert result.returncode == 0, result.stderr
        history = [
            line.strip() for line in result.stdout.splitlines() if line.startswith("  became")
        ]
        assert len(history) == 1
        # Dated by the first quote request (in event time), recorded by the pass.
        assert re.fullmatch(
            r"became MQL on 2026-11-01 10:00 UTC because hand-raiser: quote_request on "
            r"2026-11-01 \(recorded \d{4}-\d\d-\d\d \d\d:\d\d UTC\)",
            history[0],
        )
        assert "2026-11-01 10:00" in result.stdout  # the events' times, to the minute
        assert not re.search(r"\d\d:\d\d:\d\d\.\d+", result.stdout)
        assert not re.search(r"\d\d:\d\d:\d\d[+-]\d\d:\d\d", result.stdout)
