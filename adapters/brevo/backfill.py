"""`leadsync backfill` of a Brevo source: past campaign activity, read by API.

Brevo's API has no feed of marketing events: its event report (``GET /smtp/statistics/
events``) is transactional only, and campaign reports are totals. What it gives per
person is ``GET /contacts/{id}/campaignStats`` (at most 90 days per call, dates included
at both ends), so the backfill reads the contacts of the lists configured
(``GET /contacts/lists/{id}/contacts``, oldest first), and each one's statistics over
the range in windows of 90 days: one page per contact, its cursor the list and the
position after it. A rerun resumes after the last contact committed; one of a range read
to its end reads only the contacts added to the lists since.

What the statistics hold, and so what the backfill stores: a send, a delivery, the
opens of each campaign (one per campaign and window, at the time Brevo gives, with the
count of opens as ``opens``), each link clicked (one per link, with ``clicks``), hard and
soft bounces, spam complaints, and unsubscriptions by the person (those an admin made are
not the person's doing and are skipped). Proxy opens are not told apart from opens there.

Each event's id is built as the webhook's is (``activity``): where Brevo gives the same
time and URL both ways, an event the webhook stored is not stored again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import orjson

from adapters.brevo.activity import Activity, CampaignActivity
from adapters.brevo.client import BrevoApi, BrevoRefusedError
from connector.errors import ConfigError, FatalError, RejectedRecordError
from connector.ingest.canonical import to_event
from connector.model import Event
from connector.ports import Page, RejectedInput

if TYPE_CHECKING:
    from brevo.contacts.types.get_contact_stats_response import GetContactStatsResponse
    from brevo.types.get_contact_details import GetContactDetails


__all__ = ["MAX_SPAN_DAYS", "BrevoBackfill", "activities_of", "stat_windows"]

# campaignStats: "Maximum difference between startDate and endDate should not be greater
# than 90 days" (brevo-python 5.1.0, ContactsClient.get_contact_stats).
MAX_SPAN_DAYS = 90
# The statistics' dates are days, not said to be UTC days: a day more on each side (not
# past today, which Brevo refuses), and the events outside the range are skipped.
_MARGIN = timedelta(days=1)
_MAX_RAW_CHARS = 2_000


def stat_windows(since: datetime, until: datetime | None, today: date) -> list[tuple[date, date]]:
    """The (startDate, endDate) pairs that cover ``since`` to ``until``, none past today."""
    first = (since.astimezone(UTC) - _MARGIN).date()
    last = today if until is None else min(today, (until.astimezone(UTC) + _MARGIN).date())
    windows: list[tuple[date, date]] = []
    start = first
    while start <= last:
        end = min(start + timedelta(days=MAX_SPAN_DAYS), last)
        windows.append((start, end))
        start = end + timedelta(days=1)
    return windows


@dataclass(frozen=True, slots=True)
class _Position:
    """Where a backfill stands: the lists it reads, in ``list_id`` the offset after the
    last contact committed, and that contact's id (to tell whether the list moved)."""

    lists: tuple[int, ...]
    list_id: int
    offset: int
    contact_id: int

    def dump(self) -> str:
        return orjson.dumps(
            {
                "lists": self.lists,
                "list": self.list_id,
                "offset": self.offset,
                "contact": self.contact_id,
            }
        ).decode()

    @staticmethod
    def load(text: str | None) -> _Position | None:
        if not text:
            return None
        try:
            data = orjson.loads(text)
            return _Position(
                tuple(int(list_id) for list_id in data["lists"]),
                int(data["list"]),
                int(data["offset"]),
                int(data["contact"]),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None  # not ours: start over, the ledger dedupes


class BrevoBackfill:
    """The campaign activity of the contacts of ``lists``, over a range of dates."""

    def __init__(
        self,
        name: str,
        api: BrevoApi,
        *,
        lists: Sequence[int],
        contacts_per_page: int,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> None:
        self.name = name
        self._api = api
        self._lists = tuple(lists)
        self._per_page = contacts_per_page
        self._today = today

    def pull(self, cursor: str | None) -> Iterator[Page]:
        raise ConfigError(
            f"source {self.name!r} (type 'brevo') is not pulled: Brevo sends its events to "
            "`leadsync serve` by webhook",
            key=f"sources.{self.name}.type",
            hint=f"`leadsync backfill {self.name}` reads a past range",
        )

    def pull_range(
        self, since: datetime, until: datetime | None, cursor: str | None
    ) -> Iterator[Page]:
        windows = stat_windows(since, until, self._today())
        start = _Position.load(cursor)
        if start is not None and start.lists != self._lists:
            start = None  # the lists changed: read them all again (the ledger dedupes)
        resuming = start is not None
        read: set[int] = set()  # a contact on two lists is read once a run
        for list_id in self._lists:
            if resuming and start is not None and list_id != start.list_id:
                continue  # read to its end before the stop
            position = start if resuming else None
            resuming = False
            yield from self._list_pages(list_id, position, windows, since, until, read)

    def _list_pages(
        self,
        list_id: int,
        position: _Position | None,
        windows: list[tuple[date, date]],
        since: datetime,
        until: datetime | None,
        read: set[int],
    ) -> Iterator[Page]:
        # Resuming, the contact before the offset is read again: if it is the last one
        # committed the list has not moved and it is passed over; if not, contacts were
        # removed from the list meanwhile, and reading from there loses none but those.
        offset = max(position.offset - 1, 0) if position else 0
        last_done = position.contact_id if position else None
        previous: list[int] = []
        while True:
            page = self._api.list_contacts(list_id, offset=offset, limit=self._per_page)
            if page is None:
                raise ConfigError(
                    f"Brevo has no contact list {list_id}",
                    key=f"sources.{self.name}.lists",
                    hint="Contacts > Lists in Brevo shows each list's id",
                )
            contacts = list(page.contacts or ())
            ids = [contact.id for contact in contacts]
            if ids and ids == previous:
                raise FatalError(
                    f"Brevo answered the same contacts of list {list_id} for offset {offset} "
                    "as for the page before: stopped, not to loop"
                )
            previous = ids
            for contact in contacts:
                offset += 1
                if last_done is not None and contact.id == last_done:
                    last_done = None
                    continue
                last_done = None
                cursor = _Position(self._lists, list_id, offset, contact.id).dump()
                if contact.id in read:
                    yield Page((), cursor=cursor)
                    continue
                read.add(contact.id)
                yield self._contact_page(contact, cursor, windows, since, until)
            if len(contacts) < self._per_page or (page.count is not None and offset >= page.count):
                return

    def _contact_page(
        self,
        contact: GetContactDetails,
        cursor: str,
        windows: list[tuple[date, date]],
        since: datetime,
        until: datetime | None,
    ) -> Page:
        if not contact.email:
            return Page((), cursor=cursor)  # an SMS-only contact gets no e-mail campaign
        activities: list[CampaignActivity] = []
        rejects: list[RejectedInput] = []
        skipped = 0
        for start, end in windows:
            stats = self._stats(contact.id, start, end)
            if stats is None:
                break  # the contact was deleted since the list was read
            found, bad, left_out = activities_of(stats, contact.email, str(contact.id))
            activities.extend(found)
            skipped += left_out
            rejects.extend(self._reject(contact.id, reason, raw) for reason, raw in bad)
        events: dict[str, Event] = {}
        for activity in activities:
            if activity.occurred_at < since or (
                until is not None and activity.occurred_at >= until
            ):
                skipped += 1
                continue
            try:
                event = to_event(activity.record(), default_source=self.name)
            except RejectedRecordError as exc:
                raw = orjson.dumps(activity.record()).decode()
                rejects.append(self._reject(contact.id, exc.reason, raw))
                continue
            events.setdefault(event.source_event_id, event)
        return Page(tuple(events.values()), tuple(rejects), cursor=cursor, skipped=skipped)

    def _stats(self, contact_id: int, start: date, end: date) -> GetContactStatsResponse | None:
        try:
            return self._api.contact_stats(contact_id, start=start, end=end)
        except BrevoRefusedError as refused:
            # "endDate must not be greater than the current date": Brevo's current date
            # may be a day behind ours (its time zone is not said); today is then asked
            # for again tomorrow, by the webhook or the next backfill.
            yesterday = end - timedelta(days=1)
            if refused.status != 400 or end != self._today() or yesterday < start:
                raise
            return self._api.contact_stats(contact_id, start=start, end=yesterday)

    def _reject(self, contact_id: int, reason: str, raw: str) -> RejectedInput:
        location = f"brevo GET /contacts/{contact_id}/campaignStats"
        return RejectedInput(self.name, location, None, reason, raw[:_MAX_RAW_CHARS])


# Brevo's examples write eventTime two ways: ISO 8601 ("2016-05-03T21:25:01Z", the stored
# wiremock answers) and Go's default ("2017-03-12 20:15:13 +0000 UTC", its OpenAPI
# examples as SDKs generated from them show).
_GO_TIME = "%Y-%m-%d %H:%M:%S %z"


def _time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        try:
            moment = datetime.strptime(str(text).removesuffix(" UTC"), _GO_TIME)
        except ValueError:
            raise RejectedRecordError(
                f"eventTime {str(text)[:40]!r} is not an ISO 8601 time"
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # Brevo documents it as a UTC date-time
    return moment.astimezone(UTC)


def activities_of(
    stats: GetContactStatsResponse, email: str, contact_id: str
) -> tuple[list[CampaignActivity], list[tuple[str, str]], int]:
    """The activities in one contact's statistics, the items that cannot be read (reason,
    raw text), and how many were left out (unsubscriptions an admin made)."""
    found: list[CampaignActivity] = []
    bad: list[tuple[str, str]] = []

    def add(
        activity: Activity,
        campaign_id: int | None,
        event_time: str,
        item: object,
        *,
        url: str | None = None,
        extra: tuple[tuple[str, str | int], ...] = (),
    ) -> None:
        try:
            moment = _time(event_time)
        except RejectedRecordError as exc:
            bad.append((exc.reason, _dumped(item)))
            return
        found.append(
            CampaignActivity(
                activity, campaign_id, email, moment, url=url, contact_id=contact_id, extra=extra
            )
        )

    simple = (
        (Activity.SENT, stats.messages_sent),
        (Activity.DELIVERED, stats.delivered),
        (Activity.HARD_BOUNCE, stats.hard_bounces),
        (Activity.SOFT_BOUNCE, stats.soft_bounces),
        (Activity.SPAM, stats.complaints),
    )
    for activity, items in simple:
        for item in items or ():
            add(activity, item.campaign_id, item.event_time, item)
    for opened in stats.opened or ():
        add(
            Activity.OPEN,
            opened.campaign_id,
            opened.event_time,
            opened,
            extra=_extra(ip=opened.ip, opens=opened.count),
        )
    for clicked in stats.clicked or ():
        for link in clicked.links or ():
            add(
                Activity.CLICK,
                clicked.campaign_id,
                link.event_time,
                link,
                url=link.url,
                extra=_extra(ip=link.ip, clicks=link.count),
            )
    unsubscriptions = stats.unsubscriptions
    left_out = 0
    if unsubscriptions is not None:
        for unsubscribed in unsubscriptions.user_unsubscription or ():
            add(
                Activity.UNSUBSCRIBE,
                unsubscribed.campaign_id,
                unsubscribed.event_time,
                unsubscribed,
                extra=_extra(ip=unsubscribed.ip),
            )
        left_out = len(unsubscriptions.admin_unsubscription or ())
    return found, bad, left_out


def _extra(**values: str | int | None) -> tuple[tuple[str, str | int], ...]:
    return tuple((key, value) for key, value in values.items() if value is not None and value != "")


def _dumped(item: object) -> str:
    dump = getattr(item, "model_dump", None)
    data = dump(by_alias=True) if callable(dump) else item
    try:
        return orjson.dumps(data, default=str).decode()[:_MAX_RAW_CHARS]
    except TypeError:
        return repr(data)[:_MAX_RAW_CHARS]
