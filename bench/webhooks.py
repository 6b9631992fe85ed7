"""Webhook intake benchmark: what `leadsync serve` accepts from a loopback load.

Prints measured figures; it asserts nothing about speed. For SQLite and for PostgreSQL (a
fresh schema, skipped when unreachable) it starts the real `leadsync serve` over a
SendGrid source with a signing key made for the run, and sends from this process, over
keep-alive connections, two loads of signed SendGrid requests (signed beforehand, so the
load measures the server): ``--batches`` batches of ``--batch-size`` events
(``--batch-clients`` in flight), then ``--singles`` requests of one event each
(``--single-clients`` in flight). Each phase stops after ``--max-s`` seconds at most.
It prints events/s (batches) and requests/s (singles), with p50/p99 latency as the
sender saw it, and checks that the store holds every event answered 2xx.

    .venv/bin/python bench/webhooks.py [--batches 200] [--batch-size 500] [--singles 4000]
        [--batch-clients 4] [--single-clients 8] [--max-s 120] [--skip-postgres]
"""

from __future__ import annotations

import argparse
import http.client
import os
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ingest import DEFAULT_POSTGRES_URL, postgres_schema  # noqa: E402

from connector.store.engine import open_store  # noqa: E402
from tests.daemon.test_daemon_cli import _free_port  # noqa: E402
from tests.fixtures.sendgrid.signing import (  # noqa: E402
    batch_body,
    new_private_key,
    public_key_text,
    sample_events,
    sign,
)
from tests.serve.running import start_serve  # noqa: E402


def _percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _milliseconds(latencies: Sequence[float]) -> str:
    if not latencies:
        return "none answered"
    return (
        f"{_percentile(latencies, 0.5) * 1000:.1f} / {_percentile(latencies, 0.99) * 1000:.1f} ms"
    )


def _send_all(
    port: int, requests_to_send: list[tuple[bytes, dict[str, str]]], clients: int, max_s: float
) -> tuple[float, list[float], int]:
    """Send every request (body, headers) over ``clients`` keep-alive connections; the
    wall time, each request's latency, and how many were answered 200."""
    latencies: list[float] = []
    answered = [0]
    lock = threading.Lock()
    next_index = [0]
    deadline = time.monotonic() + max_s

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        ok = 0
        while time.monotonic() < deadline:
            with lock:
                index = next_index[0]
                next_index[0] += 1
            if index >= len(requests_to_send):
                break
            body, headers = requests_to_send[index]
            started = time.perf_counter()
            connection.request("POST", "/webhooks/mail", body=body, headers=headers)
            answer = connection.getresponse()
            answer.read()
            mine.append(time.perf_counter() - started)
            ok += answer.status == 200
        connection.close()
        with lock:
            latencies.extend(mine)
            answered[0] += ok

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, latencies, answered[0]


def _signed(key: object, bodies: list[bytes]) -> list[tuple[bytes, dict[str, str]]]:
    now = int(time.time())
    return [
        (body, {"Content-Type": "application/json", **sign(key, now, body)})  # type: ignore[arg-type]
        for body in bodies
    ]


def _stored(store_url: str) -> int:
    engine = open_store(store_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(sa.text("SELECT count(*) FROM events")).scalar_one())
    finally:
        engine.dispose()


def run(store: str, store_url: str, arguments: argparse.Namespace) -> list[str]:
    key = new_private_key()
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="leadsync-webhooks-") as folder:
        (Path(folder) / "config.toml").write_text(
            f'[sources.mail]\ntype = "sendgrid"\nwebhook_public_key = "{public_key_text(key)}"\n'
            '\n[logging]\nlevel = "warning"\n',
            encoding="utf-8",
        )
        env = {**os.environ, "LEADSYNC_STORE_URL": store_url}
        server = start_serve(Path(folder), env, port, Path(folder) / "serve.log")
        try:
            start = 1_764_000_000
            batches = _signed(
                key,
                [
                    batch_body(
                        sample_events(
                            arguments.batch_size,
                            start=start + n * arguments.batch_size,
                            prefix=f"b{n}",
                        )
                    )
                    for n in range(arguments.batches)
                ],
            )
            wall, latencies, answered = _send_all(
                port, batches, arguments.batch_clients, arguments.max_s
            )
            events = answered * arguments.batch_size
            batch_line = (
                f"| {store} | {arguments.batch_size}-event batches | {answered:,} requests, "
                f"{events:,} events in {wall:.2f} s | {events / wall:,.0f} events/s | "
                f"{_milliseconds(latencies)} |"
            )
            print(batch_line, flush=True)
            singles = _signed(
                key,
                [
                    batch_body(sample_events(1, start=start + n, prefix=f"s{n}"))
                    for n in range(arguments.singles)
                ],
            )
            wall_1, latencies_1, answered_1 = _send_all(
                port, singles, arguments.single_clients, arguments.max_s
            )
            single_line = (
                f"| {store} | 1 event a request | {answered_1:,} requests in {wall_1:.2f} s | "
                f"{answered_1 / wall_1:,.0f} requests/s | "
                f"{_milliseconds(latencies_1)} |"
            )
            print(single_line, flush=True)
        finally:
            server.terminate()
            server.wait(timeout=20)
        stored = _stored(store_url)
        expected = events + answered_1
        if stored != expected:
            print(f"MISMATCH on {store}: {stored:,} events stored, {expected:,} answered 200")
        return [batch_line, single_line]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--singles", type=int, default=4000)
    parser.add_argument("--batch-clients", type=int, default=4)
    parser.add_argument("--single-clients", type=int, default=8)
    parser.add_argument("--max-s", type=float, default=120.0)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("LEADSYNC_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
    )
    parser.add_argument("--skip-postgres", action="store_true")
    arguments = parser.parse_args()
    print("| store | load | sent | accepted | p50 / p99 latency |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="leadsync-webhooks-store-") as folder:
        run("SQLite", f"sqlite:///{folder}/store.db", arguments)
    if not arguments.skip_postgres:
        with postgres_schema(arguments.postgres_url) as url:
            if url is None:
                print("PostgreSQL unreachable: skipped")
            else:
                run("PostgreSQL", url, arguments)


if __name__ == "__main__":
    main()
