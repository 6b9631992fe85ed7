"""Mailjet's backfill (opens and clicks from the REST statistics) and ``check --online``,
through the official ``mailjet-rest`` client against ``responses``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import responses
from pydantic import SecretStr
from responses import matchers
from sqlalchemy.engine import Engine

from adapters.mailjet import ADAPTER, MailjetBackfill, MailjetSettings
from adapters.mailjet.client import MailjetApi
from adapters.mailjet.settings import ApiKeys
from connector.errors import ConfigError, FatalError, RetriableError
from connector.model import Event, EventKind
from connector.ports import Page, RangeSource, SourceContext, WebhookRequest
from connector.retry import RetryPolicy
from connector.runners.backfill import backfill
from connector.runners.ingest import ingest
from connector.store.engine import open_store

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mailjet"
REST = "https://api.mailjet.com/v3/REST"
NAME = "newsletters"
SINCE = datetime(2015, 5, 1, tzinfo=UTC)
UNTIL = datetime(2015, 7, 1, tzinfo=UTC)
KEYS = ApiKeys(
    SecretStr("public-key"), SecretStr("private-key"), ("MJ_APIKEY_PUBLIC", "MJ_APIKEY_PRIVATE")
)


@pytest.fixture(autouse=True)
def _mailjet_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("MAILJET_", "MJ_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MJ_APIKEY_PUBLIC", "public-key")
    monkeypatch.setenv("MJ_APIKEY_PRIVATE", "private-key")
    monkeypatch.setenv("MAILJET_WEBHOOK_USER", "hook")
    monkeypatch.setenv("MAILJET_WEBHOOK_PASSWORD", "hook-password")


@pytest.fixture
def mailjet() -> Iterator[responses.RequestsMock]:
    # assert_all_requests_are_fired: a test fails when an expected call never came.
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def context() -> SourceContext:
    return SourceContext(name=NAME, base_dir=Path("."), max_line_bytes=1 << 20, page_size=1000)


def rows(name: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads((FIXTURES / name).read_text())["Data"]
    return data


def answer(data: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Count": len(data), "Data": data, "Total": len(data)}


def expect_page(
    mock: responses.RequestsMock,
    resource: str,
    offset: int,
    data: list[dict[str, Any]],
    *,
    limit: int = 2,
    until: datetime | None = UNTIL,
) -> None:
    query = {"FromTS": str(int(SINCE.timestamp())), "Limit": str(limit), "Offset": str(offset)}
    if until is not None:
        query["ToTS"] = str(int(until.timestamp()))
    mock.get(
        f"{REST}/{resource}",
        json=answer(data),
        match=[matchers.query_param_matcher(query)],
    )


def expect_contact(mock: responses.RequestsMock, contact_id: int, email: str | None) -> None:
    if email is None:
        mock.get(
            f"{REST}/contact/{contact_id}", json={"ErrorMessage": "Object not found"}, status=404
        )
        return
    body = json.loads((FIXTURES / "contact.json").read_text())
    body["Data"][0].update(ID=contact_id, Email=email)
    mock.get(f"{REST}/contact/{contact_id}", json=body)


def source(
    *, page_size: int = 2, emails: bool = True, sleeps: list[float] | None = None
) -> MailjetBackfill:
    api = MailjetApi(
        KEYS,
        source=NAME,
        timeout_s=5,
        policy=RetryPolicy(attempts=3, backoff_s=0.01, max_wait_s=30),
        sleep=(sleeps if sleeps is not None else []).append,
    )
    return MailjetBackfill(NAME, api, page_size=page_size, look_up_emails=emails)


def expect_whole_range(mock: responses.RequestsMock) -> None:
    opens, clicks = rows("openinformation.json"), rows("clickstatistics.json")
    expect_page(mock, "openinformation", 0, opens[:2])
    expect_contact(mock, 4, "lea@example.com")
    expect_contact(mock, 320, "api@mailjet.com")
    expect_page(mock, "openinformation", 2, opens[2:])
    expect_page(mock, "clickstatistics", 0, clicks)


def events_of(pages: list[Page]) -> list[Event]:
    return [event for page in pages for event in page.events]


# -- reading a range ---------------------------------------------------------------------------


def test_the_declaration_builds_a_range_source_from_the_settings(
    mailjet: responses.RequestsMock,
) -> None:
    assert ADAPTER.range_source is not None
    made = ADAPTER.range_source(MailjetSettings(type="mailjet", backfill_page_size=2), context())
    assert isinstance(made, RangeSource) and made.name == NAME
    expect_whole_range(mailjet)
    assert len(events_of(list(made.pull_range(SINCE, UNTIL, None)))) == 4
    assert mailjet.calls[0].request.headers["Authorization"].startswith("Basic ")


def test_the_opens_then_the_clicks_are_read_page_by_page_with_their_contacts(
    mailjet: responses.RequestsMock,
) -> None:
    expect_whole_range(mailjet)
    pages = list(source().pull_range(SINCE, UNTIL, None))
    assert [len(page.events) for page in pages] == [2, 1, 1]
    first, second, third, click = events_of(pages)
    assert (first.kind, first.email, first.ids) == (
        EventKind.EMAIL_OPEN,
        "api@mailjet.com",
        {"mailjet": "320"},
    )
    assert first.occurred_at == datetime(2015, 5, 31, 20, 18, 39, tzinfo=UTC)
    assert first.attributes == {
        "message_id": "19421777396190490",
        "campaign": "7173",
        "user_agent": "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0",
    }
    assert second.email == "lea@example.com"
    assert third.email == "api@mailjet.com"  # looked up once for the run
    assert (click.kind, click.url, click.email) == (
        EventKind.EMAIL_CLICK,
        "https://mailjet.com",
        "lea@example.com",
    )
    # ClickedAt without an offset is read as UTC.
    assert click.occurred_at == datetime(2015, 6, 3, 12, 30, 53, tzinfo=UTC)
    contact_calls = [call for call in mailjet.calls if "/contact/" in call.request.url]
    assert len(contact_calls) == 2


def test_each_page_cursor_holds_the_range_and_the_rows_read_per_resource(
    mailjet: responses.RequestsMock,
) -> None:
    expect_whole_range(mailjet)
    cursors = [json.loads(page.cursor or "") for page in source().pull_range(SINCE, UNTIL, None)]
    assert [cursor["offsets"] for cursor in cursors] == [
        {"openinformation": 2},
        {"openinformation": 3},
        {"openinformation": 3, "clickstatistics": 1},
    ]
    assert {(cursor["since"], cursor["until"]) for cursor in cursors} == {
        (SINCE.isoformat(), UNTIL.isoformat())
    }


def test_a_rerun_from_a_pages_cursor_goes_on_after_it(mailjet: responses.RequestsMock) -> None:
    opens, clicks = rows("openinformation.json"), rows("clickstatistics.json")
    expect_contact(mailjet, 4, "lea@example.com")
    expect_contact(mailjet, 320, "api@mailjet.com")
    expect_page(mailjet, "openinformation", 0, opens[:2])
    first = next(iter(source().pull_range(SINCE, UNTIL, None)))
    expect_page(mailjet, "openinformation", 2, opens[2:])
    expect_page(mailjet, "clickstatistics", 0, clicks)
    rest = list(source().pull_range(SINCE, UNTIL, first.cursor))
    assert len(events_of(rest)) == 2


def test_a_cursor_of_another_range_is_not_followed(mailjet: responses.RequestsMock) -> None:
    other = json.dumps(
        {"since": "2014-01-01T00:00:00+00:00", "until": None, "offsets": {"openinformation": 99}}
    )
    expect_page(mailjet, "openinformation", 0, [])
    expect_page(mailjet, "clickstatistics", 0, [])
    assert events_of(list(source().pull_range(SINCE, UNTIL, other))) == []


def test_without_an_end_no_totime_is_sent(mailjet: responses.RequestsMock) -> None:
    expect_page(mailjet, "openinformation", 0, [], until=None)
    expect_page(mailjet, "clickstatistics", 0, [], until=None)
    pages = list(source().pull_range(SINCE, None, None))
    assert json.loads(pages[-1].cursor or "")["until"] is None


def test_rows_outside_the_range_are_skipped_not_stored(mailjet: responses.RequestsMock) -> None:
    opens = rows("openinformation.json")
    until = datetime(2015, 6, 1, tzinfo=UTC)  # the 2nd and 3rd opens are after it
    expect_page(mailjet, "openinformation", 0, opens, limit=5, until=until)
    expect_page(mailjet, "clickstatistics", 0, [], limit=5, until=until)
    pages = list(source(page_size=5, emails=False).pull_range(SINCE, until, None))
    assert len(events_of(pages)) == 1
    assert sum(page.skipped for page in pages) == 2


def test_without_email_look_ups_the_events_carry_the_contact_id_alone(
    mailjet: responses.RequestsMock,
) -> None:
    expect_page(mailjet, "openinformation", 0, rows("openinformation.json")[:1])
    expect_page(mailjet, "clickstatistics", 0, [])
    (opened,) = events_of(list(source(emails=False).pull_range(SINCE, UNTIL, None)))
    assert (opened.email, opened.ids) == (None, {"mailjet": "320"})
    assert not any("/contact/" in call.request.url for call in mailjet.calls)


def test_a_contact_mailjet_no_longer_has_keeps_its_event_by_id(
    mailjet: responses.RequestsMock,
) -> None:
    expect_page(mailjet, "openinformation", 0, rows("openinformation.json")[:1])
    expect_contact(mailjet, 320, None)
    expect_page(mailjet, "clickstatistics", 0, [])
    (opened,) = events_of(list(source().pull_range(SINCE, UNTIL, None)))
    assert (opened.email, opened.ids) == (None, {"mailjet": "320"})


def test_a_row_that_cannot_be_read_is_set_aside_with_where_it_was(
    mailjet: responses.RequestsMock,
) -> None:
    good, *_ = rows("openinformation.json")
    no_time = {k: v for k, v in good.items() if k != "OpenedAt"}
    bad_time = dict(good, OpenedAt="last tuesday")
    expect_page(mailjet, "openinformation", 0, [good, no_time, bad_time], limit=5)
    expect_page(mailjet, "clickstatistics", 0, [], limit=5)
    pages = list(source(page_size=5, emails=False).pull_range(SINCE, UNTIL, None))
    assert len(events_of(pages)) == 1
    rejects = [reject for page in pages for reject in page.rejects]
    assert [(r.line, r.location, r.source) for r in rejects] == [
        (2, "mailjet openinformation", NAME),
        (3, "mailjet openinformation", NAME),
    ]
    assert 'missing "OpenedAt"' in rejects[0].reason
    assert "not an RFC 3339 time" in rejects[1].reason
    assert json.loads(rejects[0].raw) == no_time


def test_it_is_not_a_pulled_source(mailjet: responses.RequestsMock) -> None:
    with pytest.raises(FatalError, match="webhook"):
        list(source().pull(None))


# -- the same events as the webhook's, stored once ---------------------------------------------


def webhook_page() -> Page:
    assert ADAPTER.webhook is not None
    hook = ADAPTER.webhook(MailjetSettings(type="mailjet"), context())
    body = (FIXTURES / "events_v2.json").read_bytes()
    return hook.read(WebhookRequest(body, {}, {}, datetime.now(UTC)))


def test_a_backfilled_open_and_click_have_the_ids_of_the_webhooks_same_events(
    mailjet: responses.RequestsMock,
) -> None:
    expect_whole_range(mailjet)
    backfilled = {
        event.source_event_id for event in events_of(list(source().pull_range(SINCE, UNTIL, None)))
    }
    hooked = {event.source_event_id: event.kind for event in webhook_page().events}
    same = {hooked[event_id] for event_id in backfilled & set(hooked)}
    assert same == {EventKind.EMAIL_OPEN, EventKind.EMAIL_CLICK}


class _Delivered:
    """The webhook's page as a source, as the server would store it."""

    name = NAME

    def pull(self, cursor: str | None) -> Iterator[Page]:
        yield webhook_page()


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Engine]:
    engine = open_store(sqlite_url)
    yield engine
    engine.dispose()


