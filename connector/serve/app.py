"""The ASGI app: ``POST /webhooks/NAME``, ``GET /healthz``, ``GET /metrics``.

Each webhook request goes: size limit (413 before the body is read whole) → the
receiver's check on the raw bytes (401, nothing stored) → the receiver reads it into
events and rejects → the ledger commits them (503 when the store does not answer: the
router retries, nothing is lost) → 200 with what was stored.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import UTC, datetime

import anyio.to_thread
import sqlalchemy as sa
import structlog
from prometheus_client import make_asgi_app
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from connector.ports import Page, WebhookReceiver, WebhookRefusedError, WebhookRequest
from connector.secrets import redact
from connector.serve.intake import StoreUnavailableError, WebhookWriter
from connector.serve.metrics import IntakeMetrics
from connector.settings.serve import ServeSettings

__all__ = ["intake_app"]

log = structlog.get_logger(__name__)

# How long a router is asked to wait when the store is down (it retries anyway).
_RETRY_AFTER_S = "30"


class _TooLargeError(Exception):
    pass


async def _body_within(request: Request, limit: int) -> bytes:
    """The whole body, or ``_TooLargeError`` as soon as it passes ``limit`` bytes (a
    declared length over it is refused before a byte is read)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLargeError
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _TooLargeError
    return bytes(body)


def _first_values(request: Request) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in request.headers.items():  # names come lower-cased
        headers.setdefault(name, value)
    return headers


class _Intake:
    def __init__(
        self,
        receivers: Mapping[str, WebhookReceiver],
        writer: WebhookWriter,
        metrics: IntakeMetrics,
        engine: Engine,
        settings: ServeSettings,
    ) -> None:
        self._receivers = receivers
        self._writer = writer
        self._metrics = metrics
        self._engine = engine
        self._settings = settings

    async def webhook(self, request: Request) -> Response:
        started = time.perf_counter()
        name = request.path_params["name"]
        receiver = self._receivers.get(name)
        if receiver is None:
            return JSONResponse({"error": f"no webhook source named {name!r}"}, 404)
        response = await self._answer(request, name, receiver)
        self._metrics.requests.labels(name, str(response.status_code)).inc()
        self._metrics.latency.labels(name).observe(time.perf_counter() - started)
        return response

    async def _answer(self, request: Request, name: str, receiver: WebhookReceiver) -> Response:
        if request.method != "POST":
            # A router that checks the URL with a GET when it is registered (Mailchimp).
            if getattr(receiver, "answers_get", False):
                return JSONResponse({"source": name, "status": "ready"})
            return JSONResponse({"error": "POST events here"}, 405, headers={"Allow": "POST"})
        received_at = datetime.now(UTC)
        try:
            body = await _body_within(request, self._settings.max_body_bytes)
        except _TooLargeError:
            return self._refuse(
                name, "body_too_large", 413, f"over {self._settings.max_body_bytes} bytes"
            )
        except ClientDisconnect:
            return Response(status_code=400)
        webhook_request = WebhookRequest(
            body, _first_values(request), dict(request.query_params), received_at
        )
        try:
            page = await anyio.to_thread.run_sync(self._verified_page, receiver, webhook_request)
        except WebhookRefusedError as refused:
            return self._refuse(name, refused.reason, 401, refused.detail)
        try:
            result = await asyncio.wrap_future(self._writer.submit(name, page, received_at))
        except StoreUnavailableError as down:
            log.error("serve.store_unavailable", source=name, error=redact(str(down))[:300])
            return JSONResponse(
                {"error": "the store is unavailable; retry later"},
                503,
                headers={"Retry-After": _RETRY_AFTER_S},
            )
        self._metrics.stored.labels(name).inc(result.stored)
        self._metrics.duplicates.labels(name).inc(result.duplicates)
        self._metrics.rejects.labels(name).inc(result.rejected)
        log.info(
            "serve.stored",
            source=name,
            read=len(page.events),
            stored=result.stored,
            duplicates=result.duplicates,
            rejected=result.rejected,
            skipped=page.skipped,
        )
        return JSONResponse(
            {
                "stored": result.stored,
                "duplicates": result.duplicates,
                "rejected": result.rejected,
                "skipped": page.skipped,
            }
        )

    def _verified_page(self, receiver: WebhookReceiver, request: WebhookRequest) -> Page:
        # In a worker thread: a signature check and a 5 MiB parse would hold up every other
        # request on the event loop.
        receiver.verify(request, max_age_s=self._settings.max_age_s)
        return receiver.read(request)

    def _refuse(self, name: str, reason: str, status: int, detail: str) -> Response:
        self._metrics.refusals.labels(name, reason).inc()
        self._writer.refused()
        log.warning(
            "serve.refused", source=name, reason=reason, status=status, detail=redact(detail)
        )
        return JSONResponse({"error": "refused", "reason": reason}, status)

    def healthz(self, _request: Request) -> JSONResponse:
        # A plain function: Starlette runs it in its thread pool, the query blocks no loop.
        try:
            with self._engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
        except Exception as error:
            return JSONResponse(
                {"status": "unhealthy", "store": redact(str(error))[:300]}, status_code=503
            )
        return JSONResponse({"status": "ok", "store": "ok", "sources": sorted(self._receivers)})


def intake_app(
    receivers: Mapping[str, WebhookReceiver],
    writer: WebhookWriter,
    engine: Engine,
    settings: ServeSettings,
    metrics: IntakeMetrics,
) -> Starlette:
    """The app over ``receivers`` (by source name), committing through ``writer``."""
    intake = _Intake(receivers, writer, metrics, engine, settings)
    return Starlette(
        routes=[
            Route("/webhooks/{name}", intake.webhook, methods=["GET", "POST"]),
            Route("/healthz", intake.healthz, methods=["GET"]),
            Mount("/metrics", app=make_asgi_app(metrics.registry)),
        ]
    )
