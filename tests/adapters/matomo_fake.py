"""A fake Matomo Reporting API: visits in the shapes ``Live.getLastVisitsDetails``
answers, for ``responses`` (``FakeMatomo.register``) or a loopback server (``answer``).

It answers as Matomo's plugins/Live/Model.php reads its log: visits whose last action is
strictly after ``minTimestamp``, ordered by last action time then ``idVisit``
(``filter_sort_order=asc``, else newest first), ``filter_offset``/``filter_limit`` over
that order. A token it does not take gets Matomo's HTTP 200 with ``{"result": "error"}``.
``before_call`` runs before each visits call, so a test can let a visit grow mid-pull.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import responses

TOKEN = "a3f9c0e1d2b4a5968778695a4b3c2d1e"
BASE = "https://matomo.example.com"
API = f"{BASE}/index.php"
# Matomo's own message for a token it does not know (core/Access.php).
BAD_TOKEN_MESSAGE = (
    "Unable to authenticate with the provided token. It is either invalid or expired."
)


def page_view(url: str, timestamp: int, title: str = "Page") -> dict[str, Any]:
    """An ``actionDetails`` page view as plugins/Actions/VisitorDetails.php renders it."""
    return {
        "type": "action",
        "url": url,
        "pageTitle": title,
        "pageIdAction": "12",
        "idpageview": "x1Y2z3",
        "serverTimePretty": "Dec 7, 2026 09:00:00",
        "pageId": "40017",
        "timeSpent": "31",
        "timeSpentPretty": "31s",
        "pageviewPosition": "1",
        "title": title,
        "subtitle": url,
        "icon": "",
        "iconSVG": "plugins/Morpheus/images/action.svg",
        "timestamp": timestamp,
    }


def goal(goal_id: str, name: str, timestamp: int, revenue: str = "0") -> dict[str, Any]:
    """A goal conversion in ``actionDetails`` (plugins/Goals/VisitorDetails.php)."""
    return {
        "type": "goal",
        "goalName": name,
        "goalId": goal_id,
        "revenue": revenue,
        "goalPageId": None,
        "url": "https://www.example.com/quote/thanks",
        "serverTimePretty": "Dec 7, 2026 09:05:00",
        "referrerType": "direct",
        "referrerName": "",
        "referrerKeyword": "",
        "icon": "plugins/Morpheus/images/goal.png",
        "iconSVG": "plugins/Morpheus/images/goal.svg",
        "title": "Goal conversion",
        "timestamp": timestamp,
    }


def other_action(kind: str, timestamp: int, **extra: Any) -> dict[str, Any]:
    """A download, outlink, search, event or ecommerce action."""
    return {"type": kind, "timestamp": timestamp, "url": "https://files.example.com/x", **extra}


def visit(
    id_visit: int,
    actions: list[dict[str, Any]],
    *,
    visitor: str | None = "5f1e2d3c4b5a6978",
    user_id: str | None = None,
    site: int = 1,
    **extra: Any,
) -> dict[str, Any]:
    """A visit as plugins/Live/VisitorDetails.php and CoreHome/VisitorDetails.php give it:
    its first and last action times are its actions' first and last."""
    times = [
        action["timestamp"]
        for action in actions
        if isinstance(action, dict) and isinstance(action.get("timestamp"), int)
    ] or [1_796_461_200]
    record: dict[str, Any] = {
        "idSite": site,
        "idVisit": id_visit,
        "visitIp": "192.0.2.0",
        "visitorId": visitor,
        "fingerprint": "9a8b7c6d5e4f3a2b",
        "actionDetails": actions,
        "goalConversions": sum(
            1 for action in actions if isinstance(action, dict) and action.get("type") == "goal"
        ),
        "siteCurrency": "EUR",
        "siteCurrencySymbol": "€",
        "serverDate": "2026-12-07",
        "visitServerHour": "9",
        "lastActionTimestamp": max(times),
        "lastActionDateTime": "2026-12-07 09:05:00",
        "siteName": "Example",
        "serverTimestamp": max(times),
        "firstActionTimestamp": min(times),
        "serverTimePretty": "9:05:00",
        "serverDatePretty": "Monday, December 7, 2026",
        "userId": user_id,
        "visitorType": "new",
        "visitorTypeIcon": None,
        "visitConverted": "0",
        "visitCount": "1",
        "visitDuration": str(max(times) - min(times)),
        "referrerType": "direct",
        "referrerName": "",
        "deviceType": "Desktop",
        "browserName": "Firefox",
        **extra,
    }
    if visitor is None:
        del record["visitorId"]
    return record


