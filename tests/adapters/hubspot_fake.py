"""A local HTTP server speaking HubSpot's CRM v3 contacts JSON, for the real client.

The official client sends over urllib3, which ``responses`` cannot see: these tests run
it against a real server on 127.0.0.1. Every request body it receives and every response
body it sends is validated against HubSpot's own OpenAPI file for the path and status
(read from ``../shared/specs/hubspot``, never copied here). It behaves as HubSpot does
where it matters to us: batch answers are 200 or 207 with per-record errors,
``lifecyclestage`` silently ignores a backward move, a rolling rate limit answers 429
with ``Retry-After``, a spent daily limit answers 429 with the ``DAILY`` policy to every
call, and rate-limit headers come with each answer.
"""

from __future__ import annotations

import bisect
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

import jsonschema
from werkzeug import Request, Response

from tests.conftest import SPECS_DIR

SPECS = SPECS_DIR / "hubspot"
CONTACTS_SPEC = SPECS / "crm-contacts-v3.json"
PROPERTIES_SPEC = SPECS / "crm-properties-v3.json"
PROPERTIES = "/crm/v3/properties/contacts"
BASE = "/crm/v3/objects/contacts"
STAGES = [
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
]
NOW = "2026-11-26T10:00:00.000Z"


class SpecValidator:
    """Request and response bodies against the spec's schema for a path and status."""

    def __init__(self, spec_path: Path) -> None:
        self.spec = json.loads(spec_path.read_text(encoding="utf-8"))

    def _schema(self, node: dict[str, Any]) -> dict[str, Any]:
        schema = node["content"]["application/json"]["schema"]
        return {**schema, "components": self.spec["components"]}

    def request(self, path: str, body: Any, method: str = "post") -> None:
        operation = self.spec["paths"][path][method]
        jsonschema.Draft4Validator(self._schema(operation["requestBody"])).validate(body)

    def response(self, path: str, status: int, body: Any, method: str = "post") -> None:
        responses = self.spec["paths"][path][method]["responses"]
        node = responses.get(str(status)) or responses["default"]
        jsonschema.Draft4Validator(self._schema(node)).validate(body)


