"""FileSource: JSONL and CSV into canonical events, with bad records set aside."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adapters.files import FileSource
from connector.errors import InputFileError
from connector.model import Event, EventKind
from connector.ports import Page, RangeSource, RejectedInput
from connector.runners.ingest import ingest
from connector.store.schema import events as events_table
from connector.store.schema import rejects as rejects_table

TIME = "2026-01-01T10:00:00Z"


def jsonl_line(**fields: object) -> bytes:
    return orjson.dumps(fields) + b"\n"


def good_line(email: str = "a@example.com", **extra: object) -> bytes:
    return jsonl_line(kind="email_open", occurred_at=TIME, email=email, **extra)


def read_all(
    source: FileSource, cursor: str | None = None
) -> tuple[list[Event], list[RejectedInput]]:
    events: list[Event] = []
    rejects: list[RejectedInput] = []
    for page in source.pull(cursor):
        events.extend(page.events)
        rejects.extend(page.rejects)
    return events, rejects


def only_reject(rejects: list[RejectedInput]) -> RejectedInput:
    assert len(rejects) == 1, rejects
    return rejects[0]


def count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


# -- JSONL: each bad-input class is set aside, the good lines of the file are kept -------------


BAD_JSONL = [
    pytest.param(b'{"kind": "email_open", \n', "broken JSON", id="broken-json"),
    pytest.param(b"[1,2]\n", "line is not a JSON object (got list)", id="not-an-object"),
    pytest.param(
        jsonl_line(occurred_at=TIME, email="a@example.com"), "missing kind", id="missing-kind"
    ),
    pytest.param(
        jsonl_line(kind="email_open", email="a@example.com"),
        "missing occurred_at",
        id="missing-occurred-at",
    ),
    pytest.param(
        jsonl_line(kind="email_open", occurred_at=TIME), "missing identity", id="missing-identity"
    ),
    pytest.param(
        jsonl_line(kind="email_open", occurred_at="yesterday", email="a@example.com"),
        "occurred_at is not an ISO 8601 time: 'yesterday'",
        id="unparseable-time",
    ),
    pytest.param(
        jsonl_line(kind="email_open", occurred_at="2026-01-01T10:00:00", email="a@example.com"),
        "occurred_at has no timezone: '2026-01-01T10:00:00'",
        id="timezone-less-time",
    ),
    pytest.param(
        jsonl_line(kind="foo", occurred_at=TIME, email="a@example.com"),
        "unknown kind 'foo'",
        id="unknown-kind",
    ),
    pytest.param(
        jsonl_line(kind="email_open", occurred_at=TIME, email="not-an-email"),
        "invalid e-mail 'not-an-email'",
        id="invalid-email",
    ),
    pytest.param(
        b'{"kind":"email_open","occurred_at":"'
        + TIME.encode()
        + b'","email":"b\xff@example.com"}\n',
        "bad encoding: not UTF-8 (byte 0xff at column",
        id="bad-encoding",
    ),
]


@pytest.mark.parametrize(("bad", "reason"), BAD_JSONL)
def test_jsonl_bad_line_is_set_aside_with_file_line_and_reason_and_good_lines_kept(
    tmp_path: Path, bad: bytes, reason: str
) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(good_line("first@example.com") + bad + good_line("last@example.com"))

    events, rejects = read_all(FileSource("mixed", path))

    assert [event.email for event in events] == ["first@example.com", "last@example.com"]
    reject = only_reject(rejects)
    assert reason in reject.reason
    assert reject.line == 2
    assert reject.location == str(path)
    assert reject.source == "mixed"
    assert reject.raw == bad.decode("utf-8", "replace").rstrip("\n")


def test_jsonl_oversized_line_is_set_aside_and_the_next_line_is_still_read(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    oversized = good_line("big@example.com", attributes={"pad": "x" * 5000})
    assert len(oversized) > 5000
    path.write_bytes(good_line("first@example.com") + oversized + good_line("after@example.com"))

    events, rejects = read_all(FileSource("big", path, max_line_bytes=1024))

    assert [event.email for event in events] == ["first@example.com", "after@example.com"]
    reject = only_reject(rejects)
    assert reject.reason.startswith("oversized line: longer than 1024 bytes")
    assert reject.line == 2
    assert reject.location == str(path)


def test_jsonl_every_bad_class_in_one_file_keeps_its_own_line_number(tmp_path: Path) -> None:
    path = tmp_path / "all.jsonl"
    bad_lines = [cast("bytes", param.values[0]) for param in BAD_JSONL]
    oversized = good_line("big@example.com", attributes={"pad": "x" * 5000})
    lines = [good_line("first@example.com"), *bad_lines, oversized, good_line("last@example.com")]
    path.write_bytes(b"".join(lines))

    events, rejects = read_all(FileSource("all", path, max_line_bytes=1024))

    assert [event.email for event in events] == ["first@example.com", "last@example.com"]
    expected = [cast("str", param.values[1]) for param in BAD_JSONL] + ["oversized line"]
    assert [reject.line for reject in rejects] == list(range(2, 2 + len(expected)))
    for reject, reason in zip(rejects, expected, strict=True):
        assert reason in reject.reason, (reject.line, reject.reason)


def test_jsonl_blank_lines_are_skipped_but_counted(tmp_path: Path) -> None:
    path = tmp_path / "blank.jsonl"
    path.write_bytes(good_line() + b"\n   \n" + b"[1]\n")

    events, rejects = read_all(FileSource("blank", path))

    assert len(events) == 1
    assert only_reject(rejects).line == 4


def test_cli_ingest_counts_rejects_and_rejects_json_lists_location_line_and_reason(
    tmp_path: Path,
) -> None:
    from tests.cli.test_cli import clean_env

    leadsync = Path(sys.executable).parent / "leadsync"
    cfg = tmp_path / "config.toml"
    store = tmp_path / "store.db"
    cfg.write_text(f'[store]\nurl = "sqlite:///{store}"\n', encoding="utf-8")
    data = tmp_path / "mixed.jsonl"
    data.write_bytes(
        good_line("one@example.com")
        + b"{broken\n"
        + jsonl_line(kind="foo", occurred_at=TIME, email="a@example.com")
        + good_line("two@example.com")
        + jsonl_line(kind="email_open", occurred_at="2026-01-01T10:00:00", email="a@example.com")
    )

    ingested = subprocess.run(
        [str(leadsync), "--config", str(cfg), "ingest", str(data)],
        capture_output=True,
        text=True,
        env=clean_env(),
        check=False,
    )
    assert ingested.returncode == 0, ingested.stderr
    assert "mixed: read 5, stored 2, duplicates 0, rejected 3," in ingested.stdout
    assert "leadsync rejects --source mixed" in ingested.stdout
    assert store.exists()

    listed = subprocess.run(
        [str(leadsync), "--config", str(cfg), "rejects", "--json"],
        capture_output=True,
        text=True,
        env=clean_env(),
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    found = sorted((row["line"], row["location"], row["source"], row["reason"]) for row in rows)
    assert [(line, location, source) for line, location, source, _ in found] == [
        (2, str(data), "mixed"),
        (3, str(data), "mixed"),
        (5, str(data), "mixed"),
    ]
    assert found[0][3].startswith("broken JSON")
    assert "unknown kind 'foo'" in found[1][3]
    assert "has no timezone" in found[2][3]


# -- CSV --------------------------------------------------------------------------------------

CSV_HEADER = (
    "id,kind,occurred_at,email,url,ids.hubspot,attributes.campaign,attributes.strong,"
    "profile.job_title\n"
)


def test_csv_columns_are_grouped_into_ids_attributes_and_profile(tmp_path: Path) -> None:
    path = tmp_path / "good.csv"
    path.write_text(
        CSV_HEADER + "e1,email_click,2026-01-01T10:00:00Z,A@Example.com,https://x.test/pricing,123,"
        "spring,true,CTO\n" + "e2,email_open,2026-01-02T10:00:00+01:00,b@example.com,,,,FALSE,\n",
        encoding="utf-8",
    )

    events, rejects = read_all(FileSource("crm", path))

    assert rejects == []
    first, second = events
    assert first.source == "crm"
    assert first.source_event_id == "e1"
    assert first.kind is EventKind.EMAIL_CLICK
    assert first.occurred_at.isoformat() == "2026-01-01T10:00:00+00:00"
    assert first.email == "a@example.com"
    assert first.url == "https://x.test/pricing"
    assert dict(first.ids) == {"hubspot": "123"}
    assert dict(first.attributes) == {"campaign": "spring", "strong": True}
    assert first.attributes["strong"] is True
    assert dict(first.profile) == {"job_title": "CTO"}
    # Empty cells are absent, "FALSE" is a boolean, the offset becomes UTC.
    assert second.occurred_at.isoformat() == "2026-01-02T09:00:00+00:00"
    assert dict(second.ids) == {}
    assert second.url is None
    assert dict(second.attributes) == {"strong": False}
    assert dict(second.profile) == {}


def test_csv_row_with_wrong_field_count_is_set_aside_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    path.write_text(
        "id,kind,occurred_at,email,url\n"
        "e1,email_open,2026-01-01T10:00:00Z,a@example.com,\n"
        "e2,email_open,2026-01-01T10:00:00Z\n"
        "e3,email_open,2026-01-01T10:00:00Z,c@example.com,\n",
        encoding="utf-8",
    )

    events, rejects = read_all(FileSource("short", path))

    assert [event.source_event_id for event in events] == ["e1", "e3"]
    reject = only_reject(rejects)
    assert reject.reason == "broken CSV row: 3 fields, the header has 5"
    assert reject.line == 3
    assert reject.location == str(path)
    assert reject.raw == "e2,email_open,2026-01-01T10:00:00Z"


def test_csv_validation_reject_carries_the_row_line(tmp_path: Path) -> None:
    path = tmp_path / "kind.csv"
    path.write_text(
        "id,kind,occurred_at,email\n"
        "e1,email_open,2026-01-01T10:00:00Z,a@example.com\n"
        "e2,foo,2026-01-01T10:00:00Z,b@example.com\n",
        encoding="utf-8",
    )

    events, rejects = read_all(FileSource("kind", path))

    assert [event.source_event_id for event in events] == ["e1"]
    reject = only_reject(rejects)
    assert "unknown kind 'foo'" in reject.reason
    assert reject.line == 3


def test_csv_unknown_column_raises_input_file_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "columns.csv"
    path.write_text(
        "id,kind,occurred_at,email,colour\ne1,email_open,2026-01-01T10:00:00Z,a@example.com,red\n",
        encoding="utf-8",
    )

    with pytest.raises(InputFileError, match=r"line 1: unknown column 'colour'") as caught:
        read_all(FileSource("columns", path))
    assert caught.value.file == str(path)


def test_csv_bad_encoding_row_is_set_aside_and_other_rows_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        b"id,kind,occurred_at,email\n"
        b"e1,email_open,2026-01-01T10:00:00Z,a@example.com\n"
        b"e2,email_open,2026-01-01T10:00:00Z,j\xe9r\xf4me@example.com\n"
        b"e3,email_open,2026-01-01T10:00:00Z,c@example.com\n"
    )

    events, rejects = read_all(FileSource("latin1", path))

    assert [event.source_event_id for event in events] == ["e1", "e3"]
    reject = only_reject(rejects)
    assert reject.reason.startswith("bad encoding: not UTF-8 (byte 0xe9 at column")
    assert reject.line == 3


def test_csv_quoted_field_spanning_lines_keeps_following_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "multiline.csv"
    path.write_text(
        "id,kind,occurred_at,email,attributes.note\n"
        'e1,email_open,2026-01-01T10:00:00Z,a@example.com,"first line\nsecond line"\n'
        "e2,foo,2026-01-01T10:00:00Z,b@example.com,\n"
        "e3,email_open,2026-01-01T10:00:00Z,c@example.com\n"
        "e4,email_open,2026-01-01T10:00:00Z,d@example.com,ok\n",
        encoding="utf-8",
    )

    events, rejects = read_all(FileSource("multiline", path))

    assert [event.source_event_id for event in events] == ["e1", "e4"]
    assert events[0].attributes["note"] == "first line\nsecond line"
    assert [(reject.line, reject.reason[:24]) for reject in rejects] == [
        (4, "unknown kind 'foo'; know"),
        (5, "broken CSV row: 4 fields"),
    ]


def test_csv_syntax_error_is_set_aside_and_reading_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "quotes.csv"
    path.write_text(
        "id,kind,occurred_at,email\n"
        'e1,email_open,"2026-01-01T10:00:00Z"x,a@example.com\n'
        "e2,email_open,2026-01-01T10:00:00Z,b@example.com\n",
        encoding="utf-8",
    )

    events, rejects = read_all(FileSource("quotes", path))

    assert [event.source_event_id for event in events] == ["e2"]
    reject = only_reject(rejects)
    assert reject.reason.startswith("broken CSV row:")
    assert reject.line == 2


UNTERMINATED = (
    "id,kind,occurred_at,email,attributes.note\n"
    'e1,email_open,2026-01-01T10:00:00Z,a@example.com,"no closing quote\n'
    "e2,email_open,2026-01-01T10:00:00Z,b@example.com,ok\n"
    'e3,email_open,2026-01-01T10:00:00Z,c@example.com,"quoted, closed"\n'
    'e4,email_open,2026-01-01T10:00:00Z,d@example.com,"first line\nsecond line"\n'
    "e5,foo,2026-01-01T10:00:00Z,e@example.com,\n"
    "e6,email_open,2026-01-01T10:00:00Z,f@example.com,\n"
)


@pytest.mark.parametrize("page_size", [1, 20_000])
def test_csv_unterminated_quote_sets_its_line_aside_and_the_next_rows_are_read(
    tmp_path: Path, page_size: int
) -> None:
    """The quote opened on line 2 would swallow the rows below it: that line alone is set
    aside with its text, and the rows after it, a legit quoted field over two lines
    among them, are read as if it were not there."""
    path = tmp_path / "quotes.csv"
    path.write_text(UNTERMINATED, encoding="utf-8")

    events, rejects = read_all(FileSource("quotes", path, page_size=page_size))

    assert [event.source_event_id for event in events] == ["e2", "e3", "e4", "e6"]
    assert [event.attributes.get("note") for event in events] == [
        "ok",
        "quoted, closed",
        "first line\nsecond line",
        None,
    ]
    broken, unknown_kind = rejects
    assert broken == RejectedInput(
        "quotes",
        str(path),
        2,
        "unterminated quote: the quoted field that opens on this line runs on into line 4, "
        "where reading it fails (',' expected after '\"'); close the quote, or double each "
        'quote inside the field ("")',
        'e1,email_open,2026-01-01T10:00:00Z,a@example.com,"no closing quote',
    )
    assert (unknown_kind.line, unknown_kind.reason[:17]) == (7, "unknown kind 'foo")


def test_csv_resumes_after_a_page_that_set_an_unterminated_quote_aside(tmp_path: Path) -> None:
    path = tmp_path / "quotes.csv"
    path.write_text(UNTERMINATED, encoding="utf-8")
    pages = list(FileSource("quotes", path, page_size=1).pull(None))
    with_the_reject = next(page for page in pages if page.rejects)

    events, rejects = read_all(FileSource("quotes", path), with_the_reject.cursor)

    assert [event.source_event_id for event in events] == ["e2", "e3", "e4", "e6"]
    assert [reject.line for reject in rejects] == [7]


@pytest.mark.parametrize(
    ("rows", "kept"),
    [
        pytest.param(
            'e2,email_open,2026-01-01T10:00:00Z,b@example.com,"never closed\n'
            "e3,email_open,2026-01-01T10:00:00Z,c@example.com,\n"
            "e4,email_open,2026-01-01T10:00:00Z,d@example.com,\n",
            ["e1", "e3", "e4"],
            id="rows-below-it",
        ),
        pytest.param(
            'e2,email_open,2026-01-01T10:00:00Z,b@example.com,"never closed',
            ["e1"],
            id="last-line",
        ),
    ],
)
def test_csv_quote_left_open_to_the_end_of_the_file_sets_only_its_line_aside(
    tmp_path: Path, rows: str, kept: list[str]
) -> None:
    path = tmp_path / "quotes.csv"
    path.write_text(
        "id,kind,occurred_at,email,attributes.note\n"
        "e1,email_open,2026-01-01T10:00:00Z,a@example.com,ok\n" + rows,
        encoding="utf-8",
    )

    events, rejects = read_all(FileSource("quotes", path))

    assert [event.source_event_id for event in events] == kept
    assert [(reject.line, reject.reason, reject.raw) for reject in rejects] == [
        (
            3,
            "unterminated quote: the quoted field that opens on this line runs on to the end "
            'of the file; close the quote, or double each quote inside the field ("")',
            'e2,email_open,2026-01-01T10:00:00Z,b@example.com,"never closed',
        )
    ]


# -- derived ids ------------------------------------------------------------------------------


def test_record_without_id_gets_a_stable_derived_id_across_reads_and_files(
    tmp_path: Path,
) -> None:
    content = good_line("a@example.com", url="https://x.test/") + good_line("b@example.com")
    first = tmp_path / "first.jsonl"
    second = tmp_path / "second.jsonl"
    first.write_bytes(content)
    second.write_bytes(content)

    ids_first = [event.source_event_id for event in read_all(FileSource("s", first))[0]]
    ids_again = [event.source_event_id for event in read_all(FileSource("s", first))[0]]
    ids_second = [event.source_event_id for event in read_all(FileSource("s", second))[0]]

    assert len(ids_first) == 2
    assert all(event_id.startswith("h-") for event_id in ids_first)
    assert ids_first[0] != ids_first[1]
    assert ids_first == ids_again == ids_second


def test_derived_id_ignores_key_order_and_email_case(tmp_path: Path) -> None:
    path = tmp_path / "order.jsonl"
    path.write_bytes(
        b'{"kind":"email_open","occurred_at":"2026-01-01T10:00:00Z","email":"A@example.com"}\n'
        b'{"email":"a@example.com","occurred_at":"2026-01-01T11:00:00+01:00","kind":"email_open"}\n'
    )

    first, second = read_all(FileSource("s", path))[0]

    assert first.source_event_id == second.source_event_id


def test_ingesting_records_without_ids_twice_stores_nothing_new(
    engine: Engine, tmp_path: Path
) -> None:
    content = good_line("a@example.com") + good_line("b@example.com") + good_line("c@example.com")
    first = tmp_path / "first.jsonl"
    second = tmp_path / "second.jsonl"
    first.write_bytes(content)
    second.write_bytes(content)

    once = ingest(engine, FileSource("s", first), command="ingest", resume=False)
    again = ingest(engine, FileSource("s", second), command="ingest", resume=False)

    assert (once.stored, once.duplicates) == (3, 0)
    assert (again.stored, again.duplicates) == (0, 3)
    assert count(engine, events_table) == 3


# -- cursors ----------------------------------------------------------------------------------


def five_lines() -> bytes:
    return b"".join(good_line(f"p{n}@example.com", id=f"e{n}") for n in range(1, 6))


def test_pull_from_first_page_cursor_yields_only_the_remaining_events(tmp_path: Path) -> None:
    path = tmp_path / "five.jsonl"
    path.write_bytes(five_lines())
    source = FileSource("five", path, page_size=2)

    pages = list(source.pull(None))
    assert [[event.source_event_id for event in page.events] for page in pages] == [
        ["e1", "e2"],
        ["e3", "e4"],
        ["e5"],
    ]
    assert sum(page.bytes_read for page in pages) == len(five_lines())

    resumed = list(source.pull(pages[0].cursor))
    assert [event.source_event_id for page in resumed for event in page.events] == [
        "e3",
        "e4",
        "e5",
    ]


def test_pull_from_last_cursor_of_unchanged_file_yields_no_events(tmp_path: Path) -> None:
    path = tmp_path / "five.jsonl"
    path.write_bytes(five_lines())
    source = FileSource("five", path, page_size=2)
    last = list(source.pull(None))[-1].cursor

    assert [event for page in source.pull(last) for event in page.events] == []


def test_resumed_pull_keeps_the_file_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "lines.jsonl"
    path.write_bytes(good_line(id="e1") + good_line(id="e2") + good_line(id="e3") + b"[3]\n")
    source = FileSource("lines", path, page_size=2)
    first = next(iter(source.pull(None)))

    rejects = [reject for page in source.pull(first.cursor) for reject in page.rejects]

    assert only_reject(rejects).line == 4


def test_pull_ignores_cursor_when_the_file_was_replaced(tmp_path: Path) -> None:
    path = tmp_path / "five.jsonl"
    path.write_bytes(five_lines())
    source = FileSource("five", path, page_size=2)
    cursor = next(iter(source.pull(None))).cursor

    replaced = b"".join(
        jsonl_line(id=f"n{n}", kind="email_open", occurred_at=TIME, email=f"n{n}@example.com")
        for n in range(1, 6)
    )
    assert replaced[:8] != five_lines()[:8]
    path.write_bytes(replaced)

    pages = list(source.pull(cursor))
    assert [event.source_event_id for page in pages for event in page.events] == [
        "n1",
        "n2",
        "n3",
        "n4",
        "n5",
    ]


def test_pull_ignores_cursor_past_the_end_of_a_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "five.jsonl"
    path.write_bytes(five_lines())
    source = FileSource("five", path, page_size=2)
    last = list(source.pull(None))[-1].cursor
    path.write_bytes(five_lines()[:10])  # too short for the cursor: read from the start

    _, rejects = read_all(source, last)

    assert only_reject(rejects).line == 1


def test_pull_resumes_after_lines_appended_to_a_large_file(tmp_path: Path) -> None:
    path = tmp_path / "grow.jsonl"
    lines = [good_line(f"p{n}@example.com", id=f"e{n}") for n in range(100)]
    path.write_bytes(b"".join(lines))
    assert path.stat().st_size > 4096
    source = FileSource("grow", path)
    cursor = list(source.pull(None))[-1].cursor

    with path.open("ab") as stream:
        stream.write(good_line("new@example.com", id="new") + b"[1]\n")

    events, rejects = read_all(source, cursor)
    assert [event.source_event_id for event in events] == ["new"]
    assert only_reject(rejects).line == 102


def test_pull_resumes_after_lines_appended_to_a_small_file(tmp_path: Path) -> None:
    path = tmp_path / "grow.jsonl"
    path.write_bytes(five_lines())
    source = FileSource("grow", path)
    cursor = list(source.pull(None))[-1].cursor

    with path.open("ab") as stream:
        stream.write(good_line("new@example.com", id="new"))

    events, _ = read_all(source, cursor)
    assert [event.source_event_id for event in events] == ["new"]


def test_csv_pull_from_first_page_cursor_yields_only_the_remaining_rows(tmp_path: Path) -> None:
    path = tmp_path / "five.csv"
    path.write_text(
        "id,kind,occurred_at,email\n"
        + "".join(f"e{n},email_open,{TIME},p{n}@example.com\n" for n in range(1, 6)),
        encoding="utf-8",
    )
    source = FileSource("five", path, page_size=2)

    pages = list(source.pull(None))
    assert [[event.source_event_id for event in page.events] for page in pages] == [
        ["e1", "e2"],
        ["e3", "e4"],
        ["e5"],
    ]
    resumed = list(source.pull(pages[0].cursor))
    assert [event.source_event_id for page in resumed for event in page.events] == [
        "e3",
        "e4",
        "e5",
    ]


# -- files that cannot be read at all --------------------------------------------------------


def test_missing_file_raises_input_file_error(tmp_path: Path) -> None:
    path = tmp_path / "absent.jsonl"
    source = FileSource("absent", path)

    with pytest.raises(InputFileError, match="file not found") as caught:
        list(source.pull(None))
    assert caught.value.file == str(path)


def test_unknown_extension_with_auto_format_asks_for_format(tmp_path: Path) -> None:
    path = tmp_path / "events.txt"
    path.write_bytes(good_line())

    with pytest.raises(InputFileError, match=r"--format") as caught:
        FileSource("events", path)
    assert ".txt" in str(caught.value)


def test_unknown_extension_with_explicit_format_is_read(tmp_path: Path) -> None:
    path = tmp_path / "events.txt"
    path.write_bytes(good_line())

    events, rejects = read_all(FileSource("events", path, file_format="jsonl"))

    assert len(events) == 1
    assert rejects == []


def test_empty_file_yields_nothing_bad(tmp_path: Path) -> None:
    jsonl = tmp_path / "empty.jsonl"
    csv_file = tmp_path / "empty.csv"
    jsonl.write_bytes(b"")
    csv_file.write_bytes(b"")

    assert read_all(FileSource("j", jsonl)) == ([], [])
    assert read_all(FileSource("c", csv_file)) == ([], [])


# -- through the store ------------------------------------------------------------------------


def test_ingesting_the_same_file_twice_stores_once_and_does_not_duplicate_rejects(
    engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "twice.jsonl"
    path.write_bytes(
        good_line("a@example.com", id="e1")
        + b"{broken\n"
        + good_line("b@example.com", id="e2")
        + jsonl_line(kind="foo", occurred_at=TIME, email="c@example.com")
        + good_line("c@example.com")
    )

    first = ingest(engine, FileSource("twice", path), command="ingest", resume=False)
    rejects_after_first = count(engine, rejects_table)
    second = ingest(engine, FileSource("twice", path), command="ingest", resume=False)

    assert (first.read, first.stored, first.duplicates, first.rejected) == (5, 3, 0, 2)
    assert (second.read, second.stored, second.duplicates, second.rejected) == (5, 0, 3, 2)
    assert count(engine, events_table) == 3
    assert rejects_after_first == 2
    assert count(engine, rejects_table) == 2


def test_ingest_over_several_pages_stores_every_event(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "pages.jsonl"
    path.write_bytes(
        b"".join(good_line(f"p{n % 3}@example.com", id=f"e{n}") for n in range(7)) + b"[0]\n"
    )

    summary = ingest(engine, FileSource("pages", path, page_size=2), command="ingest", resume=False)

    assert (summary.read, summary.stored, summary.rejected) == (8, 7, 1)
    assert summary.contacts_created == 3
    assert count(engine, events_table) == 7


def test_page_defaults_are_empty() -> None:
    page = Page(events=[])
    assert (tuple(page.rejects), page.cursor, page.bytes_read) == ((), None, 0)


def test_utf8_byte_order_mark_is_skipped_in_csv_and_jsonl(tmp_path: Path) -> None:
    csv_path = tmp_path / "excel.csv"
    csv_path.write_bytes(
        b"\xef\xbb\xbfid,kind,occurred_at,email\n1,email_open,2026-01-01T10:00:00Z,a@example.com\n"
    )
    jsonl_path = tmp_path / "bom.jsonl"
    jsonl_path.write_bytes(
        b'\xef\xbb\xbf{"id": "1", "kind": "email_open", "occurred_at": "2026-01-01T10:00:00Z",'
        b' "email": "a@example.com"}\n'
    )
    for path in (csv_path, jsonl_path):
        pages = list(FileSource("bom", path).pull(None))
        assert [event.source_event_id for page in pages for event in page.events] == ["1"]
        assert [reject for page in pages for reject in page.rejects] == []


def _at(event_id: str, moment: str) -> bytes:
    return jsonl_line(id=event_id, kind="email_open", occurred_at=moment, email="a@x.example")


class TestPullRange:
    """``pull_range``: the pages of ``pull`` with only the events of the range; the others
    counted as skipped, rejects kept, each kept event still beside its line."""

    def test_keeps_the_range_with_its_lines_and_counts_the_rest(self, tmp_path: Path) -> None:
        path = tmp_path / "mixed.jsonl"
        path.write_bytes(
            _at("before", "2026-01-01T23:59:59Z")
            + _at("first", "2026-01-02T00:00:00Z")
            + b"{broken\n"
            + _at("offset", "2026-01-03T01:00:00+02:00")  # 23:00Z on the 2nd
            + _at("until", "2026-01-03T00:00:00Z")
        )
        source = FileSource("mixed", path, page_size=2)
        since = datetime(2026, 1, 2, tzinfo=UTC)
        until = datetime(2026, 1, 3, tzinfo=UTC)

        pages = list(source.pull_range(since, until, None))

        kept = [
            (event.source_event_id, line)
            for page in pages
            for event, line in zip(page.events, page.lines or (), strict=True)
        ]
        assert kept == [("first", 2), ("offset", 4)]
        assert sum(page.skipped for page in pages) == 2
        assert [(reject.line, reject.reason[:11]) for p in pages for reject in p.rejects] == [
            (3, "broken JSON")
        ]
        # The same cursors as a pull's: the range resumes where its last page ended.
        assert [page.cursor for page in pages] == [page.cursor for page in source.pull(None)]

    def test_a_file_source_is_a_range_source(self, tmp_path: Path) -> None:
        path = tmp_path / "e.jsonl"
        path.write_bytes(good_line())
        assert isinstance(FileSource("e", path), RangeSource)


def test_a_file_source_says_how_much_is_left_after_its_cursor(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    line = '{"kind": "site_visit", "occurred_at": "2026-11-02T10:00:00Z", "email": "a@b.example"}\n'
    path.write_text(line * 3, encoding="utf-8")
    source = FileSource("web", path)
    assert source.lag(None) == f"{len(line) * 3:,} bytes unread (never pulled)"
    cursor = None
    for page in source.pull(None):
        cursor = page.cursor
    assert source.lag(cursor) == "caught up"
    with path.open("a", encoding="utf-8") as stream:
        stream.write(line)
    assert source.lag(cursor) == f"{len(line):,} bytes unread"
    path.write_text(line, encoding="utf-8")  # replaced by a shorter one
    assert "reads it again" in source.lag(cursor)
    path.unlink()
    assert source.lag(cursor) == "file missing"
