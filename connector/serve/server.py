"""The intake as a running server: uvicorn in a thread of its own, the ledger writer, and
the intake's row in the runs table. `leadsync serve` runs it until SIGTERM or Ctrl-C;
`leadsync daemon --serve` beside its scheduler."""

from __future__ import annotations

import signal
import threading
import time
from types import FrameType

import structlog
import uvicorn
from sqlalchemy.engine import Engine

from connector.config import Settings
from connector.errors import ConfigError, FatalError
from connector.plugins import webhook_of, webhook_sources
from connector.secrets import redact
from connector.serve.app import intake_app
from connector.serve.intake import IntakeFigures, WebhookWriter
from connector.serve.metrics import IntakeMetrics
from connector.store.runs import finish_run, start_run

__all__ = ["IntakeServer", "serve_until_stopped"]

log = structlog.get_logger(__name__)

_START_WITHIN_S = 15.0
_STOP_WITHIN_S = 10.0


class IntakeServer:
    """``POST /webhooks/NAME`` for each configured source with a webhook, on host:port
    (port 0: one the system picks; ``port`` says which once started)."""

    def __init__(self, settings: Settings, engine: Engine, *, host: str, port: int) -> None:
        names = webhook_sources(settings)
        if not names:
            raise ConfigError(
                "no configured source has a webhook: `leadsync serve` would take nothing",
                file=str(settings.config_file) if settings.config_file else None,
                hint="add a [sources.NAME] of a router type (sendgrid, mailjet, brevo, "
                "mailchimp; see config.example.toml)",
            )
        # Built before anything listens: a missing secret stops the start, not a request.
        self.receivers = {name: webhook_of(settings, name) for name in names}
        self._engine = engine
        self._settings = settings
        self._host = host
        self._requested_port = port
        self.metrics = IntakeMetrics()
        self.figures = IntakeFigures()
        self._run_id: int | None = None
        self._writer: WebhookWriter | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Listen; returns once the socket is bound.

        Raises:
            FatalError: the address cannot be bound (in use, not this machine's).
        """
        self._run_id = start_run(self._engine, "serve")
        self._writer = WebhookWriter(self._engine, run_id=self._run_id, figures=self.figures)
        app = intake_app(
            self.receivers, self._writer, self._engine, self._settings.serve, self.metrics
        )
        # log_config None: uvicorn's lines go through leadsync's logging, as JSON.
        config = uvicorn.Config(
            app,
            host=self._host,
            port=self._requested_port,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=int(_STOP_WITHIN_S) - 2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="intake server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + _START_WITHIN_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._end_run("failed")
                raise FatalError(
                    f"could not listen on {self._host}:{self._requested_port}",
                    hint="another program holds the port, or the host is not this "
                    "machine's: set [serve] port / host, or --port / --host",
                )
            time.sleep(0.02)
        log.info(
            "serve.listening",
            host=self._host,
            port=self.port,
            sources={name: type(receiver).__name__ for name, receiver in self.receivers.items()},
        )

    @property
    def port(self) -> int:
        if self._server is None or not self._server.servers:
            return self._requested_port
        return int(self._server.servers[0].sockets[0].getsockname()[1])

    def stop(self) -> None:
        """Stop taking requests, answer those in flight, commit, record the run."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=_STOP_WITHIN_S)
        if self._writer is not None:
            self._writer.close()
        self._end_run("ok")
        log.info("serve.stopped", **self.figures.as_dict())

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _end_run(self, status: str) -> None:
        if self._run_id is None:
            return
        try:
            finish_run(self._engine, self._run_id, status, self.figures.as_dict())
        except Exception as error:
            # The store is away (often why the intake stops): what was answered 2xx is
            # committed already; the next command closes the run from its dead process.
            log.warning(
                "serve.run_end_not_recorded", run_id=self._run_id, error=redact(str(error))[:300]
            )
        self._run_id = None


def serve_until_stopped(settings: Settings, engine: Engine, *, host: str, port: int) -> None:
    """Run the intake until SIGTERM or Ctrl-C, then stop it cleanly (the caller exits 0)."""
    server = IntakeServer(settings, engine, host=host, port=port)
    stopping = threading.Event()

    def on_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("serve.stopping", signal=signal.Signals(signum).name)
        stopping.set()

    previous = {
        number: signal.signal(number, on_stop) for number in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        server.start()
        try:
            while not stopping.wait(0.5):
                if not server.alive:
                    raise FatalError("the intake server stopped by itself: its log says why")
        finally:
            server.stop()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
