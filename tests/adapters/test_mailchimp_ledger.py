"""`leadsync pull` of a mailchimp source into the real store (SQLite file and PostgreSQL):
the core commits each page with its cursor, and what the overlap reads again is stored
once."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import responses
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connector.config import load_settings
from connector.runners.backfill import backfill
from connector.runners.ingest import IngestSummary
from connector.runners.pull import pull_source
from tests.adapters.mailchimp_fake import API_KEY, FakeMailchimp
from tests.adapters.test_mailchimp_pull import make_source


@pytest.fixture(autouse=True)
def _no_mailchimp_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MAILCHIMP_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MAILCHIMP_API_KEY", API_KEY)


def test_two_pulls_store_each_event_once(engine: Engine, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[sources.newsletter]\ntype = "mailchimp"\npage_size = 2\n', encoding="utf-8")
    settings = load_settings(config)
    # The source's clock is the real one: campaigns sent in the last days.
    sent = datetime.now(UTC) - timedelta(days=2)
    with responses.RequestsMock() as rsps:
        fake = FakeMailchimp(rsps)
        fake.campaigns = [
            {"id": "42694e9e57", "send_time": sent.isoformat()},
            {"id": "b1c2d3e4f5", "send_time": (sent + timedelta(hours=1)).isoformat()},
        ]
        first = pull_source(engine, settings, "newsletter", command="pull")
        again = pull_source(engine, settings, "newsletter", command="pull")

    assert isinstance(first, IngestSummary) and isinstance(again, IngestSummary)
    assert (first.read, first.stored, first.duplicates, first.rejected) == (8, 8, 0, 0)
    assert first.contacts_created == 4
    # Read again from each campaign's latest activity less the overlap: carol's last click
    # and dan's open, already stored.
    assert (again.read, again.stored, again.duplicates) == (2, 0, 2)
    with engine.connect() as connection:
        events = connection.execute(sa.text("SELECT count(*) FROM events")).scalar_one()
    assert events == 8


def test_a_backfill_stores_its_range_and_a_rerun_nothing_new(engine: Engine) -> None:
    """Only the range's events are stored (one after its end is skipped); the range read
    to its end again stores nothing."""
    since = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    until = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)
    with responses.RequestsMock() as rsps:
        FakeMailchimp(rsps)
        first = backfill(engine, make_source(), since=since, until=until)
        again = backfill(engine, make_source(), since=since, until=until)

    assert (first.stored, first.skipped, first.rejected) == (2, 1, 0)
    assert again.stored == 0
