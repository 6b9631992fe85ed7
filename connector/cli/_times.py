"""Times given on the command line (``--as-of``, ``--since``, ``--until``)."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

__all__ = ["parsed_time"]

_DATE_CHARS = len("2026-11-02")


def parsed_time(text: str, *, option: str | None = None) -> datetime:
    """``text``, an ISO 8601 time with its offset or a date (midnight UTC), in UTC.

    Raises:
        typer.BadParameter: not ISO 8601, or a time without an offset (a usage error,
            exit 2, naming ``option`` when given).
    """
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not an ISO 8601 time; write it like 2026-11-02T10:00:00Z or 2026-11-02",
            param_hint=option,
        ) from None
    if moment.tzinfo is None:
        if len(text.strip()) > _DATE_CHARS:
            raise typer.BadParameter(
                f"{text!r} has no timezone; add Z (UTC) or an offset like +01:00",
                param_hint=option,
            )
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
