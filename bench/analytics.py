"""Analytics pull benchmark: a Matomo pull of N visits through the real pull runner.

Prints measured figures; it asserts nothing about speed. A loopback Matomo (127.0.0.1, a
port of its own) answers ``Live.getLastVisitsDetails`` from visits rendered to JSON
before the clock starts (each page is a join of pre-rendered visits found by bisection,
so the server costs little); `pull_source` reads them, `page_size` a call, into a fresh
SQLite store (``--postgres``: a fresh PostgreSQL schema instead). It prints visits/s and
actions/s (page views, downloads, goals), how long the server spent answering, and checks
that the store holds every event. The pull stops after ``--max-s`` seconds at most.

    .venv/bin/python bench/analytics.py [--visits 100000] [--page-size 500] [--max-s 300]
        [--postgres] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import bisect
import os
import random
import signal
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import sqlalchemy as sa

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ingest import DEFAULT_POSTGRES_URL, postgres_schema  # noqa: E402

from connector.config import load_settings  # noqa: E402
from connector.logs import configure_logging  # noqa: E402
from connector.runners.ingest import IngestSummary  # noqa: E402
from connector.runners.pull import pull_source  # noqa: E402
from connector.store.engine import open_store  # noqa: E402
from tests.adapters.matomo_fake import TOKEN, goal, other_action, page_view, visit  # noqa: E402

PAGES = ["/", "/product", "/pricing", "/docs/start", "/blog/news", "/contact"]


def make_visits(count: int, now: int, seed: int = 1) -> list[dict[str, Any]]:
    """``count`` visits over the last six days, oldest first, by some 30 % as many
    browsers; one in five logged in, one in twenty converting a goal."""
    chance = random.Random(seed)
    browsers = max(1, count * 3 // 10)
    span = 6 * 86_400
    visits = []
    for number in range(count):
        start = now - span + number * span // count
        browser = chance.randrange(browsers)
        actions = [
            page_view(f"https://www.example.com{chance.choice(PAGES)}", start + 30 * step)
            for step in range(chance.randint(2, 5))
        ]
        if chance.random() < 0.05:
            actions.append(goal("2", "Quote request", actions[-1]["timestamp"] + 5, "100"))
        if chance.random() < 0.05:
            actions.append(other_action("download", actions[-1]["timestamp"] + 5))
        if chance.random() < 0.1:
            actions.append(other_action("outlink", actions[-1]["timestamp"] + 5))
        logged_in = f"person{browser}@example.com" if browser % 5 == 0 else None
        visits.append(visit(number + 1, actions, visitor=f"{browser:016x}", user_id=logged_in))
    visits.sort(key=lambda v: (v["lastActionTimestamp"], v["idVisit"]))
    return visits


class Rendered:
    """The visits as JSON, in Matomo's ascending order, and the time spent answering."""

    def __init__(self, visits: list[dict[str, Any]]) -> None:
        self.times = [v["lastActionTimestamp"] for v in visits]
        self.bodies = [orjson.dumps(v) for v in visits]
        self.busy_s = 0.0
        self.calls = 0
        self.lock = threading.Lock()

    def page(self, min_timestamp: int, offset: int, limit: int) -> bytes:
        first = bisect.bisect_right(self.times, min_timestamp) + offset
        return b"[" + b",".join(self.bodies[first : first + limit]) + b"]"


def serve(rendered: Rendered) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            began = time.perf_counter()
            length = int(self.headers.get("Content-Length", "0"))
            form = parse_qs(self.rfile.read(length).decode())
            query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            if form.get("token_auth") != [TOKEN] or "token_auth" in query:
                body = b'{"result":"error","message":"Unable to authenticate"}'
            else:
                body = rendered.page(
                    int(query["minTimestamp"]),
                    int(query.get("filter_offset", "0")),
                    int(query.get("filter_limit", "10")),
                )
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            with rendered.lock:
                rendered.busy_s += time.perf_counter() - began
                rendered.calls += 1

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class _TooLong(Exception):
    pass


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _TooLong


def run(store_url: str, arguments: argparse.Namespace, work: Path) -> list[str]:
    now = int(time.time())
    visits = make_visits(arguments.visits, now)
    actions = sum(
        1
        for v in visits
        for action in v["actionDetails"]
        if action["type"] in ("action", "download", "goal")
    )
    rendered = Rendered(visits)
    server = serve(rendered)
    config = work / "config.toml"
    config.write_text(
        f'[sources.web]\ntype = "matomo"\nurl = "http://127.0.0.1:{server.server_port}/"\n'
        f"site_id = 1\npage_size = {arguments.page_size}\n"
        '[sources.web.goals]\n"Quote request" = "quote_request"\n',
        encoding="utf-8",
    )
    os.environ["MATOMO_TOKEN"] = TOKEN
    settings = load_settings(config)
    engine = open_store(store_url)
    signal.signal(signal.SIGALRM, _stop)
    signal.alarm(int(arguments.max_s))
    began = time.perf_counter()
    try:
        summary = pull_source(engine, settings, "web", command="pull")
    except _TooLong:
        return [f"stopped after {arguments.max_s:.0f} s: not finished"]
    finally:
        signal.alarm(0)
        server.shutdown()
    wall = time.perf_counter() - began
    if not isinstance(summary, IngestSummary):
        return [f"the pull failed: {summary.message}"]
    with engine.connect() as connection:
        stored = connection.execute(sa.text("SELECT count(*) FROM events")).scalar_one()
    engine.dispose()
    expected = len(visits) + actions
    return [
        f"{len(visits):,} visits, {actions:,} actions in {wall:.2f} s: "
        f"{len(visits) / wall:,.0f} visits/s, {actions / wall:,.0f} actions/s, "
        f"{expected / wall:,.0f} events/s",
        f"server: {rendered.calls} calls, {rendered.busy_s:.2f} s answering "
        f"({100 * rendered.busy_s / wall:.0f} % of the pull)",
        f"stored {stored:,} events of {expected:,} expected"
        + ("" if stored == expected else "  <-- MISMATCH")
        + f"; read {summary.read:,}, duplicates {summary.duplicates:,}, "
        f"contacts created {summary.contacts_created:,}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--max-s", type=float, default=300.0)
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL, not SQLite")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("LEADSYNC_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
    )
    arguments = parser.parse_args()
    configure_logging("warning")
    with tempfile.TemporaryDirectory(prefix="leadsync-bench-analytics-") as folder:
        work = Path(folder)
        if not arguments.postgres:
            lines = run(f"sqlite:///{work / 'bench.db'}", arguments, work)
            store = "sqlite"
        else:
            with postgres_schema(arguments.postgres_url) as url:
                if url is None:
                    return
                lines = run(url, arguments, work)
            store = "postgresql"
    for line in lines:
        print(f"{store}: {line}")


if __name__ == "__main__":
    main()
