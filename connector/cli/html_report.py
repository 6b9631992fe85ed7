"""`--html FILE` on `kpi`, `calibrate` and `simulate`: the option and the writing."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import structlog
import typer
from sqlalchemy.engine import Engine

from connector.cli.render import stdout
from connector.runners.report import write_report
from connector.scoring.lifecycle import Bands

__all__ = ["HtmlOption", "write_html_report"]

log = structlog.get_logger("leadsync")

HtmlOption = Annotated[
    Path | None,
    typer.Option(
        "--html",
        metavar="FILE",
        help="Also write these figures, with the funnel and the score distribution, as one "
        "HTML file that opens with no network.",
    ),
]


def write_html_report(
    engine: Engine,
    path: Path,
    *,
    command: str,
    bands: Bands,
    title: str,
    quiet: bool,
    kpi: Mapping[str, object] | None = None,
    calibration: Mapping[str, object] | None = None,
    simulation: Mapping[str, object] | None = None,
) -> None:
    """Write the report and say where (on stdout unless ``quiet``: ``--json`` owns it)."""
    written = write_report(
        engine,
        path,
        bands=bands,
        title=title,
        kpi=kpi,
        calibration=calibration,
        simulation=simulation,
    )
    log.info(f"{command}.report_written", path=str(written))
    if not quiet:
        stdout.print(f"report: {written}", markup=False)
