"""Errors about a whole file, a whole URL or a whole source, through the real command.

A file that is not text, a CSV header that lacks a column every row needs, a wrong
``--format`` and a store URL of a kind leadsync cannot use are each one error with its
exit code, not thousands of rejects or a driver's message; a file reached by two paths is
one file; and a source that fails is reported beside the others, which still go through.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from connector.errors import ExitCode
from tests.cli.test_cli import assert_clean_failure, cfg, clean_env, leadsync, write_jsonl

__all__ = ["cfg"]  # the fixture, imported to be used here

SECRET = "Wh0le-F1le-Pa55"


def _event(number: int, **fields: object) -> dict[str, object]:
    return {
        "id": f"e{number}",
        "kind": "quote_request",
        "occurred_at": "2026-11-02T10:00:00Z",
        "email": f"person-{number}@acme.example",
        **fields,
    }


def _rejects(cfg: Path, env: dict[str, str] | None = None) -> list[dict[str, object]]:
    result = leadsync("--config", cfg, "rejects", "--json", cwd=cfg.parent, env=env)
    assert result.returncode == 0, result.stderr
    listed: list[dict[str, object]] = json.loads(result.stdout)
    return listed


class TestNotATextFile:
    @pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
    def test_random_bytes_are_refused_as_a_whole_and_nothing_is_set_aside(
        self, cfg: Path, suffix: str
    ) -> None:
        """3 MB of random bytes exit 4 "not a text file" instead of thousands of rejects."""
        data = cfg.parent / f"photo{suffix}"
        data.write_bytes(random.Random(16).randbytes(3_000_000))

        result = leadsync("--config", cfg, "ingest", data, cwd=cfg.parent)

        assert_clean_failure(result, ExitCode.INPUT)
        assert f"error: {data}: not a text file: " in result.stderr
        assert _rejects(cfg) == []

    def test_utf16_text_is_refused_as_not_utf8(self, cfg: Path) -> None:
        data = cfg.parent / "export.jsonl"
        data.write_bytes((json.dumps(_event(1)) + "\n").encode("utf-16"))

        result = leadsync("--config", cfg, "ingest", data, cwd=cfg.parent)

        assert_clean_failure(result, ExitCode.INPUT)
        assert "not a text file" in result.stderr
        assert "re-save it as UTF-8" in result.stderr

    @pytest.mark.parametrize(
        "bad_line",
        [
            b'{"kind": "site_visit", "email": "j\xe9r\xf4me@acme.example"}',
            b'{"kind": "site_visit", \x00 oops',
        ],
        ids=["latin1", "nul"],
    )
    def test_one_bad_line_at_the_top_of_a_text_file_is_still_one_reject(
        self, cfg: Path, bad_line: bytes
    ) -> None:
        data = cfg.parent / "fair.jsonl"
        good = [json.dumps(_event(number)).encode() for number in range(2, 40)]
        data.write_bytes(b"\n".join([bad_line, *good]) + b"\n")

        result = leadsync("--config", cfg, "ingest", data, "--json", cwd=cfg.parent)

        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        assert (summary["read"], summary["stored"], summary["rejected"]) == (39, 38, 1)
        assert [(reject["location"], reject["line"]) for reject in _rejects(cfg)] == [
            (str(data), 1)
        ]

    def test_a_file_all_in_latin1_is_text_and_sets_aside_each_line(self, cfg: Path) -> None:
        """Text in another encoding is read line by line: each line is one reject."""
        data = cfg.parent / "salon.csv"
        rows = [
            f"e{n},form_submit,2026-11-02T10:00:00Z,h\u00e9l\u00e8ne-{n}@soci\u00e9t\u00e9.example"
            for n in range(50)
        ]
        data.write_bytes("\n".join(["id,kind,occurred_at,email", *rows, ""]).encode("latin-1"))

        result = leadsync("--config", cfg, "ingest", data, "--json", cwd=cfg.parent)

        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        assert (summary["stored"], summary["rejected"]) == (0, 50)


class TestCsvHeader:
    def test_a_header_without_occurred_at_is_refused_as_a_whole(self, cfg: Path) -> None:
        data = cfg.parent / "show.csv"
        data.write_text(
            "source,id,kind,email\n"
            "show,1,email_open,a@acme.example\n"
            "show,2,email_open,b@acme.example\n",
            encoding="utf-8",
        )

        result = leadsync("--config", cfg, "ingest", data, cwd=cfg.parent)

        assert_clean_failure(result, ExitCode.INPUT)
        assert result.stderr.startswith(
            f"error: {data}: line 1: the header lacks the required column(s) occurred_at; "
        )
        assert _rejects(cfg) == []

    def test_a_header_without_email_or_ids_names_both(self, cfg: Path) -> None:
        data = cfg.parent / "show.csv"
        data.write_text("kind,occurred_at,url\nsite_visit,2026-11-02T10:00:00Z,/\n", "utf-8")

        result = leadsync("--config", cfg, "ingest", data, cwd=cfg.parent)

        assert_clean_failure(result, ExitCode.INPUT)
        assert "the header lacks the required column(s) email or ids.NAME; " in result.stderr

    def test_ids_instead_of_email_is_a_complete_header(self, cfg: Path) -> None:
        data = cfg.parent / "crm.csv"
        data.write_text(
            "kind,occurred_at,ids.hubspot\nsite_visit,2026-11-02T10:00:00Z,5101\n", "utf-8"
        )

        result = leadsync("--config", cfg, "ingest", data, "--json", cwd=cfg.parent)

        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        assert (summary["stored"], summary["rejected"]) == (1, 0)


class TestUsageAndStoreUrl:
    def test_an_unknown_format_is_a_usage_error(self, cfg: Path) -> None:
        data = cfg.parent / "events.jsonl"
        write_jsonl(data, [_event(1)])

        result = leadsync("--config", cfg, "ingest", data, "--format", "xml", cwd=cfg.parent)

        assert result.returncode == 2, result.stderr
        unboxed = " ".join(result.stderr.replace("│", " ").split())  # rich wraps it in a box
        assert (
            "Invalid value for '--format': Value error, 'xml' is not one of 'auto', 'jsonl', 'csv'."
            in unboxed
        )

    def test_the_format_is_taken_in_any_case(self, cfg: Path) -> None:
        data = cfg.parent / "events.txt"
        write_jsonl(data, [_event(1)])

        result = leadsync("--config", cfg, "ingest", data, "--format", "JSONL", cwd=cfg.parent)

        assert result.returncode == 0, result.stderr

    @pytest.mark.parametrize("scheme", ["mysql", "mysql+pymysql", "oracle"])
    def test_a_store_url_of_another_database_in_the_environment_is_a_config_error(
        self, cfg: Path, scheme: str
    ) -> None:
        env = clean_env(LEADSYNC_STORE_URL=f"{scheme}://leadsync:{SECRET}@db.example/leads")

        result = leadsync("--config", cfg, "contacts", cwd=cfg.parent, env=env)

        assert_clean_failure(result, ExitCode.CONFIG)
        assert result.stderr.startswith(
            f"error: LEADSYNC_STORE_URL names a '{scheme}' database, which leadsync cannot use; "
            "use sqlite:///path/to/leadsync.db or postgresql+psycopg://"
        )
        assert SECRET not in result.stderr + result.stdout

    def test_a_store_url_of_another_database_in_the_file_names_file_line_and_key(
        self, cfg: Path
    ) -> None:
        text = cfg.read_text(encoding="utf-8")
        cfg.write_text(text.replace("[store]\n", '[store]\nurl = "mysql://leadsync@db/leads"\n'))
        line = text.splitlines().index("[store]") + 2

        result = leadsync("--config", cfg, "pull", cwd=cfg.parent)

        assert_clean_failure(result, ExitCode.CONFIG)
        assert result.stderr.startswith(
            f"error: {cfg}:{line}: [store.url] names a 'mysql' database, which leadsync cannot use"
        ), result.stderr

    @pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
    def test_postgres_and_bare_postgresql_urls_open_the_store_with_psycopg(
        self, cfg: Path, postgres_url: str, scheme: str
    ) -> None:
        """postgres:// (Heroku's spelling) and postgresql:// reach the same PostgreSQL."""
        url = make_url(postgres_url).set(drivername=scheme).render_as_string(hide_password=False)
        env = clean_env(LEADSYNC_STORE_URL=url)
        data = cfg.parent / "events.jsonl"
        write_jsonl(data, [_event(1), _event(2)])

        result = leadsync("--config", cfg, "ingest", data, "--json", cwd=cfg.parent, env=env)

        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["stored"] == 2
        canonical = clean_env(LEADSYNC_STORE_URL=postgres_url)
        again = leadsync("--config", cfg, "ingest", data, "--json", cwd=cfg.parent, env=canonical)
        assert json.loads(again.stdout)["duplicates"] == 2


