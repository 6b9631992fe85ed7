"""Every command's help, and ``--debug`` before or after the command."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.core import TyperGroup, TyperOption
from typer.testing import CliRunner

from connector.cli import app
from tests.cli.test_cli import cfg, clean_env, leadsync, write_jsonl

__all__ = ["cfg"]  # the fixture, imported for the tests here


def _commands(group: TyperGroup, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in group.commands.items():
        if isinstance(command, TyperGroup):
            yield (*path, name)
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name)


ROOT = typer.main.get_command(app)
assert isinstance(ROOT, TyperGroup)
COMMANDS = [(), *_commands(ROOT)]


def _command_at(path: tuple[str, ...]) -> typer.main.TyperCommand | TyperGroup:
    command: object = ROOT
    for name in path:
        assert isinstance(command, TyperGroup)
        command = command.commands[name]
    assert isinstance(command, typer.main.TyperCommand | TyperGroup)
    return command


class TestHelp:
    def test_the_tree_holds_every_command(self) -> None:
        """The walk below sees the nested groups' commands too."""
        assert {("crm", "read"), ("db", "upgrade"), ("explain",), ("demo",)} <= set(COMMANDS)

    @pytest.mark.parametrize("path", COMMANDS, ids=lambda path: " ".join(path) or "leadsync")
    def test_help_shows_no_type_for_a_flag(self, path: tuple[str, ...]) -> None:
        """A flag takes no value: its help shows no ``<bool>`` beside it."""
        result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "100"})
        assert result.exit_code == 0, result.output
        assert "--help" in result.output
        assert "<bool>" not in result.output

    @pytest.mark.parametrize("path", COMMANDS, ids=lambda path: " ".join(path) or "leadsync")
    def test_every_option_says_what_it_does(self, path: tuple[str, ...]) -> None:
        """Each option and argument has its help text."""
        command = _command_at(path)
        unexplained = [
            param.name
            for param in command.params
            if isinstance(param, TyperOption | typer.core.TyperArgument) and not param.help
        ]
        assert unexplained == []


@pytest.fixture
def events_file(cfg: Path) -> Path:
    path = cfg.parent / "visits.jsonl"
    write_jsonl(
        path,
        [
            {
                "id": f"v-{n}",
                "kind": "site_visit",
                "occurred_at": "2026-11-02T10:00:00Z",
                "email": f"visitor-{n}@example.com",
            }
            for n in range(30)
        ],
    )
    return path


def _json_lines(stderr: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


class TestDebug:
    @pytest.mark.parametrize(
        "arguments",
        [["--debug", "ingest", "FILE"], ["ingest", "FILE", "--debug"]],
        ids=["before the command", "after the command"],
    )
    def test_debug_gives_leadsync_debug_logs_and_no_sql(
        self, cfg: Path, events_file: Path, store_url: str, arguments: list[str]
    ) -> None:
        """``--debug`` is taken on either side of the command; it shows leadsync's debug
        lines and none of SQLAlchemy's (statements or rows, which carry e-mails)."""
        argv = [str(events_file) if arg == "FILE" else arg for arg in arguments]
        result = leadsync(
            "--config", cfg, *argv, cwd=cfg.parent, env=clean_env(LEADSYNC_STORE_URL=store_url)
        )
        assert result.returncode == 0, result.stderr
        logged = _json_lines(result.stderr)
        pages = [line for line in logged if line["event"] == "ingest.page"]
        assert [(page["level"], page["stored"]) for page in pages] == [("debug", 30)]
        assert "visitor-" not in result.stderr
        for sql in ("SELECT", "INSERT", "Row ("):
            assert sql not in result.stderr

    def test_debug_after_the_command_shows_the_traceback(self, tmp_path: Path) -> None:
        config = tmp_path / "config.toml"
        config.write_text("[scoring]\nwarm_frm = 3\n", encoding="utf-8")
        result = leadsync("--config", config, "check", "--debug", cwd=tmp_path)
        assert result.returncode == 3
        assert "Traceback" in result.stderr
        assert "ConfigError" in result.stderr

    def test_an_argument_after_double_dash_is_a_value(self, cfg: Path) -> None:
        """``--`` ends the options: a file named ``--debug`` is a file, not the option."""
        result = leadsync("--config", cfg, "ingest", "--", "--debug", cwd=cfg.parent)
        assert result.returncode == 4, result.stderr
        assert "--debug" in result.stderr
        assert "Traceback" not in result.stderr
