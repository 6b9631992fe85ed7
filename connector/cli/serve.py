"""`leadsync serve`: the webhook intake, until SIGTERM or Ctrl-C."""

from __future__ import annotations

from typing import Annotated

import typer

from connector.cli.state import state_of
from connector.logs import configure_logging
from connector.serve.server import serve_until_stopped

__all__ = ["app"]

app = typer.Typer()


@app.command(name="serve")
def serve_command(
    ctx: typer.Context,
    host: Annotated[
        str | None,
        typer.Option(
            "--host",
            help="Address to listen on (default [serve] host, 127.0.0.1: put a TLS reverse "
            "proxy in front).",
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=0, max=65535, help="Port (default [serve] port, 8080)."),
    ] = None,
) -> None:
    """Take the routers' webhooks at POST /webhooks/NAME (one per configured source with a
    webhook), committed to the ledger before they are answered; GET /healthz, GET /metrics.
    SIGTERM or Ctrl-C stops it (exit 0) once the requests in flight are answered."""
    state = state_of(ctx)
    settings = state.load()
    # A server's every line goes to its log.
    configure_logging("debug" if state.debug else settings.logging.level, settings.logging.format)
    serve_until_stopped(
        settings,
        state.store(),
        host=host if host is not None else settings.serve.host,
        port=port if port is not None else settings.serve.port,
    )
