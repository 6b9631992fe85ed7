"""`leadsync demo`: the main job end to end on a sample, shown on the console."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from connector.cli.render import ConsoleScreen
from connector.cli.state import state_of
from connector.demo.run import run_demo
from connector.logs import configure_logging

__all__ = ["app"]

app = typer.Typer()

# Where `make demo` (no --dir) leaves its report: `make clean` removes the folder.
DEFAULT_REPORT = Path("demo-output") / "report.html"


@app.command()
def demo(
    ctx: typer.Context,
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            metavar="DIR",
            help="Keep the sample and its store here (default: a temporary folder).",
        ),
    ] = None,
    contact_count: Annotated[
        int, typer.Option("--contacts", min=10, metavar="N", help="Contacts in the sample.")
    ] = 2_000,
    event_count: Annotated[
        int, typer.Option("--events", min=100, metavar="N", help="Events in the sample.")
    ] = 50_000,
    seed: Annotated[
        int,
        typer.Option("--seed", metavar="N", help="The same seed makes the same sample."),
    ] = 7,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace the files of a --dir an earlier demo did not write."),
    ] = False,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            metavar="FILE",
            help=f"Where to write the HTML report (default: DIR/report.html, or "
            f"{DEFAULT_REPORT} without --dir).",
        ),
    ] = None,
) -> None:
    """Make a realistic sample, ingest it into a fresh SQLite file, score it, show the result."""
    # The demo prints its own summary; per-run log lines would only repeat it.
    configure_logging("debug" if state_of(ctx).debug else "warning")
    screen = ConsoleScreen()
    if directory is None:
        # The sample goes with the temporary folder; the report stays to be looked at.
        where = (report or DEFAULT_REPORT).absolute()
        where.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="leadsync-demo-") as scratch:
            run_demo(
                Path(scratch),
                contact_count,
                event_count,
                seed,
                keep=False,
                screen=screen,
                report=where,
            )
    else:
        run_demo(
            directory,
            contact_count,
            event_count,
            seed,
            keep=True,
            screen=screen,
            force=force,
            report=None if report is None else report.absolute(),
        )
