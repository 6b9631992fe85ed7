"""The official ``google-analytics-data`` client, and its failures as ``connector.errors``.

``Ga4Api`` owns a ``BetaAnalyticsDataClient`` on its REST transport (the one that takes an
``api_endpoint`` with a scheme: a proxy or a test server) and makes every call with the
client's own retry off (``retry=None``), so ``connector.retry`` is the one policy: a 5xx
(UNKNOWN, INTERNAL, UNAVAILABLE) or no answer is retried there, a 429 RESOURCE_EXHAUSTED
stops the pull (``LimitReachedError``) with the pages read kept.

Answers come back as plain ``ReportPage``s: nothing past this module knows the client's
types.

Quotas: https://developers.google.com/analytics/devguides/reporting/data/v1/quotas
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

import requests
from google.analytics.data_v1beta import BetaAnalyticsDataClient
from google.analytics.data_v1beta.types import (
    DateRange,
    Dimension,
    Filter,
    FilterExpression,
    GetMetadataRequest,
    Metric,
    OrderBy,
    RunReportRequest,
)
from google.api_core import exceptions as google_errors
from google.auth import exceptions as auth_errors
from google.auth.credentials import Credentials

from adapters.ga4.settings import CREDENTIALS_ENV, DEFAULT_ENDPOINT
from connector.errors import ConfigError, FatalError, LimitReachedError, RetriableError
from connector.retry import DEFAULT_POLICY, RetryPolicy, call_retried
from connector.secrets import redact

__all__ = [
    "VENDOR",
    "Ga4Api",
    "PropertyMetadata",
    "ReportPage",
    "ReportQuery",
    "next_full_hour",
]

VENDOR = "ga4"
_DETAIL_CHARS = 300
T = TypeVar("T")


def next_full_hour(now: datetime) -> datetime:
    """When GA4's hourly tokens are given back: the next full hour."""
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """What each runReport of a pull asks: the dimensions in order, one metric."""

    dimensions: tuple[str, ...]
    metric: str = "eventCount"
    # Only these event names are asked for (a dimension filter): the others would be
    # read and skipped (user_engagement, scroll...), costing rows and quota tokens.
    event_names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReportPage:
    """One runReport answer: its rows (dimension values, metric values) and what its
    metadata and property quota said."""

    rows: Sequence[tuple[tuple[str, ...], tuple[str, ...]]]
    row_count: int
    tokens_consumed: int | None
    tokens_remaining: int | None
    subject_to_thresholding: bool
    sampled: Sequence[tuple[int, int]]  # (samples read, sampling space) per date range
    time_zone: str | None


@dataclass(frozen=True, slots=True)
class PropertyMetadata:
    """The API names of the dimensions and metrics a property has."""

    dimensions: frozenset[str]
    metrics: frozenset[str]


def _detail(error: BaseException) -> str:
    text = getattr(error, "message", None) or str(error)
    return redact(str(text)[:_DETAIL_CHARS])


