"""The Brevo backfill: the contacts of the configured lists, each one's campaignStats in
windows of at most 90 days, through the official client against a loopback server that
answers with the examples of shared/specs/brevo/wiremock-mappings.json
(tests/fixtures/brevo/)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from adapters.brevo.backfill import MAX_SPAN_DAYS, BrevoBackfill, stat_windows
from adapters.brevo.client import BrevoApi, brevo_client
from adapters.brevo.webhook import BrevoWebhook
from connector.errors import ConfigError, FatalError, RetriableError
from connector.model import EventKind
from connector.ports import Page, RangeSource, WebhookRequest
from connector.retry import RetryPolicy

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "brevo"
API_KEY = "xkeysib-test-key-0123456789"
TODAY = date(2026, 12, 7)
SINCE = datetime(2016, 5, 1, tzinfo=UTC)
UNTIL = datetime(2016, 6, 1, tzinfo=UTC)


def fixture(name: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((FIXTURES / name).read_text())
    return loaded


CONTACTS: list[dict[str, object]] = fixture("list_contacts.json")["contacts"]  # type: ignore[assignment]


def serve_list(httpserver: HTTPServer, list_id: int, contacts: list[dict[str, object]]) -> None:
    """The list's contacts, paged by offset and limit as Brevo pages them."""

    def handler(request: Request) -> Response:
        assert request.args.get("sort") == "asc"
        offset = int(request.args.get("offset", 0))
        limit = int(request.args.get("limit", 50))
        body = {"contacts": contacts[offset : offset + limit], "count": len(contacts)}
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request(f"/v3/contacts/lists/{list_id}/contacts").respond_with_handler(
        handler
    )


def serve_stats(httpserver: HTTPServer, contact_id: int, stats: dict[str, object]) -> None:
    httpserver.expect_request(f"/v3/contacts/{contact_id}/campaignStats").respond_with_json(stats)


def backfill_of(
    httpserver: HTTPServer,
    *,
    lists: tuple[int, ...] = (7,),
    per_page: int = 500,
    sleeps: list[float] | None = None,
    policy: RetryPolicy | None = None,
) -> BrevoBackfill:
    client = brevo_client(API_KEY, base_url=httpserver.url_for("/v3"), timeout_s=5)
    api = BrevoApi(
        client,
        key_env="BREVO_API_KEY",
        policy=policy or RetryPolicy(attempts=3, backoff_s=0.01, max_wait_s=60),
        sleep=(sleeps if sleeps is not None else []).append,
    )
    return BrevoBackfill("brevo", api, lists=lists, contacts_per_page=per_page, today=lambda: TODAY)


def stats_calls(httpserver: HTTPServer) -> list[tuple[str, date, date]]:
    calls = []
    for request, _ in httpserver.log:
        if request.path.endswith("/campaignStats"):
            start = date.fromisoformat(request.args["startDate"])
            end = date.fromisoformat(request.args["endDate"])
            calls.append((request.path.split("/")[3], start, end))
    return calls


def test_the_backfill_is_a_range_source_on_a_loopback_server(httpserver: HTTPServer) -> None:
    assert isinstance(backfill_of(httpserver), RangeSource)
    assert httpserver.host in ("localhost", "127.0.0.1")  # pytest-httpserver's loopback


