"""Headless Debian Chromium with the network off: the rendered DOM of a page, and a
screenshot of it.

Chromium is run once per call, with a profile of its own and every host name resolving
to nothing, so a page that asked for anything outside its file would render without it
and the chart assertions would fail. A missing Chromium fails the test: `make browser`
installs it.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT_S = 120
# Time the page's scripts get in virtual time (no wall-clock wait): plotly draws well
# within it.
VIRTUAL_TIME_BUDGET_MS = 5000
NETWORK_OFF = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    f"--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}",
]


def require_chromium() -> Path:
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (installs Debian's chromium)")
    return CHROMIUM


def _run(page: Path, *flags: str) -> str:
    chromium = require_chromium()
    with tempfile.TemporaryDirectory(prefix="leadsync-chromium-") as profile:
        finished = subprocess.run(
            [str(chromium), *NETWORK_OFF, f"--user-data-dir={profile}", *flags, page.as_uri()],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
    if finished.returncode != 0:
        pytest.fail(f"chromium exited {finished.returncode}: {finished.stderr[-2000:]}")
    return finished.stdout


def rendered_dom(page: Path) -> str:
    """The page's DOM once its scripts have run."""
    return _run(page, "--dump-dom")


def screenshot(page: Path, png: Path, *, width_px: int = 1280, height_px: int = 4000) -> Path:
    _run(page, f"--screenshot={png}", f"--window-size={width_px},{height_px}")
    if not png.is_file():
        pytest.fail(f"chromium wrote no screenshot at {png}")
    return png


def png_size(png: Path) -> tuple[int, int]:
    """Width and height from the PNG's header (IHDR, right after the signature)."""
    header = png.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{png} is not a PNG"
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


class RenderedCharts(HTMLParser):
    """Per chart element (``id="chart-..."``): whether plotly drew in it (a
    ``div.plotly`` holding an ``svg.main-svg``) and the texts of its SVG."""

    VOID = frozenset({"br", "img", "input", "meta", "link", "hr", "source", "col", "wbr"})

    def __init__(self) -> None:
        super().__init__()
        self.drawn: dict[str, bool] = {}
        self.texts: dict[str, list[str]] = {}
        self._stack: list[tuple[str, str | None, set[str]]] = []
        self._has_plotly_div: set[str] = set()
        self._in_text = 0

    def _chart(self) -> str | None:
        for _, chart_id, _ in reversed(self._stack):
            if chart_id is not None:
                return chart_id
        return None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        classes = set((values.get("class") or "").split())
        element_id = values.get("id") or ""
        chart_id = element_id if tag == "div" and element_id.startswith("chart-") else None
        if chart_id is not None:
            self.drawn.setdefault(chart_id, False)
            self.texts.setdefault(chart_id, [])
        current = chart_id or self._chart()
        if current is not None:
            if tag == "div" and "plotly" in classes:
                self._has_plotly_div.add(current)
            if tag == "svg" and "main-svg" in classes and current in self._has_plotly_div:
                self.drawn[current] = True
            if tag in ("text", "tspan"):
                self._in_text += 1
        if tag not in self.VOID:
            self._stack.append((tag, chart_id, classes))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        while self._stack:
            opened, _, _ = self._stack.pop()
            if opened in ("text", "tspan") and self._in_text:
                self._in_text -= 1
            if opened == tag:
                break

    def handle_data(self, data: str) -> None:
        chart_id = self._chart()
        if chart_id is not None and self._in_text and data.strip():
            self.texts[chart_id].append(data.strip())


def rendered_charts(dom: str) -> RenderedCharts:
    parser = RenderedCharts()
    parser.feed(dom)
    parser.close()
    return parser


class OutsideReferences(HTMLParser):
    """Every attribute that would make the browser fetch from outside the file."""

    FETCHING = frozenset({"src", "href", "srcset", "poster", "data", "action", "formaction"})

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self.stylesheets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in self.FETCHING and value and _is_outside(value):
                self.found.append(f"<{tag} {name}={value!r}>")
        if tag == "link":
            self.stylesheets.append(str(dict(attrs)))


def _is_outside(value: str) -> bool:
    return value.strip().lower().startswith(("http:", "https:", "//", "ftp:"))


def outside_references(html: str) -> OutsideReferences:
    parser = OutsideReferences()
    parser.feed(html)
    parser.close()
    return parser
