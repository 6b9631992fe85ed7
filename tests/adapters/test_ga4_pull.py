"""The ga4 source through Google's real client (REST transport) against a fake checked
with the discovery document: what each row becomes, the trailing window, paging and its
cursor, the quota share, 429 and 5xx."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import orjson
import pytest
import responses
import structlog
from google.auth.credentials import AnonymousCredentials

from adapters.ga4.client import Ga4Api
from adapters.ga4.cursor import Ga4Cursor
from adapters.ga4.settings import DEFAULT_EVENTS
from adapters.ga4.source import Ga4Source
from connector.errors import ConfigError, LimitReachedError, RetriableError
from connector.model import EventKind
from connector.ports import Page
from connector.retry import RetryPolicy
from tests.adapters.ga4_fake import DISCOVERY, ENDPOINT, PROPERTY, FakeGa4

pytestmark = pytest.mark.skipif(
    not DISCOVERY.exists(), reason=f"GA4's discovery document is not at {DISCOVERY}"
)

NOW = datetime(2026, 12, 7, 14, 30, tzinfo=UTC)
NO_WAIT = RetryPolicy(backoff_s=0)
EVENTS = {**DEFAULT_EVENTS, "generate_lead": EventKind.QUOTE_REQUEST}


def make_api(*, policy: RetryPolicy = NO_WAIT) -> Ga4Api:
    return Ga4Api(
        property_id=PROPERTY,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        key="sources.web",
        api_endpoint=ENDPOINT,
        policy=policy,
        sleep=lambda _: None,
        clock=lambda: NOW,
    )


def make_source(**options: object) -> Ga4Source:
    settings: dict[str, object] = {
        "property_id": PROPERTY,
        "user_dimension": "crm_id",
        "id_namespace": "hubspot",
        "events": EVENTS,
        "clock": lambda: NOW,
    }
    settings.update(options)
    return Ga4Source("web", make_api(), **settings)  # type: ignore[arg-type]


@pytest.fixture
def fake() -> Iterator[FakeGa4]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeGa4().mock(rsps)


def pages_until_stopped(source: Ga4Source, cursor: str | None) -> tuple[list[Page], Exception]:
    pages: list[Page] = []
    with pytest.raises((LimitReachedError, RetriableError)) as stopped:
        pages.extend(source.pull(cursor))
    return pages, stopped.value


class TestRows:
    def test_each_row_is_its_count_of_events_with_stable_ids(self, fake: FakeGa4) -> None:
        fake.counts = {
            ("20261205", "501", "page_view"): 2,
            ("20261206", "501", "generate_lead"): 1,
            ("20261206", "777", "session_start"): 1,
        }
        (page,) = make_source().pull(None)

        assert [(e.source_event_id, e.kind) for e in page.events] == [
            (f"{PROPERTY}:20261205:501:page_view:1", EventKind.PAGE_VIEW),
            (f"{PROPERTY}:20261205:501:page_view:2", EventKind.PAGE_VIEW),
            (f"{PROPERTY}:20261206:501:generate_lead:1", EventKind.QUOTE_REQUEST),
            (f"{PROPERTY}:20261206:777:session_start:1", EventKind.SITE_VISIT),
        ]
        first = page.events[0]
        assert first.occurred_at == datetime(2026, 12, 5, tzinfo=UTC)
        assert (first.email, dict(first.ids), first.url) == (None, {"hubspot": "501"}, None)
        (sent,) = fake.requests
        assert [d["name"] for d in sent["dimensions"]] == ["date", "customUser:crm_id", "eventName"]
        assert sent["metrics"] == [{"name": "eventCount"}]
        assert sent["returnPropertyQuota"] is True
        # The first pull reads lookback_days (30) to today.
        assert sent["dateRanges"] == [{"startDate": "2026-11-07", "endDate": "2026-12-07"}]

    def test_unmapped_names_and_unset_keys_are_skipped_and_emails_rejected(
        self, fake: FakeGa4
    ) -> None:
        fake.counts = {
            ("20261206", "501", "scroll"): 4,
            ("20261206", "(not set)", "page_view"): 9,
            ("20261206", "ann@example.com", "page_view"): 1,
            ("20261206", "502", "page_view"): 1,
        }
        (page,) = make_source().pull(None)

        assert [e.ids["hubspot"] for e in page.events] == ["502"]
        assert page.skipped == 1  # the unset key; scroll, not mapped, is not asked for
        names = fake.requests[0]["dimensionFilter"]["filter"]["inListFilter"]["values"]
        assert "scroll" not in names and {"page_view", "session_start"} <= set(names)
        (reject,) = page.rejects
        assert "looks like an e-mail" in reject.reason and "terms forbid" in reject.reason
        assert reject.line == 3  # its place in the report (scroll not in it), by user key

    def test_page_path_gives_page_views_their_path(self, fake: FakeGa4) -> None:
        fake.counts = {("20261206", "501", "page_view", "/pricing"): 1}
        (page,) = make_source(page_path=True).pull(None)

        (event,) = page.events
        assert event.url == "/pricing"
        assert event.source_event_id == f"{PROPERTY}:20261206:501:page_view:/pricing:1"
        assert fake.requests[0]["dimensions"][-1] == {"name": "pagePath"}

    def test_thresholding_and_sampling_are_warned_of(self, fake: FakeGa4) -> None:
        fake.counts = {("20261206", "501", "page_view"): 1}
        fake.thresholded = fake.sampled = True
        with structlog.testing.capture_logs() as logs:
            list(make_source().pull(None))

        events = {entry["event"]: entry for entry in logs if entry["log_level"] == "warning"}
        assert "privacy thresholds" in events["ga4.thresholded"]["detail"]
        assert events["ga4.sampled"]["samples_read"] == 5000


class TestWindowAndCursor:
    def test_a_later_pull_reads_window_days_before_the_last_day(self, fake: FakeGa4) -> None:
        cursor = Ga4Cursor(read_to=datetime(2026, 12, 5, tzinfo=UTC).date()).dump()
        list(make_source(window_days=3).pull(cursor))

        assert fake.requests[0]["dateRanges"] == [
            {"startDate": "2026-12-02", "endDate": "2026-12-07"}
        ]

    def test_pages_resume_at_the_offset_of_the_last_committed_one(self, fake: FakeGa4) -> None:
        fake.counts = {(f"2026120{day}", "501", "page_view"): 1 for day in range(1, 6)}
        pulled = make_source(page_size=2).pull(None)
        first = next(pulled)
        pulled.close()  # a crash after the first page was committed

        rest = list(make_source(page_size=2).pull(first.cursor))

        assert [len(page.events) for page in [first, *rest]] == [2, 2, 1]
        assert [int(r.get("offset", "0")) for r in fake.requests] == [0, 2, 4]
        assert orjson.loads(rest[-1].cursor or "")["read_to"] == "2026-12-07"
        assert orjson.loads(rest[-1].cursor or "")["sweep"] is None


def test_lag_says_how_far_the_cursor_is(fake: FakeGa4) -> None:
    fake.counts = {(f"2026120{day}", "501", "page_view"): 1 for day in range(1, 4)}
    source = make_source(page_size=2)
    first, last = list(source.pull(None))
    assert source.lag(None) == "no day read yet"
    assert (
        source.lag(first.cursor) == "no day read to its end yet, a read from 2026-11-07 part-done"
    )
    assert source.lag(last.cursor) == "read to 2026-12-07"


class TestQuota:
    def test_past_the_share_of_hourly_tokens_the_pull_stops_after_that_page(
        self, fake: FakeGa4
    ) -> None:
        fake.counts = {(f"2026120{day}", "501", "page_view"): 1 for day in range(1, 6)}
        fake.tokens_remaining = 15_000  # 25,000 of 40,000 used: past half

        pages, stopped = pages_until_stopped(make_source(page_size=2), None)

        assert len(pages) == 1 and len(pages[0].events) == 2
        assert isinstance(stopped, LimitReachedError)
        assert stopped.retry_after == datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
        assert len(fake.requests) == 1

    def test_a_pull_that_ended_past_the_share_makes_no_call_before_the_hour(
        self, fake: FakeGa4
    ) -> None:
        fake.counts = {("20261206", "501", "page_view"): 1}
        fake.tokens_remaining = 15_000
        (page,) = make_source().pull(None)

        with pytest.raises(LimitReachedError):
            list(make_source().pull(page.cursor))
        assert len(fake.requests) == 1
        later = make_source(clock=lambda: datetime(2026, 12, 7, 15, 1, tzinfo=UTC))
        list(later.pull(page.cursor))
        assert len(fake.requests) == 2

    def test_an_analytics_360_property_counts_its_own_hourly_tokens(self, fake: FakeGa4) -> None:
        fake.counts = {(f"2026120{day}", "501", "page_view"): 1 for day in range(1, 6)}
        fake.tokens_remaining = 300_000  # of 400,000: a quarter used
        assert len(list(make_source(page_size=2).pull(None))) == 3

    def test_a_360_property_that_used_most_of_its_hour_stops_when_configured_so(
        self, fake: FakeGa4
    ) -> None:
        """30,000 left looks like a standard property a quarter used; of 400,000 it is
        92.5 % used: tokens_per_hour says which."""
        fake.counts = {(f"2026120{day}", "501", "page_view"): 1 for day in range(1, 6)}
        fake.tokens_remaining = 30_000
        assert len(list(make_source(page_size=2).pull(None))) == 3  # as a standard one
        pages, stopped = pages_until_stopped(
            make_source(page_size=2, tokens_per_hour=400_000), None
        )
        assert len(pages) == 1 and isinstance(stopped, LimitReachedError)

    def test_a_row_of_more_events_than_a_person_makes_is_set_aside(self, fake: FakeGa4) -> None:
        fake.counts = {("20261206", "501", "page_view"): 1_001, ("20261206", "502", "page_view"): 2}
        (page,) = make_source().pull(None)
        assert [e.ids["hubspot"] for e in page.events] == ["502", "502"]
        (reject,) = page.rejects
        assert "not a person's" in reject.reason

    def test_resource_exhausted_stops_with_the_pages_read_kept(self, fake: FakeGa4) -> None:
        fake.counts = {(f"2026120{day}", "501", "page_view"): 1 for day in range(1, 6)}
        pulled = make_source(page_size=2).pull(None)
        first = next(pulled)
        fake.fail_next(429, "RESOURCE_EXHAUSTED", "Exhausted property tokens per hour.")
        with pytest.raises(LimitReachedError) as stopped:
            next(pulled)

        assert stopped.value.retry_after == datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
        assert "RESOURCE_EXHAUSTED" in str(stopped.value)
        assert orjson.loads(first.cursor or "")["sweep"]["offset"] == 2

    def test_5xx_is_retried_by_connector_retry_not_the_client(self, fake: FakeGa4) -> None:
        fake.counts = {("20261206", "501", "page_view"): 1}
        fake.fail_next(500, "UNKNOWN")
        fake.fail_next(503, "UNAVAILABLE")
        with structlog.testing.capture_logs() as logs:
            (page,) = make_source().pull(None)

        assert len(page.events) == 1
        assert [e["attempt"] for e in logs if e["event"] == "call.retry"] == [1, 2]

    def test_5xx_past_the_attempts_is_a_retriable_error(self, fake: FakeGa4) -> None:
        for _ in range(NO_WAIT.attempts):
            fake.fail_next(500, "INTERNAL")
        with pytest.raises(RetriableError):
            list(make_source().pull(None))

    def test_an_unknown_dimension_is_a_config_error(self, fake: FakeGa4) -> None:
        fake.fail_next(400, "INVALID_ARGUMENT", "Field customUser:crm_id is not valid.")
        with pytest.raises(ConfigError) as refused:
            list(make_source().pull(None))
        assert refused.value.key == "sources.web.user_dimension"


def test_nothing_here_logs_through_the_standard_library(caplog: pytest.LogCaptureFixture) -> None:
    """The client's own loggers stay quiet at warning level (no retries of its own)."""
    caplog.set_level(logging.WARNING)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = FakeGa4().mock(rsps)
        fake.fail_next(500, "UNKNOWN")
        list(make_source().pull(None))
    assert not [r for r in caplog.records if r.name.startswith("google")]


