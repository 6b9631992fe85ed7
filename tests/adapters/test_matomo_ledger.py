"""`leadsync pull` of a matomo source into the real store (SQLite file and PostgreSQL):
the lag window read twice stores nothing twice, and a visit that grew between two reads
adds only its new actions."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import responses
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connector.config import load_settings
from connector.runners.ingest import IngestSummary
from connector.runners.pull import pull_source
from tests.adapters.matomo_fake import TOKEN, FakeMatomo, goal, grow, page_view, visit


@pytest.fixture(autouse=True)
def _matomo_token(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MATOMO_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MATOMO_TOKEN", TOKEN)


def _stored(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT source_event_id FROM events")).scalars()
        return sorted(rows)


def test_the_lag_window_read_twice_and_a_visit_that_grew(engine: Engine, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[sources.web]\ntype = "matomo"\nurl = "https://matomo.example.com/"\nsite_id = 1\n'
        'page_size = 2\n[sources.web.goals]\n"Quote request" = "quote_request"\n',
        encoding="utf-8",
    )
    settings = load_settings(config)
    # The source's clock is the real one: visits of the last half hour, all in the lag.
    start = int(time.time()) - 1_800
    visits = [
        visit(1, [page_view("https://www.example.com/", start)], user_id="ada@example.com"),
        visit(
            2,
            [page_view("https://www.example.com/", start + 60)],
            visitor="0000aaaa0000bbbb",
            user_id="10234",
        ),
        visit(
            3, [page_view("https://www.example.com/docs", start + 120)], visitor="0000cccc0000dddd"
        ),
    ]
    with responses.RequestsMock() as rsps:
        FakeMatomo(visits=visits).register(rsps)
        first = pull_source(engine, settings, "web", command="pull")
        again = pull_source(engine, settings, "web", command="pull")
        grow(
            visits[0],
            page_view("https://www.example.com/pricing", start + 300),
            goal("2", "Quote request", start + 310),
        )
        grown = pull_source(engine, settings, "web", command="pull")

    assert isinstance(first, IngestSummary) and isinstance(again, IngestSummary)
    assert isinstance(grown, IngestSummary)
    assert (first.stored, first.rejected) == (6, 0)
    assert first.contacts_created == 3
    # The whole half hour lies in the lag window: read again, stored once.
    assert (again.stored, again.duplicates) == (0, again.read) and again.read >= 6
    assert grown.stored == 2
    assert _stored(engine) == ["1:1", "1:1:1", "1:1:2", "1:1:3", "1:2", "1:2:1", "1:3", "1:3:1"]
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT source_event_id, kind FROM events")).all()
    kinds = {row[0]: row[1] for row in rows}
    assert (kinds["1:1:2"], kinds["1:1:3"]) == ("page_view", "quote_request")