class TestOneFileOneLocation:
    def test_the_same_file_by_three_paths_keeps_one_reject_at_its_absolute_path(
        self, cfg: Path, store_url: str
    ) -> None:
        env = clean_env(LEADSYNC_STORE_URL=store_url)
        folder = cfg.parent / "data"
        folder.mkdir()
        data = folder / "show.jsonl"
        data.write_text(json.dumps(_event(1)) + "\nnot json\n", encoding="utf-8")
        (cfg.parent / "latest.jsonl").symlink_to(data)

        runs = [
            (cfg.parent, "data/show.jsonl"),
            (cfg.parent, "./data/../data/show.jsonl"),
            (folder, "show.jsonl"),
            (cfg.parent, "latest.jsonl"),
        ]
        for cwd, path in runs:
            result = leadsync("--config", cfg, "ingest", path, "--source", "show", cwd=cwd, env=env)
            assert result.returncode == 0, result.stderr

        listed = _rejects(cfg, env)
        assert [(reject["location"], reject["line"]) for reject in listed] == [
            (str(data.resolve()), 2)
        ]

    def test_a_configured_source_through_a_config_path_with_dots_stores_a_plain_path(
        self, cfg: Path, store_url: str
    ) -> None:
        env = clean_env(LEADSYNC_STORE_URL=store_url)
        data = cfg.parent / "data" / "show.jsonl"
        data.parent.mkdir()
        data.write_text("not json\n", encoding="utf-8")
        with cfg.open("a", encoding="utf-8") as stream:
            stream.write('\n[sources.show]\ntype = "file"\npath = "data/show.jsonl"\n')

        result = leadsync("--config", "../config.toml", "pull", cwd=data.parent, env=env)

        assert result.returncode == 0, result.stderr
        assert [reject["location"] for reject in _rejects(cfg, env)] == [str(data.resolve())]


