"""`leadsync ingest FILE` and `leadsync pull`: events into the ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from connector.cli.render import print_json, progress_bar, stdout
from connector.cli.state import state_of
from connector.errors import ConfigError
from connector.plugins import file_source, pulled_sources
from connector.runners.ingest import IngestSummary, ingest
from connector.runners.pull import SourceFailure, pull_source, raise_first_failure

__all__ = ["app"]

app = typer.Typer()


def _report_ingest(summary: IngestSummary, as_json: bool) -> None:
    if as_json:
        print_json(summary.as_dict())
        return
    stdout.print(
        f"{summary.source}: read {summary.read:,}, stored {summary.stored:,}, "
        f"duplicates {summary.duplicates:,}, rejected {summary.rejected:,}, "
        f"new contacts {summary.contacts_created:,} in {summary.duration_s:.1f} s"
    )
    if summary.rejected:
        stdout.print(f"  see the rejected records with: leadsync rejects --source {summary.source}")


@app.command(name="ingest")
def ingest_command(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="A JSONL or CSV file of canonical events.")
    ],
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            metavar="NAME",
            help="Source name for records without one (default: the file name).",
        ),
    ] = None,
    file_format: Annotated[
        # A choice, so a wrong one is a usage error (exit 2) that lists the valid values.
        Literal["auto", "jsonl", "csv"],
        typer.Option("--format", help="auto, jsonl or csv.", case_sensitive=False),
    ] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Store the events of FILE once each; bad records go to `leadsync rejects`."""
    state = state_of(ctx)
    settings = state.load()
    event_source = file_source(
        settings, file, name=source or file.stem.lower(), file_format=file_format
    )
    engine = state.store()
    with progress_bar(f"ingest {file.name}", event_source.size(), unit="bytes") as bar:
        summary = ingest(
            engine,
            event_source,
            command="ingest",
            resume=False,
            on_progress=bar.advance,
            subprocess_above_bytes=settings.ingest.subprocess_above_bytes,
        )
    _report_ingest(summary, as_json)


@app.command()
def pull(
    ctx: typer.Context,
    names: Annotated[
        list[str] | None,
        typer.Argument(metavar="NAME", help="Sources to pull (default: all configured)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The summaries as JSON.")] = False,
) -> None:
    """Pull every configured source from its cursor."""
    state = state_of(ctx)
    settings = state.load()
    wanted = names or pulled_sources(settings)
    unknown = [name for name in wanted if name not in settings.sources]
    if unknown:
        raise ConfigError(
            f"no source named {', '.join(unknown)} in [sources]",
            file=str(settings.config_file) if settings.config_file else None,
            hint=f"configured: {', '.join(settings.sources) or 'none'}",
        )
    if not wanted and settings.sources:
        senders = list(settings.sources)
        stdout.print(
            f"no source to pull: {', '.join(senders)} "
            f"{'sends its' if len(senders) == 1 else 'send their'} events by webhook to "
            "`leadsync serve`",
            markup=False,
        )
        return
    if not wanted:
        stdout.print("no sources configured: add a \\[sources.NAME] table to config.toml")
        return
    engine = state.store()
    outcomes: list[IngestSummary | SourceFailure] = []
    for name in wanted:
        with progress_bar(f"pull {name}", None) as bar:
            outcomes.append(
                pull_source(engine, settings, name, command="pull", on_progress=bar.advance)
            )
    if as_json:
        print_json([outcome.as_dict() for outcome in outcomes])
    else:
        for outcome in outcomes:
            if isinstance(outcome, SourceFailure):
                stdout.print(f"{outcome.source}: failed: {outcome.message}", markup=False)
            else:
                _report_ingest(outcome, as_json=False)
    raise_first_failure(outcomes)
