"""A Salesforce org in memory, answering the REST and Bulk API 2.0 calls leadsync makes in
Salesforce's documented shapes, behind `responses` or a local TLS server.

The URLs it serves are checked against the request templates of Salesforce's own Postman
collection (``specs/salesforce/postman-request-items``), so a call the real API does not
have fails the test instead of passing against a fake of our own invention.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
import responses

from tests.adapters.hubspot_fake import SPECS

VERSION = "62.0"
INSTANCE = "https://sf.test"
ITEMS_DIR = SPECS.parent / "salesforce" / "postman-request-items"
_DATA = f"/services/data/v{VERSION}/"
_PREFIX = {"Lead": "00Q", "Contact": "003"}


def _templates() -> list[tuple[str, re.Pattern[str]]]:
    """(method, path pattern) of each request of Salesforce's Postman collection.

    A trailing ``<SOBJECT_API_NAME>`` is optional: the collection's "SObject Collections
    Update" item carries one, while the REST guide's URI for it is ``composite/sobjects``
    (records of several objects in one call, each naming its type)."""
    found = []
    for item in sorted(ITEMS_DIR.glob("*/*.json")):
        spec = json.loads(item.read_text(encoding="utf-8"))
        if "{{_endpoint}}" not in spec["url"]:
            continue  # the login items: leadsync's end-to-end tests use an access token
        url = spec["url"].split("?")[0].replace("{{_endpoint}}", "").replace("{{version}}", VERSION)
        pattern = re.escape(url.rstrip("/"))
        pattern = re.sub(r"/<[^>]*>$", "(?:/[^/]+)?", pattern)
        pattern = re.sub(r"<[^>]*>|\\\{\\\{[^}]*\\\}\\\}", "[^/]+", pattern)
        found.append((spec["method"], re.compile(f"^{pattern}/?$")))
    return found


@dataclass
class FakeOrg:
    """Leads and Contacts by id; what to refuse, lock or limit; every call it answered."""

    token: str = "00Dxx0000001gPL!fake-access-token"
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    refuse: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (code, message)
    locked: Counter[str] = field(default_factory=Counter)  # id -> times still locked
    limit_after_calls: int | None = None  # calls answered before REQUEST_LIMIT_EXCEEDED
    fail_jobs: bool = False  # Bulk jobs end Failed (e.g. a field the org lacks)
    server_errors_from: int | None = None  # this call (1-based) and every later one: 500
    # Call (1-based) -> the Retry-After of its 503 answer (None: no header); the org does
    # nothing for it.
    unavailable: dict[int, str | None] = field(default_factory=dict)
    # Call -> what the client meets instead of an answer: raised before the org sees the
    # call (nothing done), or after it did the work (the answer is lost).
    cut_before: dict[int, Exception] = field(default_factory=dict)
    cut_after: dict[int, Exception] = field(default_factory=dict)
    # Raised, one per create (POST composite/sobjects), after the org made the records.
    lost_creates: list[Exception] = field(default_factory=list)
    truncate_results: int | None = None  # collections answers cut to this many results
    used: int = 1_000
    allowed: int = 100_000
    calls: list[tuple[str, str, Any]] = field(default_factory=list)
    refused_calls: set[int] = field(default_factory=set)  # indexes in calls
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    won_roles: list[dict[str, Any]] = field(default_factory=list)
    composite_writes: list[list[dict[str, Any]]] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _templates: list[tuple[str, re.Pattern[str]]] = field(default_factory=_templates)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- the org's data --------------------------------------------------------------------

    def add(self, sobject: str, email: str, **fields: Any) -> str:
        record_id = f"{_PREFIX[sobject]}{next(self._ids):012d}AAA"
        self.records[record_id] = {
            "attributes": {"type": sobject},
            "Id": record_id,
            "Email": email,
            "SystemModstamp": _stamp(),
            **({"IsConverted": False, "ConvertedContactId": None} if sobject == "Lead" else {}),
            **fields,
        }
        return record_id

    def win(
        self, contact_id: str, *, amount: float | None = None, closed: str | None = None
    ) -> str:
        """A won opportunity naming the Contact in a contact role; its id."""
        deal = f"006{next(self._ids):012d}AAA"
        self.won_roles.append(
            {
                "attributes": {"type": "OpportunityContactRole"},
                "ContactId": contact_id,
                "OpportunityId": deal,
                "Contact": {"Email": self.records[contact_id]["Email"]},
                "Opportunity": {
                    "SystemModstamp": _stamp(),
                    "CloseDate": closed or _stamp()[:10],
                    "Amount": amount,
                },
            }
        )
        return deal

    def convert(self, lead_id: str) -> str:
        lead = self.records[lead_id]
        contact_id = self.add("Contact", lead["Email"])
        lead.update(IsConverted=True, ConvertedContactId=contact_id)
        return contact_id

    def writes(self) -> list[list[dict[str, Any]]]:
        """The records of each sObject Collections update, in call order."""
        return [
            body["records"]
            for index, (method, path, body) in enumerate(self.calls)
            if method == "PATCH"
            and path.endswith("composite/sobjects")
            and index not in self.refused_calls
        ]

    def written_ids(self) -> Counter[str]:
        """How many times each record was written, Composite subrequests included."""
        batches = [*self.writes(), *self.composite_writes]
        return Counter(record["id"] for batch in batches for record in batch)

    # -- HTTP --------------------------------------------------------------------------------

    def handle(
        self, method: str, url: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            return self._handle(method, url, headers, body)

    def _handle(
        self, method: str, url: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(url)
        path = parts.path
        if not any(m == method and p.match(path) for m, p in self._templates):
            raise AssertionError(f"{method} {path} is not a request of Salesforce's API")
        if headers.get("Authorization") != f"Bearer {self.token}":
            return _json(
                401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
            )
        parsed: Any = body.decode() if body else None
        if parsed and "json" in headers.get("Content-Type", ""):
            parsed = json.loads(parsed)
        self.calls.append((method, path, parsed))
        if self.limit_after_calls is not None and len(self.calls) > self.limit_after_calls:
            self.refused_calls.add(len(self.calls) - 1)
            return _json(
                403,
                [
                    {
                        "message": "TotalRequests Limit exceeded.",
                        "errorCode": "REQUEST_LIMIT_EXCEEDED",
                    }
                ],
            )
        number = len(self.calls)
        if number in self.cut_before:
            self.refused_calls.add(number - 1)
            raise self.cut_before[number]
        if self.server_errors_from is not None and number >= self.server_errors_from:
            self.refused_calls.add(number - 1)
            return _json(
                500, [{"errorCode": "UNKNOWN_EXCEPTION", "message": "An unexpected error occurred"}]
            )
        self.used += 1
        limit_info = f"api-usage={self.used}/{self.allowed}"
        if number in self.unavailable:
            self.refused_calls.add(number - 1)
            status, answer_headers, answer = _json(
                503, [{"errorCode": "SERVER_UNAVAILABLE", "message": "Server unavailable"}]
            )
            retry_after = self.unavailable[number]
            if retry_after is not None:
                answer_headers["Retry-After"] = retry_after
            answer_headers["Sforce-Limit-Info"] = limit_info
            return status, answer_headers, answer
        status, answer_headers, answer = self._route(method, path, parts.query, parsed)
        if number in self.cut_after:
            raise self.cut_after[number]
        if method == "POST" and path.endswith("composite/sobjects") and self.lost_creates:
            raise self.lost_creates.pop(0)
        answer_headers["Sforce-Limit-Info"] = limit_info
        return status, answer_headers, answer

    def _route(
        self, method: str, path: str, query: str, body: Any
    ) -> tuple[int, dict[str, str], bytes]:
        rest = path.removeprefix(_DATA).rstrip("/")
        if rest == "query" and method == "GET":
            return _json(200, self._query(parse_qs(query)["q"][0]))
        if rest == "composite/sobjects" and method == "PATCH":
            return _json(200, self._update(body)[: self.truncate_results])
        if rest == "composite/sobjects" and method == "POST":
            return _json(200, self._create(body))
        if rest == "composite" and method == "POST":
            return _json(200, self._composite(body))
        record_id = re.fullmatch(r"sobjects/(Lead|Contact)/(\w+)", rest)
        if record_id and method == "GET":
            record = self.records.get(record_id.group(2))
            if record is None:
                return _json(404, [{"errorCode": "NOT_FOUND", "message": "not found"}])
            fields = parse_qs(query).get("fields", [""])[0].split(",")
            return _json(
                200,
                {
                    "attributes": record["attributes"],
                    "Id": record["Id"],
                    **{name: record.get(name) for name in fields if name},
                },
            )
        if rest.startswith("jobs/ingest"):
            return self._bulk(method, rest.removeprefix("jobs/ingest").strip("/"), body)
        raise AssertionError(f"the fake org does not answer {method} {path}")

    def _query(self, soql: str) -> dict[str, Any]:
        changed = re.search(r"FROM (\w+)(?: WHERE (.*?))? ORDER BY (\S+) ASC$", soql)
        if changed and " IN (" not in soql:
            return self._changed_since(*changed.groups())
        match = re.search(r"FROM (\w+) WHERE (\w+) IN \(([^)]*)\)", soql)
        assert match, f"unexpected SOQL {soql}"
        sobject, column, listed = match.groups()
        values = {value.lower() for value in re.findall(r"'((?:[^'\\]|\\.)*)'", listed)}
        if sobject == "OpportunityContactRole":
            # The won deals of the Contacts a page of won roles named.
            assert soql.endswith(" AND Opportunity.IsWon = true"), soql
            roles = [role for role in self.won_roles if role["ContactId"].lower() in values]
            return {"totalSize": len(roles), "done": True, "records": roles}
        found = [
            record
            for record in self.records.values()
            if record["attributes"]["type"] == sobject
            and str(record.get(column) or "").lower() in values
        ]
        return {"totalSize": len(found), "done": True, "records": found}

    def _composite(self, body: dict[str, Any]) -> dict[str, Any]:
        """Subrequests in order, each ``@{ref.Field}`` resolved from an earlier answer; one
        whose reference failed is not run (Salesforce's PROCESSING_HALTED)."""
        assert body["allOrNone"] is False
        requests_ = body["compositeRequest"]
        assert len(requests_) <= 25, "a Composite request takes 25 subrequests at most"
        answers: dict[str, dict[str, Any]] = {}
        out = []
        for sub in requests_:
            failed: list[str] = []

            def resolve(value: Any, failed: list[str] = failed) -> Any:
                if isinstance(value, str) and value.startswith("@{"):
                    ref, _, name = value[2:-1].partition(".")
                    answer = answers.get(ref)
                    if answer is None or answer["httpStatusCode"] >= 300:
                        failed.append(ref)
                        return None
                    return answer["body"].get(name)
                if isinstance(value, dict):
                    return {key: resolve(item) for key, item in value.items()}
                if isinstance(value, list):
                    return [resolve(item) for item in value]
                return value

            sub_body = resolve(sub.get("body"))
            parts = urlsplit(sub["url"])
            if not any(m == sub["method"] and p.match(parts.path) for m, p in self._templates):
                raise AssertionError(f"subrequest {sub['method']} {parts.path} is not Salesforce's")
            if failed:
                status, payload = (
                    400,
                    [{"errorCode": "PROCESSING_HALTED", "message": f"{failed[0]} failed"}],
                )
            else:
                if sub["method"] == "PATCH" and parts.path.endswith("composite/sobjects"):
                    self.composite_writes.append(sub_body["records"])
                status, _, raw = self._route(sub["method"], parts.path, parts.query, sub_body)
                payload = json.loads(raw) if raw else None
            answers[sub["referenceId"]] = {"httpStatusCode": status, "body": payload}
            out.append(
                {
                    "body": payload,
                    "httpHeaders": {},
                    "httpStatusCode": status,
                    "referenceId": sub["referenceId"],
                }
            )
        return {"compositeResponse": out}

    def _changed_since(self, sobject: str, where: str | None, order: str) -> dict[str, Any]:
        """The reader's queries: records (or won contact roles) stamped at or after a time."""
        since = re.search(r">= (\S+)", where or "")
        floor = since.group(1).replace("Z", "+0000") if since else ""
        if sobject == "OpportunityContactRole":
            found = [
                role for role in self.won_roles if role["Opportunity"]["SystemModstamp"] >= floor
            ]
        else:
            found = [
                {"Account": None, **record}
                for record in self.records.values()
                if record["attributes"]["type"] == sobject and record["SystemModstamp"] >= floor
            ]
            found.sort(key=lambda record: record["SystemModstamp"])
        return {"totalSize": len(found), "done": True, "records": found}

    def _update(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        assert body["allOrNone"] is False
        assert 1 <= len(body["records"]) <= 200, "sObject Collections take 200 records at most"
        types = [record["attributes"]["type"] for record in body["records"]]
        runs = 1 + sum(1 for before, after in itertools.pairwise(types) if before != after)
        if runs > 10:
            # Salesforce processes a call in runs of one type, ten at most.
            return [
                _failure(
                    "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 10 chunks"
                )
                for _ in body["records"]
            ]
        results = []
        for sent in body["records"]:
            record_id = sent["id"]
            record = self.records.get(record_id)
            if record is None:
                results.append(_failure("ENTITY_IS_DELETED", "entity is deleted"))
            elif record["attributes"]["type"] != sent["attributes"]["type"]:
                results.append(
                    _failure("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
                )
            elif record.get("IsConverted"):
                results.append(
                    _failure("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
                )
            elif self.locked[record_id] > 0:
                self.locked[record_id] -= 1
                results.append(
                    _failure(
                        "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record"
                    )
                )
            elif record_id in self.refuse:
                code, message = self.refuse[record_id]
                results.append(_failure(code, message, ["LeadSync_Score__c"]))
            else:
                record.update({k: v for k, v in sent.items() if k not in ("attributes", "id")})
                record["SystemModstamp"] = _stamp()
                results.append({"id": record_id, "success": True, "errors": []})
        return results

    def _create(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        results = []
        for sent in body["records"]:
            sobject = sent["attributes"]["type"]
            assert sent.get("LastName"), "LastName is required"
            if sobject == "Lead":
                assert sent.get("Company"), "Company is required on Leads"
            record_id = self.add(sobject, sent["Email"])
            self.records[record_id].update({k: v for k, v in sent.items() if k != "attributes"})
            results.append({"id": record_id, "success": True, "errors": []})
        return results

    def _bulk(self, method: str, rest: str, body: Any) -> tuple[int, dict[str, str], bytes]:
        if not rest and method == "POST":
            job_id = f"750{next(self._ids):012d}AAA"
            self.jobs[job_id] = {
                "id": job_id,
                "state": "Open",
                "object": body["object"],
                "operation": body["operation"],
                "ok": [],
                "failed": [],
            }
            assert body["operation"] == "update" and body["contentType"] == "CSV"
            return _json(200, _job_info(self.jobs[job_id]))
        job_id, _, tail = rest.partition("/")
        job = self.jobs[job_id]
        if tail == "batches" and method == "PUT":
            rows = list(csv.DictReader(io.StringIO(body)))
            job["rows"] = rows
            return 201, {}, b""
        if not tail and method == "PATCH":
            assert body == {"state": "UploadComplete"}
            if self.fail_jobs:
                job["state"] = "Failed"
                job["errorMessage"] = "InvalidBatch : Field name not found : LeadSync_Score__c"
                return _json(200, _job_info(job))
            for row in job["rows"]:
                record = self.records.get(row["Id"])
                failure = None
                if record is None:
                    failure = ("ENTITY_IS_DELETED", "entity is deleted")
                elif record.get("IsConverted"):
                    failure = ("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
                elif self.locked[row["Id"]] > 0:
                    self.locked[row["Id"]] -= 1
                    failure = ("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access")
                elif row["Id"] in self.refuse:
                    failure = self.refuse[row["Id"]]
                if failure is not None:
                    job["failed"].append((row, f"{failure[0]}:{failure[1]}"))
                    continue
                for name, value in row.items():
                    if name != "Id" and value != "":
                        record[name] = None if value == "#N/A" else value
                job["ok"].append(row)
            job["state"] = "JobComplete"
            return _json(200, _job_info(job))
        if not tail and method == "GET":
            return _json(200, _job_info(job))
        if tail == "successfulResults" and method == "GET":
            # Salesforce does not promise the upload's order: reversed here on purpose.
            lines = [{"sf__Id": row["Id"], "sf__Created": "false", **row} for row in job["ok"]]
            return 200, {"Content-Type": "text/csv"}, _csv(lines[::-1], ["sf__Id", "sf__Created"])
        if tail == "failedResults" and method == "GET":
            lines = [
                {"sf__Id": row["Id"], "sf__Error": error, **row} for row, error in job["failed"]
            ]
            return 200, {"Content-Type": "text/csv"}, _csv(lines[::-1], ["sf__Id", "sf__Error"])
        raise AssertionError(f"the fake org does not answer {method} jobs/ingest/{rest}")


def _stamp() -> str:
    """Now, as Salesforce writes SystemModstamp."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"


def _job_info(job: dict[str, Any]) -> dict[str, Any]:
    return {
        **({"errorMessage": job["errorMessage"]} if "errorMessage" in job else {}),
        "id": job["id"],
        "operation": job["operation"],
        "object": job["object"],
        "state": job["state"],
        "contentType": "CSV",
        "numberRecordsProcessed": len(job["ok"]) + len(job["failed"]),
        "numberRecordsFailed": len(job["failed"]),
    }


def _failure(code: str, message: str, fields: list[str] | None = None) -> dict[str, Any]:
    # A failed record carries no id (Salesforce's own example): matched by position.
    return {
        "success": False,
        "errors": [{"statusCode": code, "message": message, "fields": fields or []}],
    }


def _json(status: int, payload: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()


def _csv(lines: list[dict[str, str]], first: list[str]) -> bytes:
    names = first + sorted({name for line in lines for name in line} - set(first))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    writer.writerows(lines)
    return out.getvalue().encode()


def serve_with_responses(
    org: FakeOrg, mocked: responses.RequestsMock, base: str = INSTANCE
) -> None:
    """Route every call to ``base`` through ``org`` (simple-salesforce uses requests)."""

    def callback(request: Any) -> tuple[int, dict[str, str], bytes]:
        body = request.body or b""
        return org.handle(
            request.method,
            request.url,
            dict(request.headers),
            body.encode() if isinstance(body, str) else body,
        )

    for method in ("GET", "POST", "PATCH", "PUT", "DELETE"):
        mocked.add_callback(method, re.compile(re.escape(base) + r"/.*"), callback=callback)


class TlsOrg:
    """``org`` behind a real HTTPS server on 127.0.0.1 (simple-salesforce forces https)."""

    def __init__(self, org: FakeOrg, cert_dir: Path) -> None:
        import ssl

        import trustme

        authority = trustme.CA()
        self.ca_file = cert_dir / "test-ca.pem"
        authority.cert_pem.write_to_path(str(self.ca_file))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        authority.issue_cert("127.0.0.1").configure_cert(context)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                try:
                    status, headers, payload = org.handle(
                        self.command, self.path, dict(self.headers), body
                    )
                except requests.RequestException:
                    # A cut connection (``cut_before``, ``cut_after``, ``lost_creates``):
                    # closed with no answer, which the client meets as a ConnectionError.
                    self.close_connection = True
                    return
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _answer

            def log_message(self, format: str, *args: Any) -> None:
                owner.requests += 1

        self.requests = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
