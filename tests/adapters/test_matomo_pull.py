"""The matomo source's pull against a fake Matomo (``responses``): what it asks, how it
pages a set that moves while it reads, its cursor, and its failures, with the token
never in a URL, a log or an error."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
import requests
import responses
from structlog.testing import capture_logs

from adapters.matomo.client import MatomoApi
from adapters.matomo.source import MatomoVisitSource
from adapters.matomo.visits import VisitReading
from connector.errors import ConfigError, FatalError, RetriableError
from connector.model import EventKind
from connector.ports import Page, ReportsLag
from connector.retry import RetryPolicy
from tests.adapters.matomo_fake import API, TOKEN, FakeMatomo, goal, grow, page_view, visit

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
NOW_S = int(NOW.timestamp())
T0 = NOW_S - 3_600  # an hour ago
LAG_S = 600


@pytest.fixture(autouse=True)
def _no_matomo_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MATOMO_"):
            monkeypatch.delenv(name)


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def make_source(
    page_size: int = 2, sleeps: list[float] | None = None, token: str = TOKEN
) -> MatomoVisitSource:
    api = MatomoApi(
        api_url=API,
        token=token,
        site_id=1,
        token_env="MATOMO_TOKEN",
        keys={
            "url": "sources.web.url",
            "token_env": "sources.web.token_env",
            "site_id": "sources.web.site_id",
        },
        policy=RetryPolicy(attempts=3, backoff_s=0.0),
        sleep=(sleeps if sleeps is not None else []).append,
    )
    reading = VisitReading(
        source="web", site_id=1, goals={"Quote request": EventKind.QUOTE_REQUEST}
    )
    return MatomoVisitSource("web", api, reading, page_size=page_size, clock=lambda: NOW)


def pull_all(source: MatomoVisitSource, cursor: str | None = None) -> tuple[list[Page], str | None]:
    pages = list(source.pull(cursor))
    return pages, pages[-1].cursor if pages else cursor


def event_ids(pages: list[Page]) -> list[str]:
    return [event.source_event_id for page in pages for event in page.events]


def four_visits() -> list[dict[str, Any]]:
    return [
        visit(10 + n, [page_view(f"https://www.example.com/{n}", T0 + 60 * n)], visitor=f"{n:016x}")
        for n in range(4)
    ]


def test_the_token_goes_in_the_body_and_the_query_asks_oldest_first(
    rsps: responses.RequestsMock,
) -> None:
    fake = FakeMatomo(visits=four_visits()).register(rsps)
    pages, cursor = pull_all(make_source(page_size=10))

    assert len(event_ids(pages)) == 8
    (call,) = rsps.calls
    assert call.request.method == "POST"
    assert TOKEN not in str(call.request.url)
    assert parse_qs(str(call.request.body)) == {"token_auth": [TOKEN]}
    query = {k: v[0] for k, v in parse_qs(urlsplit(str(call.request.url)).query).items()}
    assert query == {
        "module": "API",
        "format": "JSON",
        "method": "Live.getLastVisitsDetails",
        "idSite": "1",
        "period": "range",
        "date": "2026-11-29,today",  # the UTC day before the lookback's start
        "minTimestamp": str(NOW_S - 7 * 86_400),
        "filter_limit": "10",
        "filter_offset": "0",
        "filter_sort_order": "asc",
    }
    # The next pull starts the lag before the newest last action seen.
    state = orjson.loads(cursor or "")
    assert (state["since"], state["newest"], state["sweep"]) == (T0 + 180 - LAG_S, T0 + 180, None)
    assert fake.visit_calls[0]["minTimestamp"] == str(NOW_S - 7 * 86_400)


def test_a_visit_that_moves_while_the_pull_pages_leaves_none_unread(
    rsps: responses.RequestsMock,
) -> None:
    """Page 1 holds visits 10 and 11; then visit 10 gains a page and moves to the end of
    Matomo's order. Paging by offset would ask for offset 2 of (11, 12, 13, 10) and never
    see visit 12; asking again from visit 11's second reads every one."""
    visits = four_visits()
    fake = FakeMatomo(visits=visits).register(rsps)

    def moved(call: int) -> None:
        if call == 2:
            grow(visits[0], page_view("https://www.example.com/pricing", T0 + 600))

    fake.before_call = moved
    pages, _ = pull_all(make_source(page_size=2))

    ids = set(event_ids(pages))
    assert {f"1:{10 + n}" for n in range(4)} <= ids
    assert {"1:10:1", "1:10:2", "1:11:1", "1:12:1", "1:13:1"} <= ids
    # Re-reads of the page boundary are the ledger's to drop; the calls stay bounded.
    assert [c["minTimestamp"] for c in fake.visit_calls] == [
        str(NOW_S - 7 * 86_400),
        str(T0 + 60 - 1),
        str(T0 + 120 - 1),
        str(T0 + 180 - 1),
        str(T0 + 600 - 1),  # visit 10 again, alone: the short page that ends the pull
    ]
    assert {c["filter_offset"] for c in fake.visit_calls} == {"0"}


