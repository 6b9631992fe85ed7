"""Temperature from bands; stage, route and treatment from the score and its lines.

This is the first version: ``lead`` or ``mql`` from the score alone. The full stage
machine (SQL from BANT, customer, nurturing and recycle, with a stage history) extends
``derive_stage`` with the CRM's inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from connector.model import Route, ScoreLine, Stage, Temperature, Treatment

__all__ = ["Bands", "Handover", "derive_handover", "derive_stage", "temperature_for"]


@dataclass(frozen=True, slots=True)
class Bands:
    """Cold under ``warm_from``; warm from ``warm_from`` up to ``hot_above``; hot above."""

    warm_from: float = 10
    hot_above: float = 20


def temperature_for(score: float, bands: Bands) -> Temperature:
    if score > bands.hot_above:
        return Temperature.HOT
    if score >= bands.warm_from:
        return Temperature.WARM
    return Temperature.COLD


@dataclass(frozen=True, slots=True)
class Handover:
    route: Route | None
    treatment: Treatment | None


def _strongest(lines: Sequence[ScoreLine], route: Route) -> ScoreLine | None:
    """The line that hands the lead to ``route``: most points, then most recent."""
    best: ScoreLine | None = None
    for line in lines:
        if line.route is not route:
            continue
        if best is None or (line.points, line.occurred_at or 0) >= (
            best.points,
            best.occurred_at or 0,
        ):
            best = line
    return best


def derive_handover(temperature: Temperature, lines: Sequence[ScoreLine]) -> Handover:
    """Sales once hot or on a sales event; else telemarketing if an event routes there.

    A hot lead goes to sales even if it never asked: at that score half of them buy.
    """
    to_sales = _strongest(lines, Route.SALES)
    if to_sales is not None:
        return Handover(Route.SALES, to_sales.treatment or Treatment.APPOINTMENT)
    if temperature is Temperature.HOT:
        return Handover(Route.SALES, Treatment.APPOINTMENT)
    to_telemarketing = _strongest(lines, Route.TELEMARKETING)
    if to_telemarketing is not None:
        return Handover(Route.TELEMARKETING, to_telemarketing.treatment)
    return Handover(None, None)


def derive_stage(temperature: Temperature, handover: Handover) -> Stage:
    """MQL once hot or on a hand-raiser (an event routed to sales); lead otherwise."""
    if temperature is Temperature.HOT or handover.route is Route.SALES:
        return Stage.MQL
    return Stage.LEAD