def test_a_contact_s_campaign_activity_in_the_range(httpserver: HTTPServer) -> None:
    serve_list(httpserver, 7, CONTACTS)
    serve_stats(httpserver, 45, fixture("campaign_stats.json"))
    serve_stats(httpserver, 32, {})
    serve_stats(httpserver, 65, {})
    pages = list(backfill_of(httpserver).pull_range(SINCE, UNTIL, None))
    assert len(pages) == 3  # one per contact, each with its cursor
    first = pages[0]
    assert first.rejects == ()
    kinds = sorted((event.kind.value, event.occurred_at.isoformat()) for event in first.events)
    assert kinds == [
        ("email_click", "2016-05-03T21:25:01+00:00"),
        ("email_delivered", "2016-05-03T21:24:56+00:00"),
        ("email_open", "2016-05-03T21:24:56+00:00"),
        ("email_sent", "2016-05-03T20:15:13+00:00"),
    ]
    # Outside the range: two sends and an open of later campaigns, a complaint, two
    # bounces and an unsubscription of 2017; and an admin's unsubscription, not the person's.
    assert first.skipped == 8
    for event in first.events:
        assert event.email == "alex.pain@example.com"
        assert event.ids == {"brevo": "45"}
        assert event.attributes["campaign"] == "21"
        assert event.attributes["message_id"] == "21:alex.pain@example.com"
    click = next(event for event in first.events if event.kind is EventKind.EMAIL_CLICK)
    assert click.url == "https://url.domain.com/fbe5387ec717e333628380454f68670010b205ff/1/go"
    assert click.attributes["clicks"] == 2
    assert click.attributes["ip"] == "66.249.93.118"
    assert [page.events for page in pages[1:]] == [(), ()]
    # The key went as Brevo's api-key header, to the loopback server only.
    assert {request.headers["api-key"] for request, _ in httpserver.log} == {API_KEY}


def test_every_kind_of_the_statistics_over_a_wide_range(httpserver: HTTPServer) -> None:
    serve_list(httpserver, 7, CONTACTS[:1])
    serve_stats(httpserver, 45, fixture("campaign_stats.json"))
    (page,) = backfill_of(httpserver).pull_range(
        datetime(2016, 1, 1, tzinfo=UTC), datetime(2018, 1, 1, tzinfo=UTC), None
    )
    # The loopback server answers every window with the same example: each event is kept once.
    counted: dict[str, int] = {}
    for event in page.events:
        counted[event.kind.value] = counted.get(event.kind.value, 0) + 1
    assert counted == {
        "email_sent": 3,
        "email_delivered": 1,
        "email_open": 2,
        "email_click": 1,
        "bounce": 2,
        "spam_report": 1,
        "unsubscribe": 1,
    }
    bounces = {e.attributes["type"] for e in page.events if e.kind is EventKind.BOUNCE}
    assert bounces == {"hard", "soft"}


def test_the_range_is_asked_in_windows_of_at_most_90_days(httpserver: HTTPServer) -> None:
    serve_list(httpserver, 7, CONTACTS[:1])
    serve_stats(httpserver, 45, {})
    since, until = datetime(2016, 1, 1, tzinfo=UTC), datetime(2016, 8, 1, tzinfo=UTC)
    list(backfill_of(httpserver).pull_range(since, until, None))
    calls = stats_calls(httpserver)
    assert len(calls) == 3
    assert calls[0][1] <= since.date() and calls[-1][2] >= (until - timedelta(days=1)).date()
    for (_, _, end), (_, next_start, _) in itertools.pairwise(calls):
        assert next_start == end + timedelta(days=1)  # no gap, no overlap
    assert all((end - start).days <= MAX_SPAN_DAYS for _, start, end in calls)


def test_no_window_goes_past_today() -> None:
    windows = stat_windows(datetime(2026, 11, 1, tzinfo=UTC), None, TODAY)
    assert windows[-1][1] == TODAY
    assert stat_windows(datetime(2026, 12, 20, tzinfo=UTC), None, TODAY) == []


def test_the_backfill_and_the_webhook_give_one_event_the_same_id(httpserver: HTTPServer) -> None:
    serve_list(httpserver, 7, CONTACTS[:1])
    serve_stats(httpserver, 45, fixture("campaign_stats.json"))
    (page,) = backfill_of(httpserver).pull_range(SINCE, UNTIL, None)
    opened_at = int(datetime(2016, 5, 3, 21, 24, 56, tzinfo=UTC).timestamp())
    clicked_at = int(datetime(2016, 5, 3, 21, 25, 1, tzinfo=UTC).timestamp())
    common = {"id": 99, "camp_id": 21, "email": "Alex.Pain@example.com", "tag": ""}
    payloads = [
        {**common, "event": "opened", "ts_event": opened_at},
        {
            **common,
            "event": "click",
            "ts_event": clicked_at,
            "URL": "https://url.domain.com/fbe5387ec717e333628380454f68670010b205ff/1/go",
        },
    ]
    webhook = BrevoWebhook("brevo", token="t" * 8, token_header=None, token_env="X")
    sent = webhook.read(
        WebhookRequest(json.dumps(payloads).encode(), {}, {}, datetime.now(UTC))
    ).events
    backfilled = {event.source_event_id for event in page.events}
    assert {event.source_event_id for event in sent} <= backfilled


