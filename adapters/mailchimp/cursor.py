"""The mailchimp source's cursors, as JSON text.

The pull's cursor holds, per campaign still followed, how far its activity was read
(``read_to``, the latest activity time seen, never past the moment that read began) and,
mid-campaign, the read in progress (its ``since``, the next offset, the latest time seen
so far); and the campaign list's mark, the latest send time seen. Each page commits it,
so a killed pull reads at most one page again.

A backfill's cursor holds the campaigns it has finished and the one it is in (with the
next offset): the range itself says which campaigns and times to read.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

import orjson

from adapters.mailchimp.activity_events import parse_time

__all__ = ["CampaignRead", "PullCursor", "RangeCursor", "Sweep"]

_VERSION = 1


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(frozen=True, slots=True)
class Sweep:
    """One campaign's activity read in progress: from ``since``, at ``offset``."""

    since: datetime | None
    offset: int
    started: datetime
    latest: datetime | None = None


@dataclass(frozen=True, slots=True)
class CampaignRead:
    """How far one campaign's activity is read."""

    read_to: datetime | None = None
    sweep: Sweep | None = None


@dataclass(frozen=True, slots=True)
class PullCursor:
    sent_until: datetime | None = None  # the latest campaign send time seen
    campaigns: dict[str, CampaignRead] = field(default_factory=dict)

    def with_campaign(self, campaign_id: str, read: CampaignRead) -> PullCursor:
        return replace(self, campaigns={**self.campaigns, campaign_id: read})

    def dump(self) -> str:
        campaigns: dict[str, object] = {}
        for campaign_id, read in self.campaigns.items():
            sweep = read.sweep
            campaigns[campaign_id] = {
                "read_to": _time(read.read_to),
                "sweep": None
                if sweep is None
                else {
                    "since": _time(sweep.since),
                    "offset": sweep.offset,
                    "started": sweep.started.isoformat(),
                    "latest": _time(sweep.latest),
                },
            }
        return orjson.dumps(
            {"v": _VERSION, "sent_until": _time(self.sent_until), "campaigns": campaigns}
        ).decode()

    @staticmethod
    def load(text: str | None) -> PullCursor:
        """The cursor of ``text``; an empty one for None or text this source did not
        write (the pull then starts over, and the ledger drops what it already has)."""
        if not text:
            return PullCursor()
        try:
            data = orjson.loads(text)
            campaigns = {
                str(campaign_id): _campaign_read(read)
                for campaign_id, read in data["campaigns"].items()
            }
            return PullCursor(parse_time(data["sent_until"]), campaigns)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            return PullCursor()


def _campaign_read(data: dict[str, object]) -> CampaignRead:
    sweep = data["sweep"]
    read_to = parse_time(data["read_to"])
    if sweep is None:
        return CampaignRead(read_to)
    if not isinstance(sweep, dict):
        raise TypeError("sweep")
    started = parse_time(sweep["started"])
    if started is None:
        raise ValueError("started")
    return CampaignRead(
        read_to,
        Sweep(
            parse_time(sweep["since"]), int(sweep["offset"]), started, parse_time(sweep["latest"])
        ),
    )


@dataclass(frozen=True, slots=True)
class RangeCursor:
    done: frozenset[str] = frozenset()
    campaign: str | None = None  # the campaign being read, at ``offset``
    offset: int = 0

    def dump(self) -> str:
        return orjson.dumps(
            {
                "v": _VERSION,
                "done": sorted(self.done),
                "campaign": self.campaign,
                "offset": self.offset,
            }
        ).decode()

    @staticmethod
    def load(text: str | None) -> RangeCursor:
        if not text:
            return RangeCursor()
        try:
            data = orjson.loads(text)
            campaign = data["campaign"]
            return RangeCursor(
                frozenset(str(done) for done in data["done"]),
                None if campaign is None else str(campaign),
                int(data["offset"]),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return RangeCursor()
