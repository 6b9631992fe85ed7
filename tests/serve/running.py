"""The real `leadsync serve` in a process of its own, for the kill test and the bench."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import requests

LEADSYNC = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "leadsync")


def start_serve(
    folder: Path, env: dict[str, str], port: int, log: Path, *, within_s: float = 30.0
) -> subprocess.Popen[bytes]:
    """`leadsync serve --port PORT` in ``folder``, its output in ``log``; returned once it
    answers /healthz (an AssertionError with its log if it ends or is not up in time)."""
    with log.open("wb") as out:
        server = subprocess.Popen(
            [LEADSYNC, "serve", "--port", str(port)], cwd=folder, env=env, stdout=out, stderr=out
        )
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text(encoding="utf-8")[-3000:]
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                return server
        except requests.ConnectionError:
            time.sleep(0.1)
    server.kill()
    raise AssertionError(
        f"leadsync serve not answering within {within_s:g} s:\n{log.read_text()[-3000:]}"
    )
