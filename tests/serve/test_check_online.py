"""`leadsync check --online` tries each source's API key where its adapter can."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from connector.cli.app import app
from connector.errors import ConfigError
from tests.conftest import REPO_ROOT
from tests.serve.echo import install_echo


def _config(tmp_path: Path) -> Path:
    shutil.copytree(REPO_ROOT / "mappings", tmp_path / "mappings")
    config = tmp_path / "config.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "store.db"}"\n\n[sources.mail]\ntype = "echo"\n',
        encoding="utf-8",
    )
    return config


def test_check_online_names_what_the_source_api_answered(tmp_path, monkeypatch):
    install_echo(monkeypatch)
    monkeypatch.setenv("ECHO_API_KEY", "good-key")
    result = CliRunner().invoke(app, ["--config", str(_config(tmp_path)), "check", "--online"])
    assert result.exit_code == 0, result.output
    assert "online     ok  mail: the echo API took the key" in result.output


def test_check_online_places_a_refused_key_at_its_source_table(tmp_path, monkeypatch):
    install_echo(monkeypatch)
    monkeypatch.setenv("ECHO_API_KEY", "wrong")
    result = CliRunner().invoke(app, ["--config", str(_config(tmp_path)), "check", "--online"])
    error = result.exception
    assert isinstance(error, ConfigError)
    assert error.message.endswith("config.toml:4: [sources.mail] the echo API refused ECHO_API_KEY")
    assert error.hint == "set ECHO_API_KEY to the key the echo account shows"


def test_offline_check_does_not_call_the_api(tmp_path, monkeypatch):
    install_echo(monkeypatch)
    monkeypatch.delenv("ECHO_API_KEY", raising=False)
    result = CliRunner().invoke(app, ["--config", str(_config(tmp_path)), "check"])
    assert result.exit_code == 0, result.output
    assert "online" not in result.output
