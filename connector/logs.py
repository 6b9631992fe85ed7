"""structlog setup: JSON lines on stderr when it is not a terminal, readable otherwise.

Standard-library loggers (SQLAlchemy, Alembic, and later APScheduler and the vendor
clients) go through the same processors, so the daemon writes one format. Every line
passes through ``redact`` so a secret read from the environment never leaves in a log.

A run's summary is its ``*.finished`` line (one canonical line per run). A command that
prints that summary for the person at the terminal asks, with ``summaries_printed``, that
the console not show it a second time; JSON logs keep it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Literal, TextIO

import structlog

from connector.secrets import redact

__all__ = ["configure_logging"]

# The end of a run's summary event name: ``ingest.finished``, ``score.finished``...
SUMMARY_SUFFIX = ".finished"


class _StderrNowHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a line is logged.

    A rich progress bar replaces ``sys.stderr`` while it is shown, with a proxy that prints
    each line above the bar; a handler holding the stderr of the moment it was made would
    print over the bar instead.
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        """The stream is always the current ``sys.stderr``; ``StreamHandler`` sets it once."""


def _drop_printed_summaries(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    if str(event_dict.get("event", "")).endswith(SUMMARY_SUFFIX):
        raise structlog.DropEvent
    return event_dict


def _redacted(value: object) -> object:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [_redacted(item) for item in value]
    if isinstance(value, BaseException):
        return redact(f"{type(value).__name__}: {value}")
    return value


def _redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in event_dict.items():
        event_dict[key] = _redacted(value)
    return event_dict


def configure_logging(
    level: str = "info",
    output: Literal["auto", "json", "console"] = "auto",
    *,
    summaries_printed: bool = False,
) -> None:
    """Send structlog's and the standard library's lines to stderr, in one format.

    Args:
        level: the lowest level written.
        output: ``auto`` is JSON when stderr is not a terminal, the console format when it
            is.
        summaries_printed: the command prints each run's summary itself, so the console
            format leaves out the ``*.finished`` lines below debug level (JSON keeps them).
    """
    use_json = output == "json" or (output == "auto" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    # A person reads the console: to the second is enough. Machines get ISO with microseconds.
    stamp = "iso" if use_json else "%Y-%m-%d %H:%M:%S"
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt=stamp, utc=True),
        structlog.processors.format_exc_info,
        _redact_secrets,
    ]
    numeric_level = logging.getLevelNamesMapping()[level.upper()]
    dropped = (
        [_drop_printed_summaries]
        if summaries_printed and not use_json and numeric_level > logging.DEBUG
        else []
    )
    structlog.configure(
        processors=[*shared, *dropped, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        cache_logger_on_first_use=False,
    )
    handler = _StderrNowHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric_level)
    # Library chatter stays at WARNING unless the user asks for debug. SQLAlchemy's stays
    # there even then: its statements' parameters and its rows carry e-mail addresses.
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.DEBUG if level == "debug" else logging.WARNING)
    # httpx (under the Brevo client) logs every request at INFO: a backfill's thousands.
    logging.getLogger("httpx").setLevel(logging.DEBUG if level == "debug" else logging.WARNING)