def test_lists_are_read_page_by_page(httpserver: HTTPServer) -> None:
    serve_list(httpserver, 7, CONTACTS)
    for contact in CONTACTS:
        serve_stats(httpserver, int(contact["id"]), {})  # type: ignore[call-overload]
    pages = list(backfill_of(httpserver, per_page=2).pull_range(SINCE, UNTIL, None))
    assert len(pages) == 3
    offsets = [
        request.args["offset"]
        for request, _ in httpserver.log
        if request.path.endswith("/contacts") and "lists" in request.path
    ]
    assert offsets == ["0", "2"]


def _cursor_after(pages: Iterator[Page], contacts: int) -> str:
    cursor = None
    for _ in range(contacts):
        cursor = next(pages).cursor
    assert cursor is not None
    return cursor


def test_a_stopped_backfill_resumes_after_the_last_contact_committed(
    httpserver: HTTPServer,
) -> None:
    serve_list(httpserver, 7, CONTACTS)
    for contact in CONTACTS:
        serve_stats(httpserver, int(contact["id"]), {})  # type: ignore[call-overload]
    cursor = _cursor_after(backfill_of(httpserver).pull_range(SINCE, UNTIL, None), 1)
    httpserver.clear_log()
    resumed = list(backfill_of(httpserver).pull_range(SINCE, UNTIL, cursor))
    assert [call[0] for call in stats_calls(httpserver)] == ["32", "65"]
    assert len(resumed) == 2


def test_a_resume_after_the_list_lost_a_contact_reads_every_one_left(
    httpserver: HTTPServer,
) -> None:
    serve_list(httpserver, 7, CONTACTS)
    for contact in CONTACTS:
        serve_stats(httpserver, int(contact["id"]), {})  # type: ignore[call-overload]
    cursor = _cursor_after(backfill_of(httpserver).pull_range(SINCE, UNTIL, None), 2)
    httpserver.clear()
    # Contact 45, read before the stop, left the list: 65 moved to where 32 was.
    serve_list(httpserver, 7, [CONTACTS[1], CONTACTS[2]])
    for contact in CONTACTS:
        serve_stats(httpserver, int(contact["id"]), {})  # type: ignore[call-overload]
    list(backfill_of(httpserver).pull_range(SINCE, UNTIL, cursor))
    assert [call[0] for call in stats_calls(httpserver)] == ["65"]


def test_a_second_list_follows_the_first_and_a_resume_skips_the_first(
    httpserver: HTTPServer,
) -> None:
    serve_list(httpserver, 7, CONTACTS[:1])
    serve_list(httpserver, 8, CONTACTS[1:2])
    for contact in CONTACTS[:2]:
        serve_stats(httpserver, int(contact["id"]), {})  # type: ignore[call-overload]
    pages = backfill_of(httpserver, lists=(7, 8)).pull_range(SINCE, UNTIL, None)
    cursor = _cursor_after(pages, 2)
    assert json.loads(cursor)["list"] == 8
    httpserver.clear_log()
    assert list(backfill_of(httpserver, lists=(7, 8)).pull_range(SINCE, UNTIL, cursor)) == []
    assert stats_calls(httpserver) == []


def test_a_429_waits_what_x_sib_ratelimit_reset_says(httpserver: HTTPServer) -> None:
    serve_list(httpserver, 7, CONTACTS[:1])
    httpserver.expect_oneshot_request("/v3/contacts/45/campaignStats").respond_with_json(
        {"code": "too_many_requests", "message": "Too many requests"},
        status=429,
        headers={
            "x-sib-ratelimit-limit": "10",
            "x-sib-ratelimit-remaining": "0",
            "x-sib-ratelimit-reset": "7",
        },
    )
    serve_stats(httpserver, 45, fixture("campaign_stats.json"))
    sleeps: list[float] = []
    (page,) = backfill_of(httpserver, sleeps=sleeps).pull_range(SINCE, UNTIL, None)
    assert sleeps == [7.0]
    assert len(page.events) == 4


