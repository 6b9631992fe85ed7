"""The ``leadsync`` command run as a real process: exit codes, messages, JSON, secrets.

typer's CliRunner would bypass ``connector.cli.main`` (which turns our errors into
"error: ..." and an exit code), so every case here runs the installed script.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from connector.config import default_config_text, default_mapping_files
from connector.errors import ExitCode
from connector.logs import _redact_secrets, configure_logging
from connector.secrets import read_secret, redact

LEADSYNC = str(Path(sys.executable).parent / "leadsync")
SECRET = "S3cr3t-Pa55word"
UNREACHABLE = f"postgresql+psycopg://leadsync:{SECRET}@127.0.0.1:1/nowhere"


# A developer's own settings and CRM tokens never reach a process under test: a test that
# needs a token passes it in ``extra``.
_KEPT_OUT = ("LEADSYNC_", "HUBSPOT_", "SALESFORCE_")


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without leadsync's variables and CRM tokens, plus
    ``extra``."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(_KEPT_OUT)}
    env.update(extra)
    return env


def leadsync(
    *args: str | Path,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LEADSYNC, *map(str, args)],
        capture_output=True,
        text=True,
        env=env if env is not None else clean_env(),
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


def assert_clean_failure(result: subprocess.CompletedProcess[str], code: ExitCode) -> None:
    assert result.returncode == int(code), result.stderr
    assert result.stderr.startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert "Traceback" not in result.stdout


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    """A project folder as `leadsync init` leaves it; returns its config.toml."""
    folder = tmp_path / "project"
    (folder / "mappings").mkdir(parents=True)
    config = folder / "config.toml"
    config.write_text(default_config_text(), encoding="utf-8")
    for name, text in default_mapping_files().items():
        (folder / "mappings" / name).write_text(text, encoding="utf-8")
    return config


def write_jsonl(path: Path, records: list[dict[str, object]], mode: str = "w") -> None:
    with path.open(mode, encoding="utf-8") as stream:
        for record in records:
            stream.write(json.dumps(record) + "\n")


def test_processes_under_test_get_no_crm_token_or_leadsync_setting_but_those_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``clean_env`` keeps a developer's tokens and settings out and passes ``extra`` in."""
    for name in (
        "HUBSPOT_ACCESS_TOKEN",
        "HUBSPOT_ACCESS_TOKEN_FILE",
        "SALESFORCE_ACCESS_TOKEN",
        "SALESFORCE_INSTANCE_URL",
        "LEADSYNC_STORE_URL",
    ):
        monkeypatch.setenv(name, "the developer's own")

    env = clean_env(SALESFORCE_ACCESS_TOKEN="the test's")

    kept_out = ("LEADSYNC_", "HUBSPOT_", "SALESFORCE_")
    assert {name: value for name, value in env.items() if name.startswith(kept_out)} == {
        "SALESFORCE_ACCESS_TOKEN": "the test's"
    }
    assert env["PATH"] == os.environ["PATH"]


# -- init / check ------------------------------------------------------------------------------


