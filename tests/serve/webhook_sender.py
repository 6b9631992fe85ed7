"""A router in a process of its own, for the kill test: it sends SendGrid batches to
``URL`` one after another and, as SendGrid does, sends a batch again until it is
answered 2xx (a refused connection, a reset, a 5xx: try again shortly). Each batch
answered 2xx is written to ``ACKS`` (one line, flushed) before the next is sent.

    python -m tests.serve.webhook_sender URL KEY_FILE BATCHES PER_BATCH ACKS
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import requests
from cryptography.hazmat.primitives import serialization

from tests.fixtures.sendgrid.signing import batch_body, sample_events, sign

GIVE_UP_AFTER_S = 120.0


def main(url: str, key_file: str, batches: int, per_batch: int, acks_path: str) -> int:
    key = serialization.load_pem_private_key(Path(key_file).read_bytes(), password=None)
    deadline = time.monotonic() + GIVE_UP_AFTER_S
    session = requests.Session()
    with Path(acks_path).open("a", encoding="utf-8") as acks:
        for batch in range(batches):
            body = batch_body(
                sample_events(
                    per_batch, start=1_764_000_000 + batch * per_batch, prefix=f"b{batch}"
                )
            )
            while True:
                if time.monotonic() > deadline:
                    print(f"gave up at batch {batch}", file=sys.stderr)
                    return 1
                headers = {"Content-Type": "application/json", **sign(key, int(time.time()), body)}  # type: ignore[arg-type]
                try:
                    answer = session.post(url, data=body, headers=headers, timeout=5)
                except requests.RequestException:
                    session = requests.Session()  # the server is gone: a new connection
                    time.sleep(0.05)
                    continue
                if 200 <= answer.status_code < 300:
                    acks.write(f"{batch}\n")
                    acks.flush()
                    break
                if answer.status_code < 500:
                    print(
                        f"batch {batch} refused: {answer.status_code} {answer.text}",
                        file=sys.stderr,
                    )
                    return 1
                time.sleep(0.05)
    return 0


if __name__ == "__main__":
    url, key_file, batches, per_batch, acks = sys.argv[1:6]
    sys.exit(main(url, key_file, int(batches), int(per_batch), acks))
