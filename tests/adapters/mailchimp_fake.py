"""A fake Mailchimp Marketing API for ``responses``: it answers from the fixtures' data.

The official client sends through ``requests`` (module-level ``requests.get``), so
``responses`` sees every call at the real data center's host. The fake pages campaigns and
members by ``count``/``offset`` as Mailchimp does, filters ``since_send_time``/
``before_send_time`` and ``since``, and with ``filter_bots=true`` leaves out the actions
the fixture marks ``"bot": true`` (the member stays).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import responses

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mailchimp"
SERVER = "us19"
API_KEY = "0123456789abcdef0123456789abcdef-us19"
BASE = f"https://{SERVER}.api.mailchimp.com/3.0"
_ACTIVITY = re.compile(re.escape(BASE) + r"/reports/(?P<campaign>\w+)/email-activity")


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


@dataclass
class FakeMailchimp:
    """Registers the fake's routes on ``rsps``; ``failures`` answers the next calls of a
    path with these (status, headers, body) before the data."""

    rsps: responses.RequestsMock
    campaigns: list[dict[str, Any]] = field(
        default_factory=lambda: fixture("campaigns.json")["campaigns"]
    )
    members: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: fixture("email_activity.json")
    )
    failures: dict[str, list[tuple[int, dict[str, str], str]]] = field(default_factory=dict)
    # Members a filter_bots=true read leaves out (Mailchimp says it never does; a member
    # gaining activity between the two reads can shift a page all the same).
    missing_when_filtered: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.rsps.add_callback(responses.GET, f"{BASE}/campaigns", callback=self._campaigns)
        self.rsps.add_callback(responses.GET, _ACTIVITY, callback=self._activity)

    def with_ping(self) -> FakeMailchimp:
        self.rsps.add_callback(responses.GET, f"{BASE}/ping", callback=self._ping)
        return self

    def fail_next(self, path: str, status: int, body: str = "", **headers: str) -> None:
        self.failures.setdefault(path, []).append((status, headers, body))

    def _failure(self, path: str) -> tuple[int, dict[str, str], str] | None:
        waiting = self.failures.get(path)
        return waiting.pop(0) if waiting else None

    @staticmethod
    def _json(body: object) -> tuple[int, dict[str, str], str]:
        return 200, {"Content-Type": "application/json; charset=utf-8"}, json.dumps(body)

    def _answer(self, path: str, make: Callable[[], object]):  # type: ignore[no-untyped-def]
        failure = self._failure(path)
        if failure is not None:
            return failure
        return self._json(make())

    def _ping(self, request: Any) -> tuple[int, dict[str, str], str]:
        return self._answer("/ping", lambda: {"health_status": "Everything's Chimpy!"})

    def _campaigns(self, request: Any) -> tuple[int, dict[str, str], str]:
        query = parse_qs(urlsplit(request.url).query)

        def page() -> object:
            assert query["status"] == ["sent"]
            since = _time(query["since_send_time"][0])
            before = query.get("before_send_time")
            sent = [
                {"id": c["id"], "send_time": c["send_time"]}
                for c in self.campaigns
                if _time(c["send_time"]) > since
                and (before is None or _time(c["send_time"]) < _time(before[0]))
            ]
            count, offset = int(query["count"][0]), int(query["offset"][0])
            return {"campaigns": sent[offset : offset + count], "total_items": len(sent)}

        return self._answer("/campaigns", page)

    def _activity(self, request: Any) -> tuple[int, dict[str, str], str]:
        url = urlsplit(request.url)
        query = parse_qs(url.query)
        campaign = _ACTIVITY.match(f"{BASE}{url.path.removeprefix('/3.0')}")
        assert campaign is not None
        campaign_id = campaign["campaign"]
        path = f"/reports/{campaign_id}/email-activity"
        if campaign_id not in self.members:
            failure = self._failure(path)
            if failure is not None:
                return failure
            return (
                404,
                {"Content-Type": "application/problem+json"},
                json.dumps({"title": "Resource Not Found", "status": 404, "detail": "gone"}),
            )

        def page() -> object:
            since = query.get("since")
            bots_out = query.get("filter_bots") == ["true"]
            members = []
            for member in self.members[campaign_id]:
                member = copy.deepcopy(member)
                if not isinstance(member, dict):
                    members.append(member)
                    continue
                if bots_out and member.get("email_id") in self.missing_when_filtered:
                    continue
                actions = member.get("activity", [])
                if isinstance(actions, list):
                    member["activity"] = [
                        {k: v for k, v in action.items() if k != "bot"}
                        for action in actions
                        if not (bots_out and action.get("bot"))
                        and (since is None or _time(action["timestamp"]) > _time(since[0]))
                    ]
                members.append(member)
            count, offset = int(query["count"][0]), int(query["offset"][0])
            return {
                "emails": members[offset : offset + count],
                "campaign_id": campaign_id,
                "total_items": len(members),
                "_links": [],
            }

        return self._answer(path, page)

    def calls_to(self, path: str) -> list[dict[str, list[str]]]:
        """The query of each call made to ``path``, in order."""
        found = []
        for call in self.rsps.calls:
            url = urlsplit(call.request.url)
            if url.path == f"/3.0{path}":
                found.append(parse_qs(url.query))
        return found
