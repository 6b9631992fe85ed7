"""The parts of the page that are not charts: figure cards, each with what it was
computed from, and tables. Plain values for the template, which escapes them."""

from __future__ import annotations

from dataclasses import dataclass, field

from connector.report._theme import Chart

__all__ = ["Card", "CardGroup", "Cell", "Section", "Table"]


@dataclass(frozen=True, slots=True)
class Card:
    """One figure: its value as shown, and the basis (or the reason it is missing)."""

    label: str
    value: str
    basis: str | None = None
    # A figure that could not be computed is shown as a dash, its reason in place of a basis.
    is_missing: bool = False


@dataclass(frozen=True, slots=True)
class CardGroup:
    title: str
    cards: list[Card]


@dataclass(frozen=True, slots=True)
class Cell:
    """A table cell: lines of text, and a class saying how it reads (number, pill, ...)."""

    lines: tuple[str, ...]
    kind: str = ""

    @classmethod
    def of(cls, text: str, kind: str = "") -> Cell:
        return cls((text,), kind)


@dataclass(frozen=True, slots=True)
class Table:
    title: str
    headers: list[str]
    rows: list[list[Cell]]
    # Numbers align right: the columns whose header is listed here.
    numeric: frozenset[int] = frozenset()
    note: str | None = None
    # A long table starts folded, so the charts stay in view.
    is_folded: bool = False
    # A table of two or three short columns keeps to the width it needs.
    is_narrow: bool = False
    # A long table that stays open scrolls in its own box, its header in view.
    is_long: bool = False


@dataclass(slots=True)
class Section:
    id: str
    title: str
    intro: str
    card_groups: list[CardGroup] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
