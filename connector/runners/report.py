"""Write the HTML report: the store's scores now, beside the figures a command computed."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from connector.report import render_report
from connector.scoring.lifecycle import Bands
from connector.store.score_snapshot import score_snapshot

__all__ = ["SCORE_BIN_WIDTH", "write_report"]

SCORE_BIN_WIDTH = 5


def write_report(
    engine: Engine,
    path: Path,
    *,
    bands: Bands,
    title: str,
    kpi: Mapping[str, object] | None = None,
    calibration: Mapping[str, object] | None = None,
    simulation: Mapping[str, object] | None = None,
    as_of: datetime | None = None,
) -> Path:
    """Read the scores' snapshot (counted by the database) and write the report to
    ``path`` with the command's figures given; return ``path``.

    Raises:
        InputFileError: the report cannot be written there.
    """
    with engine.connect() as connection:
        snapshot = score_snapshot(
            connection,
            warm_from=bands.warm_from,
            hot_above=bands.hot_above,
            width=SCORE_BIN_WIDTH,
            as_of=as_of or datetime.now(UTC),
        )
    return render_report(
        path,
        title=title,
        snapshot=snapshot,
        kpi=kpi,
        calibration=calibration,
        simulation=simulation,
    )
