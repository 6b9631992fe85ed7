"""write_report draws the store's scores now beside a command's figures. On real SQLite
and the real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from connector.runners.report import write_report
from connector.scoring.lifecycle import Bands
from tests.report.plotted import chart_ids, plotted, section_ids
from tests.report.samples import CALIBRATION
from tests.store.scored_rows import add_scored_contact

AS_OF = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def test_the_report_shows_the_stored_scores_beside_the_calibration(
    engine: Engine, tmp_path: Path
) -> None:
    """Stage and temperature counts and score bins from the store, the thresholds from
    the bands given, the calibration's section from its dict."""
    with engine.begin() as connection:
        add_scored_contact(connection, 1, 3, "cold", "lead", email="a@x.test")
        add_scored_contact(connection, 2, 12, "warm", "lead", email="b@x.test")
        add_scored_contact(connection, 3, 14, "warm", "mql", email="c@x.test")
        add_scored_contact(connection, 4, 27, "hot", "sql", email="d@x.test")
        add_scored_contact(connection, 5, 8, "cold", "lead", keys=(("ga4_visitor", "v5"),))
    path = write_report(
        engine,
        tmp_path / "report.html",
        bands=Bands(warm_from=12, hot_above=25),
        title="Calibration",
        calibration=CALIBRATION,
        as_of=AS_OF,
    )
    html = path.read_text(encoding="utf-8")
    assert section_ids(html) == ["funnel", "distribution", "calibration"]
    assert chart_ids(html) == [
        "chart-stage-temperature",
        "chart-score-distribution",
        "chart-band-conversion",
        "chart-bucket-conversion",
    ]
    by_temperature, _ = plotted(html, "chart-stage-temperature")
    assert {trace["name"]: trace["y"] for trace in by_temperature} == {
        # lead, mql, sql, customer, nurturing, disqualified; the visitor is not a lead.
        "cold": [1, 0, 0, 0, 0, 0],
        "warm": [1, 1, 0, 0, 0, 0],
        "hot": [0, 0, 1, 0, 0, 0],
    }
    (bins,), layout = plotted(html, "chart-score-distribution")
    assert (bins["x"], bins["y"]) == ([2.5, 7.5, 12.5, 17.5, 22.5, 27.5], [1, 0, 2, 0, 0, 1])
    assert [s["x0"] for s in layout["shapes"] if s["type"] == "line"] == [12, 25]  # type: ignore[attr-defined]
    assert "as of 7 Dec 2026, 12:00 UTC" in html
