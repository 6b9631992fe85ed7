"""The commands that read the store: score, contacts, explain, rejects.

One Typer app, added to the main one in ``connector/cli/app.py``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TypeVar

import structlog
import typer

from connector.cli._times import parsed_time
from connector.cli.explanation import print_explanation
from connector.cli.render import (
    ProgressBar,
    print_json,
    print_json_array,
    print_listing,
    progress_bar,
    stdout,
)
from connector.cli.state import state_of
from connector.config import scoring_rules
from connector.model import StoredScore
from connector.runners.explain import explain_contact
from connector.runners.rescore import rescore, scoring_watermark
from connector.store.rejects import (
    StoredReject,
    count_rejects,
    list_rejects,
    rejects_by_reason,
)
from connector.store.scores import list_scores, score_count, stream_scores, unscored_count

__all__ = ["app"]

app = typer.Typer()

log = structlog.get_logger("leadsync")

T = TypeVar("T")


def _as_of(text: str | None) -> datetime | None:
    """``--as-of``: an ISO 8601 time with its offset, or a date (midnight UTC)."""
    return None if text is None else parsed_time(text)


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


# The table shows the top of the list; --limit and --json go further.
SHOWN_CONTACTS = 50


@app.command()
def contacts(
    ctx: typer.Context,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Every contact (or the N highest) as a JSON array, highest first."
        ),
    ] = False,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            min=1,
            metavar="N",
            help=f"The N highest scores (the table's default: {SHOWN_CONTACTS}).",
        ),
    ] = None,
) -> None:
    """Contacts with their score, temperature, stage, route, treatment and reasons,
    highest score first."""
    engine = state_of(ctx).store()
    with engine.connect() as connection:
        pending = unscored_count(connection, after_event_id=scoring_watermark(connection))
        if pending:
            log.warning("contacts.unscored_changes", contacts=pending, hint="run `leadsync score`")
        total = score_count(connection)
        if as_json:
            wanted = total if limit is None else min(limit, total)
            with progress_bar("contacts", wanted) as bar:
                print_json_array(
                    _counted(
                        (row.as_contract() for row in stream_scores(connection, limit=limit)),
                        bar,
                    )
                )
            return
        rows = list_scores(connection, limit=limit or SHOWN_CONTACTS)
    if not rows:
        stdout.print("no scored contacts: run `leadsync score` after an ingest")
        return
    print_contacts(rows)
    if total > len(rows):
        stdout.print(
            f"… {total - len(rows):,} more of {total:,} "
            "(--limit N shows more, --json lists every contact)"
        )


def _counted(items: Iterator[T], bar: ProgressBar, every: int = 1_000) -> Iterator[T]:
    for done, item in enumerate(items, 1):
        yield item
        if done % every == 0:
            bar.update(done)


def print_contacts(rows: Sequence[StoredScore]) -> None:
    """One line a contact; the 0-100 column where the scores carry it (normalised)."""
    normalised = any(row.normalised_score is not None for row in rows)
    headers = ["email", "score", *(["0-100"] if normalised else []), "temperature", "stage"]
    print_listing(
        [*headers, "route", "treatment", "reasons"],
        [
            [
                # A contact known by keys alone: an anonymous visitor, or an analytics id.
                row.email or f"(no e-mail: contact #{row.contact_id})",
                f"{row.score:g}",
                *([_points(row.normalised_score)] if normalised else []),
                row.temperature,
                row.stage,
                row.route,
                row.treatment,
                row.reasons,
            ]
            for row in rows
        ],
        # What is cut, or left out first where the terminal is narrow: treatment, then
        # reasons, then route; the e-mail, score, temperature and stage always show.
        cut=("route", "reasons", "treatment"),
    )


def _points(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"


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
    by_reason: Annotated[
        bool,
        typer.Option(
            "--by-reason",
            help="How many records were set aside for each kind of reason, instead of them.",
        ),
    ] = False,
) -> None:
    """Records set aside, with file, line and reason (newest first)."""
    engine = state_of(ctx).store()
    with engine.connect() as connection:
        total = count_rejects(connection, source=source)
        if by_reason:
            counts = rejects_by_reason(connection, source=source)
        else:
            rows = list_rejects(connection, source=source, limit=limit)
    if by_reason:
        if as_json:
            print_json([count.as_dict() for count in counts])
        elif counts:
            print_listing(
                ["records", "reason"],
                [[f"{count.count:,}", count.reason] for count in counts],
                cut=("reason",),
            )
            stdout.print(f"{total:,} rejected record(s) in all")
        else:
            stdout.print("no rejected records")
        return
    if as_json:
        print_json([row.as_dict() for row in rows])
        return
    if not rows:
        stdout.print("no rejected records")
        return
    print_listing(
        ["source", "file:line", "reason", "raw text"],
        [[r.source, _place(r), r.reason, r.raw] for r in rows],
        cut=("reason", "raw text"),
    )
    if total > len(rows):
        stdout.print(
            f"showing the newest {len(rows):,} of {total:,} (--limit N shows more, "
            "--by-reason counts them by reason)"
        )


def _place(reject: StoredReject) -> str:
    """Where the record was: relative to the current folder when it is under it (the store
    keeps the absolute path), with its line."""
    location = reject.location
    path = Path(location)
    if path.is_absolute() and path.is_relative_to(Path.cwd()):
        location = str(path.relative_to(Path.cwd()))
    return location if reject.line is None else f"{location}:{reject.line}"