def grow(record: dict[str, Any], *actions: dict[str, Any]) -> None:
    """The visit gains ``actions``: its last action time moves, as Matomo's log does."""
    record["actionDetails"] = [*record["actionDetails"], *actions]
    times = [action["timestamp"] for action in record["actionDetails"]]
    record["lastActionTimestamp"] = record["serverTimestamp"] = max(times)


def _json(body: object) -> tuple[int, dict[str, str], str]:
    return 200, {"Content-Type": "application/json; charset=utf-8"}, json.dumps(body)


@dataclass
class FakeMatomo:
    """The fake's state: visits, goals, custom dimensions, the token it takes, and the
    failures to answer first (method -> [(status, headers, body)])."""

    visits: list[dict[str, Any]] = field(default_factory=list)
    goals: list[dict[str, Any]] = field(default_factory=list)
    dimensions: list[dict[str, Any]] = field(default_factory=list)
    token: str = TOKEN
    version: str = "5.2.0"
    failures: dict[str, list[tuple[int, dict[str, str], str]]] = field(default_factory=dict)
    before_call: Callable[[int], None] | None = None
    visit_calls: list[dict[str, str]] = field(default_factory=list)

    def register(self, rsps: responses.RequestsMock) -> FakeMatomo:
        rsps.add_callback(responses.POST, API, callback=self._responses_callback)
        return self

    def fail_next(self, method: str, status: int, body: str = "", **headers: str) -> None:
        self.failures.setdefault(method, []).append((status, headers, body))

    def _responses_callback(self, request: Any) -> tuple[int, dict[str, str], str]:
        query = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        body = request.body.decode() if isinstance(request.body, bytes) else request.body or ""
        form = {k: v[0] for k, v in parse_qs(body).items()}
        return self.answer(query, form)

    def answer(
        self, query: Mapping[str, str], form: Mapping[str, str]
    ) -> tuple[int, dict[str, str], str]:
        """Matomo's answer to a POST of ``query`` in the URL and ``form`` in the body."""
        assert query.get("module") == "API" and query.get("format") == "JSON", query
        assert "token_auth" not in query, "the token went in the URL"
        method = query.get("method", "")
        waiting = self.failures.get(method)
        if waiting:
            return waiting.pop(0)
        if form.get("token_auth") != self.token:
            return _json({"result": "error", "message": BAD_TOKEN_MESSAGE})
        if method == "API.getMatomoVersion":
            return _json({"value": self.version})
        if method == "Goals.getGoals":
            return _json(self.goals)
        if method == "CustomDimensions.getConfiguredCustomDimensions":
            return _json(self.dimensions)
        if method == "Live.getLastVisitsDetails":
            return _json(self._visits(query))
        return _json({"result": "error", "message": f"The method '{method}' does not exist."})

    def _visits(self, query: Mapping[str, str]) -> list[dict[str, Any]]:
        self.visit_calls.append(dict(query))
        if self.before_call is not None:
            self.before_call(len(self.visit_calls))
        since = int(query.get("minTimestamp", "0"))
        chosen = [v for v in self.visits if v["lastActionTimestamp"] > since]
        chosen.sort(
            key=lambda v: (v["lastActionTimestamp"], v["idVisit"]),
            reverse=query.get("filter_sort_order") != "asc",
        )
        offset, limit = int(query.get("filter_offset", "0")), int(query.get("filter_limit", "10"))
        return json.loads(json.dumps(chosen[offset : offset + limit]))
