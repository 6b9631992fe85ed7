"""The commands that read the store: score, contacts, explain, rejects.

One Typer app, added to the main one in ``connector/cli/app.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import structlog
import typer

from connector.cli.explanation import print_explanation
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
    as_of: Annotated[str | None, typer.Option("--as-of", metavar="TIME", help=AS_OF_HELP)] = None,
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
        int | None, typer.Option("--limit", min=1, metavar="N", help="Only the N highest scores.")
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
    email: Annotated[str, typer.Argument(metavar="EMAIL", help="The contact's e-mail.")],
    as_json: Annotated[bool, typer.Option("--json", help="The explanation as JSON.")] = False,
    as_of: Annotated[str | None, typer.Option("--as-of", metavar="TIME", help=AS_OF_HELP)] = None,
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
    print_explanation(explanation)


@app.command()
def rejects(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="The records as JSON.")] = False,
    source: Annotated[
        str | None, typer.Option("--source", metavar="NAME", help="Only this source.")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, metavar="N", help="At most N records.")
    ] = 100,
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
