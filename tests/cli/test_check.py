"""`leadsync check` on the sources: each adapter's own offline check, errors at their line."""

from __future__ import annotations

from pathlib import Path

from connector.errors import ExitCode
from tests.cli.test_cli import assert_clean_failure, clean_env, leadsync


def _initialised_with(folder: Path, tables: str) -> int:
    """A folder `leadsync init` wrote, with ``tables`` appended to its config.toml; the
    number of the last line appended."""
    assert leadsync("init", folder, cwd=folder).returncode == 0
    config = folder / "config.toml"
    text = config.read_text(encoding="utf-8") + "\n" + tables
    config.write_text(text, encoding="utf-8")
    return len(text.splitlines())


def test_check_names_a_file_source_whose_path_is_missing_at_its_table(tmp_path: Path) -> None:
    last = _initialised_with(tmp_path, '[sources.fair]\ntype = "file"\npath = "gone.jsonl"\n')
    result = leadsync("check", cwd=tmp_path)
    assert_clean_failure(result, ExitCode.CONFIG)
    assert result.stderr.splitlines()[0] == (
        f"error: config.toml:{last - 2}: [sources.fair] path 'gone.jsonl' does not exist; "
        "fix the path (relative paths start at the config file's folder)"
    )


def test_check_describes_each_source_through_its_adapter(tmp_path: Path) -> None:
    (tmp_path / "fair.jsonl").write_text("", encoding="utf-8")
    _initialised_with(tmp_path, '[sources.fair]\ntype = "file"\npath = "fair.jsonl"\n')
    result = leadsync("check", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "source     ok  fair (file: fair.jsonl)" in result.stdout.splitlines()


def test_an_unknown_source_type_lists_the_available_ones(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        '[sources.fair]\ntype = "ftp"\npath = "fair.jsonl"\n', encoding="utf-8"
    )
    result = leadsync("check", cwd=tmp_path)
    assert_clean_failure(result, ExitCode.CONFIG)
    assert result.stderr.splitlines()[0] == (
        "error: config.toml:1: [sources.fair] has an unknown \"type\" 'ftp'; the source "
        'types available are: "file", "mailchimp"'
    )


def test_an_unknown_crm_type_lists_the_available_ones(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[crm.pipedrive]\n", encoding="utf-8")
    result = leadsync("check", cwd=tmp_path)
    assert_clean_failure(result, ExitCode.CONFIG)
    assert result.stderr.splitlines()[0] == (
        "error: config.toml:1: [crm.pipedrive] has an unknown \"type\" 'pipedrive'; "
        'the CRM types available are: "hubspot", "salesforce"'
    )


def test_a_crm_table_is_checked_against_its_adapters_settings_model(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        '[crm.hubspot]\nbase_url = "https://api.hubapi.com"\nbatch_size = 500\n',
        encoding="utf-8",
    )
    result = leadsync("check", cwd=tmp_path)
    assert_clean_failure(result, ExitCode.CONFIG)
    assert result.stderr.startswith("error: config.toml:3: [crm.hubspot.batch_size] ")
    assert "100" in result.stderr.splitlines()[0]


def test_check_lists_each_crm_with_its_adapter_and_which_secrets_are_set(tmp_path: Path) -> None:
    _initialised_with(tmp_path, "[crm.salesforce]\n")
    token_file = tmp_path / "token"
    token_file.write_text("not-a-real-token\n", encoding="utf-8")
    env = clean_env(SALESFORCE_ACCESS_TOKEN_FILE=str(token_file))
    result = leadsync("check", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert (
        "crm        ok  salesforce (salesforce, mappings/salesforce.toml; "
        "SALESFORCE_ACCESS_TOKEN set)"
    ) in result.stdout.splitlines()
    assert "not-a-real-token" not in result.stdout + result.stderr


def test_a_file_named_on_the_command_line_starts_at_the_working_folder(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    _initialised_with(project, "")
    (tmp_path / "events.jsonl").write_text(
        '{"id":"e1","kind":"site_visit","occurred_at":"2026-11-02T10:00:00Z",'
        '"email":"alice@acme.example"}\n',
        encoding="utf-8",
    )
    result = leadsync("--config", project / "config.toml", "ingest", "events.jsonl", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "read 1, stored 1" in result.stdout


def test_crm_read_of_an_unknown_crm_opens_no_store(tmp_path: Path) -> None:
    _initialised_with(tmp_path, "")
    result = leadsync("crm", "read", "nope", cwd=tmp_path)
    assert_clean_failure(result, ExitCode.CONFIG)
    assert "no [crm.nope] table" in result.stderr
    assert not (tmp_path / "leadsync.db").exists()