class Ga4Api:
    """The calls the ga4 source makes, retried, their failures translated."""

    def __init__(
        self,
        *,
        property_id: str,
        credentials: Credentials,
        key: str,
        api_endpoint: str = DEFAULT_ENDPOINT,
        timeout_s: float = 60.0,
        policy: RetryPolicy = DEFAULT_POLICY,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = BetaAnalyticsDataClient(
            credentials=credentials,
            transport="rest",
            client_options={"api_endpoint": api_endpoint},
        )
        self._property = f"properties/{property_id}"
        self._key = key
        self._timeout_s = timeout_s
        self._policy = policy
        self._sleep = sleep
        self._clock = clock

    def run_report(
        self, query: ReportQuery, *, start: date, end: date, offset: int, limit: int
    ) -> ReportPage:
        """One page of the report over ``start``..``end`` (both included), rows in the
        order of ``query.dimensions``, with the property's quota."""
        request = RunReportRequest(
            property=self._property,
            dimensions=[Dimension(name=name) for name in query.dimensions],
            metrics=[Metric(name=query.metric)],
            date_ranges=[DateRange(start_date=start.isoformat(), end_date=end.isoformat())],
            # A stable order, so offsets page through the same rows and a crash repeats
            # at most the page in flight.
            order_bys=[
                OrderBy(dimension=OrderBy.DimensionOrderBy(dimension_name=name))
                for name in query.dimensions
            ],
            limit=limit,
            offset=offset,
            return_property_quota=True,
        )
        if query.event_names:
            request.dimension_filter = FilterExpression(
                filter=Filter(
                    field_name="eventName",
                    in_list_filter=Filter.InListFilter(values=list(query.event_names)),
                )
            )

        def call() -> ReportPage:
            answer = self._client.run_report(request=request, retry=None, timeout=self._timeout_s)
            quota = answer.property_quota.tokens_per_hour if answer.property_quota else None
            meta = answer.metadata
            return ReportPage(
                rows=[
                    (
                        tuple(value.value for value in row.dimension_values),
                        tuple(value.value for value in row.metric_values),
                    )
                    for row in answer.rows
                ],
                row_count=int(answer.row_count),
                tokens_consumed=None if quota is None else int(quota.consumed),
                tokens_remaining=None if quota is None else int(quota.remaining),
                subject_to_thresholding=bool(meta.subject_to_thresholding),
                sampled=[
                    (int(sampling.samples_read_count), int(sampling.sampling_space_size))
                    for sampling in meta.sampling_metadatas
                ],
                time_zone=meta.time_zone or None,
            )

        return self._call(call, what="a runReport page")

    def metadata(self) -> PropertyMetadata:
        """``getMetadata``: the property's dimensions and metrics, custom ones included."""

        def call() -> PropertyMetadata:
            answer = self._client.get_metadata(
                request=GetMetadataRequest(name=f"{self._property}/metadata"),
                retry=None,
                timeout=self._timeout_s,
            )
            return PropertyMetadata(
                frozenset(item.api_name for item in answer.dimensions),
                frozenset(item.api_name for item in answer.metrics),
            )

        return self._call(call, what="the property's metadata")

    def _call(self, call: Callable[[], T], *, what: str) -> T:
        def attempt() -> T:
            try:
                return call()
            except (google_errors.GoogleAPICallError, auth_errors.GoogleAuthError) as exc:
                raise self._error(exc) from None
            except requests.RequestException as exc:
                raise RetriableError(
                    f"GA4 did not answer {what}: {type(exc).__name__}",
                    vendor=VENDOR,
                    hint="check the network and [sources] api_endpoint",
                ) from None

        if self._sleep is None:
            return call_retried(attempt, what=what, vendor=VENDOR, policy=self._policy)
        return call_retried(
            attempt, what=what, vendor=VENDOR, policy=self._policy, sleep=self._sleep
        )

    def _error(self, error: BaseException) -> Exception:
        """Our error for a failed call (``error_for`` of the other adapters)."""
        detail = _detail(error)
        if isinstance(error, auth_errors.RefreshError):
            return ConfigError(
                f"Google refused the service account key in {CREDENTIALS_ENV} ({detail})",
                key=self._key,
                hint=f"check that {CREDENTIALS_ENV} names a current key of the service "
                "account (a deleted key or a disabled account is refused)",
            )
        if isinstance(error, auth_errors.GoogleAuthError):
            return RetriableError(
                f"Google's token endpoint did not answer: {detail}", vendor=VENDOR
            )
        if isinstance(error, google_errors.TooManyRequests):
            return LimitReachedError(
                f"GA4 property {self._property} has spent its quota (429 "
                f"RESOURCE_EXHAUSTED: {detail})",
                retry_after=next_full_hour(self._clock()),
                vendor=VENDOR,
                hint="the rest is read after the next full hour; other reports on the "
                "property (dashboards) spend the same tokens",
            )
        if isinstance(error, google_errors.Unauthorized | google_errors.Forbidden):
            return ConfigError(
                f"GA4 refused the service account of {CREDENTIALS_ENV} for "
                f"{self._property} ({detail})",
                key=f"{self._key}.property_id",
                hint="add the service account's e-mail as a Viewer of the property "
                "(Admin → Property access management) and check property_id",
            )
        if isinstance(error, google_errors.NotFound):
            return ConfigError(
                f"GA4 has no {self._property} ({detail})",
                key=f"{self._key}.property_id",
                hint="property_id is the number under Admin → Property settings",
            )
        if isinstance(error, google_errors.BadRequest):
            return ConfigError(
                f"GA4 refused the report ({detail})",
                key=f"{self._key}.user_dimension",
                hint="run `leadsync check --online`: it names what the property lacks",
            )
        status = getattr(error, "code", None)
        if isinstance(status, int) and (status >= 500 or status == 408):
            return RetriableError(f"GA4 answered {status}: {detail}", vendor=VENDOR, status=status)
        return FatalError(f"GA4 refused the call ({status}: {detail})")
