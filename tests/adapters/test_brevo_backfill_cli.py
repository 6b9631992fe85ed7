"""`leadsync backfill` of a Brevo source, run as the real command against a loopback
server: the events stored once with their checkpoint, a rerun that calls nothing again,
a refused key as a clean configuration error."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from pytest_httpserver import HTTPServer

from connector.errors import ExitCode
from connector.store.engine import create_store_engine
from connector.store.schema import events
from tests.adapters.test_brevo_backfill import CONTACTS, fixture, serve_list, serve_stats
from tests.cli.test_cli import assert_clean_failure, clean_env, leadsync

API_KEY = "xkeysib-cli-test-key"
RANGE = ("--since", "2016-05-01", "--until", "2016-06-01")


def project(tmp_path: Path, httpserver: HTTPServer) -> Path:
    assert leadsync("init", tmp_path, cwd=tmp_path).returncode == 0
    config = tmp_path / "config.toml"
    config.write_text(
        config.read_text(encoding="utf-8")
        + f'\n[sources.newsletter]\ntype = "brevo"\nlists = [7]\n'
        f'base_url = "{httpserver.url_for("/v3")}"\n',
        encoding="utf-8",
    )
    return tmp_path


def stored(folder: Path) -> list[tuple[str, str]]:
    engine = create_store_engine(f"sqlite:///{folder / 'leadsync.db'}")
    with engine.connect() as connection:
        rows = connection.execute(sa.select(events.c.source, events.c.kind)).all()
    engine.dispose()
    return sorted((row[0], row[1]) for row in rows)


def test_a_backfill_stores_the_range_once(tmp_path: Path, httpserver: HTTPServer) -> None:
    folder = project(tmp_path, httpserver)
    serve_list(httpserver, 7, CONTACTS)
    serve_stats(httpserver, 45, fixture("campaign_stats.json"))
    serve_stats(httpserver, 32, {})
    serve_stats(httpserver, 65, {})
    env = clean_env(BREVO_API_KEY=API_KEY)
    first = leadsync("backfill", "newsletter", *RANGE, "--json", cwd=folder, env=env)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert (summary["stored"], summary["skipped"], summary["rejected"]) == (4, 8, 0)
    assert stored(folder) == [
        ("newsletter", "email_click"),
        ("newsletter", "email_delivered"),
        ("newsletter", "email_open"),
        ("newsletter", "email_sent"),
    ]
    httpserver.clear_log()
    again = leadsync("backfill", "newsletter", *RANGE, "--json", cwd=folder, env=env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["stored"] == 0
    # Read to its end: only contacts added to the list since are read; there are none.
    assert not [r for r, _ in httpserver.log if r.path.endswith("/campaignStats")]
    assert len(stored(folder)) == 4


def test_a_refused_key_exits_as_a_configuration_error(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    folder = project(tmp_path, httpserver)
    httpserver.expect_request("/v3/contacts/lists/7/contacts").respond_with_json(
        {"code": "unauthorized", "message": "Key not found"}, status=401
    )
    env = clean_env(BREVO_API_KEY=API_KEY)
    refused = leadsync("backfill", "newsletter", *RANGE, cwd=folder, env=env)
    assert_clean_failure(refused, ExitCode.CONFIG)
    assert "BREVO_API_KEY" in refused.stderr
    assert API_KEY not in refused.stderr + refused.stdout


def test_a_backfill_without_the_key_names_it(tmp_path: Path, httpserver: HTTPServer) -> None:
    folder = project(tmp_path, httpserver)
    missing = leadsync("backfill", "newsletter", *RANGE, cwd=folder, env=clean_env())
    assert_clean_failure(missing, ExitCode.CONFIG)
    assert "BREVO_API_KEY is not set" in missing.stderr
