"""The HTML report: one file that renders every chart in headless Chromium with the
network off, shows each section only with its data, and says why a figure is missing."""

from __future__ import annotations

import copy
import os
import re
import shutil
from pathlib import Path

import pytest

from connector.errors import InputFileError
from connector.report import render_report
from tests.report import browser
from tests.report.plotted import chart_ids, plotted, section_ids
from tests.report.samples import CALIBRATION, KPI, SIMULATION, SNAPSHOT

# Where the screenshots are copied for people to look at (when that folder exists),
# besides pytest's tmp_path.
SCREENSHOT_DIR = Path(os.environ.get("LEADSYNC_SCREENSHOT_DIR", "/tmp/h17"))  # noqa: S108

EVERY_CHART = {
    "chart-funnel": "Leads to customers in the period",
    "chart-stage-temperature": "Contacts now, by stage and temperature",
    "chart-kpi-by-month": "Leads, MQLs, SQLs and customers per month",
    "chart-cost-by-month": "Cost per lead and per acquisition, per month",
    "chart-score-distribution": "How the scores are spread",
    "chart-band-conversion": "Conversion to customer by band, against the expected rate",
    "chart-bucket-conversion": "Conversion to customer by score",
    "chart-simulation-temperature": "Contacts by temperature, current rules and candidate",
    "chart-simulation-stage": "Contacts by stage, current rules and candidate",
    "chart-simulation-mqls": "New MQLs per week, current rules and candidate",
}
AXIS_TITLES = {
    "chart-stage-temperature": {"contacts"},
    "chart-kpi-by-month": {"month", "contacts"},
    "chart-cost-by-month": {"month", "per lead", "per customer"},
    "chart-score-distribution": {"score", "contacts", "warm from 10", "hot above 20"},
    "chart-band-conversion": {"became customers", "expected rate"},
    "chart-bucket-conversion": {"score", "became customers", "suggested warm_from 12.5"},
    "chart-simulation-mqls": {"week starting", "new MQLs", "current rules", "candidate"},
}


