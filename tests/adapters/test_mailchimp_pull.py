"""The mailchimp source's pull and backfill, through the official client, against a fake
Mailchimp answering the fixtures' data (``responses``)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import responses
from structlog.testing import capture_logs

from adapters.mailchimp.client import MailchimpApi
from adapters.mailchimp.source import MailchimpActivitySource
from connector.errors import ConfigError, RetriableError
from connector.ports import Page, RangeSource, ReportsLag
from connector.retry import RetryPolicy
from tests.adapters.mailchimp_fake import API_KEY, SERVER, FakeMailchimp

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
ALICE = "e20aaa3640334a1f241ab444d6bf182a"
BOB = "53231e016b0d0d78961fd5f0c3561e62"
CAROL = "a73149c8153f64dc2e3f4f55911e0cf8"
DAN = "5e5efbbf3bd9c57f73e022dcb2eb6f5a"
ACTIVITY = "/reports/42694e9e57/email-activity"
# Mailchimp's detail of a 401 (its errors page, "API Key Invalid").
WRONG_KEY = "Your API key may be invalid, or you've attempted to access the wrong datacenter."


@pytest.fixture(autouse=True)
def _no_mailchimp_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MAILCHIMP_"):
            monkeypatch.delenv(name)


@pytest.fixture
def fake() -> Iterator[FakeMailchimp]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield FakeMailchimp(rsps)


def make_source(
    sleeps: list[float] | None = None, *, page_size: int = 2, mark_bots: bool = True
) -> MailchimpActivitySource:
    api = MailchimpApi(
        api_key=API_KEY,
        server=SERVER,
        api_key_env="MAILCHIMP_API_KEY",
        key="sources.newsletter.api_key_env",
        policy=RetryPolicy(attempts=3, backoff_s=0.0),
        sleep=(sleeps if sleeps is not None else []).append,
    )
    return MailchimpActivitySource(
        "newsletter", api, page_size=page_size, mark_bot_activity=mark_bots, clock=lambda: NOW
    )


def seen(pages: list[Page]) -> list[tuple[object, ...]]:
    return [
        (e.kind.value, e.email, e.occurred_at.isoformat(), e.url, dict(e.ids), dict(e.attributes))
        for page in pages
        for e in page.events
    ]


def message(campaign: str, member: str) -> dict[str, str]:
    return {"message_id": f"{campaign}-{member}", "campaign": campaign}


MACHINE = {"machine": "mailchimp filter_bots"}

ALL_EVENTS = [
    ("email_open", "alice@acme.example", "2026-12-01T09:00:04+00:00", None,
     {"mailchimp": ALICE}, {**message("42694e9e57", ALICE), **MACHINE}),
    ("email_open", "alice@acme.example", "2026-12-01T10:15:00+00:00", None,
     {"mailchimp": ALICE}, message("42694e9e57", ALICE)),
    ("email_click", "alice@acme.example", "2026-12-01T10:16:30+00:00",
     "https://acme.example/pricing", {"mailchimp": ALICE}, message("42694e9e57", ALICE)),
    ("bounce", "bob@beta.example", "2026-12-01T09:01:00+00:00", None,
     {"mailchimp": BOB}, {**message("42694e9e57", BOB), "type": "hard"}),
    ("email_click", "carol@gamma.example", "2026-12-01T09:00:02+00:00",
     "https://acme.example/whitepaper", {"mailchimp": CAROL},
     {**message("42694e9e57", CAROL), **MACHINE}),
    ("email_click", "carol@gamma.example", "2026-12-02T08:00:00+00:00",
     "https://acme.example/whitepaper", {"mailchimp": CAROL}, message("42694e9e57", CAROL)),
    ("bounce", "dan@delta.example", "2026-12-03T14:31:00+00:00", None,
     {"mailchimp": DAN}, {**message("b1c2d3e4f5", DAN), "type": "soft"}),
    ("email_open", "dan@delta.example", "2026-12-04T07:45:00+00:00", None,
     {"mailchimp": DAN}, message("b1c2d3e4f5", DAN)),
]  # fmt: skip


class TestPull:
    def test_first_pull_reads_the_window_campaigns_and_marks_bot_activity(
        self, fake: FakeMailchimp
    ) -> None:
        """A first pull lists the campaigns sent in the last 30 days and reads each one's
        activity, offset-paged, twice a page (the second with filter_bots=true): what the
        filtered read leaves out carries the machine flag."""
        pages = list(make_source().pull(None))

        assert seen(pages) == ALL_EVENTS
        assert [p.skipped for p in pages] == [0, 0, 0]
        assert [p.rejects for p in pages] == [(), (), ()]
        assert fake.calls_to("/campaigns") == [
            {
                "status": ["sent"],
                "since_send_time": ["2026-11-05T12:00:00+00:00"],
                "count": ["1000"],
                "offset": ["0"],
                "sort_field": ["send_time"],
                "sort_dir": ["ASC"],
                "fields": ["campaigns.id,campaigns.send_time,total_items"],
            }
        ]
        left_out = {"exclude_fields": ["_links,emails._links"]}
        assert fake.calls_to(ACTIVITY) == [
            {**left_out, "count": ["2"], "offset": ["0"]},
            {**left_out, "count": ["2"], "offset": ["0"], "filter_bots": ["true"]},
            {**left_out, "count": ["2"], "offset": ["2"]},
            {**left_out, "count": ["2"], "offset": ["2"], "filter_bots": ["true"]},
        ]
        # Every call goes to the key's data center with the key as basic auth.
        assert all(call.request.headers["Authorization"].startswith("Basic ")
                   for call in fake.rsps.calls)  # fmt: skip

    def test_each_page_asks_for_the_next_offset(self, fake: FakeMailchimp) -> None:
        pages = list(make_source(page_size=1, mark_bots=False).pull(None))

        assert [q["offset"] for q in fake.calls_to(ACTIVITY)] == [["0"], ["1"], ["2"]]
        assert [len(p.events) for p in pages] == [3, 1, 2, 2]
        assert seen(pages) == [(*e[:5], {k: v for k, v in e[5].items() if k != "machine"})
                               for e in ALL_EVENTS]  # fmt: skip

    def test_event_ids_are_stable_across_reads(self, fake: FakeMailchimp) -> None:
        """Reading the same activity twice gives the same event ids (the ledger keeps one)."""
        first = [e.source_event_id for p in make_source().pull(None) for e in p.events]
        second = [e.source_event_id for p in make_source().pull(None) for e in p.events]

        assert first == second
        assert len(set(first)) == len(ALL_EVENTS)
        assert all(event_id.startswith("mc-") for event_id in first)

    def test_a_killed_pull_resumes_after_its_last_committed_page(self, fake: FakeMailchimp) -> None:
        """Stopped after its first page, a pull from that page's cursor reads the rest:
        nothing missing, nothing read twice."""
        first_page = next(iter(make_source().pull(None)))
        rest = list(make_source().pull(first_page.cursor))

        assert seen([first_page, *rest]) == ALL_EVENTS
        resumed = [(q["offset"], q.get("filter_bots")) for q in fake.calls_to(ACTIVITY)[2:]]
        assert resumed == [(["2"], None), (["2"], ["true"])]

    def test_the_next_pull_reads_from_the_last_activity_less_the_overlap(
        self, fake: FakeMailchimp
    ) -> None:
        """A finished campaign is read again from its latest activity less 5 minutes,
        so late activity is caught; what comes back again has the ids already stored."""
        source = make_source(page_size=1000)
        first = list(source.pull(None))
        again = list(source.pull(first[-1].cursor))

        assert [q.get("since") for q in fake.calls_to(ACTIVITY)] == [
            None, None, ["2026-12-02T07:55:00+00:00"], ["2026-12-02T07:55:00+00:00"]
        ]  # fmt: skip
        assert [q.get("since") for q in fake.calls_to("/reports/b1c2d3e4f5/email-activity")] == [
            None, None, ["2026-12-04T07:40:00+00:00"], ["2026-12-04T07:40:00+00:00"]
        ]  # fmt: skip
        first_ids = {e.source_event_id for p in first for e in p.events}
        again_ids = [e.source_event_id for p in again for e in p.events]
        assert len(again_ids) == 2  # carol's last click and dan's open, read again
        assert set(again_ids) <= first_ids

    def test_a_campaign_without_activity_is_read_again_from_the_last_pull_less_the_overlap(
        self, fake: FakeMailchimp
    ) -> None:
        for member in fake.members["b1c2d3e4f5"]:
            member["activity"] = []
        source = make_source(page_size=1000, mark_bots=False)
        first = list(source.pull(None))
        again = list(source.pull(first[-1].cursor))

        assert [r for p in [*first, *again] for r in p.rejects] == []

        assert [q.get("since") for q in fake.calls_to("/reports/b1c2d3e4f5/email-activity")] == [
            None, ["2026-12-05T11:55:00+00:00"]
        ]  # fmt: skip

    def test_a_pull_after_a_long_stop_reads_the_campaigns_sent_meanwhile(
        self, fake: FakeMailchimp
    ) -> None:
        """Campaigns sent after the last one seen are read even when they are older than
        the window (the pulls stopped for longer than lookback_days)."""
        cursor = json.dumps({"v": 1, "sent_until": "2026-09-30T00:00:00+00:00", "campaigns": {}})
        pages = list(make_source(page_size=1000).pull(cursor))

        assert fake.calls_to("/campaigns")[0]["since_send_time"] == ["2026-09-30T00:00:00+00:00"]
        assert [e.occurred_at.isoformat() for e in pages[0].events] == ["2026-10-01T11:00:00+00:00"]
        assert json.loads(pages[-1].cursor or "")["sent_until"] == "2026-12-03T14:30:00+00:00"

    def test_a_campaign_older_than_the_window_is_no_longer_followed(
        self, fake: FakeMailchimp
    ) -> None:
        """Once its send time is past the window and seen, a campaign is dropped from the
        cursor and not read."""
        cursor = json.dumps(
            {
                "v": 1,
                "sent_until": "2026-12-03T14:30:00+00:00",
                "campaigns": {
                    "0a1b2c3d4e": {"read_to": "2026-10-01T11:00:00+00:00", "sweep": None}
                },
            }
        )
        pages = list(make_source(page_size=1000).pull(cursor))

        assert fake.calls_to("/reports/0a1b2c3d4e/email-activity") == []
        assert sorted(json.loads(pages[-1].cursor or "")["campaigns"]) == [
            "42694e9e57",
            "b1c2d3e4f5",
        ]

    def test_a_member_the_filtered_read_lacks_is_not_judged(self, fake: FakeMailchimp) -> None:
        """When the two reads of a page do not hold the same members, those missing from
        the filtered one keep their activity unmarked: no proof it was a bot's."""
        fake.missing_when_filtered = {CAROL}
        pages = list(make_source(page_size=1000).pull(None))

        carol = [e.attributes.get("machine") for p in pages for e in p.events
                 if e.email == "carol@gamma.example"]  # fmt: skip
        alice = [e.attributes.get("machine") for p in pages for e in p.events
                 if e.email == "alice@acme.example"]  # fmt: skip
        assert (carol, alice) == ([None, None], ["mailchimp filter_bots", None, None])

    def test_without_bot_marking_each_page_is_read_once(self, fake: FakeMailchimp) -> None:
        """mark_bot_activity = false: one call a page, no machine flag."""
        pages = list(make_source(page_size=1000, mark_bots=False).pull(None))

        assert [q.get("filter_bots") for q in fake.calls_to(ACTIVITY)] == [None]
        assert all("machine" not in e.attributes for p in pages for e in p.events)
        assert len(seen(pages)) == len(ALL_EVENTS)

    def test_a_cursor_it_did_not_write_starts_over(self, fake: FakeMailchimp) -> None:
        pages = list(make_source(page_size=1000).pull("not json"))

        assert seen(pages) == ALL_EVENTS


