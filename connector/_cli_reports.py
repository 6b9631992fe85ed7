"""The commands that read the store: score, contacts, explain, rejects.

Registered on the app in ``connector/cli.py``; kept apart so each module stays small.
"""

from __future__ import annotations

from typing import Annotated

import structlog
import typer

from connector._cli_state import state_of
from connector._render import print_json, print_table, progress_bar, stdout
from connector.config import scoring_rules
from connector.explain import explain_contact
from connector.rescore import rescore, scoring_watermark
from connector.store.rejects import list_rejects
from connector.store.scores import list_scores, unscored_count

__all__ = ["contacts", "explain", "rejects", "score"]

log = structlog.get_logger("leadsync")


def score(
    ctx: typer.Context,
    full: Annotated[bool, typer.Option("--full", help="Rescore every contact.")] = False,
) -> None:
    """Score the contacts that changed since the last pass (all of them with --full)."""
    state = state_of(ctx)
    engine = state.store()
    with progress_bar("score", None) as bar:
        summary = rescore(
            engine,
            scoring_rules(state.load()),
            full=full,
            on_progress=lambda done, total: bar.update(done, total),
        )
    stdout.print(
        f"scored {summary.contacts_scored:,} contact(s) in {summary.duration_s:.1f} s "
        f"({summary.reason})"
    )


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


def explain(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The contact's e-mail.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Every line of a contact's score, and what it leads to."""
    state = state_of(ctx)
    engine = state.store()
    with engine.connect() as connection:
        explanation = explain_contact(connection, email, scoring_rules(state.load()))
    if as_json:
        print_json(explanation.as_dict())
        return
    result = explanation.score
    stdout.print(
        f"[bold]{explanation.email}[/bold]  score {result.score:g} = "
        f"behaviour {result.behaviour_score:g} + fit {result.fit_score:g}"
    )
    stdout.print(
        f"temperature {result.temperature}, stage {result.stage}, "
        f"route {result.route or '-'}, treatment {result.treatment or '-'}"
    )
    stdout.print(f"reasons: {result.reasons}")
    print_table(
        None,
        ["rule", "kind", "occurred_at", "source", "url", "points"],
        [
            [line.rule, line.kind, line.occurred_at, line.source, line.url, f"{line.points:+g}"]
            for line in result.lines
        ],
    )


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
        ["source", "file:line", "reason"],
        [[r.source, f"{r.location}:{r.line}", r.reason] for r in rows],
    )
