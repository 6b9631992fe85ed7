"""What `leadsync demo` shows a newcomer: the leads to call, a 0-100 score that tells
them apart, the hand-over in words."""

from __future__ import annotations

import pytest

from connector.model import Stage
from tests.cli.test_cli import leadsync

OPEN = {Stage.MQL.value, Stage.SQL.value}


@pytest.fixture(scope="module")
def demo_output(tmp_path_factory: pytest.TempPathFactory) -> str:
    result = leadsync("demo", cwd=tmp_path_factory.mktemp("demo"), timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _table_after(title: str, output: str) -> list[dict[str, str]]:
    """The rows of the rich table printed under ``title``, by column header."""
    lines = output.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith(title))
    rows = []
    headers: list[str] | None = None
    for line in lines[start + 1 :]:
        if line.startswith("└"):
            break
        if not line.startswith(("│", "┃")):
            continue
        cells = [cell.strip() for cell in line.strip("│┃").split("│" if "│" in line else "┃")]
        if headers is None:
            headers = cells
        else:
            rows.append(dict(zip(headers, cells, strict=True)))
    return rows


class TestDemo:
    def test_the_hottest_leads_are_open_ones_hottest_first(self, demo_output: str) -> None:
        """The leads to call are MQLs and SQLs (not nurtured, disqualified or won ones)."""
        rows = _table_after("The 10 hottest open leads", demo_output)
        assert len(rows) == 10
        assert {row["stage"] for row in rows} <= OPEN
        scores = [float(row["score"]) for row in rows]
        assert scores == sorted(scores, reverse=True)

    def test_the_0_100_column_tells_the_leads_apart(self, demo_output: str) -> None:
        """Not 100 for nine of ten: most rows differ, and none reads 100."""
        rows = _table_after("The 10 hottest open leads", demo_output)
        normalised = [float(row["0-100"]) for row in rows]
        assert len(set(normalised)) >= 8
        assert max(normalised) < 99
        assert max(normalised) - min(normalised) >= 10

    def test_the_hand_over_is_said_in_words(self, demo_output: str) -> None:
        line = next(line for line in demo_output.splitlines() if line.startswith("handed to"))
        assert " - " not in line
        assert "not handed over: " in line