def test_a_backfill_over_a_period_the_webhook_covered_stores_nothing_twice(
    mailjet: responses.RequestsMock, store: Engine
) -> None:
    delivered = ingest(store, _Delivered(), command="ingest", resume=False)
    assert delivered.stored == 7
    expect_whole_range(mailjet)
    first = backfill(store, source(), since=SINCE, until=UNTIL)
    # The open and the click the webhook brought are duplicates; the two other opens new.
    assert (first.stored, first.duplicates) == (2, 2)
    # A rerun of the range read to its end asks each resource for what came after it.
    expect_page(mailjet, "openinformation", 3, [])
    expect_page(mailjet, "clickstatistics", 1, [])
    again = backfill(store, source(), since=SINCE, until=UNTIL)
    assert (again.stored, again.finished_before) == (0, True)


# -- Mailjet's refusals ------------------------------------------------------------------------


def test_a_429_is_waited_as_mailjet_asks_and_tried_again(mailjet: responses.RequestsMock) -> None:
    mailjet.get(f"{REST}/openinformation", status=429, headers={"Retry-After": "7"}, json={})
    expect_page(mailjet, "openinformation", 0, [])
    expect_page(mailjet, "clickstatistics", 0, [])
    sleeps: list[float] = []
    list(source(sleeps=sleeps).pull_range(SINCE, UNTIL, None))
    assert sleeps == [7.0]


