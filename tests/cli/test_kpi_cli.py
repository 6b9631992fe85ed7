"""`leadsync kpi` run as the installed command: the table, --json, and clear errors for a
bad day, a missing costs file and a wrong costs line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from connector.errors import ExitCode
from tests.cli.test_cli import assert_clean_failure, cfg, clean_env, leadsync
from tests.runners.test_kpi import COSTS, PEOPLE, _store

__all__ = ["cfg"]  # the fixture, imported for the tests here

PERIOD = ("--since", "2026-09-01", "--until", "2026-10-31")


@pytest.fixture
def project(cfg: Path, engine: Engine, store_url: str) -> tuple[Path, dict[str, str]]:
    """The config (with a [kpi] table and its costs file) and the environment of a
    store holding tests.runners.test_kpi's people."""
    _store(engine, PEOPLE)
    (cfg.parent / "costs.csv").write_text(COSTS, encoding="utf-8")
    # As a person edits what `leadsync init` wrote: under its [kpi] table.
    text = cfg.read_text(encoding="utf-8")
    assert text.count("\n[kpi]\n") == 1
    cfg.write_text(
        text.replace("\n[kpi]\n", '\n[kpi]\ncosts = "costs.csv"\nmargin_rate = 0.4\n'),
        encoding="utf-8",
    )
    return cfg, clean_env(LEADSYNC_STORE_URL=store_url)


class TestKpiCommand:
    def test_json_prints_the_report_by_month(self, project: tuple[Path, dict[str, str]]) -> None:
        config, env = project
        result = leadsync(
            "--config",
            config,
            "kpi",
            *PERIOD,
            "--by",
            "month",
            "--json",
            cwd=config.parent,
            env=env,
        )
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert (report["leads"], report["mqls"], report["customers"], report["cost"]) == (
            4,
            4,
            3,
            1750.0,
        )
        assert report["by_dimension"] == "month"
        assert [(row["group"], row["leads"], row["cost"]) for row in report["by"]] == [
            ("2026-09", 3, 1250.0),
            ("2026-10", 1, 500.0),
        ]

    def test_the_table_shows_each_figure_with_its_basis(
        self, project: tuple[Path, dict[str, str]]
    ) -> None:
        config, env = project
        result = leadsync(
            "--config", config, "kpi", *PERIOD, "--by", "campaign", cwd=config.parent, env=env
        )
        assert result.returncode == 0, result.stderr
        lines = [" ".join(line.split()) for line in result.stdout.splitlines()]
        assert lines[0] == "KPIs from 2026-09-01 to 2026-10-31"
        assert "cost per lead 437.50 cost / leads (1750 / 4)" in lines
        assert (
            "lead → customer 75.0% customers / leads of the same period (3 / 4): each the "
            "period's own count, not one cohort followed through"
        ) in lines
        assert "q3-webinar 1 1 1 1 1 100.0% 1,500.00 1,500.00 1,500.00 4,000.00 1.67" in lines
        assert "(none) 2 0 1 1 1 50.0% — — — — —" in lines

    @pytest.mark.parametrize(
        ("arguments", "message"),
        [
            (("--since", "2026-13-01"), "'2026-13-01' is not a day; write it as YYYY-MM-DD"),
            (("--until", "2026-09-01T10:00:00Z"), "is not a day; write it as YYYY-MM-DD"),
            (
                ("--since", "2026-10-02", "--until", "2026-10-01"),
                "2026-10-02 is after the period's last day (2026-10-01)",
            ),
            (("--by", "week"), "'week' is not one of"),
        ],
        ids=["no such month", "a time, not a day", "since after until", "unknown dimension"],
    )
    def test_a_bad_option_is_a_usage_error(
        self, project: tuple[Path, dict[str, str]], arguments: tuple[str, ...], message: str
    ) -> None:
        config, env = project
        result = leadsync("--config", config, "kpi", *arguments, cwd=config.parent, env=env)
        assert result.returncode == int(ExitCode.USAGE), result.stderr
        assert message in " ".join(result.stderr.replace("│", " ").split())

    def test_a_missing_costs_file_names_the_key(self, project: tuple[Path, dict[str, str]]) -> None:
        config, env = project
        (config.parent / "costs.csv").unlink()
        line = config.read_text(encoding="utf-8").splitlines().index('costs = "costs.csv"') + 1
        result = leadsync("--config", config, "kpi", cwd=config.parent, env=env)
        assert_clean_failure(result, ExitCode.CONFIG)
        assert result.stderr.startswith(
            f"error: {config}:{line}: [kpi.costs] names '{config.parent / 'costs.csv'}', "
            "which is not a file"
        )

    def test_a_wrong_costs_line_is_named(self, project: tuple[Path, dict[str, str]]) -> None:
        config, env = project
        costs = config.parent / "costs.csv"
        costs.write_text(COSTS + "fair,2026-10,twelve\n", encoding="utf-8")
        result = leadsync("--config", config, "kpi", cwd=config.parent, env=env)
        assert_clean_failure(result, ExitCode.CONFIG)
        assert result.stderr.startswith(f"error: {costs}:7: the cost 'twelve' is not a number")
