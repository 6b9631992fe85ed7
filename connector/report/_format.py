"""How figures read on the page: counts with separators, rates in per cent, money with
two decimals, and a dash for what could not be computed (never a 0)."""

from __future__ import annotations

from datetime import datetime

__all__ = [
    "MISSING",
    "STAGE_LABELS",
    "count",
    "label_of_stage",
    "moment",
    "money",
    "rate",
    "score",
    "signed_rate",
]

MISSING = "—"
STAGE_LABELS = {
    "lead": "Lead",
    "mql": "MQL",
    "sql": "SQL",
    "customer": "Customer",
    "nurturing": "Nurturing",
    "disqualified": "Disqualified",
}


def label_of_stage(stage: str) -> str:
    return STAGE_LABELS.get(stage, stage.capitalize())


def count(value: int | None) -> str:
    return MISSING if value is None else f"{value:,}"


def money(value: float | None) -> str:
    return MISSING if value is None else f"{value:,.2f}"


def rate(value: float | None, *, digits: int = 1) -> str:
    return MISSING if value is None else f"{value * 100:.{digits}f} %"


def signed_rate(value: float | None) -> str:
    """A change of rate in percentage points: +2.5 pp."""
    return MISSING if value is None else f"{value * 100:+.1f} pp"


def score(value: float | None) -> str:
    if value is None:
        return MISSING
    return f"{value:g}" if float(value).is_integer() else f"{value:.2f}".rstrip("0")


def moment(iso: str | None) -> str:
    """An ISO time as people read it (7 Dec 2026, 12:00 UTC); a date stays a date."""
    if not iso:
        return MISSING
    try:
        parsed = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if len(iso) <= len("2026-12-07"):
        return f"{parsed.day} {parsed:%b %Y}"
    zone = parsed.tzname() or ""
    shown = "UTC" if zone in ("UTC", "UTC+00:00") else zone
    return f"{parsed.day} {parsed:%b %Y, %H:%M} {shown}".rstrip()