def test_5xx_past_the_attempts_is_retriable_and_what_was_read_is_kept(
    mailjet: responses.RequestsMock,
) -> None:
    opens = rows("openinformation.json")
    expect_page(mailjet, "openinformation", 0, opens[:2], limit=2)
    for _ in range(3):
        mailjet.get(f"{REST}/openinformation", status=503, body="unavailable")
    reading = source(emails=False).pull_range(SINCE, UNTIL, None)
    first = next(reading)
    assert len(first.events) == 2 and first.cursor is not None
    with pytest.raises(RetriableError) as raised:
        next(reading)
    assert raised.value.status == 503 and raised.value.vendor == "mailjet"


def test_a_rate_limit_asking_longer_than_the_longest_wait_goes_up_at_once(
    mailjet: responses.RequestsMock,
) -> None:
    mailjet.get(f"{REST}/openinformation", status=429, headers={"Retry-After": "3600"}, json={})
    sleeps: list[float] = []
    with pytest.raises(RetriableError) as raised:
        list(source(sleeps=sleeps).pull_range(SINCE, UNTIL, None))
    assert (raised.value.retry_after_s, sleeps) == (3600.0, [])


def test_a_refused_key_pair_is_a_config_error_naming_its_variables(
    mailjet: responses.RequestsMock,
) -> None:
    mailjet.get(
        f"{REST}/openinformation",
        status=401,
        json={"ErrorMessage": "API key authentication/authorization failure", "StatusCode": 401},
    )
    with pytest.raises(ConfigError) as raised:
        list(source().pull_range(SINCE, UNTIL, None))
    message = str(raised.value)
    assert "MJ_APIKEY_PUBLIC" in message and "MJ_APIKEY_PRIVATE" in message
    assert "private-key" not in message
    assert len(mailjet.calls) == 1  # not retried