def _full_report(folder: Path) -> Path:
    return render_report(
        folder / "report.html",
        title="Acme leads, December 2026",
        snapshot=SNAPSHOT,
        kpi=KPI,
        calibration=CALIBRATION,
        simulation=SIMULATION,
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _full_report(tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def rendered(report: Path) -> browser.RenderedCharts:
    return browser.rendered_charts(browser.rendered_dom(report))


class TestInHeadlessChromium:
    def test_every_chart_is_drawn_with_the_network_off(
        self, rendered: browser.RenderedCharts
    ) -> None:
        """Each of the ten chart elements holds plotly's drawing (div.plotly, svg.main-svg):
        plotly.js came from the file itself."""
        assert rendered.drawn == dict.fromkeys(EVERY_CHART, True)

    def test_each_chart_shows_its_title_and_axis_titles(
        self, rendered: browser.RenderedCharts
    ) -> None:
        for chart_id, title in EVERY_CHART.items():
            texts = set(rendered.texts[chart_id])
            assert title in texts, chart_id
            assert AXIS_TITLES.get(chart_id, set()) <= texts, chart_id

    def test_a_screenshot_is_taken(self, report: Path, tmp_path: Path) -> None:
        """A 1280 by 4000 PNG of the report, and one of a simulation's report, copied
        where people look at them."""
        simulation_only = render_report(
            tmp_path / "simulation.html", title="What hot_above 26 would do", simulation=SIMULATION
        )
        shots = {
            "report-screenshot.png": browser.screenshot(report, tmp_path / "report.png"),
            "report-screenshot-simulation.png": browser.screenshot(
                simulation_only, tmp_path / "simulation.png", height_px=2600
            ),
        }
        assert browser.png_size(shots["report-screenshot.png"]) == (1280, 4000)
        assert browser.png_size(shots["report-screenshot-simulation.png"]) == (1280, 2600)
        # The DOM test proves the charts are there; a blank page would be a few KB.
        assert shots["report-screenshot.png"].stat().st_size > 100_000
        for name, shot in shots.items():
            print(f"screenshot: {shot}")
            if SCREENSHOT_DIR.is_dir():
                print(f"screenshot: {shutil.copyfile(shot, SCREENSHOT_DIR / name)}")

    def test_a_missing_chromium_fails_and_says_how_to_install_it(
        self, monkeypatch: pytest.MonkeyPatch, report: Path, tmp_path: Path
    ) -> None:
        monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "no-chromium")
        with pytest.raises(pytest.fail.Exception, match=r"run `make browser`"):
            browser.rendered_dom(report)


class TestSelfContained:
    def test_nothing_is_fetched_from_outside_the_file(self, report: Path) -> None:
        """No script, stylesheet, image or font from the network; plotly.js once, inline."""
        html = report.read_text(encoding="utf-8")
        references = browser.outside_references(html)
        assert (references.found, references.stylesheets) == ([], [])
        assert re.findall(r"<script[^>]*\bsrc=", html) == []
        for css_fetch in ("@import", "@font-face", "url("):
            assert css_fetch not in _styles(html)
        assert html.count("* plotly.js v") == 1

    def test_the_file_is_about_the_size_of_plotly_js(self, report: Path) -> None:
        """plotly.js (4.6 MB) and the figures: 4 to 6 MB, printed for the README."""
        size_bytes = report.stat().st_size
        print(f"report size: {size_bytes / 1e6:.1f} MB")
        assert 4_000_000 < size_bytes < 6_000_000


def _styles(html: str) -> str:
    return "".join(re.findall(r"<style>(.*?)</style>", html, flags=re.DOTALL))


class TestSections:
    def test_every_section_with_all_the_data(self, report: Path) -> None:
        html = report.read_text(encoding="utf-8")
        assert section_ids(html) == [
            "key-figures",
            "funnel",
            "over-time",
            "distribution",
            "calibration",
            "simulation",
        ]
        assert chart_ids(html) == list(EVERY_CHART)

    @pytest.mark.parametrize(
        ("given", "sections", "charts"),
        [
            (
                {"snapshot": SNAPSHOT},
                ["funnel", "distribution"],
                ["chart-stage-temperature", "chart-score-distribution"],
            ),
            (
                {"calibration": CALIBRATION},
                ["calibration"],
                ["chart-band-conversion", "chart-bucket-conversion"],
            ),
            (
                {"simulation": SIMULATION},
                ["simulation"],
                ["chart-simulation-temperature", "chart-simulation-stage", "chart-simulation-mqls"],
            ),
            (
                {"kpi": KPI},
                ["key-figures", "funnel", "over-time"],
                ["chart-funnel", "chart-kpi-by-month", "chart-cost-by-month"],
            ),
            ({}, [], []),
        ],
        ids=["snapshot", "calibration", "simulation", "kpi", "nothing"],
    )
    def test_a_section_is_shown_only_with_its_data(
        self, tmp_path: Path, given: dict, sections: list[str], charts: list[str]
    ) -> None:
        html = render_report(tmp_path / "r.html", title="t", **given).read_text(encoding="utf-8")
        assert (section_ids(html), chart_ids(html)) == (sections, charts)
        assert ("Nothing to show" in html) == (not given)

    def test_kpi_by_campaign_is_a_table_not_a_chart_of_months(self, tmp_path: Path) -> None:
        kpi = copy.deepcopy(KPI)
        kpi["by_dimension"] = "campaign"
        names = ["spring", "summer", "fall", "(none)", "x", "y"]
        for row, name in zip(kpi["by"], names, strict=True):  # type: ignore[call-overload]
            row["group"] = name
        html = render_report(tmp_path / "r.html", title="t", kpi=kpi).read_text(encoding="utf-8")
        assert section_ids(html) == ["key-figures", "funnel", "by-group"]
        assert chart_ids(html) == ["chart-funnel"]
        assert re.findall(r"<td class=\"\">([^<]+)</td>", html)[:6] == [
            "spring",
            "summer",
            "fall",
            "(none)",
            "x",
            "y",
        ]


class TestFigures:
    def test_a_null_figure_shows_a_dash_and_its_reason_never_0(self, report: Path) -> None:
        html = report.read_text(encoding="utf-8")
        cards = re.findall(
            r'<div class="card( missing)?">\s*<div class="label">([^<]+)</div>\s*'
            r'<div class="value">([^<]+)</div>\s*(?:<div class="basis">([^<]*)</div>)?',
            html,
        )
        by_label = {label: (missing, value, basis) for missing, label, value, basis in cards}
        assert by_label["Gross margin"] == (
            " missing",
            "—",
            "no [kpi] margin_rate and no margin_field set",
        )
        assert by_label["ROI"] == (" missing", "—", "needs the margin, which is null")
        assert by_label["Cost per lead"] == ("", "11.47", "cost / leads")
        assert by_label["Lead → MQL"] == ("", "26.0 %", "mqls / leads of the same period")

    def test_a_null_kpi_without_a_basis_says_none_was_given(self, tmp_path: Path) -> None:
        kpi = copy.deepcopy(KPI)
        kpi["basis"] = {}
        html = render_report(tmp_path / "r.html", title="t", kpi=kpi).read_text(encoding="utf-8")
        assert "not computed; the kpi command gave no reason" in html

    def test_a_band_without_a_rate_shows_its_note_instead_of_a_bar(self, report: Path) -> None:
        traces, layout = plotted(report.read_text(encoding="utf-8"), "chart-band-conversion")
        observed, expected = traces
        assert observed["y"] == [29 / 820, 52 / 240, None]
        assert observed["error_y"]["array"] == pytest.approx(
            [0.0504 - 29 / 820, 0.2724 - 52 / 240, None]
        )  # type: ignore[index]
        assert expected["y"] == [0.05, 0.25, 0.5]
        notes = [a["text"] for a in layout["annotations"]]  # type: ignore[attr-defined]
        assert notes == ["18 outcomes, fewer than<br>30: no rate"]

    def test_the_thresholds_are_drawn_on_the_score_distribution(self, report: Path) -> None:
        traces, layout = plotted(report.read_text(encoding="utf-8"), "chart-score-distribution")
        (bars,) = traces
        assert bars["y"] == [6, 34, 410, 360, 190, 110, 70, 40, 22, 12, 5, 1]
        assert bars["x"][:3] == [-7.5, -2.5, 2.5]  # type: ignore[index]
        lines = [s["x0"] for s in layout["shapes"] if s["type"] == "line"]  # type: ignore[attr-defined]
        assert lines == [10, 20]
        labels = [a["text"] for a in layout["annotations"]]  # type: ignore[attr-defined]
        assert labels == [
            "<b>cold</b>",
            "<b>warm</b>",
            "<b>hot</b>",
            "warm from 10",
            "hot above 20",
        ]

    def test_the_moves_table_shows_the_first_50_with_their_lines(self, report: Path) -> None:
        html = report.read_text(encoding="utf-8")
        assert "The contacts that move most (50 of 212 changed)" in html
        assert html.count('<td class="temperature-move">') == 50
        assert html.count("contact #1003") == 1
        assert "<li>pricing page view (page_view, 3 Nov 2026, 09:14 UTC): 6 → 3</li>" in html
        assert "<li>job title: student (fit): not counted → -4</li>" in html
        assert "person49@client0.example" in html
        assert "person50@" not in html


class TestInputs:
    def test_the_title_and_every_text_are_escaped(self, tmp_path: Path) -> None:
        simulation = copy.deepcopy(SIMULATION)
        simulation["moves"][0]["email"] = "<img src=x onerror=alert(1)>@x.example"  # type: ignore[index]
        html = render_report(
            tmp_path / "r.html", title="<script>alert(1)</script> & co", simulation=simulation
        ).read_text(encoding="utf-8")
        assert "<title>&lt;script&gt;alert(1)&lt;/script&gt; &amp; co</title>" in html
        assert "&lt;img src=x onerror=alert(1)&gt;@x.example" in html
        assert "<img" not in html

    def test_data_not_in_its_shape_names_the_key(self, tmp_path: Path) -> None:
        kpi = copy.deepcopy(KPI)
        del kpi["leads"]
        kpi["by"][1]["mqls"] = "many"  # type: ignore[index]
        with pytest.raises(ValueError, match=r"kpi data .*leads: Field required; by\.1\.mqls"):
            render_report(tmp_path / "r.html", title="t", kpi=kpi)
        assert not (tmp_path / "r.html").exists()

    def test_a_report_that_cannot_be_written_names_the_file(self, tmp_path: Path) -> None:
        (tmp_path / "taken").write_text("a file, not a folder")
        target = tmp_path / "taken" / "report.html"
        with pytest.raises(InputFileError, match=re.escape(f"{target}: cannot write the report")):
            render_report(target, title="t", snapshot=SNAPSHOT)

    def test_a_rewrite_replaces_the_whole_file_and_leaves_no_temporary(
        self, tmp_path: Path
    ) -> None:
        target = tmp_path / "deep" / "folder" / "report.html"
        render_report(target, title="first", snapshot=SNAPSHOT)
        render_report(target, title="second", snapshot=SNAPSHOT)
        assert "<title>second</title>" in target.read_text(encoding="utf-8")
        assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]
