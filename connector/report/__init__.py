"""The HTML report: KPIs, calibration, a simulation and the scores now, drawn by plotly
into one file that opens with no network.

Pure but for writing its file: it takes the commands' ``--json`` dicts and the store's
snapshot, and reads no store.
"""

from __future__ import annotations

from connector.report.render import render_report

__all__ = ["render_report"]