def test_more_visits_in_one_second_than_a_page_go_on_by_offset(
    rsps: responses.RequestsMock,
) -> None:
    same_second = [
        visit(100 + n, [page_view("https://www.example.com/", T0)], visitor=f"{n:016x}")
        for n in range(5)
    ]
    fake = FakeMatomo(visits=same_second).register(rsps)
    pages, _ = pull_all(make_source(page_size=2))

    assert {f"1:{100 + n}" for n in range(5)} == {i for i in event_ids(pages) if i.count(":") == 1}
    offsets = [(c["minTimestamp"], c["filter_offset"]) for c in fake.visit_calls]
    assert offsets[0][1] == "0"
    assert offsets[1] == (str(T0 - 1), "0")  # re-anchored on the page's second
    assert offsets[2:] == [(str(T0 - 1), "2"), (str(T0 - 1), "4")]


def test_a_pull_resumes_from_a_page_cursor_and_a_rerun_reads_the_lag_again(
    rsps: responses.RequestsMock,
) -> None:
    fake = FakeMatomo(visits=four_visits()).register(rsps)
    source = make_source(page_size=2)
    first_page = next(iter(source.pull(None)))
    assert orjson.loads(first_page.cursor or "")["sweep"]["since"] == T0 + 60 - 1

    rest, cursor = pull_all(source, first_page.cursor)
    assert {"1:12", "1:13"} <= set(event_ids(rest))
    assert "1:10" not in event_ids(rest)

    # Nothing new: the lag window (visits within 10 minutes of the newest) is read again.
    fake.visit_calls.clear()
    again, after = pull_all(source, cursor)
    assert fake.visit_calls[0]["minTimestamp"] == str(T0 + 180 - LAG_S)
    assert set(event_ids(again)) == {f"1:{10 + n}" for n in range(4)} | {
        f"1:{10 + n}:1" for n in range(4)
    }
    assert after == cursor
    assert isinstance(source, ReportsLag)
    assert source.lag(cursor) == "visits read to 2026-12-07 11:03 UTC"
    assert source.lag(None) == "no visit read yet"


def test_the_cursor_is_never_later_than_now_less_the_lag(rsps: responses.RequestsMock) -> None:
    # Matomo's clock runs ahead of ours: a visit "in the future".
    ahead = [visit(1, [page_view("https://www.example.com/", NOW_S + 3_600)])]
    FakeMatomo(visits=ahead).register(rsps)
    _, cursor = pull_all(make_source())
    assert orjson.loads(cursor or "")["since"] == NOW_S - LAG_S


