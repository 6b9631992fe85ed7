"""A fake GA4 Data API for the real client's REST transport, checked against Google's
discovery document.

The client's REST transport sends through ``requests`` (google-auth's AuthorizedSession),
so ``responses`` sees it; a CLI in a subprocess reaches the same fake through a
``pytest-httpserver`` on 127.0.0.1 (``serve_on``). Every request is checked against
``analyticsdata-v1beta.discovery.json`` (read from ``LEADSYNC_SPECS_DIR``, never copied
here): its path matches a method's path template, its HTTP method is that method's, its
query asks for integer enums, and its JSON body holds only the request schema's keys with
their types, recursively. Every answer is checked the same way against the response
schema. The fake reports rows of (date, user key, event name[, page path]) -> count,
ordered and paged by ``offset``/``limit`` as asked, and with each answer the property
quota it is told.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug import Request, Response

from tests.conftest import SPECS_DIR

SPECS = SPECS_DIR / "google-analytics-data"
DISCOVERY = SPECS / "analyticsdata-v1beta.discovery.json"
ENDPOINT = "https://analyticsdata.test"
PROPERTY = "123456789"
Answer = tuple[int, dict[str, str], str]


class DiscoveryChecker:
    """Requests and answers against the discovery document's methods and schemas."""

    def __init__(self, path: Path = DISCOVERY) -> None:
        self.doc = json.loads(path.read_text(encoding="utf-8"))
        self.methods: list[tuple[re.Pattern[str], str, dict[str, Any]]] = []
        self._collect(self.doc)

    def _collect(self, node: dict[str, Any]) -> None:
        for method in node.get("methods", {}).values():
            template = re.escape("/" + method["flatPath"])
            pattern = re.sub(r"\\\{[A-Za-z]+\\\}", r"[^/:]+", template)
            self.methods.append((re.compile(pattern + "$"), method["httpMethod"], method))
        for child in node.get("resources", {}).values():
            self._collect(child)

    def method(self, http_method: str, path: str, query: str) -> dict[str, Any]:
        """The method the request is; AssertionError if it is none, or asks wrongly."""
        found = [m for pattern, verb, m in self.methods if pattern.match(path)]
        assert found, f"no method's path template matches {path}"
        (method,) = found
        assert method["httpMethod"] == http_method, (method["id"], http_method)
        # Integer enums, as the REST transport asks on every call (API-FACTS §7a).
        assert parse_qs(query).get("$alt") == ["json;enum-encoding=int"], query
        return method

    def check(self, value: Any, schema: dict[str, Any], where: str = "$") -> None:
        if "$ref" in schema:
            schema = self.doc["schemas"][schema["$ref"]]
        kind = schema.get("type")
        if "enum" in schema:
            assert isinstance(value, int) and not isinstance(value, bool), (where, value)
            assert 0 <= value < len(schema["enum"]), (where, value)
        elif kind == "object":
            assert isinstance(value, dict), (where, value)
            properties = schema.get("properties", {})
            unknown = set(value) - set(properties)
            assert not unknown, f"{where}: keys not in the schema: {sorted(unknown)}"
            for key, item in value.items():
                self.check(item, properties[key], f"{where}.{key}")
        elif kind == "array":
            assert isinstance(value, list), (where, value)
            for index, item in enumerate(value):
                self.check(item, schema["items"], f"{where}[{index}]")
        elif kind == "string":
            assert isinstance(value, str), (where, value)
            if schema.get("format") == "int64":
                assert re.fullmatch(r"-?[0-9]+", value), (where, value)
        elif kind == "integer":
            assert isinstance(value, int) and not isinstance(value, bool), (where, value)
        elif kind == "boolean":
            assert isinstance(value, bool), (where, value)
        else:
            raise AssertionError(f"{where}: the schema has no type here: {schema}")