def test_a_missing_api_key_is_named_before_any_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MJ_APIKEY_PRIVATE")
    assert ADAPTER.range_source is not None
    with pytest.raises(ConfigError, match="MJ_APIKEY_PRIVATE"):
        ADAPTER.range_source(MailjetSettings(type="mailjet"), context())


# -- check --online ----------------------------------------------------------------------------


def test_check_online_tries_the_key_pair_on_the_profile(mailjet: responses.RequestsMock) -> None:
    mailjet.get(f"{REST}/myprofile", json=json.loads((FIXTURES / "myprofile.json").read_text()))
    assert ADAPTER.check_online is not None
    said = ADAPTER.check_online(MailjetSettings(type="mailjet"), context())
    assert "Acme Newsletters" in said
    auth = mailjet.calls[0].request.headers["Authorization"]
    assert auth == "Basic cHVibGljLWtleTpwcml2YXRlLWtleQ=="  # public-key:private-key


def test_check_online_with_a_refused_key_says_which_variables_to_fix(
    mailjet: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EU_KEY", "eu-public")
    monkeypatch.setenv("EU_SECRET", "eu-private")
    mailjet.get(f"{REST}/myprofile", status=401, json={"ErrorMessage": "unauthorized"})
    settings = MailjetSettings(type="mailjet", api_key_env="EU_KEY", api_secret_env="EU_SECRET")
    assert ADAPTER.check_online is not None
    with pytest.raises(ConfigError) as raised:
        ADAPTER.check_online(settings, context())
    assert "EU_KEY" in str(raised.value) and "EU_SECRET" in str(raised.value)
    assert "eu-private" not in str(raised.value)
    assert raised.value.key == f"sources.{NAME}.api_key_env"


def test_check_online_without_the_keys_names_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MJ_APIKEY_PUBLIC")
    assert ADAPTER.check_online is not None
    with pytest.raises(ConfigError, match="MJ_APIKEY_PUBLIC"):
        ADAPTER.check_online(MailjetSettings(type="mailjet"), context())


def test_a_page_that_repeats_the_last_one_stops_the_reading_instead_of_looping(
    mailjet: responses.RequestsMock,
) -> None:
    opens = rows("openinformation.json")
    for _ in range(2):  # Mailjet ignoring Offset: the same full page each time
        mailjet.get(f"{REST}/openinformation", json=answer(opens[:2]))
    reading = source(emails=False).pull_range(SINCE, UNTIL, None)
    assert len(next(reading).events) == 2
    with pytest.raises(FatalError, match="paging loops"):
        next(reading)
