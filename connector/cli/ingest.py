"""`leadsync ingest FILE` and `leadsync pull`: events into the ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from connector.cli.render import print_json, progress_bar, stdout
from connector.cli.state import state_of
from connector.errors import ConfigError
from connector.plugins import file_source, source_of
from connector.runners.ingest import IngestSummary, ingest

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
        str, typer.Option("--format", metavar="FORMAT", help="auto, jsonl or csv.")
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
    wanted = names or list(settings.sources)
    unknown = [name for name in wanted if name not in settings.sources]
    if unknown:
        raise ConfigError(
            f"no source named {', '.join(unknown)} in [sources]",
            file=str(settings.config_file) if settings.config_file else None,
            hint=f"configured: {', '.join(settings.sources) or 'none'}",
        )
    if not wanted:
        stdout.print("no sources configured: add a \\[sources.NAME] table to config.toml")
        return
    engine = state.store()
    summaries = []
    for name in wanted:
        event_source = source_of(settings, name)
        with progress_bar(f"pull {name}", None) as bar:
            summaries.append(
                ingest(
                    engine,
                    event_source,
                    command="pull",
                    resume=True,
                    on_progress=bar.advance,
                    subprocess_above_bytes=settings.ingest.subprocess_above_bytes,
                )
            )
    if as_json:
        print_json([summary.as_dict() for summary in summaries])
    else:
        for summary in summaries:
            _report_ingest(summary, as_json=False)