class TestTheChecker:
    """The discovery checker the fake runs refuses what Google's API would not take."""

    @pytest.mark.parametrize(
        "body",
        [
            {"dimensions": [{"name": "date", "label": "x"}]},  # a key not in Dimension
            {"limit": 10},  # int64 travels as a string in JSON
            {"returnPropertyQuota": "true"},
            {"orderBys": [{"dimension": {"dimensionName": "date", "orderType": "NUMERIC"}}]},
        ],
        ids=["unknown-key", "int64-as-number", "bool-as-text", "enum-as-text"],
    )
    def test_a_body_off_the_schema_fails(self, body: dict[str, object]) -> None:
        checker = FakeGa4().checker
        with pytest.raises(AssertionError):
            checker.check(body, {"$ref": "RunReportRequest"})

    def test_paths_and_methods_are_the_documents(self) -> None:
        checker = FakeGa4().checker
        query = "%24alt=json%3Benum-encoding%3Dint"
        found = checker.method("POST", f"/v1beta/properties/{PROPERTY}:runReport", query)
        assert found["id"] == "analyticsdata.properties.runReport"
        with pytest.raises(AssertionError):
            checker.method("GET", f"/v1beta/properties/{PROPERTY}:runReport", query)
        with pytest.raises(AssertionError):
            checker.method("POST", f"/v1beta/properties/{PROPERTY}:runReport", "")
        with pytest.raises(AssertionError):
            checker.method("POST", f"/v1/properties/{PROPERTY}:runReport", query)