def test_init_then_check(tmp_path: Path) -> None:
    target = tmp_path / "fresh"
    result = leadsync("init", target, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    config = target / "config.toml"
    assert config.read_text(encoding="utf-8") == default_config_text()
    for name in ("hubspot.toml", "salesforce.toml"):
        assert (target / "mappings" / name).is_file()
        assert str(target / "mappings" / name) in result.stdout
    assert f"leadsync --config {config} check" in result.stdout

    again = leadsync("init", target, cwd=tmp_path)
    assert_clean_failure(again, ExitCode.CONFIG)
    assert "--force" in again.stderr
    assert str(config) in again.stderr

    forced = leadsync("init", target, "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr

    checked = leadsync("--config", config, "check", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    lines = checked.stdout.splitlines()
    assert any(line.startswith(f"config     ok  {config}") for line in lines), checked.stdout
    assert any(line.startswith("store      ok  sqlite:///") for line in lines), checked.stdout
    assert sum(line.startswith("mapping    ok  ") for line in lines) == 2
    # check changes nothing: the store is not created or migrated.
    assert "created on first use" in checked.stdout
    assert not (config.parent / "leadsync.db").exists()


def test_check_reports_a_missing_source_file(cfg: Path) -> None:
    with cfg.open("a", encoding="utf-8") as stream:
        stream.write('\n[sources.shows]\ntype = "file"\npath = "data/absent.jsonl"\n')
    result = leadsync("--config", cfg, "check", cwd=cfg.parent)
    assert_clean_failure(result, ExitCode.CONFIG)
    assert "[sources.shows]" in result.stderr
    assert "data/absent.jsonl" in result.stderr


# -- errors: exit codes, messages, no traceback ------------------------------------------------


def test_bad_config_is_a_clean_config_error(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[scoring]\nwarm_frm = 3\n", encoding="utf-8")
    result = leadsync("--config", config, "check", cwd=tmp_path)
    assert_clean_failure(result, ExitCode.CONFIG)
    assert f"{config}:2:" in result.stderr
    assert "[scoring.warm_frm] is not a known key" in result.stderr
    assert result.stdout == ""


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[scoring]\nwarm_frm = 3\n", encoding="utf-8")
    result = leadsync("--debug", "--config", config, "check", cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" in result.stderr
    assert "ConfigError" in result.stderr
    assert f"{config}:2:" in result.stderr


def test_named_missing_config(tmp_path: Path) -> None:
    result = leadsync("--config", tmp_path / "nope.toml", "check", cwd=tmp_path)
    assert_clean_failure(result, ExitCode.CONFIG)
    assert "config file not found" in result.stderr
    assert "leadsync init" in result.stderr


def test_ingest_of_a_missing_file(cfg: Path) -> None:
    result = leadsync("--config", cfg, "ingest", "missing.jsonl", cwd=cfg.parent)
    assert_clean_failure(result, ExitCode.INPUT)
    assert "missing.jsonl" in result.stderr
    assert "file not found" in result.stderr


def test_config_option_beats_env_beats_cwd(tmp_path: Path, cfg: Path) -> None:
    bad_env = tmp_path / "from-env.toml"
    bad_env.write_text("[ingest]\npage_sise = 1\n", encoding="utf-8")
    env = clean_env(LEADSYNC_CONFIG=str(bad_env))
    work = tmp_path / "work"
    work.mkdir()
    (work / "config.toml").write_text("[logging]\nlevl = 'info'\n", encoding="utf-8")

    option = leadsync("--config", cfg, "check", cwd=work, env=env)
    assert option.returncode == 0, option.stderr
    assert f"config     ok  {cfg}" in option.stdout

    from_env = leadsync("check", cwd=work, env=env)
    assert_clean_failure(from_env, ExitCode.CONFIG)
    assert f"{bad_env}:2: [ingest.page_sise]" in from_env.stderr

    from_cwd = leadsync("check", cwd=work)
    assert_clean_failure(from_cwd, ExitCode.CONFIG)
    assert "config.toml:2: [logging.levl]" in from_cwd.stderr

    (work / "config.toml").unlink()
    defaults = leadsync("db", "current", cwd=work)
    assert defaults.returncode == 0, defaults.stderr
    assert "store at empty" in defaults.stdout


# -- secrets never leave -----------------------------------------------------------------------


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
@pytest.mark.parametrize("command", [["contacts"], ["check"], ["score"]])
def test_store_url_password_never_printed(cfg: Path, command: list[str], debug: bool) -> None:
    env = clean_env(LEADSYNC_STORE_URL=UNREACHABLE)
    args = ["--debug"] if debug else []
    result = leadsync(*args, "--config", cfg, *command, cwd=cfg.parent, env=env)
    assert SECRET not in result.stdout
    assert SECRET not in result.stderr
    if debug:
        assert result.returncode != 0
    else:
        assert_clean_failure(result, ExitCode.STORE)
        assert "127.0.0.1" in result.stderr  # the message still says where


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_store_password_env_never_printed(tmp_path: Path, debug: bool) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[store]\nurl = "postgresql+psycopg://leadsync@127.0.0.1:1/nowhere"\n', encoding="utf-8"
    )
    env = clean_env(LEADSYNC_STORE_PASSWORD=SECRET)
    args = ["--debug"] if debug else []
    result = leadsync(*args, "--config", config, "contacts", cwd=tmp_path, env=env)
    assert SECRET not in result.stdout
    assert SECRET not in result.stderr
    if debug:
        assert result.returncode != 0
    else:
        assert_clean_failure(result, ExitCode.STORE)
        assert "127.0.0.1" in result.stderr


def test_store_password_file_never_printed(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[store]\nurl = "postgresql+psycopg://leadsync@127.0.0.1:1/nowhere"\n', encoding="utf-8"
    )
    secret_file = tmp_path / "pw"
    secret_file.write_text(SECRET + "\n", encoding="utf-8")
    env = clean_env(LEADSYNC_STORE_PASSWORD_FILE=str(secret_file))
    result = leadsync("--config", config, "contacts", cwd=tmp_path, env=env)
    assert_clean_failure(result, ExitCode.STORE)
    assert SECRET not in result.stdout + result.stderr


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_a_secret_file_that_is_not_utf8_is_a_config_error_naming_variable_and_file(
    tmp_path: Path, debug: bool
) -> None:
    """A password saved as Latin-1 cannot be read as UTF-8: the admin is told which
    variable and which file, and what to do, and no part of the password is shown."""
    config = tmp_path / "config.toml"
    config.write_text(
        '[store]\nurl = "postgresql+psycopg://leadsync@127.0.0.1:1/nowhere"\n', encoding="utf-8"
    )
    secret = "Gr\u00fcn-Geheimnis-\u00e4\u00f6"
    secret_file = tmp_path / "pw"
    secret_file.write_bytes(secret.encode("latin-1") + b"\n")
    env = clean_env(LEADSYNC_STORE_PASSWORD_FILE=str(secret_file))
    args = ["--debug"] if debug else []
    result = leadsync(*args, "--config", config, "contacts", cwd=tmp_path, env=env)
    assert result.returncode == int(ExitCode.CONFIG), result.stderr
    if not debug:
        assert_clean_failure(result, ExitCode.CONFIG)
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        f"error: LEADSYNC_STORE_PASSWORD_FILE points at {secret_file}, which is not UTF-8 "
        "text; save the file as UTF-8 (for example: iconv -f latin1 -t utf-8), or export "
        "LEADSYNC_STORE_PASSWORD instead"
    )
    for part in ("Gr", "Geheimnis", "\\xfc", "0xfc", "position"):
        assert part not in result.stdout + result.stderr, part


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


@pytest.mark.usefixtures("restore_logging")
def test_secret_read_from_env_is_redacted_from_logs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "tok-9f8e7d6c5b4a"
    monkeypatch.setenv("X_TOKEN", secret)
    value = read_secret("X_TOKEN")
    assert value is not None
    assert value.get_secret_value() == secret
    assert secret not in repr(value)

    configure_logging("info", "json")
    log = structlog.get_logger("test")
    log.info("vendor.call", header=f"Bearer {secret}", status=401)
    log.info(f"message with {secret} in it")
    logging.getLogger("thirdparty").warning("stdlib says %s", secret)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert len(lines) == 3
    assert lines[0]["header"] == "Bearer ***"
    assert lines[0]["status"] == 401
    assert lines[1]["event"] == "message with *** in it"
    assert lines[2]["event"] == "stdlib says ***"
    assert all(secret not in json.dumps(line) for line in lines)

    assert redact(f"token={secret}; again {secret}") == "token=***; again ***"
    assert _redact_secrets(None, "info", {"event": "x", "token": secret}) == {
        "event": "x",
        "token": "***",
    }


def test_secret_nested_in_a_log_value_is_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "nested-secret-1234"
    monkeypatch.setenv("Y_TOKEN", secret)
    read_secret("Y_TOKEN")
    event = _redact_secrets(
        None, "info", {"event": "x", "request": {"headers": {"Authorization": secret}}}
    )
    assert secret not in json.dumps(event)


def test_short_values_are_not_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("Z_FLAG", "on")
    read_secret("Z_FLAG")
    assert redact("turn it on") == "turn it on"


# -- the JSON contract -------------------------------------------------------------------------

QUOTE = "quote@example.com"
CLICKER = "clicker@example.com"
VISITOR = "visitor@example.com"
CONTACT_KEYS = {
    "email",
    "score",
    "behaviour_score",
    "fit_score",
    "temperature",
    "stage",
    "route",
    "treatment",
}


def three_people() -> list[dict[str, object]]:
    events: list[dict[str, object]] = [
        {"kind": "quote_request", "occurred_at": "2026-01-05T10:00:00Z", "email": QUOTE},
        {
            "kind": "email_click",
            "occurred_at": "2026-01-05T10:00:00Z",
            "email": CLICKER,
            "url": "https://example.com/pricing?utm_source=newsletter",
        },
        {
            "kind": "document_download",
            "occurred_at": "2026-01-06T10:00:00+01:00",
            "email": CLICKER,
            "url": "https://example.com/brochure.pdf",
        },
    ]
    events += [
        {
            "kind": "site_visit",
            "occurred_at": f"2026-01-{day:02d}T09:00:00Z",
            "email": VISITOR,
            "url": f"https://example.com/page-{day}",
        }
        for day in range(1, 22)
    ]
    return events


def test_json_contract(cfg: Path) -> None:
    events = cfg.parent / "events.jsonl"
    write_jsonl(events, three_people())
    run = cfg.parent

    ingested = leadsync("--config", cfg, "ingest", events, cwd=run)
    assert ingested.returncode == 0, ingested.stderr
    assert "read 24, stored 24" in ingested.stdout
    scored = leadsync("--config", cfg, "score", cwd=run)
    assert scored.returncode == 0, scored.stderr
    assert "scored 3 contact(s)" in scored.stdout

    listed = leadsync("--config", cfg, "contacts", "--json", cwd=run)
    assert listed.returncode == 0, listed.stderr
    contacts = json.loads(listed.stdout)
    assert isinstance(contacts, list)
    assert len(contacts) == 3
    scores = [contact["score"] for contact in contacts]
    assert scores == sorted(scores, reverse=True)
    for contact in contacts:
        assert contact.keys() >= CONTACT_KEYS
    by_email = {contact["email"]: contact for contact in contacts}
    assert {key: by_email[QUOTE][key] for key in CONTACT_KEYS - {"email", "fit_score"}} == {
        "score": 20,
        "behaviour_score": 20,
        "temperature": "warm",
        "stage": "mql",
        "route": "sales",
        "treatment": "appointment",
    }
    assert {key: by_email[CLICKER][key] for key in CONTACT_KEYS - {"email", "fit_score"}} == {
        "score": 8,
        "behaviour_score": 8,
        "temperature": "cold",
        "stage": "lead",
        "route": "telemarketing",
        "treatment": "project_detection",
    }
    assert {key: by_email[VISITOR][key] for key in CONTACT_KEYS - {"email", "fit_score"}} == {
        "score": 21,
        "behaviour_score": 21,
        "temperature": "hot",
        "stage": "mql",
        "route": "sales",
        "treatment": "appointment",
    }
    for contact in contacts:
        assert contact["score"] == contact["behaviour_score"] + contact["fit_score"]
    assert [contact["email"] for contact in contacts] == [VISITOR, QUOTE, CLICKER]

    top = leadsync("--config", cfg, "contacts", "--json", "--limit", "1", cwd=run)
    assert top.returncode == 0, top.stderr
    assert [contact["email"] for contact in json.loads(top.stdout)] == [VISITOR]

    explained = leadsync("--config", cfg, "explain", "Clicker@Example.com", "--json", cwd=run)
    assert explained.returncode == 0, explained.stderr
    explanation = json.loads(explained.stdout)
    assert explanation["email"] == CLICKER
    assert explanation["score"] == by_email[CLICKER]["score"] == 8
    assert sum(line["points"] for line in explanation["lines"]) == explanation["score"]
    assert sorted(line["rule"] for line in explanation["lines"]) == [
        "document_download",
        "strong_email_click",
    ]
    assert {line["route"] for line in explanation["lines"]} == {"telemarketing"}
    for key in ("temperature", "stage", "route", "treatment"):
        assert explanation[key] == by_email[CLICKER][key]

    unknown = leadsync("--config", cfg, "explain", "nobody@example.com", cwd=run)
    assert_clean_failure(unknown, ExitCode.INPUT)
    assert "nobody@example.com" in unknown.stderr


# -- demo --------------------------------------------------------------------------------------


def test_demo_runs_with_default_arguments(tmp_path: Path) -> None:
    result = leadsync("demo", cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Funnel" in result.stdout
    assert "The 10 hottest open leads" in result.stdout
    assert "dry run" in result.stdout
    assert "Traceback" not in result.stderr
    # The sample and its store went with a temporary folder; the report stays, to look at.
    assert [path.relative_to(tmp_path) for path in tmp_path.rglob("*")] == [
        Path("demo-output"),
        Path("demo-output/report.html"),
    ]


# -- pull: configured sources with cursors -------------------------------------------------------


def visits(count: int, start: int = 0) -> list[dict[str, object]]:
    return [
        {
            "kind": "site_visit",
            "occurred_at": f"2026-02-01T10:{(start + n) // 60:02d}:{(start + n) % 60:02d}Z",
            "email": f"visitor-{start + n}@example.com",
            "url": "https://example.com/a-page-with-a-fairly-long-address/and/more",
        }
        for n in range(count)
    ]


def add_source(cfg: Path, records: list[dict[str, object]]) -> Path:
    data = cfg.parent / "data" / "shows.jsonl"
    data.parent.mkdir(exist_ok=True)
    write_jsonl(data, records)
    with cfg.open("a", encoding="utf-8") as stream:
        stream.write('\n[sources.shows]\ntype = "file"\npath = "data/shows.jsonl"\n')
    return data


def pull(cfg: Path) -> dict[str, object]:
    result = leadsync("--config", cfg, "pull", "--json", cwd=cfg.parent)
    assert result.returncode == 0, result.stderr
    summaries = json.loads(result.stdout)
    assert [summary["source"] for summary in summaries] == ["shows"]
    summary: dict[str, object] = summaries[0]
    return summary


def test_pull_resumes_from_its_cursor(cfg: Path) -> None:
    data = add_source(cfg, visits(60))
    assert data.stat().st_size > 4096

    first = pull(cfg)
    assert (first["read"], first["stored"], first["rejected"]) == (60, 60, 0)
    second = pull(cfg)
    assert (second["read"], second["stored"], second["duplicates"]) == (0, 0, 0)

    write_jsonl(data, visits(2, start=60), mode="a")
    third = pull(cfg)
    assert (third["read"], third["stored"], third["duplicates"]) == (2, 2, 0)

    checked = leadsync("--config", cfg, "check", cwd=cfg.parent)
    assert checked.returncode == 0, checked.stderr
    assert "source     ok  shows (file: data/shows.jsonl)" in checked.stdout


def test_pull_small_file_resumes_from_its_cursor(cfg: Path) -> None:
    """A file shorter than the fingerprinted head keeps its cursor when it grows."""
    data = add_source(cfg, visits(5))
    assert data.stat().st_size < 4096
    first = pull(cfg)
    assert (first["read"], first["stored"]) == (5, 5)
    second = pull(cfg)
    assert (second["read"], second["stored"], second["duplicates"]) == (0, 0, 0)
    write_jsonl(data, visits(2, start=5), mode="a")
    third = pull(cfg)
    assert (third["read"], third["stored"], third["duplicates"]) == (2, 2, 0)


def test_pull_replaced_file_is_read_again_and_deduplicated(cfg: Path) -> None:
    data = add_source(cfg, visits(5))
    assert pull(cfg)["stored"] == 5
    write_jsonl(data, visits(1, start=100) + visits(5))  # a new file: new first line
    again = pull(cfg)
    assert (again["read"], again["stored"], again["duplicates"]) == (6, 1, 5)


def test_pull_without_sources_and_with_an_unknown_name(cfg: Path) -> None:
    result = leadsync("--config", cfg, "pull", cwd=cfg.parent)
    assert result.returncode == 0, result.stderr
    assert "add a [sources.NAME] table" in result.stdout

    unknown = leadsync("--config", cfg, "pull", "nope", cwd=cfg.parent)
    assert_clean_failure(unknown, ExitCode.CONFIG)
    assert "no source named nope" in unknown.stderr


def test_version_alone(tmp_path: Path) -> None:
    result = leadsync("--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("leadsync ")
