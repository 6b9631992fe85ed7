"""The intake's rules, whatever the router: checked before read, committed before 2xx,
bad records set aside, sizes and methods, health and metrics, a store that is down."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connector.config import load_settings
from connector.serve.server import IntakeServer
from connector.store.engine import open_store
from tests.serve.echo import TOKEN, install_echo
from tests.serve.tcp_proxy import TcpProxy


def _event(number: int, **changes: object) -> dict[str, object]:
    return {
        "id": f"e-{number}",
        "kind": "email_click",
        "occurred_at": "2026-11-02T10:00:00Z",
        "email": f"person{number}@acme.example",
        "url": "https://acme.example/pricing",
        **changes,
    }


def _settings(tmp_path: Path, store_url: str, extra: str = "") -> object:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[store]\nurl = "{store_url}"\n\n[sources.echo]\ntype = "echo"\n\n[serve]\n'
        f"max_body_bytes = 4096\n{extra}",
        encoding="utf-8",
    )
    return load_settings(config)


@pytest.fixture
def intake(
    tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Engine, IntakeServer]]:
    install_echo(monkeypatch)
    settings = _settings(tmp_path, store_url)
    engine = open_store(store_url)
    server = IntakeServer(settings, engine, host="127.0.0.1", port=0)  # type: ignore[arg-type]
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}", engine, server
    finally:
        server.stop()
        engine.dispose()


def _post(
    url: str, body: bytes | str, token: str | None = TOKEN, **headers: str
) -> requests.Response:
    sent = {"Content-Type": "application/json", **headers}
    if token is not None:
        sent["X-Echo-Token"] = token
    return requests.post(f"{url}/webhooks/echo", data=body, headers=sent, timeout=10)


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_a_batch_is_stored_before_its_answer_and_a_resent_one_stores_nothing_twice(intake):
    url, engine, _ = intake
    body = json.dumps([_event(1), _event(2), _event(3)])
    first = _post(url, body)
    assert first.status_code == 200
    assert first.json() == {"stored": 3, "duplicates": 0, "rejected": 0, "skipped": 0}
    assert _count(engine, "events") == 3  # committed when the answer came
    again = _post(url, body)
    assert again.json() == {"stored": 0, "duplicates": 3, "rejected": 0, "skipped": 0}
    assert _count(engine, "events") == 3


@pytest.mark.parametrize(("token", "reason"), [(None, "missing_token"), ("wrong", "bad_token")])
def test_a_refused_request_gets_401_stores_nothing_and_its_reason_is_counted(intake, token, reason):
    url, engine, _ = intake
    answer = _post(url, json.dumps([_event(1)]), token=token)
    assert answer.status_code == 401
    assert answer.json() == {"error": "refused", "reason": reason}
    assert _count(engine, "events") == 0
    assert _count(engine, "rejects") == 0
    metrics = requests.get(f"{url}/metrics", timeout=10).text
    assert f'leadsync_webhook_refusals_total{{reason="{reason}",source="echo"}} 1.0' in metrics
    assert 'leadsync_webhook_requests_total{source="echo",status="401"} 1.0' in metrics


def test_a_bad_record_is_set_aside_with_the_request_time_and_the_rest_stored(intake):
    url, engine, _ = intake
    body = json.dumps([_event(1), _event(2, email="not-an-email"), _event(3)])
    answer = _post(url, body)
    assert answer.status_code == 200
    assert answer.json() == {"stored": 2, "duplicates": 0, "rejected": 1, "skipped": 0}
    with engine.connect() as connection:
        source, location, line, reason, raw = connection.execute(
            sa.text("SELECT source, location, line, reason, raw FROM rejects")
        ).one()
    assert (source, line) == ("echo", 2)
    assert location.startswith("webhook echo, request of 20")
    assert "invalid e-mail" in reason
    assert "not-an-email" in raw


def test_a_body_that_is_not_json_is_one_reject_and_answered_200(intake):
    url, engine, _ = intake
    answer = _post(url, b"{this is not json")
    assert answer.status_code == 200  # the router would resend it for a day otherwise
    assert answer.json()["rejected"] == 1
    assert _count(engine, "rejects") == 1


def test_a_body_over_the_limit_gets_413_by_its_length_or_as_it_streams(intake):
    url, engine, _ = intake
    big = json.dumps([_event(number) for number in range(60)])  # > 4096 bytes
    assert len(big) > 4096
    assert _post(url, big).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: refused once past the limit
        for start in range(0, len(big), 1000):
            yield big[start : start + 1000].encode()

    streamed = requests.post(
        f"{url}/webhooks/echo",
        data=chunks(),
        headers={"X-Echo-Token": TOKEN, "Content-Type": "application/json"},
        timeout=10,
    )
    assert streamed.status_code == 413
    assert _count(engine, "events") == 0
    metrics = requests.get(f"{url}/metrics", timeout=10).text
    assert 'leadsync_webhook_refusals_total{reason="body_too_large",source="echo"} 2.0' in metrics


def test_unknown_paths_and_other_methods(intake):
    url, _, _ = intake
    assert requests.post(f"{url}/webhooks/nobody", data=b"[]", timeout=10).status_code == 404
    assert requests.get(f"{url}/elsewhere", timeout=10).status_code == 404
    assert requests.get(f"{url}/webhooks/echo", timeout=10).status_code == 405
    assert requests.put(f"{url}/webhooks/echo", data=b"[]", timeout=10).status_code == 405
    assert requests.post(f"{url}/healthz", timeout=10).status_code == 405


def test_healthz_and_metrics_count_what_was_stored(intake):
    url, _, _ = intake
    health = requests.get(f"{url}/healthz", timeout=10)
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "store": "ok", "sources": ["echo"]}
    body = json.dumps([_event(1), _event(2), _event(2), _event(3, kind="nope")])
    _post(url, body)
    metrics = requests.get(f"{url}/metrics", timeout=10).text
    assert 'leadsync_webhook_events_stored_total{source="echo"} 2.0' in metrics
    assert 'leadsync_webhook_duplicates_total{source="echo"} 1.0' in metrics
    assert 'leadsync_webhook_rejects_total{source="echo"} 1.0' in metrics
    assert 'leadsync_webhook_request_seconds_count{source="echo"} 1.0' in metrics


def test_the_run_is_recorded_with_its_figures(tmp_path, sqlite_url, monkeypatch):
    install_echo(monkeypatch)
    engine = open_store(sqlite_url)
    server = IntakeServer(_settings(tmp_path, sqlite_url), engine, host="127.0.0.1", port=0)  # type: ignore[arg-type]
    server.start()
    _post(f"http://127.0.0.1:{server.port}", json.dumps([_event(1), _event(2)]))
    _post(f"http://127.0.0.1:{server.port}", json.dumps([_event(1)]), token="bad")
    server.stop()
    with engine.connect() as connection:
        command, status, stats = connection.execute(
            sa.text("SELECT command, status, stats FROM runs")
        ).one()
    figures = stats if isinstance(stats, dict) else json.loads(stats)
    assert (command, status) == ("serve", "ok")
    assert figures["stored"] == 2
    assert figures["refused"] == 1
    assert figures["by_source"] == {"echo": 2}


@pytest.mark.postgres
def test_a_store_that_is_down_gets_503_and_the_retry_stores_it(tmp_path, postgres_url, monkeypatch):
    install_echo(monkeypatch)
    target = sa.engine.make_url(postgres_url)
    with TcpProxy(target.host or "127.0.0.1", target.port or 5432) as proxy:
        through_proxy = target.set(host="127.0.0.1", port=proxy.port)
        url_text = through_proxy.render_as_string(hide_password=False)
        engine = open_store(url_text)
        server = IntakeServer(_settings(tmp_path, url_text), engine, host="127.0.0.1", port=0)  # type: ignore[arg-type]
        server.start()
        url = f"http://127.0.0.1:{server.port}"
        try:
            body = json.dumps([_event(1), _event(2)])
            proxy.cut()  # the store's host is gone: open connections cut, new ones refused
            down = _post(url, body)
            assert down.status_code == 503
            assert down.headers["Retry-After"] == "30"
            assert requests.get(f"{url}/healthz", timeout=10).status_code == 503
            proxy.restore()
            again = _post(url, body)  # what the router does: send it again
            assert again.status_code == 200
            assert again.json()["stored"] == 2
            assert requests.get(f"{url}/healthz", timeout=10).status_code == 200
        finally:
            server.stop()
            engine.dispose()
    check = open_store(postgres_url)
    assert _count(check, "events") == 2
    check.dispose()