class TestOneSourceFails:
    @staticmethod
    def _two_sources(cfg: Path) -> Path:
        data = cfg.parent / "data" / "here.jsonl"
        data.parent.mkdir()
        write_jsonl(data, [_event(1), _event(2)])
        with cfg.open("a", encoding="utf-8") as stream:
            stream.write(
                '\n[sources.gone]\ntype = "file"\npath = "data/gone.jsonl"\n'
                '\n[sources.here]\ntype = "file"\npath = "data/here.jsonl"\n'
            )
        return data

    def test_pull_reports_each_source_pulls_the_others_and_exits_with_the_failure(
        self, cfg: Path, store_url: str
    ) -> None:
        env = clean_env(LEADSYNC_STORE_URL=store_url)
        self._two_sources(cfg)
        gone = cfg.parent / "data" / "gone.jsonl"

        result = leadsync("--config", cfg, "pull", cwd=cfg.parent, env=env)

        assert result.returncode == int(ExitCode.INPUT), result.stderr
        assert "Traceback" not in result.stderr
        gone_line, here_line = result.stdout.splitlines()[:2]
        assert gone_line == f"gone: failed: {gone}: file not found; check the path"
        assert here_line.startswith("here: read 2, stored 2, duplicates 0, rejected 0,")
        failed_logs = [
            json.loads(line)
            for line in result.stderr.splitlines()
            if line.startswith("{") and '"pull.source_failed"' in line
        ]
        assert [
            {key: log[key] for key in ("event", "source", "error", "exit_code")}
            for log in failed_logs
        ] == [
            {
                "event": "pull.source_failed",
                "source": "gone",
                "error": f"{gone}: file not found; check the path",
                "exit_code": 4,
            }
        ]
        assert result.stderr.endswith(f"error: {gone}: file not found; check the path\n")

        again = leadsync("--config", cfg, "pull", "--json", cwd=cfg.parent, env=env)
        assert again.returncode == int(ExitCode.INPUT)
        gone_summary, here_summary = json.loads(again.stdout)
        assert gone_summary == {
            "source": "gone",
            "failed": f"{gone}: file not found; check the path",
            "exit_code": 4,
        }
        assert (here_summary["source"], here_summary["read"]) == ("here", 0)  # its cursor held

    def test_sync_scores_what_the_other_sources_pulled_and_exits_with_the_failure(
        self, cfg: Path, store_url: str
    ) -> None:
        env = clean_env(LEADSYNC_STORE_URL=store_url)
        self._two_sources(cfg)

        result = leadsync("--config", cfg, "sync", "--json", cwd=cfg.parent, env=env)

        assert result.returncode == int(ExitCode.INPUT), result.stderr
        summary = json.loads(result.stdout)
        assert [item["source"] for item in summary["pulled"]] == ["here"]
        assert summary["pulled"][0]["stored"] == 2
        assert [item["source"] for item in summary["failed"]] == ["gone"]
        assert summary["scored"]["contacts_scored"] == 2
        contacts = leadsync("--config", cfg, "contacts", "--json", cwd=cfg.parent, env=env)
        scored = json.loads(contacts.stdout)
        assert sorted(contact["email"] for contact in scored) == [
            "person-1@acme.example",
            "person-2@acme.example",
        ]
        assert all(contact["scored_at"] is not None for contact in scored)

        text = leadsync("--config", cfg, "sync", cwd=cfg.parent, env=env)
        assert text.returncode == int(ExitCode.INPUT)
        assert "  gone: failed: " in text.stdout