def service_account_file(folder: Path) -> tuple[Path, str]:
    """A service account's key file with a fresh RSA key, and that key's PEM text."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "leadsync-test",
        "private_key_id": "0123456789abcdef",
        "private_key": pem,
        "client_email": "leadsync@leadsync-test.iam.gserviceaccount.com",
        "client_id": "100000000000000000001",
        "token_uri": "https://oauth2.test/token",
    }
    path = folder / "service-account.json"
    path.write_text(json.dumps(info), encoding="utf-8")
    return path, pem


@dataclass
class FakeGa4:
    """The fake's data and calls; ``failures`` answer the next calls before the data."""

    checker: DiscoveryChecker = field(default_factory=DiscoveryChecker)
    property_id: str = PROPERTY
    # (YYYYMMDD, user key, event name[, page path]) -> eventCount
    counts: dict[tuple[str, ...], int] = field(default_factory=dict)
    dimensions: list[str] = field(
        default_factory=lambda: ["date", "eventName", "pagePath", "customUser:crm_id"]
    )
    metrics: list[str] = field(default_factory=lambda: ["eventCount", "keyEvents"])
    tokens_remaining: int = 39_000
    tokens_consumed: int = 12
    thresholded: bool = False
    sampled: bool = False
    failures: list[Answer] = field(default_factory=list)
    # Failures that answer the runReport call of this number (1: the first) instead.
    failures_at: dict[int, Answer] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)  # runReport bodies
    # The public key whose signature the bearer JWT must carry (None: no auth checked).
    public_key: Any = None

    def fail_next(self, status: int, grpc_status: str, message: str = "failed") -> None:
        self.failures.append(self.error(status, grpc_status, message))

    @staticmethod
    def error(status: int, grpc_status: str, message: str = "failed") -> Answer:
        """Google's JSON error body (google.rpc.Status over HTTP)."""
        body = {"error": {"code": status, "message": message, "status": grpc_status}}
        return status, {"Content-Type": "application/json"}, json.dumps(body)

    def answer(
        self, method: str, path: str, query: str, body: bytes, headers: dict[str, str]
    ) -> Answer:
        found = self.checker.method(method, path, query)
        self._check_auth(headers)
        sent = json.loads(body) if body else None
        if "request" in found:
            self.checker.check(sent, found["request"])
        assert f"properties/{self.property_id}" in path, path
        if self.failures:
            return self.failures.pop(0)
        if found["id"].endswith(".runReport"):
            assert sent is not None
            self.requests.append(sent)
            planned = self.failures_at.pop(len(self.requests), None)
            if planned is not None:
                return planned
            made = self._report(sent)
        elif found["id"].endswith(".getMetadata"):
            made = self._metadata()
        else:
            raise AssertionError(f"the fake does not serve {found['id']}")
        self.checker.check(made, found["response"])
        return 200, {"Content-Type": "application/json"}, json.dumps(made)

    def _check_auth(self, headers: dict[str, str]) -> None:
        if self.public_key is None:
            return
        scheme, _, token = headers.get("authorization", "").partition(" ")
        assert scheme == "Bearer", "no bearer token"
        claims = jwt.decode(
            token,
            self.public_key,
            algorithms=["RS256"],
            audience=None,
            options={"verify_aud": False},
        )
        assert "analytics.readonly" in claims.get("scope", ""), claims

    def _report(self, sent: dict[str, Any]) -> dict[str, Any]:
        names = [d["name"] for d in sent["dimensions"]]
        (span,) = sent["dateRanges"]
        first, last = (span[k].replace("-", "") for k in ("startDate", "endDate"))
        wanted: dict[tuple[str, ...], int] = {}
        asked = sent.get("dimensionFilter", {}).get("filter", {})
        if asked:
            assert asked["fieldName"] == "eventName", asked
        only = set(asked["inListFilter"]["values"]) if asked else None
        for key, count in self.counts.items():
            day, user, event, *path = key
            if not first <= day <= last or (only is not None and event not in only):
                continue
            values = {"date": day, "eventName": event, "pagePath": path[0] if path else "/"}
            values.update({name: user for name in names if name.startswith("customUser:")})
            row = tuple(values[name] for name in names)
            wanted[row] = wanted.get(row, 0) + count
        order = [o["dimension"]["dimensionName"] for o in sent.get("orderBys", [])]
        assert order == names, "rows ordered by every dimension, in order"
        rows = sorted(wanted.items())
        offset, limit = int(sent.get("offset", "0")), int(sent.get("limit", "10000"))
        page = rows[offset : offset + limit]
        made: dict[str, Any] = {
            "dimensionHeaders": [{"name": name} for name in names],
            "metricHeaders": [{"name": "eventCount", "type": 1}],
            "rows": [
                {
                    "dimensionValues": [{"value": v} for v in values],
                    "metricValues": [{"value": str(count)}],
                }
                for values, count in page
            ],
            "rowCount": len(rows),
            "metadata": {"currencyCode": "EUR", "timeZone": "Europe/Paris"},
            "kind": "analyticsData#runReport",
        }
        if self.thresholded:
            made["metadata"]["subjectToThresholding"] = True
        if self.sampled:
            made["metadata"]["samplingMetadatas"] = [
                {"samplesReadCount": "5000", "samplingSpaceSize": "20000"}
            ]
        if sent.get("returnPropertyQuota"):
            made["propertyQuota"] = {
                "tokensPerHour": {
                    "consumed": self.tokens_consumed,
                    "remaining": self.tokens_remaining,
                },
                "tokensPerDay": {"consumed": self.tokens_consumed, "remaining": 190_000},
            }
        return made

    def _metadata(self) -> dict[str, Any]:
        return {
            "name": f"properties/{self.property_id}/metadata",
            "dimensions": [
                {"apiName": name, "uiName": name, "customDefinition": ":" in name}
                for name in self.dimensions
            ],
            "metrics": [{"apiName": name, "uiName": name, "type": 1} for name in self.metrics],
        }

    # -- transports ------------------------------------------------------------------------

    def mock(self, rsps: responses.RequestsMock, endpoint: str = ENDPOINT) -> FakeGa4:
        """Serve the fake at ``endpoint`` through ``responses``."""

        def callback(request: Any) -> Answer:
            url = urlsplit(request.url)
            body = request.body or b""
            return self.answer(
                request.method,
                url.path,
                url.query,
                body.encode() if isinstance(body, str) else body,
                {name.lower(): value for name, value in request.headers.items()},
            )

        pattern = re.compile(re.escape(endpoint) + r"/v1beta/.*")
        rsps.add_callback(responses.POST, pattern, callback=callback)
        rsps.add_callback(responses.GET, pattern, callback=callback)
        return self

    def handler(self) -> Callable[[Request], Response]:
        """A ``pytest-httpserver`` handler serving the fake."""

        def handle(request: Request) -> Response:
            status, headers, body = self.answer(
                request.method,
                request.path,
                request.query_string.decode(),
                request.get_data(),
                {name.lower(): value for name, value in request.headers.items()},
            )
            return Response(body, status=status, headers=headers)

        return handle
