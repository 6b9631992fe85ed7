"""Nothing of the user's is overwritten without consent: `demo --dir`, `init --force`."""

from __future__ import annotations

from pathlib import Path

from connector.config import default_config_text, default_mapping_files
from connector.errors import ExitCode
from tests.cli.test_cli import assert_clean_failure, leadsync

SMALL = ("--contacts", "10", "--events", "100")


def test_demo_refuses_a_folder_it_did_not_write(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "config.toml").write_text("# mine\n", encoding="utf-8")
    (work / "leadsync.db").write_bytes(b"my contacts")
    result = leadsync("demo", "--dir", work, *SMALL, cwd=tmp_path)
    assert_clean_failure(result, ExitCode.CONFIG)
    assert "holds files an earlier demo did not write" in result.stderr
    assert "--force" in result.stderr
    assert (work / "config.toml").read_text(encoding="utf-8") == "# mine\n"
    assert (work / "leadsync.db").read_bytes() == b"my contacts"


def test_demo_runs_again_in_its_own_folder_and_with_force_in_another(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    for _ in range(2):  # a new folder, then its own earlier output
        result = leadsync("demo", "--dir", demo, *SMALL, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    work = tmp_path / "work"
    work.mkdir()
    (work / "config.toml").write_text("# mine\n", encoding="utf-8")
    forced = leadsync("demo", "--dir", work, *SMALL, "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert (work / "config.toml").read_text(encoding="utf-8") != "# mine\n"


def test_init_force_replaces_a_linked_file_and_leaves_its_target_alone(tmp_path: Path) -> None:
    elsewhere = tmp_path / "shared-mapping.toml"
    elsewhere.write_text("# the team's own mapping\n", encoding="utf-8")
    folder = tmp_path / "project"
    (folder / "mappings").mkdir(parents=True)
    (folder / "mappings" / "hubspot.toml").symlink_to(elsewhere)
    refused = leadsync("init", folder, cwd=tmp_path)
    assert_clean_failure(refused, ExitCode.CONFIG)
    assert "hubspot.toml" in refused.stderr
    forced = leadsync("init", folder, "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert elsewhere.read_text(encoding="utf-8") == "# the team's own mapping\n"
    written = folder / "mappings" / "hubspot.toml"
    assert not written.is_symlink()
    assert written.read_text(encoding="utf-8").startswith("#")
    assert written.read_text(encoding="utf-8") != "# the team's own mapping\n"


def test_init_force_replaces_a_linked_config_and_leaves_its_target_alone(
    tmp_path: Path,
) -> None:
    elsewhere = tmp_path / "team-config.toml"
    elsewhere.write_text("# the team's own config\n", encoding="utf-8")
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "config.toml").symlink_to(elsewhere)
    forced = leadsync("init", folder, "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert elsewhere.read_text(encoding="utf-8") == "# the team's own config\n"
    written = folder / "config.toml"
    assert not written.is_symlink()
    assert written.read_text(encoding="utf-8") == default_config_text()


def test_init_force_replaces_a_hard_linked_mapping_and_leaves_the_other_name_alone(
    tmp_path: Path,
) -> None:
    """A hard link is the same file under two names: writing into it would change the
    other name's content too, so --force puts a new file in its place."""
    elsewhere = tmp_path / "shared-mapping.toml"
    elsewhere.write_text("# the team's own mapping\n", encoding="utf-8")
    folder = tmp_path / "project"
    (folder / "mappings").mkdir(parents=True)
    (folder / "mappings" / "hubspot.toml").hardlink_to(elsewhere)
    forced = leadsync("init", folder, "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert elsewhere.read_text(encoding="utf-8") == "# the team's own mapping\n"
    written = folder / "mappings" / "hubspot.toml"
    assert written.read_text(encoding="utf-8") == default_mapping_files()["hubspot.toml"]
    assert sorted(path.name for path in (folder / "mappings").iterdir()) == sorted(
        default_mapping_files()
    )


def test_init_refuses_a_dangling_link_without_force(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "config.toml").symlink_to(tmp_path / "nowhere.toml")
    refused = leadsync("init", folder, cwd=tmp_path)
    assert_clean_failure(refused, ExitCode.CONFIG)
    assert not (tmp_path / "nowhere.toml").exists()


def test_demo_keeps_a_relative_dir_under_the_working_folder(tmp_path: Path) -> None:
    result = leadsync("demo", "--dir", "demo-output", *SMALL, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "demo-output" / "leadsync.db").is_file()
    assert not (tmp_path / "demo-output" / "demo-output").exists()