class TestLag:
    def test_status_says_how_far_the_campaigns_are_read(self, fake: FakeMailchimp) -> None:
        """From the cursor alone: `leadsync status` makes no call to Mailchimp."""
        source = make_source()
        assert isinstance(source, ReportsLag)
        pages = list(source.pull(None))
        calls = len(fake.rsps.calls)

        assert [source.lag(None), source.lag(pages[0].cursor), source.lag(pages[-1].cursor)] == [
            "no campaign read yet",
            "1 campaign followed, 1 part-read",
            "2 campaigns followed, each read to 2026-12-02 08:00 UTC at least",
        ]  # fmt: skip
        assert len(fake.rsps.calls) == calls


class TestUnreadable:
    def test_a_bad_member_and_a_bad_action_are_set_aside_alone(self, fake: FakeMailchimp) -> None:
        """A member that is not an object and an action without a time are rejects with
        their position; the rest of the page is read."""
        fake.members["42694e9e57"].insert(0, ["not", "a", "member"])  # type: ignore[arg-type]
        fake.members["42694e9e57"][2]["activity"].append({"action": "open", "timestamp": "soon"})
        fake.members["42694e9e57"][2]["activity"].append(
            {"action": "sent", "timestamp": "2026-12-01T09:00:00+00:00"}
        )
        pages = list(make_source(page_size=1000, mark_bots=False).pull(None))

        rejects = [r for p in pages for r in p.rejects]
        assert [(r.source, r.location, r.line, r.reason, r.raw) for r in rejects] == [
            ("newsletter", "mailchimp campaign 42694e9e57", 1,
             "a member is a list, not an object", '["not","a","member"]'),
            ("newsletter", "mailchimp campaign 42694e9e57", 3,
             "an activity without an action or an ISO 8601 timestamp",
             '{"action":"open","timestamp":"soon"}'),
        ]  # fmt: skip
        assert len(seen(pages)) == len(ALL_EVENTS)
        assert pages[0].skipped == 1  # the unknown action "sent"


