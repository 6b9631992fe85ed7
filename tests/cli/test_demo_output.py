"""What `leadsync demo` shows a newcomer: the leads to call, a 0-100 score that tells
them apart, the hand-over in words."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connector.model import Stage
from tests.cli.test_cli import leadsync

OPEN = {Stage.MQL.value, Stage.SQL.value}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    folder = tmp_path_factory.mktemp("demo")
    result = leadsync("demo", cwd=folder, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout, folder


@pytest.fixture(scope="module")
def demo_output(demo_run: tuple[str, Path]) -> str:
    return demo_run[0]


def test_the_demo_writes_the_report_where_it_says(demo_run: tuple[str, Path]) -> None:
    """`make demo` leaves the HTML report beside where it ran, with the KPIs of the
    costs and won deals it made up (a figure, not a dash), and prints its path."""
    output, folder = demo_run
    report = folder / "demo-output" / "report.html"
    assert f"The report: {report}" in output
    page = report.read_text(encoding="utf-8")
    assert "leadsync demo: Acme Pumps &amp; Valves" in page
    for section in ("Key figures", "Funnel", "KPIs over time", "Score distribution"):
        assert section in page
    assert "Conversion by band" in page


def _leads_listed(output: str) -> list[dict[str, str]]:
    """The leads under "The 10 hottest open leads": rank, score, 0-100, stage, e-mail."""
    lines = output.splitlines()
    start = next(n for n, line in enumerate(lines) if "hottest open leads" in line)
    headers = lines[start + 1].split()
    assert headers == ["score", "0-100", "stage", "e-mail"]
    leads = []
    for line in lines[start + 2 :]:
        found = re.match(r"\s*(\d+)\. (.*)", line)
        if found:
            leads.append(dict(zip(["rank", *headers], [found[1], *found[2].split()], strict=True)))
        elif not line.startswith(" " * 13):  # a lead's second line: its hand-over and reasons
            break
    return leads


class TestDemo:
    def test_the_hottest_leads_are_open_ones_hottest_first(self, demo_output: str) -> None:
        """The leads to call are MQLs and SQLs (not nurtured, disqualified or won ones)."""
        rows = _leads_listed(demo_output)
        assert [row["rank"] for row in rows] == [str(rank) for rank in range(1, 11)]
        assert {row["stage"] for row in rows} <= OPEN
        scores = [float(row["score"]) for row in rows]
        assert scores == sorted(scores, reverse=True)

    def test_the_0_100_column_tells_the_leads_apart(self, demo_output: str) -> None:
        """Not 100 for nine of ten: most rows differ, and none reads 100."""
        rows = _leads_listed(demo_output)
        normalised = [float(row["0-100"]) for row in rows]
        assert len(set(normalised)) >= 8
        assert max(normalised) < 99
        assert max(normalised) - min(normalised) >= 10

    def test_the_hand_over_is_said_in_words(self, demo_output: str) -> None:
        line = next(line for line in demo_output.splitlines() if line.startswith("handed to"))
        assert " - " not in line
        assert "not handed over: " in line
