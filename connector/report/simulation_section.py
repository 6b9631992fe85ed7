"""The simulation section: what the candidate rules would change (``leadsync simulate``)."""

from __future__ import annotations

from connector.report import _format as fmt
from connector.report.page import Card, CardGroup, Cell, Section, Table
from connector.report.shapes import Move, MoveLine, Simulation
from connector.report.simulation import (
    mqls_per_week_chart,
    stage_before_after_chart,
    temperature_before_after_chart,
)

__all__ = ["MOVES_SHOWN", "simulation_section"]

MOVES_SHOWN = 50
LONG_TABLE_ROWS = 12


def _points(value: float | None) -> str:
    return "not counted" if value is None else fmt.score(value)


def _line_text(line: MoveLine) -> str:
    when = f", {fmt.moment(line.occurred_at)}" if line.occurred_at else ""
    return f"{line.rule} ({line.kind}{when}): {_points(line.before)} → {_points(line.after)}"


def _move_row(move: Move) -> list[Cell]:
    delta = move.score_after - move.score_before
    return [
        Cell.of(move.email or f"contact #{move.contact_id}"),
        Cell(
            (fmt.score(move.score_before), fmt.score(move.score_after), f"{delta:+g}"),
            "score-move",
        ),
        Cell((move.temperature_before, move.temperature_after), "temperature-move"),
        Cell(
            (fmt.label_of_stage(move.stage_before), fmt.label_of_stage(move.stage_after)),
            "stage-move",
        ),
        Cell(tuple(_line_text(line) for line in move.lines) or ("no line changed",), "lines"),
    ]


def _moves_table(simulation: Simulation) -> Table:
    shown = simulation.moves[:MOVES_SHOWN]
    total = simulation.changed.any
    return Table(
        title=f"The contacts that move most ({len(shown):,} of {total:,} changed)",
        headers=["Contact", "Score", "Temperature", "Stage", "Explain lines that changed"],
        rows=[_move_row(move) for move in shown],
        note=None if shown else "No contact changes under the candidate rules.",
        is_long=len(shown) > LONG_TABLE_ROWS,
    )


def _threshold_card(name: str, current: float | None, candidate: float | None) -> Card:
    same = current == candidate
    return Card(
        name,
        fmt.score(candidate),
        "unchanged" if same else f"now {fmt.score(current)}",
        is_missing=candidate is None,
    )


def simulation_section(simulation: Simulation) -> Section:
    changed = simulation.changed
    of_contacts = f"of {simulation.contacts:,} contacts"
    groups = [
        CardGroup(
            "Contacts that change",
            [
                Card("Any change", fmt.count(changed.any), of_contacts),
                Card("Score", fmt.count(changed.score), of_contacts),
                Card("Temperature", fmt.count(changed.temperature), of_contacts),
                Card("Stage", fmt.count(changed.stage), of_contacts),
            ],
        ),
        CardGroup(
            "Candidate thresholds",
            [
                _threshold_card(
                    "warm_from", simulation.current.warm_from, simulation.candidate.warm_from
                ),
                _threshold_card(
                    "hot_above", simulation.current.hot_above, simulation.candidate.hot_above
                ),
                Card(
                    "Replay took",
                    fmt.MISSING
                    if simulation.duration_s is None
                    else f"{simulation.duration_s:.1f} s",
                    "every stored event and profile, nothing written",
                ),
            ],
        ),
    ]
    charts = [temperature_before_after_chart(simulation), stage_before_after_chart(simulation)]
    weekly = mqls_per_week_chart(simulation)
    if weekly is not None:
        charts.append(weekly)
    return Section(
        id="simulation",
        title="Simulation: current rules against the candidate",
        intro=f"As of {fmt.moment(simulation.as_of)}, the stored events and profiles "
        "replayed under both rule sets; nothing was written.",
        card_groups=groups,
        charts=charts,
        tables=[_moves_table(simulation)],
    )