def test_a_visit_that_grew_is_answered_again_with_its_new_actions(
    rsps: responses.RequestsMock,
) -> None:
    visits = [visit(7, [page_view("https://www.example.com/", T0)], user_id="ada@example.com")]
    FakeMatomo(visits=visits).register(rsps)
    source = make_source()
    first, cursor = pull_all(source)
    grow(
        visits[0],
        page_view("https://www.example.com/pricing", T0 + 120),
        goal("2", "Quote request", T0 + 130),
    )
    again, _ = pull_all(source, cursor)

    assert event_ids(first) == ["1:7", "1:7:1"]
    assert event_ids(again) == ["1:7", "1:7:1", "1:7:2", "1:7:3"]
    assert [e.kind for e in again[0].events][-1] is EventKind.QUOTE_REQUEST


def test_a_token_matomo_refuses_is_a_config_error_naming_the_variable(
    rsps: responses.RequestsMock,
) -> None:
    FakeMatomo(visits=four_visits(), token="another-token-entirely").register(rsps)
    with capture_logs() as logs, pytest.raises(ConfigError) as caught:
        pull_all(make_source())

    message = str(caught.value)
    assert "MATOMO_TOKEN" in message and caught.value.key == "sources.web.token_env"
    assert "Unable to authenticate" in message
    assert TOKEN not in message + str(caught.value.hint) + repr(logs)
    assert len(rsps.calls) == 1  # not retried
    assert all(TOKEN not in str(call.request.url) for call in rsps.calls)


@pytest.mark.parametrize(
    ("status", "headers", "wait"),
    [(500, {}, 0.0), (503, {}, 0.0), (429, {"Retry-After": "7"}, 7.0)],
)
def test_busy_answers_are_retried_then_a_retriable_error(
    rsps: responses.RequestsMock, status: int, headers: dict[str, str], wait: float
) -> None:
    fake = FakeMatomo(visits=four_visits()).register(rsps)
    for _ in range(3):
        fake.fail_next("Live.getLastVisitsDetails", status, "busy", **headers)
    sleeps: list[float] = []
    with capture_logs() as logs, pytest.raises(RetriableError) as caught:
        pull_all(make_source(sleeps=sleeps))

    assert caught.value.status == status and caught.value.vendor == "matomo"
    assert sleeps[0] == wait and len(sleeps) == 2
    assert any(entry["event"] == "call.retry" for entry in logs)
    assert TOKEN not in str(caught.value) + repr(logs)
    assert all(TOKEN not in str(call.request.url) for call in rsps.calls)


def test_a_busy_answer_then_the_page_goes_on(rsps: responses.RequestsMock) -> None:
    fake = FakeMatomo(visits=four_visits()).register(rsps)
    fake.fail_next("Live.getLastVisitsDetails", 502, "bad gateway")
    pages, _ = pull_all(make_source(page_size=10))
    assert len(event_ids(pages)) == 8


def test_no_answer_is_a_retriable_error(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, API, body=requests.ConnectTimeout("timed out"))
    with pytest.raises(RetriableError) as caught:
        pull_all(make_source())
    assert "did not answer" in str(caught.value) and TOKEN not in str(caught.value)
    assert len(rsps.calls) == 3


def test_an_address_that_is_not_matomo_is_a_config_error_naming_the_url(
    rsps: responses.RequestsMock,
) -> None:
    rsps.add(responses.POST, API, body="<html>login</html>", content_type="text/html")
    with pytest.raises(ConfigError) as caught:
        pull_all(make_source())
    assert caught.value.key == "sources.web.url" and "not JSON" in str(caught.value)


def test_other_matomo_errors_stop_the_pull_with_its_message(rsps: responses.RequestsMock) -> None:
    fake = FakeMatomo().register(rsps)
    fake.fail_next(
        "Live.getLastVisitsDetails",
        200,
        orjson.dumps(
            {"result": "error", "message": "Visits log is deactivated for website id = 1"}
        ).decode(),
    )
    with pytest.raises(ConfigError) as caught:
        pull_all(make_source())
    assert caught.value.key == "sources.web.site_id" and "visits log" in str(caught.value)

    fake.fail_next(
        "Live.getLastVisitsDetails",
        200,
        orjson.dumps({"result": "error", "message": "Something broke in MySQL"}).decode(),
    )
    with pytest.raises(FatalError, match="Something broke in MySQL"):
        pull_all(make_source())