class TestFailures:
    def test_a_429_is_retried_after_its_retry_after(self, fake: FakeMailchimp) -> None:
        fake.fail_next(
            ACTIVITY, 429,
            json.dumps({"title": "Too Many Requests", "status": 429, "detail": "10 at once"}),
            **{"Retry-After": "3", "Content-Type": "application/problem+json"},
        )  # fmt: skip
        sleeps: list[float] = []
        pages = list(make_source(sleeps, page_size=1000).pull(None))

        assert sleeps == [3.0]
        assert seen(pages) == ALL_EVENTS

    def test_a_rate_limit_beyond_the_longest_wait_stops_and_keeps_what_was_read(
        self, fake: FakeMailchimp
    ) -> None:
        """A Retry-After longer than the policy's longest wait is not waited: the error
        goes up, the pages before it stand, and the next pull resumes after them."""
        sleeps: list[float] = []
        pages = make_source(sleeps).pull(None)
        first = next(pages)
        fake.fail_next(ACTIVITY, 429, '{"title": "Too Many Requests"}', **{"Retry-After": "3600"})
        with pytest.raises(RetriableError, match="Mailchimp answered 429") as caught:
            next(pages)
        rest = list(make_source().pull(first.cursor))

        assert (sleeps, caught.value.retry_after_s) == ([], 3600.0)
        assert seen([first, *rest]) == ALL_EVENTS

    def test_a_bodiless_503_is_retried(self, fake: FakeMailchimp) -> None:
        """The client hands back an answer without a body instead of raising: it is a 503
        all the same."""
        fake.fail_next("/campaigns", 503)
        sleeps: list[float] = []
        pages = list(make_source(sleeps, page_size=1000).pull(None))

        assert len(sleeps) == 1
        assert seen(pages) == ALL_EVENTS

    def test_a_5xx_that_lasts_goes_up_as_retriable(self, fake: FakeMailchimp) -> None:
        fake.rsps.assert_all_requests_are_fired = False  # the listing fails first
        for _ in range(3):
            fake.fail_next(
                "/campaigns", 502, "<html>Bad gateway</html>", **{"Content-Type": "text/html"}
            )
        with pytest.raises(RetriableError, match="Mailchimp answered 502") as caught:
            list(make_source(page_size=1000).pull(None))
        assert caught.value.status == 502

    def test_a_refused_key_is_a_config_error_naming_its_variable(self, fake: FakeMailchimp) -> None:
        fake.rsps.assert_all_requests_are_fired = False  # the listing fails first
        fake.fail_next(
            "/campaigns", 401,
            json.dumps({"title": "API Key Invalid", "status": 401, "detail": WRONG_KEY}),
            **{"Content-Type": "application/problem+json"},
        )  # fmt: skip
        with pytest.raises(
            ConfigError, match=r"MAILCHIMP_API_KEY \(401: API Key Invalid"
        ) as caught:
            list(make_source().pull(None))
        assert caught.value.key == "sources.newsletter.api_key_env"
        assert API_KEY not in str(caught.value)

    def test_a_campaign_deleted_since_it_was_listed_is_skipped(self, fake: FakeMailchimp) -> None:
        del fake.members["b1c2d3e4f5"]
        with capture_logs() as logs:
            pages = list(make_source(page_size=1000).pull(None))

        assert seen(pages) == ALL_EVENTS[:6]
        assert sorted(json.loads(pages[-1].cursor or "")["campaigns"]) == ["42694e9e57"]
        assert {"event": "mailchimp.campaign_gone", "source": "newsletter",
                "campaign": "b1c2d3e4f5", "log_level": "warning"} in logs  # fmt: skip


