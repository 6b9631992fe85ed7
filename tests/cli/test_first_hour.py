"""A new user's first commands, right after `leadsync init`, before any CRM is configured:
`push --dry-run` plans with the default mappings and says so; `sync` says nothing was
pushed and what to add. Run as real processes, over both stores."""

from __future__ import annotations

import json
import re
from pathlib import Path

from connector.errors import ExitCode
from tests.cli.test_cli import assert_clean_failure, clean_env, leadsync, write_jsonl

NO_CRM_PLAN = (
    "no CRM configured: planned with the default mappings (hubspot: mappings/hubspot.toml, "
    "salesforce: mappings/salesforce.toml), nothing sent; to push, add [crm.hubspot] or "
    "[crm.salesforce] to config.toml (see config.example.toml)"
)
NO_CRM_SYNC = (
    "  nothing pushed: no CRM is configured; add [crm.hubspot] or [crm.salesforce] to "
    "config.toml (see config.example.toml), and `leadsync push --dry-run` shows what it "
    "would write"
)


def _scored_project(tmp_path: Path, env: dict[str, str]) -> Path:
    """A folder as `leadsync init` leaves it, with one hot and one cold contact scored."""
    folder = tmp_path / "project"
    assert leadsync("init", folder, cwd=tmp_path, env=env).returncode == 0
    write_jsonl(
        folder / "events.jsonl",
        [
            {
                "kind": "quote_request",
                "occurred_at": "2026-11-02T10:00:00Z",
                "email": "ann@a.example",
            },
            {"kind": "site_visit", "occurred_at": "2026-11-02T10:00:00Z", "email": "bob@a.example"},
        ],
    )
    for command in (["ingest", "events.jsonl"], ["score"]):
        done = leadsync(*command, cwd=folder, env=env)
        assert done.returncode == 0, done.stderr
    return folder


class TestPushDryRunWithoutACrm:
    def test_plans_with_each_installed_crms_default_mapping_and_says_so_in_one_line(
        self, tmp_path: Path, store_url: str
    ) -> None:
        """No [crm.NAME] table: the dry run plans as an empty table of each installed CRM
        would (its default mapping, no credentials), its first line saying so."""
        env = clean_env(LEADSYNC_STORE_URL=store_url)
        folder = _scored_project(tmp_path, env)

        planned = leadsync("push", "--dry-run", cwd=folder, env=env)

        assert planned.returncode == 0, planned.stderr
        lines = planned.stdout.splitlines()
        assert lines[0] == NO_CRM_PLAN
        # The time is the plan's, as measured: a busy machine makes it 0.1 s or more.
        assert [re.sub(r"\(\d+\.\d s\)$", "(N s)", line) for line in lines[-2:]] == [
            "hubspot: 2 would write, 0 unchanged, 0 rejected, 0 deferred (N s)",
            "salesforce: 2 would write, 0 unchanged, 0 rejected, 0 deferred (N s)",
        ]
        planned_records = sorted(re.findall(r"^  (\w+ \S+): \{", planned.stdout, re.MULTILINE))
        assert planned_records == [
            "hubspot ann@a.example",
            "hubspot bob@a.example",
            "salesforce ann@a.example",
            "salesforce bob@a.example",
        ]
        assert "'leadsync_score': 20.0" in planned.stdout  # mappings/hubspot.toml's names
        assert "'LeadSync_Score__c': 20.0" in planned.stdout  # mappings/salesforce.toml's

    def test_one_crm_with_crm_and_figures_as_json_with_the_note_on_stderr(
        self, tmp_path: Path, store_url: str
    ) -> None:
        """`--crm` picks one installed CRM; with `--json` stdout stays JSON and the note
        is a warning log line."""
        env = clean_env(LEADSYNC_STORE_URL=store_url)
        folder = _scored_project(tmp_path, env)

        planned = leadsync(
            "push", "--dry-run", "--crm", "salesforce", "--json", cwd=folder, env=env
        )

        assert planned.returncode == 0, planned.stderr
        figures = json.loads(planned.stdout)
        assert [(item["crm"], item["planned"], item["dry_run"]) for item in figures] == [
            ("salesforce", 2, True)
        ]
        (note,) = [
            json.loads(line)
            for line in planned.stderr.splitlines()
            if '"push.no_crm_configured"' in line
        ]
        assert (note["level"], note["planned_with"], note["hint"]) == (
            "warning",
            {"salesforce": "mappings/salesforce.toml"},
            "add [crm.salesforce]",
        )

    def test_a_real_push_still_refuses_and_points_to_the_dry_run(self, tmp_path: Path) -> None:
        """Without --dry-run nothing can be sent: exit 3, naming the tables and the dry run."""
        env = clean_env()
        folder = _scored_project(tmp_path, env)

        pushed = leadsync("push", cwd=folder, env=env)

        assert_clean_failure(pushed, ExitCode.CONFIG)
        assert pushed.stderr.splitlines()[-1] == (
            "error: no CRM is configured; add a [crm.NAME] table to config.toml for a CRM type "
            "installed (hubspot, salesforce; see config.example.toml); `leadsync push "
            "--dry-run` shows what the default mappings would write"
        )


class TestSyncWithoutACrm:
    def test_says_nothing_was_pushed_why_and_what_to_add(
        self, tmp_path: Path, store_url: str
    ) -> None:
        """`sync` with no CRM exits 0 and its last line says nothing was pushed and why."""
        env = clean_env(LEADSYNC_STORE_URL=store_url)
        folder = _scored_project(tmp_path, env)

        synced = leadsync("sync", cwd=folder, env=env)

        assert synced.returncode == 0, synced.stderr
        assert synced.stdout.splitlines() == [
            "sync: 0 new event(s) from 0 source(s), 0 contact(s) changed in the CRMs, 0 rescored",
            NO_CRM_SYNC,
        ]

    def test_as_json_keeps_stdout_json_and_warns_on_stderr(
        self, tmp_path: Path, store_url: str
    ) -> None:
        """`sync --json` with no CRM: `"pushed": []` on stdout, the reason on stderr."""
        env = clean_env(LEADSYNC_STORE_URL=store_url)
        folder = _scored_project(tmp_path, env)

        synced = leadsync("sync", "--json", cwd=folder, env=env)

        assert synced.returncode == 0, synced.stderr
        assert json.loads(synced.stdout)["pushed"] == []
        (note,) = [
            json.loads(line)
            for line in synced.stderr.splitlines()
            if '"sync.nothing_pushed"' in line
        ]
        assert (note["level"], note["reason"]) == ("warning", NO_CRM_SYNC.strip())
