"""The campaigns' costs: a CSV of ``campaign,month,cost``, one row per campaign and month.

Two rows for the same campaign and month add up (a month's spend kept as several lines).
A cost is a plain non-negative number in the file's one currency; the figures leadsync
derives from it (cost per lead, ROI...) are in that currency.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from connector.errors import ConfigError
from connector.kpi.period import Period, parse_month

__all__ = ["COSTS_HEADER", "CostRow", "Costs", "read_costs"]

COSTS_HEADER = ("campaign", "month", "cost")
_EXAMPLE = "q4-webinar,2026-09,1200.50"


@dataclass(frozen=True, slots=True)
class CostRow:
    campaign: str
    month: str  # YYYY-MM
    cost: float
    line: int


@dataclass(frozen=True, slots=True)
class Costs:
    """The rows of one costs file (``file``: its path as shown to people)."""

    file: str
    rows: tuple[CostRow, ...]

    def in_period(self, period: Period, *, campaigns: Iterable[str] | None = None) -> list[CostRow]:
        """The rows of the months the period touches (of ``campaigns`` only, if given)."""
        wanted = None if campaigns is None else frozenset(campaigns)
        return [
            row
            for row in self.rows
            if period.covers_month(row.month) and (wanted is None or row.campaign in wanted)
        ]


def read_costs(path: Path, *, shown: str | None = None) -> Costs:
    """Read and check the costs file at ``path`` (``shown``: its name in messages).

    Raises:
        ConfigError: the file cannot be read, has no ``campaign,month,cost`` header, or a
            row is wrong; the message names the file, the line and what is wrong.
    """
    name = shown or str(path)
    try:
        # utf-8-sig: a spreadsheet's "CSV UTF-8" export starts with a byte order mark.
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"the costs file cannot be read ({exc})",
            file=name,
            hint="save it as UTF-8 text, or fix [kpi] costs",
        ) from None
    reader = csv.reader(text.splitlines())
    header: list[str] | None = None
    rows: list[CostRow] = []
    for values in reader:
        line = reader.line_num
        if not any(value.strip() for value in values):
            continue  # blank lines are spacing, not rows
        if header is None:
            header = [value.strip().lower() for value in values]
            if tuple(header) != COSTS_HEADER:
                raise ConfigError(
                    f"the first line must be the header {','.join(COSTS_HEADER)} "
                    f"(got {','.join(values)!r})",
                    file=name,
                    line=line,
                    hint=f"add it above the rows, which read like {_EXAMPLE}",
                )
            continue
        rows.append(_row(values, line, name))
    if header is None:
        raise ConfigError(
            f"the costs file is empty; its first line must be {','.join(COSTS_HEADER)}",
            file=name,
            hint=f"then one row per campaign and month, like {_EXAMPLE}",
        )
    return Costs(name, tuple(rows))


def _row(values: list[str], line: int, name: str) -> CostRow:
    if len(values) != len(COSTS_HEADER):
        raise ConfigError(
            f"has {len(values)} value(s); a row is campaign,month,cost",
            file=name,
            line=line,
            hint=f'like {_EXAMPLE} (quote a campaign with a comma: "a, b",2026-09,100)',
        )
    campaign, month_text, cost_text = (value.strip() for value in values)
    if not campaign:
        raise ConfigError(
            "the campaign is empty",
            file=name,
            line=line,
            hint="write the campaign as the events name it "
            "(`leadsync kpi --by campaign` lists them)",
        )
    try:
        month = parse_month(month_text)
    except ValueError as exc:
        raise ConfigError(str(exc), file=name, line=line) from None
    try:
        cost = float(cost_text)
    except ValueError:
        raise ConfigError(
            f"the cost {cost_text!r} is not a number",
            file=name,
            line=line,
            hint="write a plain number, like 1200.50: no currency sign, no thousands separator",
        ) from None
    if not math.isfinite(cost) or cost < 0:
        raise ConfigError(
            f"the cost {cost_text!r} is not a non-negative number",
            file=name,
            line=line,
            hint="write what the campaign cost that month, 0 or more",
        )
    return CostRow(campaign, month, cost, line)
