"""Campaign e-mail activity (opens, clicks, bounces), pulled from a cursor or a range.

A pull lists the campaigns sent in the last ``lookback_days`` (and any sent since the last
one it saw, should the pulls have stopped for longer), then reads each one's activity
``since`` where it left off, less ``overlap_minutes``, 1,000 members a call, by offset.
Each API page is a ``Page`` whose cursor resumes after it. With ``mark_bot_activity`` the
same page is read again with ``filter_bots=true``: an open or click that read leaves out
is marked ``attributes.machine = "mailchimp filter_bots"``.

A backfill (``pull_range``) reads the campaigns sent from ``lookback_days`` before the
range's start to its end, each one's activity since the start, and keeps what falls in
the range; it leaves the pull's cursor alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from adapters.mailchimp.activity_events import (
    ActivityKey,
    ReadMembers,
    human_activity,
    parse_time,
    read_members,
)
from adapters.mailchimp.client import MailchimpApi, NotFoundError
from adapters.mailchimp.cursor import CampaignRead, PullCursor, RangeCursor, Sweep
from connector.errors import FatalError
from connector.ports import Page, RejectedInput

__all__ = ["Campaign", "MailchimpActivitySource"]

log = structlog.get_logger(__name__)

_CAMPAIGNS_PER_CALL = 1_000
# No campaign has this many pages of members (100 million at 1,000 a page): past it the
# API is answering the same page again, and the pull stops rather than loop.
_MAX_PAGES = 100_000


@dataclass(frozen=True, slots=True)
class Campaign:
    id: str
    sent_at: datetime


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _members(page: dict[str, Any]) -> list[object]:
    members = page.get("emails")
    return members if isinstance(members, list) else []


def _later(first: datetime | None, second: datetime | None) -> datetime | None:
    if first is None or second is None:
        return first or second
    return max(first, second)


class MailchimpActivitySource:
    """An ``EventSource`` and a ``RangeSource`` over one Mailchimp account's campaigns."""

    def __init__(
        self,
        name: str,
        api: MailchimpApi,
        *,
        lookback_days: int = 30,
        overlap_minutes: int = 5,
        page_size: int = 1_000,
        mark_bot_activity: bool = True,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.name = name
        self._api = api
        self._lookback = timedelta(days=lookback_days)
        self._overlap = timedelta(minutes=overlap_minutes)
        self._page_size = page_size
        self._mark_bots = mark_bot_activity
        self._clock = clock

    def lag(self, cursor: str | None) -> str:
        """How far the pull is, from its cursor alone (no call to Mailchimp), for
        `leadsync status`."""
        state = PullCursor.load(cursor)
        if not state.campaigns:
            return "no campaign read yet"
        marks = [read.read_to for read in state.campaigns.values() if read.read_to is not None]
        reading = sum(1 for read in state.campaigns.values() if read.sweep is not None)
        count = len(state.campaigns)
        said = f"{count} campaign{'s' if count != 1 else ''} followed"
        if marks:
            said += f", each read to {min(marks):%Y-%m-%d %H:%M} UTC at least"
        return said + (f", {reading} part-read" if reading else "")

    # -- the pull ------------------------------------------------------------------------

    def pull(self, cursor: str | None) -> Iterator[Page]:
        """Pages of the activity after ``cursor`` (None: all activity of the campaigns
        sent in the last ``lookback_days``)."""
        now = self._clock()
        state = PullCursor.load(cursor)
        window_start = now - self._lookback
        # Campaigns sent after the last one seen are read even when the pulls stopped for
        # longer than the window; older ones than the window are no longer followed.
        list_from = (
            window_start if state.sent_until is None else min(window_start, state.sent_until)
        )
        campaigns = [
            campaign
            for campaign in self._sent_campaigns(list_from, None)
            if campaign.sent_at >= window_start
            or state.sent_until is None
            or campaign.sent_at > state.sent_until
        ]
        followed = {campaign.id for campaign in campaigns}
        state = PullCursor(
            _later(state.sent_until, max((c.sent_at for c in campaigns), default=None)),
            {key: read for key, read in state.campaigns.items() if key in followed},
        )
        for campaign in campaigns:
            for page, after in self._pull_campaign(campaign, state, now):
                state = after
                yield page

    def _pull_campaign(
        self, campaign: Campaign, state: PullCursor, now: datetime
    ) -> Iterator[tuple[Page, PullCursor]]:
        read = state.campaigns.get(campaign.id, CampaignRead())
        sweep = read.sweep
        if sweep is None:
            since = None if read.read_to is None else read.read_to - self._overlap
            sweep = Sweep(since, 0, now)
        for _ in range(_MAX_PAGES):
            try:
                members, human, total = self._activity_page(campaign.id, sweep.since, sweep.offset)
            except NotFoundError:
                log.warning("mailchimp.campaign_gone", source=self.name, campaign=campaign.id)
                state = PullCursor(
                    state.sent_until,
                    {key: value for key, value in state.campaigns.items() if key != campaign.id},
                )
                yield Page(events=(), cursor=state.dump()), state
                return
            found = read_members(
                members,
                campaign_id=campaign.id,
                source=self.name,
                first_line=sweep.offset + 1,
                human=human,
            )
            offset = sweep.offset + len(members)
            latest = _later(sweep.latest, found.latest)
            if len(members) < self._page_size or (total is not None and offset >= total):
                # Read to the end: up to its latest activity, never past the moment this
                # read began (activity recorded while it ran may sit on a page already
                # read); without activity, everything up to that moment.
                capped = sweep.started if latest is None else min(latest, sweep.started)
                read_to = _later(read.read_to, capped)
                state = state.with_campaign(campaign.id, CampaignRead(read_to))
                yield self._page(found, state.dump()), state
                return
            sweep = Sweep(sweep.since, offset, sweep.started, latest)
            state = state.with_campaign(campaign.id, CampaignRead(read.read_to, sweep))
            yield self._page(found, state.dump()), state
        raise FatalError(
            f"Mailchimp's e-mail activity of campaign {campaign.id} did not end after "
            f"{_MAX_PAGES} pages; the pull stops rather than read the same pages again"
        )

    # -- the backfill --------------------------------------------------------------------

    def pull_range(
        self, since: datetime, until: datetime | None, cursor: str | None
    ) -> Iterator[Page]:
        """Pages of the activity with ``since <= occurred_at < until``, of the campaigns
        sent from ``lookback_days`` before ``since`` until ``until``."""
        state = RangeCursor.load(cursor)
        for campaign in self._sent_campaigns(since - self._lookback, until):
            if campaign.id in state.done:
                continue
            offset = state.offset if state.campaign == campaign.id else 0
            for _ in range(_MAX_PAGES):
                try:
                    members, human, total = self._activity_page(campaign.id, since, offset)
                except NotFoundError:
                    log.warning("mailchimp.campaign_gone", source=self.name, campaign=campaign.id)
                    members, human, total = [], None, 0
                found = read_members(
                    members,
                    campaign_id=campaign.id,
                    source=self.name,
                    first_line=offset + 1,
                    human=human,
                    since=since,
                    until=until,
                )
                offset += len(members)
                if len(members) < self._page_size or (total is not None and offset >= total):
                    state = RangeCursor(state.done | {campaign.id})
                    yield self._page(found, state.dump())
                    break
                state = RangeCursor(state.done, campaign.id, offset)
                yield self._page(found, state.dump())
            else:
                raise FatalError(
                    f"Mailchimp's e-mail activity of campaign {campaign.id} did not end "
                    f"after {_MAX_PAGES} pages"
                )

    # -- calls ---------------------------------------------------------------------------

    def _sent_campaigns(self, since: datetime, until: datetime | None) -> list[Campaign]:
        campaigns: list[Campaign] = []
        offset = 0
        for _ in range(_MAX_PAGES):
            answer = self._api.sent_campaigns(
                since_send_time=_iso(since),
                before_send_time=None if until is None else _iso(until),
                count=_CAMPAIGNS_PER_CALL,
                offset=offset,
            )
            listed = answer.get("campaigns")
            listed = listed if isinstance(listed, list) else []
            for item in listed:
                sent_at = parse_time(item.get("send_time")) if isinstance(item, dict) else None
                if sent_at is not None and isinstance(item.get("id"), str):
                    campaigns.append(Campaign(item["id"], sent_at))
            offset += len(listed)
            total = answer.get("total_items")
            if len(listed) < _CAMPAIGNS_PER_CALL or (isinstance(total, int) and offset >= total):
                break
        # Oldest first, as asked; sorted again so the order never rests on the answer's.
        return sorted(campaigns, key=lambda campaign: (campaign.sent_at, campaign.id))

    def _activity_page(
        self, campaign_id: str, since: datetime | None, offset: int
    ) -> tuple[list[object], dict[str, set[ActivityKey]] | None, int | None]:
        since_text = None if since is None else _iso(since)
        answer = self._api.email_activity(
            campaign_id, since=since_text, count=self._page_size, offset=offset
        )
        members = _members(answer)
        human = None
        if self._mark_bots and members:
            filtered = self._api.email_activity(
                campaign_id,
                since=since_text,
                count=self._page_size,
                offset=offset,
                filter_bots=True,
            )
            human = human_activity(_members(filtered))
        total = answer.get("total_items")
        return members, human, total if isinstance(total, int) else None

    def _page(self, found: ReadMembers, cursor: str) -> Page:
        rejects: tuple[RejectedInput, ...] = tuple(found.rejects)
        return Page(events=found.events, rejects=rejects, cursor=cursor, skipped=found.skipped)
