"""Matomo visits, in the shapes ``Live.getLastVisitsDetails`` answers, as events: the
visit, its page views and downloads, its goals as the config maps them, who it was."""

from __future__ import annotations

from datetime import UTC, datetime

from adapters.matomo.visits import VisitReading, read_visits
from connector.model import EventKind
from tests.adapters.matomo_fake import goal, other_action, page_view, visit

T0 = 1_796_461_200  # 2026-12-04 09:00:00 UTC
READING = VisitReading(
    source="web",
    site_id=3,
    goals={"Quote request": EventKind.QUOTE_REQUEST, "4": EventKind.CALLBACK_REQUEST},
)


def test_a_visit_its_pages_and_its_goals() -> None:
    record = visit(
        1042,
        [
            page_view("https://www.example.com/", T0, title="Home"),
            page_view("https://www.example.com/pricing", T0 + 40, title="Pricing"),
            goal("2", "Quote request", T0 + 90, revenue="150.5"),
            goal("4", "", T0 + 95),  # a goal since renamed away: mapped by its id
            goal("9", "Newsletter", T0 + 99),
            other_action("download", T0 + 120),
        ],
        user_id=" Ada@Example.COM ",
    )
    read = read_visits([record], READING, first_line=1)

    assert read.rejects == [] and read.skipped == 0 and read.newest == T0 + 120
    ids = [(e.source_event_id, e.kind) for e in read.events]
    assert ids == [
        ("3:1042", EventKind.SITE_VISIT),
        ("3:1042:1", EventKind.PAGE_VIEW),
        ("3:1042:2", EventKind.PAGE_VIEW),
        ("3:1042:3", EventKind.QUOTE_REQUEST),
        ("3:1042:4", EventKind.CALLBACK_REQUEST),
        ("3:1042:5", EventKind.GOAL),
        ("3:1042:6", EventKind.DOCUMENT_DOWNLOAD),
    ]
    site_visit, home, pricing, quote, callback, unmapped, download = read.events
    assert site_visit.occurred_at == datetime.fromtimestamp(T0, UTC)
    assert pricing.occurred_at == datetime.fromtimestamp(T0 + 40, UTC)
    assert {e.email for e in read.events} == {"ada@example.com"}
    assert {tuple(e.ids.items()) for e in read.events} == {
        (("matomo_visitor", "5f1e2d3c4b5a6978"),)
    }
    assert (pricing.url, pricing.attributes) == (
        "https://www.example.com/pricing",
        {"title": "Pricing"},
    )
    assert quote.attributes == {"goal_id": "2", "goal_name": "Quote request", "revenue": 150.5}
    assert callback.attributes == {"goal_id": "4"}
    assert unmapped.attributes == {"goal_id": "9", "goal_name": "Newsletter"}
    assert download.url == "https://files.example.com/x"
    assert site_visit.attributes["visit_id"] == "1042"
    assert site_visit.attributes["visitor_type"] == "new"
    assert all(e.source == "web" for e in read.events) and home.url == "https://www.example.com/"


def test_a_user_id_that_is_no_address_is_a_key_in_its_namespace() -> None:
    reading = VisitReading(source="web", site_id=3, user_id_namespace="hubspot")
    records = [
        visit(1, [page_view("https://a.example/", T0)], user_id="10234"),
        visit(
            2, [page_view("https://a.example/", T0)], user_id="crm@42", visitor="aaaa000011112222"
        ),
        visit(3, [page_view("https://a.example/", T0)], user_id=None, visitor="bbbb000011112222"),
    ]
    read = read_visits(records, reading, first_line=1)

    people = {(e.source_event_id, e.email, tuple(sorted(e.ids.items()))) for e in read.events}
    assert ("3:1", None, (("hubspot", "10234"), ("matomo_visitor", "5f1e2d3c4b5a6978"))) in people
    assert (
        "3:2:1",
        None,
        (("hubspot", "crm@42"), ("matomo_visitor", "aaaa000011112222")),
    ) in people
    # No user id: the browser's key alone, an anonymous visitor.
    assert ("3:3", None, (("matomo_visitor", "bbbb000011112222"),)) in people


def test_the_person_may_come_from_a_custom_dimension() -> None:
    reading = VisitReading(
        source="web", site_id=3, user_dimension=2, visitor_namespace="site_visitor"
    )
    record = visit(
        7,
        [page_view("https://a.example/", T0)],
        user_id="ignored@example.com",
        dimension2="Bob@Example.com",
    )
    events = read_visits([record], reading, first_line=1).events
    assert {e.email for e in events} == {"bob@example.com"}
    assert {tuple(e.ids) for e in events} == {("site_visitor",)}


def test_types_not_taken_are_counted_and_bad_records_set_aside_alone() -> None:
    records = [
        visit(
            1,
            [
                page_view("https://a.example/", T0),
                other_action("outlink", T0 + 1),
                other_action("event", T0 + 2, eventCategory="video", eventAction="play"),
                other_action("search", T0 + 3, siteSearchKeyword="price"),
                other_action("ecommerceOrder", T0 + 4, orderId="A1", revenue="99"),
                other_action("content", T0 + 5),
                {"type": "action", "url": "https://a.example/no-time"},
                "not an action",
            ],
        ),
        visit(2, [page_view("https://a.example/", T0)], visitor=None),
        "not a visit",
        visit(3, [page_view("https://a.example/later", T0 + 9)]),
    ]
    read = read_visits(records, READING, first_line=11)

    assert read.skipped == 5
    assert [e.source_event_id for e in read.events] == ["3:1", "3:1:1", "3:3", "3:3:1"]
    reasons = [(reject.line, reject.reason) for reject in read.rejects]
    assert reasons == [
        (11, "action 7 of visit 1 has no timestamp"),
        (11, "an action is a str, not an object"),
        (12, "visit 2 has no visitorId (the browser's key every visit has)"),
        (13, "a visit is a str, not an object"),
    ]
    assert all(reject.location == "matomo site 3" for reject in read.rejects)
    assert '"idVisit":2' in read.rejects[2].raw
    assert read.newest == T0 + 9


def test_timestamps_in_strings_are_read_as_matomo_may_send_them() -> None:
    record = visit(5, [page_view("https://a.example/", T0)])
    record["firstActionTimestamp"] = str(T0)
    record["lastActionTimestamp"] = str(T0 + 5)
    record["actionDetails"][0]["timestamp"] = str(T0)
    read = read_visits([record], READING, first_line=1)
    assert read.newest == T0 + 5
    assert [e.occurred_at for e in read.events] == [datetime.fromtimestamp(T0, UTC)] * 2
