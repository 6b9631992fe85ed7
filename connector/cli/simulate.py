"""`leadsync simulate CANDIDATE.toml`: what a change of rules would do, written nowhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import structlog
import typer

from connector.cli._times import parsed_time
from connector.cli.html_report import HtmlOption, write_html_report
from connector.cli.render import print_json, print_listing, progress_bar, stdout
from connector.cli.state import state_of
from connector.config import candidate_rules, scoring_rules
from connector.runners.simulate import DETAILED_MOVES
from connector.runners.simulate import simulate as run_simulation

__all__ = ["app", "print_simulation"]

app = typer.Typer()

log = structlog.get_logger("leadsync")

# Moves the text shows; --json lists them all (or --limit of them).
SHOWN_MOVES = 10


@app.command()
def simulate(
    ctx: typer.Context,
    candidate: Annotated[
        Path,
        typer.Argument(
            metavar="CANDIDATE.toml",
            help="A TOML file with the [scoring] and/or [lifecycle] tables to try (a copy "
            "of config.toml will do: its other tables are not read).",
        ),
    ],
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            metavar="TIME",
            help="Replay as of this time (ISO 8601 or a date): later events and stage "
            "moves are left out.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The figures as JSON.")] = False,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            min=1,
            metavar="N",
            help=f"List the N contacts that move most (default: all in --json, "
            f"{SHOWN_MOVES} in the text; the first {DETAILED_MOVES} with their lines).",
        ),
    ] = None,
    html: HtmlOption = None,
) -> None:
    """Replay the stored events and profiles under a candidate's scoring and lifecycle
    rules and say what would change; nothing is written to the store or a CRM."""
    state = state_of(ctx)
    settings = state.load()
    current = scoring_rules(settings)
    trial = candidate_rules(candidate, settings)
    moment = None if as_of is None else parsed_time(as_of)
    engine = state.store()
    with progress_bar("simulate", None) as bar:
        result = run_simulation(
            engine,
            current,
            trial,
            as_of=moment,
            workers=settings.scoring.workers,
            detailed_moves=DETAILED_MOVES if limit is None else min(limit, DETAILED_MOVES),
            on_progress=lambda done, total: bar.update(done, total),
        )
    if limit is not None:
        result["moves"] = result["moves"][:limit]  # type: ignore[index]
    if html is not None:
        write_html_report(
            engine,
            html,
            command="simulate",
            bands=current.bands,
            title=f"What {candidate.name} would change",
            quiet=as_json,
            simulation=result,
        )
    if as_json:
        print_json(result)
        return
    print_simulation(result, shown=limit or SHOWN_MOVES)


def print_simulation(result: dict[str, Any], *, shown: int) -> None:
    changed = result["changed"]
    current, candidate = result["current"], result["candidate"]
    stdout.print(
        f"{result['contacts']:,} contacts replayed in {result['duration_s']:.1f} s: "
        f"{changed['any']:,} would change (score {changed['score']:,}, temperature "
        f"{changed['temperature']:,}, stage {changed['stage']:,})",
        markup=False,
    )
    stdout.print(
        f"bands: warm from {current['warm_from']:g} -> {candidate['warm_from']:g}, "
        f"hot above {current['hot_above']:g} -> {candidate['hot_above']:g}",
        markup=False,
    )
    before, after = result["before"], result["after"]
    rows = [
        [name, before[side][name], after[side][name], _delta(before[side][name], after[side][name])]
        for side in ("temperature", "stage")
        for name in before[side]
    ]
    print_listing(["band / stage", "now", "candidate", "change"], rows)
    weeks = result["mql_per_week"]
    print_listing(
        ["week", "MQLs now", "MQLs candidate"],
        [[week["week"], week["before"], week["after"]] for week in weeks],
    )
    moves = result["moves"][:shown]
    if not moves:
        stdout.print("no contact moves: these rules give the same scores and stages")
        return
    print_listing(
        ["contact", "score", "temperature", "stage"],
        [
            [
                move["email"] or f"(no e-mail: contact #{move['contact_id']})",
                f"{move['score_before']:g} -> {move['score_after']:g}",
                f"{move['temperature_before']} -> {move['temperature_after']}",
                f"{move['stage_before']} -> {move['stage_after']}",
            ]
            for move in moves
        ],
    )
    for move in moves:
        lines = move.get("lines")
        if not lines:
            continue
        stdout.print(f"{move['email'] or move['contact_id']}:", markup=False)
        for line in lines[:8]:
            when = "" if line["occurred_at"] is None else f" {line['occurred_at'][:10]}"
            stdout.print(
                f"  {line['rule']} ({line['kind']}{when}): "
                f"{_points(line['before'])} -> {_points(line['after'])}",
                markup=False,
            )
        if len(lines) > 8:
            stdout.print(f"  … {len(lines) - 8} more line(s) (--json lists them)")
    left = len(result["moves"]) - len(moves)
    if left > 0:
        stdout.print(f"… {left:,} more contact(s) move (--json lists every one)")


def _delta(before: int, after: int) -> str:
    return "" if before == after else f"{after - before:+,}"


def _points(value: float | None) -> str:
    return "—" if value is None else f"{value:+g}"
