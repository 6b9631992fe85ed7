"""One figure and what it was computed from: a value, or None with the reason.

A figure that cannot be computed is None, never 0: a cost per lead of 0 would say the
leads were free, when the costs were only missing.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Figure", "amount_text", "cost_ratio", "ratio", "return_on"]


@dataclass(frozen=True, slots=True)
class Figure:
    value: float | None
    basis: str  # what it was computed from, or why it is None


def amount_text(value: float) -> str:
    """A count or an amount for a basis text: ``40``, ``1500``, ``1234.56``."""
    if float(value).is_integer():
        return f"{int(value)}"
    return f"{value:.2f}"


def ratio(numerator: int, denominator: int | None, what: str, *, empty: str) -> Figure:
    """``numerator / denominator`` as a fraction (``what``: "mqls / leads"); None with
    ``empty`` as the reason when the denominator is 0, or None (not known)."""
    if denominator is None:
        return Figure(None, empty)
    if denominator == 0:
        return Figure(None, empty)
    return Figure(
        numerator / denominator,
        f"{what} of the same period ({numerator} / {denominator}): each the period's own "
        "count, not one cohort followed through",
    )


def cost_ratio(cost: Figure, count: int, what: str, counted: str) -> Figure:
    """``cost / count`` (``what``: "cost / leads"; ``counted``: "leads")."""
    if cost.value is None:
        return Figure(None, f"no cost: {cost.basis}")
    if count == 0:
        return Figure(None, f"no {counted} in the period")
    return Figure(cost.value / count, f"{what} ({amount_text(cost.value)} / {count})")


def return_on(margin: Figure, cost: Figure) -> Figure:
    """``(margin - cost) / cost``."""
    if cost.value is None:
        return Figure(None, f"no cost: {cost.basis}")
    if cost.value == 0:
        return Figure(None, "the cost is 0: a return on nothing spent is not a number")
    if margin.value is None:
        return Figure(None, f"no margin: {margin.basis}")
    return Figure(
        (margin.value - cost.value) / cost.value,
        f"(margin − cost) / cost (({amount_text(margin.value)} − {amount_text(cost.value)})"
        f" / {amount_text(cost.value)})",
    )
