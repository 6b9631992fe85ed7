"""The costs file: rows read as written, and every wrong line named with what is wrong."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from connector.errors import ConfigError
from connector.kpi.cost import cost_of
from connector.kpi.costs import CostRow, Costs, read_costs
from connector.kpi.period import Period


def _costs(tmp_path: Path, text: str, *, encoding: str = "utf-8") -> Path:
    path = tmp_path / "costs.csv"
    path.write_text(text, encoding=encoding)
    return path


class TestReadCosts:
    def test_rows_are_read_with_their_lines(self, tmp_path: Path) -> None:
        """A spreadsheet's byte order mark, blank lines, spaces and a quoted campaign
        with a comma are all read as meant."""
        path = _costs(
            tmp_path,
            'campaign, month, cost\n\nq4-webinar,2026-09,1200.50\n"fairs, spring", 2026-10 ,0\n',
            encoding="utf-8-sig",
        )
        assert read_costs(path) == Costs(
            str(path),
            (
                CostRow("q4-webinar", "2026-09", 1200.5, 3),
                CostRow("fairs, spring", "2026-10", 0.0, 4),
            ),
        )

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            (
                "",
                r"costs\.csv: the costs file is empty; its first line must be campaign,month,cost",
            ),
            (
                "q4,2026-09,100\n",
                r"costs\.csv:1: the first line must be the header campaign,month,cost "
                r"\(got 'q4,2026-09,100'\)",
            ),
            (
                "campaign,month,cost\nq4,2026-09\n",
                r"costs\.csv:2: has 2 value\(s\); a row is campaign,month,cost",
            ),
            (
                "campaign,month,cost\nq4,2026-09,100\n,2026-10,5\n",
                r"costs\.csv:3: the campaign is empty",
            ),
            (
                "campaign,month,cost\nq4,2026-13,100\n",
                r"costs\.csv:2: '2026-13' is not a month; write it as YYYY-MM, like 2026-09",
            ),
            (
                "campaign,month,cost\nq4,2026-9,100\n",
                r"costs\.csv:2: '2026-9' is not a month",
            ),
            (
                "campaign,month,cost\nq4,2026-09,€100\n",
                r"costs\.csv:2: the cost '€100' is not a number; write a plain number",
            ),
            (
                'campaign,month,cost\nq4,2026-09,"1,200"\n',
                r"costs\.csv:2: the cost '1,200' is not a number",
            ),
            (
                "campaign,month,cost\nq4,2026-09,-5\n",
                r"costs\.csv:2: the cost '-5' is not a non-negative number",
            ),
            (
                "campaign,month,cost\nq4,2026-09,nan\n",
                r"costs\.csv:2: the cost 'nan' is not a non-negative number",
            ),
        ],
        ids=[
            "empty",
            "no header",
            "too few values",
            "no campaign",
            "month 13",
            "month without its zero",
            "currency sign",
            "thousands separator",
            "negative",
            "not a number",
        ],
    )
    def test_a_bad_file_names_the_line_and_what_is_wrong(
        self, tmp_path: Path, text: str, expected: str
    ) -> None:
        path = _costs(tmp_path, text)
        with pytest.raises(ConfigError, match=rf"^{tmp_path}/{expected}") as raised:
            read_costs(path)
        assert raised.value.file == str(path)

    def test_a_file_that_is_not_text_says_so(self, tmp_path: Path) -> None:
        path = tmp_path / "costs.csv"
        path.write_bytes(b"campaign,month,cost\nq4,2026-09,\xff\n")
        with pytest.raises(ConfigError, match=r"costs\.csv: the costs file cannot be read"):
            read_costs(path)


class TestCostOf:
    ROWS = Costs(
        "costs.csv",
        (
            CostRow("q4", "2026-09", 100.0, 2),
            CostRow("q4", "2026-09", 50.0, 3),
            CostRow("fair", "2026-11", 25.0, 4),
            CostRow("fair", "2027-01", 1000.0, 5),
        ),
    )

    def test_rows_of_one_campaign_and_month_add_up(self) -> None:
        figure = cost_of(self.ROWS, Period(date(2026, 9, 1), date(2026, 9, 30)), campaign="q4")
        assert figure.value == 150.0
        assert figure.basis == "150: 2 row(s) of costs.csv of campaign 'q4' for 2026-09"

    def test_months_without_a_row_are_named_as_spans(self) -> None:
        figure = cost_of(self.ROWS, Period(date(2026, 8, 1), date(2026, 12, 31)))
        assert figure.value == 175.0
        assert figure.basis == (
            "175: 3 row(s) of costs.csv for 2026-09, 2026-11 (campaigns fair, q4); "
            "no row for 2026-08, 2026-10, 2026-12, counted as nothing spent"
        )