def test_a_rate_limit_longer_than_the_longest_wait_stops_and_keeps_what_was_read(
    httpserver: HTTPServer,
) -> None:
    serve_list(httpserver, 7, CONTACTS)
    serve_stats(httpserver, 45, fixture("campaign_stats.json"))
    httpserver.expect_request("/v3/contacts/32/campaignStats").respond_with_json(
        {"code": "too_many_requests", "message": "Too many requests"},
        status=429,
        headers={"x-sib-ratelimit-reset": "3600"},
    )
    sleeps: list[float] = []
    pages = backfill_of(httpserver, sleeps=sleeps).pull_range(SINCE, UNTIL, None)
    first = next(pages)
    assert len(first.events) == 4 and first.cursor is not None
    with pytest.raises(RetriableError) as stopped:
        next(pages)
    assert stopped.value.status == 429
    assert stopped.value.retry_after_s == 3600
    assert sleeps == []  # not waited: the run stops, its committed pages kept


def test_a_5xx_is_retried_and_then_goes_up(httpserver: HTTPServer) -> None:
    serve_list(httpserver, 7, CONTACTS[:1])
    httpserver.expect_request("/v3/contacts/45/campaignStats").respond_with_json(
        {"code": "internal_error", "message": "boom"}, status=502
    )
    sleeps: list[float] = []
    with pytest.raises(RetriableError) as failed:
        list(backfill_of(httpserver, sleeps=sleeps).pull_range(SINCE, UNTIL, None))
    assert failed.value.status == 502
    assert len(sleeps) == 2  # three attempts
    assert len(stats_calls(httpserver)) == 3


def test_a_refused_key_is_a_config_error_naming_its_variable(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v3/contacts/lists/7/contacts").respond_with_json(
        {"code": "unauthorized", "message": "Key not found"}, status=401
    )
    with pytest.raises(ConfigError) as refused:
        list(backfill_of(httpserver).pull_range(SINCE, UNTIL, None))
    assert "BREVO_API_KEY" in str(refused.value)
    assert API_KEY not in str(refused.value)


def test_a_list_brevo_does_not_know_names_the_setting(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v3/contacts/lists/7/contacts").respond_with_json(
        {"code": "document_not_found", "message": "List ID does not exist"}, status=404
    )
    with pytest.raises(ConfigError) as unknown:
        list(backfill_of(httpserver).pull_range(SINCE, UNTIL, None))
    assert unknown.value.key == "sources.brevo.lists"


def test_a_contact_deleted_meanwhile_is_passed_over(httpserver: HTTPServer) -> None:
    serve_list(httpserver, 7, CONTACTS[:2])
    httpserver.expect_request("/v3/contacts/45/campaignStats").respond_with_json(
        {"code": "document_not_found", "message": "Contact does not exist"}, status=404
    )
    serve_stats(httpserver, 32, fixture("campaign_stats.json"))
    pages = list(backfill_of(httpserver).pull_range(SINCE, UNTIL, None))
    assert [len(page.events) for page in pages] == [0, 4]


def test_an_unreadable_event_time_is_set_aside(httpserver: HTTPServer) -> None:
    serve_list(httpserver, 7, CONTACTS[:1])
    serve_stats(
        httpserver,
        45,
        {
            "delivered": [
                {"campaignId": 21, "eventTime": "last tuesday"},
                {"campaignId": 21, "eventTime": "2016-05-03T21:24:56Z"},
            ]
        },
    )
    (page,) = backfill_of(httpserver).pull_range(SINCE, UNTIL, None)
    assert len(page.events) == 1
    (reject,) = page.rejects
    assert "eventTime" in reject.reason
    assert reject.location == "brevo GET /contacts/45/campaignStats"
    assert "last tuesday" in reject.raw


