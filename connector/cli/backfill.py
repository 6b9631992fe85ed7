"""`leadsync backfill SOURCE --since DATE [--until DATE]`: one range of a source's events."""

from __future__ import annotations

from typing import Annotated

import typer

from connector.cli._times import parsed_time
from connector.cli.render import print_json, progress_bar, stdout
from connector.cli.state import state_of
from connector.errors import ConfigError
from connector.plugins import range_source_of
from connector.ports import SizedSource
from connector.runners.backfill import BackfillSummary, backfill
from connector.store.cursors import backfill_checkpoint_name, read_cursor

__all__ = ["app"]

app = typer.Typer()

_TIME_HELP = "ISO 8601, e.g. 2026-11-02T10:00:00Z, or a date (midnight UTC)"


@app.command(name="backfill")
def backfill_command(
    ctx: typer.Context,
    name: Annotated[
        str,
        typer.Argument(
            metavar="SOURCE", help="A source configured as \\[sources.SOURCE] in the config."
        ),
    ],
    since: Annotated[
        str,
        typer.Option(
            "--since", metavar="DATE", help=f"First moment of the range, included ({_TIME_HELP})."
        ),
    ],
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            metavar="DATE",
            help=f"End of the range, excluded ({_TIME_HELP}; default: no end).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Store the events of SOURCE that occurred in a range of dates, on a checkpoint of
    their own: a rerun resumes, the source's regular cursor is left alone."""
    start = parsed_time(since, option="--since")
    end = None if until is None else parsed_time(until, option="--until")
    if end is not None and end <= start:
        raise typer.BadParameter(
            f"{until!r} is not after --since {since!r}; the range runs from --since "
            "(included) to --until (excluded)",
            param_hint="--until",
        )
    state = state_of(ctx)
    settings = state.load()
    if name not in settings.sources:
        raise ConfigError(
            f"no source named {name} in [sources]",
            file=str(settings.config_file) if settings.config_file else None,
            hint=f"configured: {', '.join(settings.sources) or 'none'}",
        )
    source = range_source_of(settings, name)
    engine = state.store()
    # A fresh range has the whole source ahead of it; a resumed one an unknown part.
    fresh = read_cursor(engine, backfill_checkpoint_name(name, start, end)) is None
    total = source.size() if fresh and isinstance(source, SizedSource) else None
    unit = "bytes" if isinstance(source, SizedSource) else "items"
    with progress_bar(f"backfill {name}", total, unit=unit) as bar:
        summary = backfill(
            engine,
            source,
            since=start,
            until=end,
            on_progress=bar.advance,
            subprocess_above_bytes=settings.ingest.subprocess_above_bytes,
        )
    _report(summary, as_json)


def _report(summary: BackfillSummary, as_json: bool) -> None:
    if as_json:
        print_json(summary.as_dict())
        return
    span = f"from {summary.since} to {summary.until}" if summary.until else f"since {summary.since}"
    stdout.print(
        f"{summary.source} {span}: read {summary.read:,}, stored {summary.stored:,}, "
        f"duplicates {summary.duplicates:,}, outside the range {summary.skipped:,}, "
        f"rejected {summary.rejected:,}, new contacts {summary.contacts_created:,} "
        f"in {summary.duration_s:.1f} s",
        markup=False,
    )
    if summary.finished_before:
        stdout.print(
            "  this range was backfilled to its end before: only what the source gained "
            "since was read"
        )
    else:
        stdout.print("  backfill finished: the range was read to its end")
    if summary.rejected:
        stdout.print(f"  see the rejected records with: leadsync rejects --source {summary.source}")
