"""Find the line of a dotted key in TOML text, so config errors can name it.

``tomllib`` keeps no positions; this reads the text once more, line by line, and records
where each table header and each ``key =`` stands. It is meant for error messages only:
a key it cannot place falls back to its table's header line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["KeyLines"]

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(
    r"^\s*((?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'))*)\s*="
)

Path = tuple[str | int, ...]


def _split_dotted(text: str) -> list[str]:
    parts = re.findall(r"\"[^\"]*\"|'[^']*'|[A-Za-z0-9_-]+", text)
    return [part.strip("\"'") for part in parts]


class KeyLines:
    """Line numbers (1-based) of the tables and keys of one TOML document."""

    def __init__(self, text: str) -> None:
        self._lines: dict[Path, int] = {}
        array_counts: dict[tuple[str, ...], int] = {}
        table: Path = ()
        for number, raw in enumerate(text.splitlines(), start=1):
            header = _HEADER.match(raw)
            if header:
                names = tuple(_split_dotted(header.group(2)))
                if header.group(1) == "[[":
                    index = array_counts.get(names, -1) + 1
                    array_counts[names] = index
                    table = (*names, index)
                    self._lines.setdefault(names, number)
                else:
                    table = names
                self._lines.setdefault(table, number)
                continue
            key = _KEY.match(raw)
            if key:
                self._lines.setdefault((*table, *_split_dotted(key.group(1))), number)

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """The line of ``loc`` or, failing that, of its nearest enclosing key or table."""
        known_prefixes = {path[:n] for path in self._lines for n in range(1, len(path) + 1)}
        placed: list[str | int] = []
        for part in loc:
            candidate = (*placed, part)
            if candidate in known_prefixes:
                placed.append(part)
        while placed:
            line = self._lines.get(tuple(placed))
            if line is not None:
                return line
            placed.pop()
        return None
