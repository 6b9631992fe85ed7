"""Write the report: one self-contained HTML file of the sections whose data is given."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import jinja2
from markupsafe import Markup
from plotly.offline import get_plotlyjs

from connector.errors import InputFileError
from connector.report import _format as fmt
from connector.report.calibration_section import calibration_section
from connector.report.overview_sections import (
    distribution_section,
    funnel_section,
    key_figures_section,
    period_text,
    trend_section,
)
from connector.report.page import Section
from connector.report.shapes import Calibration, Kpi, Simulation, Snapshot, parse_shape
from connector.report.simulation_section import simulation_section

__all__ = ["render_report"]

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("connector.report", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_report(
    path: Path,
    *,
    title: str,
    snapshot: Mapping[str, object] | None = None,
    kpi: Mapping[str, object] | None = None,
    calibration: Mapping[str, object] | None = None,
    simulation: Mapping[str, object] | None = None,
) -> Path:
    """Write the report to ``path`` (its folder made if need be) and return ``path``.

    Each argument is one command's ``--json`` dict (or the store's snapshot); a section is
    shown only when its data is given. The file loads nothing: plotly.js is inside it.

    Raises:
        ValueError: a dict is not in its command's shape (a defect, not bad input).
        InputFileError: the file cannot be written.
    """
    sections = _sections(
        snapshot=None if snapshot is None else parse_shape(Snapshot, snapshot, what="snapshot"),
        kpi=None if kpi is None else parse_shape(Kpi, kpi, what="kpi"),
        calibration=None
        if calibration is None
        else parse_shape(Calibration, calibration, what="calibrate"),
        simulation=None
        if simulation is None
        else parse_shape(Simulation, simulation, what="simulate"),
    )
    as_of = next(
        (
            data["as_of"]
            for data in (snapshot, calibration, simulation)
            if data is not None and isinstance(data.get("as_of"), str)
        ),
        None,
    )
    facts = []
    if as_of is not None:
        facts.append(("As of", fmt.moment(str(as_of))))
    if kpi is not None:
        facts.append(("Period", period_text(parse_shape(Kpi, kpi, what="kpi").period)))
    html = _TEMPLATES.get_template("report.html.j2").render(
        title=title,
        facts=facts,
        as_of=None if as_of is None else fmt.moment(str(as_of)),
        sections=sections,
        # plotly's own bundle, written into the page as plotly's to_html writes it.
        plotly_js=Markup(get_plotlyjs()),  # noqa: S704
    )
    _write_whole(path, html)
    return path


def _sections(
    *,
    snapshot: Snapshot | None,
    kpi: Kpi | None,
    calibration: Calibration | None,
    simulation: Simulation | None,
) -> list[Section]:
    sections: list[Section] = []
    if kpi is not None:
        sections.append(key_figures_section(kpi))
    if kpi is not None or snapshot is not None:
        sections.append(funnel_section(kpi, snapshot))
    if kpi is not None:
        over_time = trend_section(kpi)
        if over_time is not None:
            sections.append(over_time)
    if snapshot is not None:
        sections.append(distribution_section(snapshot))
    if calibration is not None:
        sections.append(calibration_section(calibration))
    if simulation is not None:
        sections.append(simulation_section(simulation))
    return sections


def _write_whole(path: Path, html: str) -> None:
    """Write beside the target, then rename: a reader never sees half a report, and a
    failed write leaves the previous one in place."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(html)
            Path(temporary).replace(path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise InputFileError(
            f"cannot write the report: {exc.strerror or exc}",
            file=str(path),
            hint="choose a folder you can write to, or free some space",
        ) from exc
