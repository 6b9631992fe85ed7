"""`leadsync pull` of a ga4 source into the real store (SQLite file and PostgreSQL): the
window read again stores nothing twice, a day whose count grew adds only the difference,
and a quota stop keeps the pages read."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import responses
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from sqlalchemy.engine import Engine

from adapters.ga4.settings import CREDENTIALS_ENV
from connector.config import Settings, load_settings
from connector.errors import LimitReachedError
from connector.runners.ingest import IngestSummary
from connector.runners.pull import SourceFailure, pull_source
from tests.adapters.ga4_fake import DISCOVERY, ENDPOINT, PROPERTY, FakeGa4, service_account_file

pytestmark = pytest.mark.skipif(
    not DISCOVERY.exists(), reason=f"GA4's discovery document is not at {DISCOVERY}"
)


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGa4]:
    key_file, pem = service_account_file(tmp_path)
    monkeypatch.setenv(CREDENTIALS_ENV, str(key_file))
    private = serialization.load_pem_private_key(pem.encode(), password=None)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        # Every call carries a JWT the service account's key signed (google-auth's own
        # self-signed JWT: no token endpoint is called).
        yield FakeGa4(public_key=private.public_key()).mock(rsps)


def settings_for(tmp_path: Path, *, page_size: int = 10_000) -> Settings:
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[sources.web]
type = "ga4"
property_id = "{PROPERTY}"
user_dimension = "crm_id"
id_namespace = "hubspot"
page_size = {page_size}
api_endpoint = "{ENDPOINT}"

[sources.web.events]
generate_lead = "quote_request"
""",
        encoding="utf-8",
    )
    return load_settings(config)


def day(days_ago: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days_ago)).strftime("%Y%m%d")


def stored_events(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.text("SELECT count(*) FROM events")).scalar_one())


def test_the_window_read_again_stores_only_what_grew(
    engine: Engine, tmp_path: Path, fake: FakeGa4
) -> None:
    settings = settings_for(tmp_path)
    fake.counts = {
        (day(2), "501", "page_view"): 3,
        (day(1), "501", "generate_lead"): 1,
        (day(1), "777", "session_start"): 2,
        (day(1), "777", "scroll"): 5,  # not mapped: not asked for
    }
    first = pull_source(engine, settings, "web", command="pull")
    again = pull_source(engine, settings, "web", command="pull")
    # Yesterday's numbers revised upward, and today's first events.
    fake.counts[(day(1), "777", "session_start")] = 4
    fake.counts[(day(0), "501", "page_view")] = 1
    grown = pull_source(engine, settings, "web", command="pull")

    assert isinstance(first, IngestSummary), first
    assert isinstance(again, IngestSummary) and isinstance(grown, IngestSummary)
    assert (first.read, first.stored, first.skipped, first.contacts_created) == (6, 6, 0, 2)
    assert (again.read, again.stored, again.duplicates) == (6, 0, 6)
    assert (grown.read, grown.stored, grown.duplicates) == (9, 3, 6)
    assert stored_events(engine) == 9
    # The second and third pulls read from window_days before the last day read.
    window_start = (datetime.now(UTC) - timedelta(days=3)).date().isoformat()
    assert fake.requests[1]["dateRanges"][0]["startDate"] == window_start


def test_a_quota_stop_keeps_the_pages_read(engine: Engine, tmp_path: Path, fake: FakeGa4) -> None:
    settings = settings_for(tmp_path, page_size=1)
    fake.counts = {(day(n), "501", "page_view"): 1 for n in range(1, 4)}
    fake.failures_at[2] = fake.error(429, "RESOURCE_EXHAUSTED", "Exhausted property tokens.")

    # That source's failure, not the pull's: the sources after it are still pulled.
    stopped = pull_source(engine, settings, "web", command="pull")
    assert isinstance(stopped, SourceFailure) and isinstance(stopped.error, LimitReachedError)
    assert "RESOURCE_EXHAUSTED" in stopped.message
    assert stopped.as_dict()["exit_code"] == 8
    assert stored_events(engine) == 1  # the first page, committed with its cursor

    resumed = pull_source(engine, settings, "web", command="pull")
    assert isinstance(resumed, IngestSummary), resumed
    assert (resumed.read, resumed.stored) == (2, 2)  # from the page that was refused
    assert [int(r.get("offset", "0")) for r in fake.requests] == [0, 1, 1, 2]
    assert stored_events(engine) == 3
