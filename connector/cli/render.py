"""Output for people (rich tables on a terminal, plain text elsewhere) and for tools (JSON)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime

import orjson
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text
from typing_extensions import override

__all__ = [
    "ConsoleScreen",
    "CountColumn",
    "ProgressBar",
    "print_json",
    "print_json_array",
    "print_listing",
    "print_table",
    "progress_bar",
    "shown_time",
    "stdout",
]

# Off a terminal rich would wrap at 80 columns; files and pipes get long lines instead.
stdout = Console(
    highlight=False,
    width=None if sys.stdout.isatty() else 200,
    soft_wrap=not sys.stdout.isatty(),  # a long line in a file stays one line
)


def _default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(f"cannot render {type(value).__name__} as JSON")


def shown_time(moment: datetime) -> str:
    """A time for people: UTC to the minute, ``2026-12-07 05:31`` (JSON keeps it whole)."""
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M}"


def print_json(value: object) -> None:
    sys.stdout.write(
        orjson.dumps(value, default=_default, option=orjson.OPT_INDENT_2).decode() + "\n"
    )


def print_json_array(items: Iterable[object]) -> int:
    """A JSON array written an element at a time (one per line), so a listing of the whole
    store never sits in memory; returns how many were written."""
    write = sys.stdout.write
    written = 0
    for item in items:
        write(
            ("[\n  " if written == 0 else ",\n  ") + orjson.dumps(item, default=_default).decode()
        )
        written += 1
    write("[]\n" if written == 0 else "\n]\n")
    return written


# A cut column narrower than this says too little: it is left out instead.
_NARROWEST_CUT = 12
_GAP = 2  # between columns


def _shared(room: int, wanted: Sequence[int]) -> list[int]:
    """``room`` characters shared among columns that want ``wanted``: the narrow ones get
    all they want, the others an equal share of the rest."""
    given = [0] * len(wanted)
    remaining = max(room, 0)
    by_width = sorted(range(len(wanted)), key=wanted.__getitem__)
    for position, index in enumerate(by_width):
        given[index] = min(wanted[index], remaining // (len(by_width) - position))
        remaining -= given[index]
    return given


def print_listing(
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    cut: Sequence[str] = (),
) -> None:
    """A table that fits the terminal and keeps one line per row: every column is as wide
    as its widest cell (an e-mail or a file name is never wrapped or cut) but those in
    ``cut``, which share the width left and end in "…" where they do not fit; the last
    of them is left out (with a note) while one would get less than a few characters."""
    cells = [["" if cell is None else str(cell) for cell in row] for row in rows]
    widths = [
        max([len(header), *(len(row[index]) for row in cells)])
        for index, header in enumerate(headers)
    ]
    flexible = [headers.index(name) for name in cut if name in headers]  # in cut's order
    fixed = sum(width for index, width in enumerate(widths) if index not in flexible)
    shown = set(range(len(headers)))
    while flexible:
        room = stdout.width - fixed - _GAP * (len(shown) - 1)
        given = _shared(room, [widths[index] for index in flexible])
        if all(
            width >= min(widths[index], _NARROWEST_CUT)
            for index, width in zip(flexible, given, strict=True)
        ):
            widths = [
                dict(zip(flexible, given, strict=True)).get(index, width)
                for index, width in enumerate(widths)
            ]
            break
        shown.discard(flexible.pop())  # the last in ``cut`` matters least
    table = Table(box=None, pad_edge=False, padding=(0, 1), header_style="bold")
    for index, header in enumerate(headers):
        if index in shown:
            table.add_column(header, width=widths[index], no_wrap=True, overflow="ellipsis")
    for row in cells:
        # Text, not markup: a URL such as ?q=[b] must print as it is.
        table.add_row(*[Text(cell) for index, cell in enumerate(row) if index in shown])
    stdout.print(table)
    hidden = [header for index, header in enumerate(headers) if index not in shown]
    if hidden:
        stdout.print(f"({', '.join(hidden)} left out: the terminal is too narrow)")


def print_table(
    title: str | None, headers: Sequence[str], rows: Sequence[Sequence[object]]
) -> None:
    table = Table(title=title, show_lines=False, title_justify="left")
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        # Text, not markup: a URL such as ?q=[b] must print as it is.
        table.add_row(*[Text("" if cell is None else str(cell)) for cell in row])
    stdout.print(table)


class CountColumn(ProgressColumn):
    """Done and total with thousands separators, ``179,347/198,694`` (``?`` while the total
    is unknown): rich's ``MofNCompleteColumn`` prints ``179347/198694``."""

    @override
    def render(self, task: Task) -> Text:
        total = "?" if task.total is None else f"{int(task.total):,}"
        return Text(f"{int(task.completed):,}/{total}", style="progress.download")


class ProgressBar:
    """A rich progress bar on stderr when it is a terminal; silent otherwise."""

    def __init__(self, progress: Progress | None, description: str, total: float | None) -> None:
        self._progress = progress
        self._task = progress.add_task(description, total=total) if progress else None

    def advance(self, amount: float) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, amount)

    def update(self, completed: float, total: float | None = None) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=completed, total=total)


@contextmanager
def progress_bar(
    description: str, total: float | None, *, unit: str = "items"
) -> Iterator[ProgressBar]:
    if not sys.stderr.isatty():
        yield ProgressBar(None, description, total)
        return
    columns = [DownloadColumn(), TransferSpeedColumn()] if unit == "bytes" else [CountColumn()]
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        *columns,
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        yield ProgressBar(progress, description, total)


class ConsoleScreen:
    """Standard output and the progress bars, for faces that report as they go (the demo)."""

    def say(self, text: str) -> None:
        stdout.print(text)

    def line(self, text: str) -> None:
        stdout.print(Text(text), no_wrap=True, overflow="ellipsis")

    def table(
        self, title: str | None, headers: Sequence[str], rows: Sequence[Sequence[object]]
    ) -> None:
        print_table(title, headers, rows)

    def progress(
        self, description: str, total: float | None, *, unit: str = "items"
    ) -> AbstractContextManager[ProgressBar]:
        return progress_bar(description, total, unit=unit)
