"""A backfill of Mailjet opens and clicks from its REST statistics (``leadsync backfill``).

Mailjet's regular intake is its webhook; the REST API keeps a log of events that a range
can be read again from. Two resources give one row per event with the contact, the time
and, for clicks, the URL (``guides/_statistics.md``, "Additional Stats Resources": "a log
of events on your messages for a selected time period ... with the ``FromTS`` and
``ToTS`` filters"): ``openinformation`` (opens) and ``clickstatistics`` (clicks). Each is
read with ``Limit`` (at most 1,000) and ``Offset``, one page per call, in that order.

The cursor holds the range and the offset reached in each resource, so a rerun of the
same range goes on where the last committed page ended, and a rerun of a range read to
its end asks each resource only for the rows after the ones it read. That assumes
Mailjet lists a log's rows in the order it wrote them, so rows added later come after
them (its docs do not say; not seen on a live account). Reading a range again from its
start is always safe: the ledger dedupes.

The rows name the contact by its Mailjet id only; with ``backfill_emails`` (the default)
each contact's e-mail is looked up once per run (``GET /v3/REST/contact/ID``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from adapters.mailjet.client import MailjetApi
from adapters.mailjet.events import CONTACT_ID_KEY, STATISTICS, statistic_record
from adapters.mailjet.webhook import MAX_RAW_CHARS
from connector.errors import FatalError, RejectedRecordError
from connector.ingest.canonical import dumps_exact, to_event
from connector.model import Event
from connector.ports import Page, RejectedInput

__all__ = ["MailjetBackfill"]

# E-mails remembered for a run; past this many the memory starts over (a lookup again
# costs one call, a million kept would cost a hundred megabytes).
_EMAILS_KEPT = 100_000


@dataclass(slots=True)
class _Cursor:
    """The range read and, per resource, the rows read of it."""

    since: str
    until: str | None
    offsets: dict[str, int] = field(default_factory=dict)

    def dump(self) -> str:
        return json.dumps(
            {"since": self.since, "until": self.until, "offsets": self.offsets}, sort_keys=True
        )

    @staticmethod
    def load(text: str | None, since: str, until: str | None) -> _Cursor:
        """The cursor of this range; a fresh one when ``text`` is absent, unreadable or of
        another range (that range is read from the start: the ledger dedupes)."""
        fresh = _Cursor(since, until)
        if text is None:
            return fresh
        try:
            data = json.loads(text)
            offsets = {
                str(resource): int(offset) for resource, offset in dict(data["offsets"]).items()
            }
            if data["since"] != since or data["until"] != until:
                return fresh
        except (ValueError, KeyError, TypeError):
            return fresh
        return _Cursor(since, until, {r: o for r, o in offsets.items() if o >= 0})


class MailjetBackfill:
    """Mailjet's opens and clicks with ``since <= occurred_at < until``, as a
    ``RangeSource``."""

    def __init__(self, name: str, api: MailjetApi, *, page_size: int, look_up_emails: bool):
        self.name = name
        self._api = api
        self._page_size = page_size
        self._look_up_emails = look_up_emails
        self._emails: dict[str, str | None] = {}

    def pull(self, cursor: str | None) -> Iterator[Page]:
        """Not a pulled source: Mailjet's events come by webhook.

        Raises:
            FatalError: always.
        """
        raise FatalError(
            f"source {self.name!r} (mailjet) receives its events by webhook and has "
            "nothing to pull; `leadsync backfill` reads a past range of its opens and clicks"
        )

    def pull_range(
        self, since: datetime, until: datetime | None, cursor: str | None
    ) -> Iterator[Page]:
        """Pages of the opens, then the clicks, of the range, from ``cursor``."""
        position = _Cursor.load(cursor, _shown(since), None if until is None else _shown(until))
        filters: dict[str, Any] = {"FromTS": int(since.timestamp()), "Limit": self._page_size}
        if until is not None:
            filters["ToTS"] = int(until.timestamp())
        for resource in STATISTICS:
            previous_first: object = None
            # Each turn reads a full page or ends the resource; a page that starts with
            # the row the last one started with means the offset is not followed, and
            # ends the reading rather than loop (Mailjet's Total is not relied on: it
            # may count the page, not the log).
            while True:
                offset = position.offsets.get(resource, 0)
                body = self._api.get(
                    resource,
                    filters={**filters, "Offset": offset},
                    what=f"the {resource} page at offset {offset}",
                )
                rows = body.get("Data") if body is not None else None
                if not isinstance(rows, list):
                    raise FatalError(f"Mailjet's {resource} answer has no Data list")
                first = _row_id(rows[0]) if rows else None
                if first is not None and first == previous_first:
                    raise FatalError(
                        f"Mailjet answered the {resource} page at offset {offset} with the "
                        f"rows of the page before (row ID {first}): its paging loops; the "
                        "pages read before are kept"
                    )
                previous_first = first
                position.offsets[resource] = offset + len(rows)
                yield self._page(resource, offset, rows, since, until, position.dump())
                if len(rows) < self._page_size:
                    break

    def _page(
        self,
        resource: str,
        offset: int,
        rows: Sequence[object],
        since: datetime,
        until: datetime | None,
        cursor: str,
    ) -> Page:
        records: list[tuple[int, dict[str, object], object]] = []
        rejects: list[RejectedInput] = []
        location = f"mailjet {resource}"
        for index, row in enumerate(rows, start=offset + 1):
            try:
                if not isinstance(row, dict):
                    raise RejectedRecordError(
                        f"the row is not a JSON object (got {type(row).__name__})"
                    )
                records.append((index, statistic_record(resource, row), row))
            except RejectedRecordError as exc:
                rejects.append(self._reject(location, index, exc.reason, row))
        if self._look_up_emails:
            self._learn_emails(records)
        events: list[Event] = []
        skipped = 0
        for index, record, row in records:
            email = self._email_of(record)
            if email:
                record["email"] = email
            try:
                event = to_event(record, default_source=self.name)
            except RejectedRecordError as exc:
                rejects.append(self._reject(location, index, exc.reason, row))
                continue
            # FromTS/ToTS may bound another time than the event's (the message's): the
            # range is ours to keep.
            if event.occurred_at < since or (until is not None and event.occurred_at >= until):
                skipped += 1
                continue
            events.append(event)
        return Page(events, rejects, cursor, skipped=skipped)

    def _learn_emails(self, records: Sequence[tuple[int, dict[str, object], object]]) -> None:
        unknown = {
            contact
            for _, record, _ in records
            if (contact := _contact_id(record)) is not None and contact not in self._emails
        }
        if len(self._emails) + len(unknown) > _EMAILS_KEPT:
            self._emails.clear()
        for contact in sorted(unknown):
            body = self._api.get("contact", id=contact, missing_ok=True, what="a contact's e-mail")
            self._emails[contact] = _email_in(body)

    def _email_of(self, record: Mapping[str, object]) -> str | None:
        contact = _contact_id(record)
        return None if contact is None else self._emails.get(contact)

    def _reject(self, location: str, line: int, reason: str, row: object) -> RejectedInput:
        raw = dumps_exact(row)[: MAX_RAW_CHARS * 4].decode("utf-8", "replace")[:MAX_RAW_CHARS]
        return RejectedInput(self.name, location, line, reason, raw)


def _contact_id(record: Mapping[str, object]) -> str | None:
    ids = record.get("ids")
    return ids.get(CONTACT_ID_KEY) if isinstance(ids, dict) else None


def _row_id(row: object) -> object:
    return row.get("ID") if isinstance(row, dict) else None


def _email_in(body: Mapping[str, Any] | None) -> str | None:
    """``Data[0].Email`` of a ``contact`` answer; None for a contact Mailjet no longer has."""
    rows = body.get("Data") if body is not None else None
    if not isinstance(rows, list) or not rows or not isinstance(rows[0], dict):
        return None
    email = rows[0].get("Email")
    return email if isinstance(email, str) and email else None


def _shown(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()