class TestBackfill:
    SINCE = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    UNTIL = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)

    def test_a_range_keeps_only_its_events_and_counts_the_others(self, fake: FakeMailchimp) -> None:
        """The campaigns sent from 30 days before the range to its end are read from the
        range's start; events after its end are skipped, not stored."""
        source: RangeSource = make_source(page_size=1000)
        pages = list(source.pull_range(self.SINCE, self.UNTIL, None))

        assert seen(pages) == [ALL_EVENTS[1], ALL_EVENTS[2]]
        assert sum(p.skipped for p in pages) == 1  # carol's click of 2 December
        assert fake.calls_to("/campaigns")[0]["since_send_time"] == ["2026-11-01T10:00:00+00:00"]
        assert fake.calls_to("/campaigns")[0]["before_send_time"] == ["2026-12-02T00:00:00+00:00"]
        assert fake.calls_to(ACTIVITY)[0]["since"] == ["2026-12-01T10:00:00+00:00"]

    def test_a_stopped_backfill_resumes_from_its_own_cursor(self, fake: FakeMailchimp) -> None:
        source = make_source(page_size=1)
        first = next(iter(source.pull_range(self.SINCE, None, None)))
        rest = list(source.pull_range(self.SINCE, None, first.cursor))
        whole = list(make_source(page_size=1).pull_range(self.SINCE, None, None))

        assert seen([first, *rest]) == seen(whole)
        # alice's open and click, carol's click, dan's bounce and open
        assert len(seen(whole)) == 5
