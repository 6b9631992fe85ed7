"""Mailchimp's campaign e-mail activity as canonical events.

``GET /reports/{campaign_id}/email-activity`` answers one record per member sent the
campaign: ``email_address``, ``email_id`` (the subscriber hash: MD5 of the lower-cased
address), ``list_id`` and ``activity``, a list of ``{action, timestamp, url, type, ip}``
where ``action`` is ``open``, ``click`` or ``bounce`` and ``type`` a bounce's ``hard`` or
``soft`` (Mailchimp's EmailActivity schema, as its generated SDKs carry it).

Mailchimp gives these actions no id, so an event's id is built from what identifies it:
``mc-`` and a hash of (campaign, subscriber hash, action, UTC timestamp, url). Reading the
same activity again (the overlap, a resumed page) gives the same ids, and the ledger
stores it once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from connector.errors import RejectedRecordError
from connector.ingest.canonical import to_event
from connector.model import Event, EventKind
from connector.ports import RejectedInput

__all__ = [
    "MACHINE_FLAG",
    "ActivityKey",
    "ReadMembers",
    "human_activity",
    "parse_time",
    "read_members",
    "subscriber_hash",
]

# attributes.machine on what Mailchimp's bot filter leaves out.
MACHINE_FLAG = "mailchimp filter_bots"
_KINDS = {"open": EventKind.EMAIL_OPEN, "click": EventKind.EMAIL_CLICK, "bounce": EventKind.BOUNCE}
# Only these are filtered by ``filter_bots`` ("human-only opens and clicks").
_FILTERED_ACTIONS = frozenset({"open", "click"})
_MAX_RAW_CHARS = 2_000

# (subscriber hash, action, UTC timestamp, url): one action of one member in a campaign.
ActivityKey = tuple[str, str, datetime, str | None]


def subscriber_hash(email: str) -> str:
    """Mailchimp's id of a member: the MD5 of the lower-cased e-mail address."""
    return hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()


def parse_time(text: object) -> datetime | None:
    """A Mailchimp ISO 8601 time ("2015-10-21T15:41:36+00:00") in UTC; None if it is not."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return None if moment.tzinfo is None else moment.astimezone(UTC)


def _event_id(campaign_id: str, key: ActivityKey) -> str:
    member, action, moment, url = key
    content = orjson.dumps([campaign_id, member, action, moment.isoformat(), url])
    return "mc-" + hashlib.blake2b(content, digest_size=16).hexdigest()


def _raw(member: object) -> str:
    try:
        return orjson.dumps(member).decode()[:_MAX_RAW_CHARS]
    except TypeError:
        return repr(member)[:_MAX_RAW_CHARS]


def _member_hash(member: Mapping[str, Any]) -> tuple[str | None, str]:
    email = member.get("email_address")
    email = email if isinstance(email, str) and email else None
    given = member.get("email_id")
    if isinstance(given, str) and given:
        return email, given
    if email is None:
        raise RejectedRecordError("a member with neither email_address nor email_id")
    return email, subscriber_hash(email)


def human_activity(members: Iterable[object]) -> dict[str, set[ActivityKey]]:
    """What a ``filter_bots=true`` read kept, by member: what it left out was a bot's."""
    kept: dict[str, set[ActivityKey]] = {}
    for member in members:
        if not isinstance(member, Mapping):
            continue
        try:
            _, member_hash = _member_hash(member)
        except RejectedRecordError:
            continue
        keys = kept.setdefault(member_hash, set())
        for action in member.get("activity") or ():
            key = _key(member_hash, action)
            if key is not None:
                keys.add(key)
    return kept


def _key(member_hash: str, action: object) -> ActivityKey | None:
    if not isinstance(action, Mapping):
        return None
    name, moment = action.get("action"), parse_time(action.get("timestamp"))
    if not isinstance(name, str) or moment is None:
        return None
    url = action.get("url")
    return (member_hash, name, moment, url if isinstance(url, str) and url else None)


@dataclass(slots=True)
class ReadMembers:
    """The events of a page of members, its rejects, what was left out, and the latest
    activity time in it (the campaign's high-water mark)."""

    events: list[Event] = field(default_factory=list)
    rejects: list[RejectedInput] = field(default_factory=list)
    skipped: int = 0
    latest: datetime | None = None


def read_members(
    members: Iterable[object],
    *,
    campaign_id: str,
    source: str,
    first_line: int,
    human: Mapping[str, set[ActivityKey]] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> ReadMembers:
    """Events of ``members`` (one page of the campaign's e-mail activity).

    Args:
        first_line: the first member's 1-based position in the campaign's activity (the
            page's offset + 1), for rejects.
        human: a ``filter_bots=true`` read of the same page (``human_activity``): an open
            or click of a member it holds but did not keep is marked as machine activity;
            a member it lacks is not judged (the pages did not line up).
        since, until: events outside ``[since, until)`` are counted as skipped (a backfill).
    """
    read = ReadMembers()
    location = f"mailchimp campaign {campaign_id}"
    for line, member in enumerate(members, start=first_line):
        try:
            if not isinstance(member, Mapping):
                raise RejectedRecordError(f"a member is a {type(member).__name__}, not an object")
            email, member_hash = _member_hash(member)
            actions = member.get("activity")
            actions = [] if actions is None else actions
            if not isinstance(actions, list):
                raise RejectedRecordError("activity is not a list")
        except RejectedRecordError as exc:
            read.rejects.append(RejectedInput(source, location, line, exc.reason, _raw(member)))
            continue
        for action in actions:
            # One bad action is set aside alone: the member's other actions are read.
            try:
                _read_action(
                    read, action, campaign_id, email, member_hash, source, human, since, until
                )
            except RejectedRecordError as exc:
                read.rejects.append(RejectedInput(source, location, line, exc.reason, _raw(action)))
    return read


def _read_action(
    read: ReadMembers,
    action: object,
    campaign_id: str,
    email: str | None,
    member_hash: str,
    source: str,
    human: Mapping[str, set[ActivityKey]] | None,
    since: datetime | None,
    until: datetime | None,
) -> None:
    key = _key(member_hash, action)
    if key is None or not isinstance(action, Mapping):
        raise RejectedRecordError("an activity without an action or an ISO 8601 timestamp")
    _, name, moment, url = key
    kind = _KINDS.get(name)
    if kind is None:
        read.skipped += 1
        return
    if read.latest is None or moment > read.latest:
        read.latest = moment
    if (since is not None and moment < since) or (until is not None and moment >= until):
        read.skipped += 1
        return
    attributes: dict[str, object] = {
        # One message per campaign per member: its opens, clicks and bounce share it.
        "message_id": f"{campaign_id}-{member_hash}",
        "campaign": campaign_id,
    }
    if kind is EventKind.BOUNCE and isinstance(action.get("type"), str):
        attributes["type"] = action["type"]
    kept = None if human is None else human.get(member_hash)
    if kept is not None and name in _FILTERED_ACTIONS and key not in kept:
        attributes["machine"] = MACHINE_FLAG
    record: dict[str, object] = {
        "id": _event_id(campaign_id, key),
        "kind": kind.value,
        "occurred_at": moment.isoformat(),
        "ids": {"mailchimp": member_hash},
        "attributes": attributes,
    }
    if email is not None:
        record["email"] = email
    if kind is EventKind.EMAIL_CLICK and url is not None:
        record["url"] = url
    read.events.append(to_event(record, default_source=source))
