"""The commands that read the store: score, contacts, explain, rejects.

One Typer app, added to the main one in ``connector/cli/app.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import structlog
import typer

from connector.cli.render import print_json, print_table, progress_bar, stdout
from connector.cli.state import state_of
from connector.config import scoring_rules
from connector.runners.explain import explain_contact
from connector.runners.rescore import rescore, scoring_watermark
from connector.store.rejects import list_rejects
from connector.store.scores import list_scores, unscored_count

__all__ = ["app"]

app = typer.Typer()

log = structlog.get_logger("leadsync")


def _as_of(text: str | None) -> datetime | None:
    """``--as-of``: an ISO 8601 time with its offset, or a date (midnight UTC)."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not an ISO 8601 time; write it like 2026-11-02T10:00:00Z or 2026-11-02"
        ) from None
    if moment.tzinfo is None:
        if len(text.strip()) > 10:
            raise typer.BadParameter(
                f"{text!r} has no timezone; add Z (UTC) or an offset like +01:00"
            )
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


AS_OF_HELP = (
    "Score as of this time (ISO 8601, e.g. 2026-11-02T10:00:00Z, or a date): events after "
    "it are left out and windows and decay count from it, so the result is reproducible."
)


@app.command()
def score(
    ctx: typer.Context,
    full: Annotated[bool, typer.Option("--full", help="Rescore every contact.")] = False,
    as_of: Annotated[str | None, typer.Option("--as-of", help=AS_OF_HELP)] = None,
) -> None:
    """Score the contacts that changed since the last pass (all of them with --full) and
    move their lifecycle stages."""
    state = state_of(ctx)
    settings = state.load()
    moment = _as_of(as_of)
    engine = state.store()
    with progress_bar("score", None) as bar:
        summary = rescore(
            engine,
            scoring_rules(settings),
            full=full,
            as_of=moment,
            workers=settings.scoring.workers,
            on_progress=lambda done, total: bar.update(done, total),
        )
    workers = f", {summary.workers} workers" if summary.workers > 1 else ""
    stdout.print(
        f"scored {summary.contacts_scored:,} contact(s) in {summary.duration_s:.1f} s "
        f"({summary.reason}{workers}); {summary.transitions:,} stage change(s)"
    )


@app.command()
def contacts(
    ctx: typer.Context,
    as_json: Annotated[
        bool, typer.Option("--json", help="A JSON array, sorted by score descending.")
    ] = False,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Only the N highest scores.")
    ] = None,
) -> None:
    """Contacts with their score, temperature, stage, route and treatment."""
    engine = state_of(ctx).store()
    with engine.connect() as connection:
        rows = list_scores(connection, limit=limit)
        pending = unscored_count(connection, after_event_id=scoring_watermark(connection))
    if pending:
        log.warning("contacts.unscored_changes", contacts=pending, hint="run `leadsync score`")
    if as_json:
        print_json([row.as_contract() for row in rows])
        return
    print_table(
        None,
        ["email", "score", "temperature", "stage", "route", "treatment", "reasons"],
        [
            [r.email, f"{r.score:g}", r.temperature, r.stage, r.route, r.treatment, r.reasons]
            for r in rows
        ],
    )


@app.command()
def explain(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The contact's e-mail.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    as_of: Annotated[str | None, typer.Option("--as-of", help=AS_OF_HELP)] = None,
) -> None:
    """Every line of a contact's score, its stage and how it got there, and the hand-over."""
    state = state_of(ctx)
    engine = state.store()
    with engine.connect() as connection:
        explanation = explain_contact(
            connection,
            email,
            scoring_rules(state.load()),
            now=datetime.now(UTC),
            as_of=_as_of(as_of),
        )
    if as_json:
        print_json(explanation.as_dict())
        return
    outcome = explanation.outcome
    result = outcome.score
    normalised = (
        f"  ({result.normalised_score:g}/100)" if result.normalised_score is not None else ""
    )
    stdout.print(
        f"[bold]{explanation.email}[/bold]  score {result.score:g} = "
        f"behaviour {result.behaviour_score:g} + fit {result.fit_score:g}{normalised}"
    )
    set_by = explanation.stage_set_by()
    why = f" ({set_by.reason}, {set_by.at:%Y-%m-%d})" if set_by is not None else ""
    stdout.print(f"temperature {result.temperature}, stage {outcome.stage}{why}")
    stdout.print(f"handed to {outcome.route or '-'}, treatment {outcome.treatment or '-'}")
    stdout.print(f"reasons: {result.reasons}")
    print_table(
        None,
        ["rule", "kind", "occurred_at", "source", "url", "points", "note"],
        [
            [
                line.rule,
                line.kind,
                line.occurred_at,
                line.source,
                line.url,
                f"{line.points:+g}",
                line.note,
            ]
            for line in result.lines
        ],
    )
    steps = [(step, "") for step in explanation.history] + [
        (step, " (next `leadsync score` records it)") for step in explanation.pending
    ]
    if steps:
        print_table(
            "Stage history",
            ["at", "from", "to", "why"],
            [[step.at, step.from_stage, step.to_stage, step.reason + note] for step, note in steps],
        )


@app.command()
def rejects(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    source: Annotated[str | None, typer.Option("--source", help="Only this source.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 100,
) -> None:
    """Records set aside, with file, line and reason (newest first)."""
    engine = state_of(ctx).store()
    with engine.connect() as connection:
        rows = list_rejects(connection, source=source, limit=limit)
    if as_json:
        print_json([row.as_dict() for row in rows])
        return
    if not rows:
        stdout.print("no rejected records")
        return
    print_table(
        None,
        ["source", "file:line", "reason", "raw text"],
        [[r.source, f"{r.location}:{r.line}", r.reason, _cut(r.raw)] for r in rows],
    )


# The table shows enough of a record to recognise it; --json has it as stored.
RAW_SHOWN_CHARS = 120


def _cut(raw: str) -> str:
    return raw if len(raw) <= RAW_SHOWN_CHARS else raw[: RAW_SHOWN_CHARS - 1] + "…"