@dataclass
class FakeHubSpot:
    validator: SpecValidator
    token: str
    properties_validator: SpecValidator | None = None
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    limit_per_10s: int | None = None  # calls per rolling window (10 s unless said)
    rolling_window_s: float = 10.0
    limit_per_second: int | None = None  # calls per rolling second, the "Secondly" limit
    # Whether a call over ``limit_per_second`` is refused (429) or only reported in the
    # "secondly" headers, as by a portal whose 10 s window is the limit it enforces.
    enforce_per_second: bool = True
    # The rate-limit header families every answer carries (HubSpot may send both): the
    # window's ("rolling": -Max, -Remaining, -Interval-Milliseconds), the second's
    # ("secondly") and the day's ("daily"). The limits hold whichever are sent.
    header_families: tuple[str, ...] = ("rolling",)
    daily_allowance: int = 500_000  # for the "daily" headers
    # One call in this many is answered 503 (the 20th, 40th... call to a batch path).
    unavailable_one_in: int | None = None
    # Batch creates done but answered only after ``lost_answer_s``: past the client's
    # timeout, the answer is lost to it.
    lose_create_answers: int = 0
    lost_answer_s: float = 0.0
    contacts: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> properties
    refuse_ids: set[str] = field(default_factory=set)  # a 207 error for these on update
    refuse_property: str | None = None  # a 207 error for inputs that set this property
    # Contacts whose lifecyclestage a portal workflow keeps as it is: writes to it are
    # answered 200 and change nothing, as HubSpot answers a backward move.
    keep_stage_ids: set[str] = field(default_factory=set)
    missing_property: str | None = None  # a 400 for a batch that sets this property
    answer_429_times: int = 0
    fail_status: int | None = None  # every call answered this status, in HubSpot's error shape
    failed_answers: int = 0  # how many calls were answered fail_status
    # Calls answered before the token is refused (401): a token revoked part-way through a
    # push. Unlike a 429 or a 5xx the client does not retry it, so a test needs no waiting.
    revoke_token_after_calls: int | None = None
    # Batch updates answered before the portal's daily limit is spent: every call after
    # them answers HubSpot's daily 429 (body, header, or both, as ``daily_signals`` say).
    daily_limit_after_writes: int | None = None
    daily_signals: tuple[str, ...] = ("policyName", "header")
    # Batch updates answered before HubSpot stops answering: every call after them (the
    # client's retries included) gets 503.
    unavailable_after_writes: int | None = None
    retry_after_s: int = 1
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    received_429: int = 0
    stage_writes: list[tuple[str, str]] = field(default_factory=list)  # (id, value) in order
    _sent: deque[float] = field(default_factory=deque)
    _sent_this_second: deque[float] = field(default_factory=deque)
    _answered: int = 0  # calls that passed the limits, for the daily headers
    _calls_let_through: int = 0  # calls past the limits, for ``unavailable_one_in``
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next_id: int = 1000
    search_cap: int = 10_000  # HubSpot pages no further than this in one query
    latency_s: float = 0.0  # added to every answer, as a real round trip would
    # Called before each search is answered, with how many came before: edits made in
    # HubSpot while leadsync reads.
    before_search: Callable[[int], None] | None = None
    _emails: dict[str, str] = field(default_factory=dict)

    def add_contact(self, email: str, **properties: str) -> str:
        self._next_id += 1
        contact_id = str(self._next_id)
        self.contacts[contact_id] = {"email": email, **properties}
        self._emails[email.lower()] = contact_id
        return contact_id

    def by_email(self, email: str) -> str | None:
        return self._emails.get(email.lower())

    def writes(self) -> list[dict[str, Any]]:
        return [body for path, body in self.calls if path.endswith("/batch/update")]

    # -- the server ------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        revoked = (
            self.revoke_token_after_calls is not None
            and len(self.calls) >= self.revoke_token_after_calls
        )
        if revoked or request.headers.get("Authorization") != f"Bearer {self.token}":
            return self._json(
                401,
                {
                    "status": "error",
                    "message": "Authentication credentials not found.",
                    "category": "INVALID_AUTHENTICATION",
                    "correlationId": "00000000-0000-0000-0000-000000000000",
                },
            )
        if self.fail_status is not None:
            self.failed_answers += 1
            return self._json(
                self.fail_status,
                {
                    "status": "error",
                    "message": f"{HTTPStatus(self.fail_status).phrase} (the test's failure)",
                    "correlationId": "00000000-0000-0000-0000-000000000000",
                },
            )
        if self.latency_s:
            time.sleep(self.latency_s)
        # The limits count a call when it arrives, not when the lock lets it through
        # (validating a request against the spec takes a few ms under the lock).
        arrived = time.monotonic()
        with self._lock:
            writes = len(self.writes())
            if (
                self.daily_limit_after_writes is not None
                and writes >= self.daily_limit_after_writes
            ):
                return self._day_spent()
            if (
                self.unavailable_after_writes is not None
                and writes >= self.unavailable_after_writes
            ):
                self.failed_answers += 1
                return self._json(
                    503,
                    {
                        "status": "error",
                        "message": "Service Unavailable (the test's failure)",
                        "correlationId": "00000000-0000-0000-0000-000000000000",
                    },
                )
            limited = self._rate_limited(arrived)
            if limited is not None:
                return limited
            self._calls_let_through += 1
            if self.unavailable_one_in and self._calls_let_through % self.unavailable_one_in == 0:
                self.failed_answers += 1
                return self._json(
                    503,
                    {
                        "status": "error",
                        "message": f"Service Unavailable (one call in {self.unavailable_one_in})",
                        "correlationId": "00000000-0000-0000-0000-000000000000",
                    },
                )
            path = request.path
            if path.startswith(PROPERTIES):
                return self._properties_call(request)
            body = json.loads(request.get_data() or b"{}")
            self.validator.request(path, body)
            self.calls.append((path, body))
            if path == f"{BASE}/batch/read":
                status, answer = self._read(body)
            elif path == f"{BASE}/batch/update":
                status, answer = self._update(body)
            elif path == f"{BASE}/batch/create":
                status, answer = self._create(body)
                if self.lose_create_answers > 0:
                    self.lose_create_answers -= 1
                    time.sleep(self.lost_answer_s)
            elif path == f"{BASE}/search":
                status, answer = self._search(body)
            else:  # pragma: no cover - only the paths above are routed here
                return self._json(404, {"message": "unknown path"})
            if status < 400:  # errors have HubSpot's generic error shape
                self.validator.response(path, status, answer)
            return self._json(status, answer)

    def _rate_limited(self, now: float) -> Response | None:
        if self.answer_429_times > 0:
            self.answer_429_times -= 1
            return self._too_many(self.retry_after_s)
        while self._sent and now - self._sent[0] >= self.rolling_window_s:
            self._sent.popleft()
        while self._sent_this_second and now - self._sent_this_second[0] >= 1.0:
            self._sent_this_second.popleft()
        if self.limit_per_10s is not None and len(self._sent) >= self.limit_per_10s:
            frees = self.rolling_window_s - (now - self._sent[0])
            return self._too_many(max(1, int(frees) + 1))
        if (
            self.enforce_per_second
            and self.limit_per_second is not None
            and len(self._sent_this_second) >= self.limit_per_second
        ):
            return self._too_many(1, policy="SECONDLY")
        # Calls let through out of their order of arrival keep it in the windows.
        bisect.insort(self._sent, now)
        bisect.insort(self._sent_this_second, now)
        self._answered += 1
        return None

    def _too_many(self, retry_after: int, policy: str = "TEN_SECONDLY_ROLLING") -> Response:
        self.received_429 += 1
        response = self._json(
            429,
            {
                "status": "error",
                "message": f"You have reached your {policy.lower()} limit.",
                "errorType": "RATE_LIMIT",
                "correlationId": "00000000-0000-0000-0000-000000000000",
                "policyName": policy,
            },
        )
        response.headers["Retry-After"] = str(retry_after)
        return response

    def _day_spent(self) -> Response:
        self.received_429 += 1
        body: dict[str, Any] = {
            "status": "error",
            "message": "You have reached your daily limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": "00000000-0000-0000-0000-000000000000",
            "requestId": "00000000-0000-0000-0000-000000000001",
        }
        if "policyName" in self.daily_signals:
            body["policyName"] = "DAILY"
        else:  # a 429 that names only the rolling window it also hit
            body["policyName"] = "TEN_SECONDLY_ROLLING"
        response = self._json(429, body)
        if "header" in self.daily_signals:
            response.headers["X-HubSpot-RateLimit-Daily"] = "500000"
            response.headers["X-HubSpot-RateLimit-Daily-Remaining"] = "0"
        return response

    def _json(self, status: int, body: dict[str, Any]) -> Response:
        response = Response(json.dumps(body), status=status, content_type="application/json")
        headers = response.headers
        if self.limit_per_10s is not None and "rolling" in self.header_families:
            headers["X-HubSpot-RateLimit-Max"] = str(self.limit_per_10s)
            headers["X-HubSpot-RateLimit-Remaining"] = str(
                max(self.limit_per_10s - len(self._sent), 0)
            )
            headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(
                round(self.rolling_window_s * 1000)
            )
        if self.limit_per_second is not None and "secondly" in self.header_families:
            headers["X-HubSpot-RateLimit-Secondly"] = str(self.limit_per_second)
            headers["X-HubSpot-RateLimit-Secondly-Remaining"] = str(
                max(self.limit_per_second - len(self._sent_this_second), 0)
            )
        if "daily" in self.header_families and "X-HubSpot-RateLimit-Daily" not in headers:
            headers["X-HubSpot-RateLimit-Daily"] = str(self.daily_allowance)
            headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(
                max(self.daily_allowance - self._answered, 0)
            )
        return response

    def _object(self, contact_id: str, properties: dict[str, str]) -> dict[str, Any]:
        return {
            "id": contact_id,
            "properties": properties,
            "createdAt": NOW,
            "updatedAt": NOW,
            "archived": False,
        }

    def _batch(
        self, results: list[dict[str, Any]], errors: list[dict[str, Any]], *, ok: int = 200
    ) -> tuple[int, dict[str, Any]]:
        answer: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": NOW,
            "completedAt": NOW,
        }
        if errors:
            answer["errors"] = errors
            answer["numErrors"] = len(errors)
            return 207, answer
        return ok, answer

    @staticmethod
    def _error(category: str, message: str, ids: list[str]) -> dict[str, Any]:
        return {
            "status": "error",
            "category": category,
            "message": message,
            "context": {"ids": ids},
            "errors": [],
            "links": {},
        }

    def _read(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        results, missing = [], []
        for item in body["inputs"]:
            contact_id = (
                self.by_email(item["id"]) if body.get("idProperty") == "email" else item["id"]
            )
            if contact_id is None or contact_id not in self.contacts:
                missing.append(item["id"])
                continue
            wanted = body.get("properties") or []
            properties = {
                name: value
                for name, value in self.contacts[contact_id].items()
                if name in wanted or not wanted
            }
            results.append(self._object(contact_id, properties))
        errors = (
            [
                self._error(
                    "OBJECT_NOT_FOUND",
                    "Could not get some CONTACT objects, they may be deleted or not exist.",
                    missing,
                )
            ]
            if missing
            else []
        )
        return self._batch(results, errors)

    def _update(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        results, errors = [], []
        if self.missing_property and any(
            self.missing_property in item["properties"] for item in body["inputs"]
        ):
            return 400, {
                "status": "error",
                "message": 'Property values were not valid: [{"isValid":false,"message":'
                f'"Property \\"{self.missing_property}\\" does not exist",'
                '"error":"PROPERTY_DOESNT_EXIST"}]',
                "category": "VALIDATION_ERROR",
                "correlationId": "00000000-0000-0000-0000-000000000000",
            }
        for item in body["inputs"]:
            contact_id = item["id"]
            if contact_id in self.refuse_ids or (
                self.refuse_property is not None and self.refuse_property in item["properties"]
            ):
                errors.append(
                    self._error(
                        "VALIDATION_ERROR",
                        "Property values were not valid: leadsync_temperature 'tepid' "
                        "is not one of the allowed options",
                        [contact_id],
                    )
                )
                continue
            if contact_id not in self.contacts:
                errors.append(self._error("OBJECT_NOT_FOUND", "Contact not found", [contact_id]))
                continue
            stored = self.contacts[contact_id]
            for name, value in item["properties"].items():
                if name == "lifecyclestage":
                    self.stage_writes.append((contact_id, value))
                    current = stored.get(name, "")
                    if value and current and STAGES.index(value) < STAGES.index(current):
                        continue  # HubSpot ignores a backward move without a word
                    if contact_id in self.keep_stage_ids:
                        continue
                stored[name] = value
            results.append(self._object(contact_id, dict(stored)))
        return self._batch(results, errors)

    # -- properties and groups -------------------------------------------------------------

    def define(self, name: str, kind: str = "string", options: tuple[str, ...] = ()) -> None:
        """A property the portal already has (HubSpot's own ones, say)."""
        self.properties[name] = {
            "name": name,
            "label": name,
            "type": kind,
            "fieldType": "select" if options else "text",
            "groupName": "contactinformation",
            "description": "",
            "options": [
                {"label": value, "value": value, "hidden": False, "displayOrder": order}
                for order, value in enumerate(options)
            ],
        }

    def _properties_call(self, request: Request) -> Response:
        assert self.properties_validator is not None, "properties spec not loaded"
        validator = self.properties_validator
        is_groups = request.path == f"{PROPERTIES}/groups"
        template = "/crm/v3/properties/{objectType}" + ("/groups" if is_groups else "")
        method = request.method.lower()
        self.calls.append((request.path, {"method": method}))
        store = self.groups if is_groups else self.properties
        if method == "get":
            status, answer = 200, {"results": list(store.values())}
        else:
            body = json.loads(request.get_data() or b"{}")
            validator.request(template, body, method)
            if body["name"] in store:
                return self._json(
                    409,
                    {
                        "status": "error",
                        "message": f"{body['name']} already exists",
                        "category": "OBJECT_ALREADY_EXISTS",
                        "correlationId": "00000000-0000-0000-0000-000000000000",
                    },
                )
            if is_groups:
                created = {
                    "archived": False,
                    "displayOrder": body.get("displayOrder", -1),
                    "label": body["label"],
                    "name": body["name"],
                }
            else:
                created = {"description": "", "options": [], **body}
            store[body["name"]] = created
            status, answer = 201, created
        validator.response(template, status, answer, method)
        return self._json(status, answer)

    def _search(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.before_search is not None:
            self.before_search(sum(1 for path, _ in self.calls if path.endswith("/search")) - 1)
        (group,) = body["filterGroups"]
        (condition,) = group["filters"]
        assert (condition["propertyName"], condition["operator"]) == ("lastmodifieddate", "GTE")
        assert body["sorts"] == ["lastmodifieddate"]
        since = int(condition["value"])
        after, limit = int(body["after"] or 0), int(body["limit"])
        if after + limit > self.search_cap:
            return 400, {
                "status": "error",
                "message": f"The search API cannot page past {self.search_cap} results.",
                "category": "VALIDATION_ERROR",
                "correlationId": "00000000-0000-0000-0000-000000000000",
            }
        matching = sorted(
            (
                (int(properties.get("lastmodifieddate_ms", "0")), int(contact_id))
                for contact_id, properties in self.contacts.items()
                if int(properties.get("lastmodifieddate_ms", "0")) >= since
            )
        )
        page = matching[after : after + limit]
        results = []
        for _, contact_id in page:
            stored = self.contacts[str(contact_id)]
            results.append(
                self._object(
                    str(contact_id),
                    {name: stored.get(name) for name in body["properties"] if name in stored},
                )
            )
        answer: dict[str, Any] = {"total": len(matching), "results": results}
        if after + limit < len(matching):
            answer["paging"] = {"next": {"after": str(after + limit)}}
        return 200, answer

    def modified(self, contact_id: str, at: datetime, **properties: str) -> None:
        """A change made in HubSpot at ``at`` (by sales, say)."""
        stored = self.contacts[contact_id]
        stored.update(properties)
        stored["lastmodifieddate"] = at.isoformat().replace("+00:00", "Z")
        stored["lastmodifieddate_ms"] = str(int(at.timestamp() * 1000))

    def _create(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        results = []
        for item in body["inputs"]:
            contact_id = self.add_contact(**item["properties"])
            results.append(self._object(contact_id, dict(self.contacts[contact_id])))
        return self._batch(results, [], ok=201)  # create answers 201, as the spec says