def test_brevo_unreachable_is_retriable() -> None:
    client = brevo_client(API_KEY, base_url="http://127.0.0.1:9/v3", timeout_s=2)
    api = BrevoApi(
        client,
        key_env="BREVO_API_KEY",
        policy=RetryPolicy(attempts=2, backoff_s=0.01),
        sleep=lambda _: None,
    )
    backfill = BrevoBackfill("brevo", api, lists=(7,), contacts_per_page=10, today=lambda: TODAY)
    with pytest.raises(RetriableError) as unreachable:
        list(backfill.pull_range(SINCE, UNTIL, None))
    assert "unreachable" in str(unreachable.value)


def test_a_window_ending_today_that_brevo_refuses_is_asked_again_to_yesterday(
    httpserver: HTTPServer,
) -> None:
    serve_list(httpserver, 7, CONTACTS[:1])
    httpserver.expect_request(
        "/v3/contacts/45/campaignStats",
        query_string={"startDate": "2026-11-30", "endDate": "2026-12-07"},
    ).respond_with_json(
        {"code": "invalid_parameter", "message": "endDate must not be greater than current date"},
        status=400,
    )
    serve_stats(
        httpserver, 45, {"delivered": [{"campaignId": 9, "eventTime": "2026-12-03T08:00:00Z"}]}
    )
    (page,) = backfill_of(httpserver).pull_range(datetime(2026, 12, 1, tzinfo=UTC), None, None)
    assert [event.kind for event in page.events] == [EventKind.EMAIL_DELIVERED]
    assert [(start.isoformat(), end.isoformat()) for _, start, end in stats_calls(httpserver)] == [
        ("2026-11-30", "2026-12-07"),
        ("2026-11-30", "2026-12-06"),
    ]


def test_another_refusal_stops_the_backfill(httpserver: HTTPServer) -> None:
    serve_list(httpserver, 7, CONTACTS[:1])
    httpserver.expect_request("/v3/contacts/45/campaignStats").respond_with_json(
        {"code": "invalid_parameter", "message": "startDate is invalid"}, status=400
    )
    with pytest.raises(FatalError, match="startDate is invalid"):
        list(backfill_of(httpserver).pull_range(SINCE, UNTIL, None))
    assert len(stats_calls(httpserver)) == 1  # not retried


def test_a_contact_on_two_lists_is_read_once(httpserver: HTTPServer) -> None:
    serve_list(httpserver, 7, CONTACTS[:2])
    serve_list(httpserver, 8, CONTACTS[1:])
    for contact in CONTACTS:
        serve_stats(httpserver, int(contact["id"]), {})  # type: ignore[call-overload]
    pages = list(backfill_of(httpserver, lists=(7, 8)).pull_range(SINCE, UNTIL, None))
    assert len(pages) == 4  # a cursor for each place on each list
    assert [call[0] for call in stats_calls(httpserver)] == ["45", "32", "65"]


def test_a_checkpoint_of_other_lists_starts_over(httpserver: HTTPServer) -> None:
    serve_list(httpserver, 7, CONTACTS[:1])
    serve_list(httpserver, 8, CONTACTS[1:2])
    for contact in CONTACTS[:2]:
        serve_stats(httpserver, int(contact["id"]), {})  # type: ignore[call-overload]
    cursor = _cursor_after(backfill_of(httpserver, lists=(8,)).pull_range(SINCE, UNTIL, None), 1)
    httpserver.clear_log()
    list(backfill_of(httpserver, lists=(7, 8)).pull_range(SINCE, UNTIL, cursor))
    assert [call[0] for call in stats_calls(httpserver)] == ["45", "32"]


def test_event_times_in_go_s_format_are_read_as_iso_ones(httpserver: HTTPServer) -> None:
    serve_list(httpserver, 7, CONTACTS[:1])
    serve_stats(
        httpserver,
        45,
        {
            "delivered": [{"campaignId": 21, "eventTime": "2016-05-03 21:24:56 +0000 UTC"}],
            "messagesSent": [{"campaignId": 21, "eventTime": "2016-05-03T20:15:13Z"}],
        },
    )
    (page,) = backfill_of(httpserver).pull_range(SINCE, UNTIL, None)
    assert page.rejects == ()
    assert sorted(event.occurred_at for event in page.events) == [
        datetime(2016, 5, 3, 20, 15, 13, tzinfo=UTC),
        datetime(2016, 5, 3, 21, 24, 56, tzinfo=UTC),
    ]
