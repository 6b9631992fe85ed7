"""The data the report draws, read from the JSON shapes ``kpi``, ``calibrate`` and
``simulate`` print with ``--json`` and the store's score snapshot.

The commands hand the report their dicts; they are checked here once, so the charts read
typed fields. Keys the report does not draw are ignored: a command may say more than the
report shows without breaking it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "BandRate",
    "BucketRate",
    "Calibration",
    "Kpi",
    "KpiFigures",
    "KpiRow",
    "Move",
    "MoveLine",
    "Simulation",
    "Snapshot",
    "Thresholds",
    "parse_shape",
]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Thresholds(_Shape):
    warm_from: float | None = None
    hot_above: float | None = None


# ---- kpi ----------------------------------------------------------------------------


class Period(_Shape):
    since: str | None = None
    until: str | None = None


class Conversion(_Shape):
    visitor_to_lead: float | None = None
    lead_to_mql: float | None = None
    mql_to_sql: float | None = None
    sql_to_customer: float | None = None
    lead_to_customer: float | None = None


class KpiFigures(_Shape):
    period: Period = Period()
    leads: int
    visitors: int | None = None
    mqls: int
    sqls: int
    customers: int
    conversion: Conversion = Conversion()
    cost: float | None = None
    cpl: float | None = None
    cpa: float | None = None
    margin: float | None = None
    roi: float | None = None
    basis: dict[str, str | None] = Field(default_factory=dict)


class KpiRow(KpiFigures):
    group: str


class Kpi(KpiFigures):
    by_dimension: Literal["month", "source", "campaign", "band"] | None = None
    by: list[KpiRow] = Field(default_factory=list)


# ---- calibrate ----------------------------------------------------------------------


class BandRate(_Shape):
    band: str
    outcomes: int
    customers: int
    rate: float | None = None
    low: float | None = None
    high: float | None = None
    expected: float | None = None
    note: str | None = None


class BucketRate(_Shape):
    from_: float = Field(alias="from")
    to: float
    outcomes: int
    customers: int
    rate: float | None = None
    low: float | None = None
    high: float | None = None
    note: str | None = None


class Suggested(Thresholds):
    targets: dict[str, float] = Field(default_factory=dict)
    basis: dict[str, str | None] = Field(default_factory=dict)


class Drift(_Shape):
    since: str
    bands: dict[str, float | None] = Field(default_factory=dict)
    warm_from: float | None = None
    hot_above: float | None = None


class Calibration(_Shape):
    as_of: str
    horizon_days: int
    min_outcomes: int
    current: Thresholds
    bands: list[BandRate]
    buckets: list[BucketRate] = Field(default_factory=list)
    suggested: Suggested = Suggested()
    unknown_outcomes: int = 0
    drift: Drift | None = None


# ---- simulate -----------------------------------------------------------------------


class Counts(_Shape):
    temperature: dict[str, int]
    stage: dict[str, int]


class Changed(_Shape):
    score: int
    temperature: int
    stage: int
    any: int


class WeekOfMqls(_Shape):
    week: str
    start: str
    before: int
    after: int


class MoveLine(_Shape):
    rule: str
    kind: str
    occurred_at: str | None = None
    before: float | None = None
    after: float | None = None


class Move(_Shape):
    email: str | None = None
    contact_id: int
    score_before: float
    score_after: float
    temperature_before: str
    temperature_after: str
    stage_before: str
    stage_after: str
    lines: list[MoveLine] = Field(default_factory=list)


class Simulation(_Shape):
    as_of: str
    contacts: int
    changed: Changed
    before: Counts
    after: Counts
    mql_per_week: list[WeekOfMqls] = Field(default_factory=list)
    moves: list[Move] = Field(default_factory=list)
    current: Thresholds = Thresholds()
    candidate: Thresholds = Thresholds()
    duration_s: float | None = None


# ---- the store now ------------------------------------------------------------------


class ScoreBin(_Shape):
    from_: float = Field(alias="from")
    to: float
    count: int


class Histogram(_Shape):
    width: float
    bins: list[ScoreBin]


class Snapshot(_Shape):
    as_of: str
    warm_from: float
    hot_above: float
    stage_temperature: dict[str, dict[str, int]]
    histogram: Histogram


ShapeT = TypeVar("ShapeT", bound=_Shape)


def parse_shape(shape: type[ShapeT], data: Mapping[str, object], *, what: str) -> ShapeT:
    """Read one command's dict as the report's model of it.

    Raises:
        ValueError: the dict does not have the shape; the message names ``what`` and each
            key that is wrong. The dicts come from leadsync's own commands, so this is a
            defect to report, not something the user can fix.
    """
    try:
        return shape.model_validate(data)
    except ValidationError as exc:
        wrong = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(top)'}: {error['msg']}"
            for error in exc.errors()
        )
        raise ValueError(f"the {what} data is not in the report's shape: {wrong}") from exc
