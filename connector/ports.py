"""What adapters implement and the core calls: the only thing the two sides share.

An adapter declares itself as a ``SourceAdapter`` or a ``CrmAdapter`` (its ``type`` name,
its settings model, its factories) under its own entry point in the ``leadsync.adapters``
group; the core finds it there (``connector.plugins``), validates ``[sources.NAME]`` or
``[crm.NAME]`` against its model, and calls its factories with the validated settings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict

from connector.errors import FatalError
from connector.model import Event, EventKind, ProfileValue, SalesSignals

if TYPE_CHECKING:
    from connector.crm.mapping import CrmMapping

__all__ = [
    "RECORDS_PER_WRITE",
    "AdapterSettings",
    "CreatePolicy",
    "CrmAdapter",
    "CrmContext",
    "CrmReader",
    "CrmRecordWrite",
    "CrmSettings",
    "CrmValue",
    "CrmWriter",
    "EventSource",
    "MappingProblem",
    "Page",
    "ProfileSnapshot",
    "RangeSource",
    "RejectedInput",
    "SetupReport",
    "SizedSource",
    "SnapshotPage",
    "SourceAdapter",
    "SourceContext",
    "SourceSettings",
    "WebhookReceiver",
    "WebhookRefusedError",
    "WebhookRequest",
    "WriteResult",
    "WritesInChunks",
    "crm_number_text",
    "linked_to_another",
    "settings_of",
]


@dataclass(frozen=True, slots=True)
class RejectedInput:
    """A record set aside: where it was, why, and its raw text (cut to a readable length)."""

    source: str
    location: str
    line: int | None
    reason: str
    raw: str


@dataclass(frozen=True, slots=True)
class Page:
    """Events and rejects read together, and the cursor to resume from after them.

    The core stores the events, the rejects and the cursor in one transaction, so a crash
    between pages loses nothing and a rerun starts after the last committed page.
    ``cursor`` is None when the source cannot resume mid-way (the next pull starts over,
    and the ledger's dedupe makes that safe).
    """

    events: Sequence[Event]
    rejects: Sequence[RejectedInput] = field(default_factory=tuple)
    cursor: str | None = None
    bytes_read: int = 0
    # Where the events were read (a file's path) and each one's line there, if the source
    # has lines: a record the store refuses is set aside with them.
    origin: str | None = None
    lines: Sequence[int] | None = None
    # Records read and left out on purpose, neither stored nor rejects: events outside
    # the range asked for (a backfill), or a router's event types leadsync does not take
    # (SendGrid's group_resubscribe).
    skipped: int = 0


@runtime_checkable
class EventSource(Protocol):
    """A system events are pulled from: files, e-mail routers, web analytics."""

    name: str

    def pull(self, cursor: str | None) -> Iterator[Page]:
        """Pages of events after ``cursor`` (None: from the beginning)."""
        ...


@runtime_checkable
class SizedSource(EventSource, Protocol):
    """A source that knows how much it has to read (a file)."""

    def size(self) -> int:
        """Bytes to read, for progress bars and the choice to read in a child process."""
        ...


@dataclass(frozen=True, slots=True)
class ApiBudget:
    """A CRM's API calls in its current period (HubSpot's day, Salesforce's 24 hours), as
    its last answer said."""

    used: int
    allowed: int


@runtime_checkable
class ReportsBudget(Protocol):
    """A CRM writer that knows how much of its API budget is used (for `leadsync status`
    and the daemon's metrics)."""

    def api_budget(self) -> ApiBudget | None:
        """As of the last answer; None before any answer said it."""
        ...


@runtime_checkable
class ReportsLag(EventSource, Protocol):
    """A source that can say how far its cursor is behind (for `leadsync status`)."""

    def lag(self, cursor: str | None) -> str:
        """What is left to read after ``cursor``, in words ("1,204 bytes unread")."""
        ...


@runtime_checkable
class RangeSource(EventSource, Protocol):
    """A source that can read the events of a bounded range of ``occurred_at`` (a
    backfill), from a checkpoint of its own, apart from the cursor of its regular pulls."""

    def pull_range(
        self, since: datetime, until: datetime | None, cursor: str | None
    ) -> Iterator[Page]:
        """Pages of the events with ``since <= occurred_at < until`` (no end when None),
        after ``cursor`` (None: from the beginning). Events outside the range are counted
        in ``Page.skipped``; the page's cursor resumes this same range."""
        ...


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """A POST to ``/webhooks/NAME`` as it arrived: nothing of it parsed yet.

    ``body`` is the raw bytes, whole (the server has already refused one over
    ``[serve] max_body_bytes``): signatures are computed over exactly these bytes.
    """

    body: bytes
    headers: Mapping[str, str]  # names lower-cased; a repeated header: its first value
    query: Mapping[str, str]  # the URL's query parameters (a token in the URL, say)
    received_at: datetime  # UTC, when the server took the request

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-cased ("application/json")."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()


class WebhookRefusedError(Exception):
    """The request is not the router's, or not now: a missing or wrong signature, token or
    password, or a signed time outside ``[serve] max_age_s``. The server answers 401 and
    stores nothing.

    ``reason`` is a short fixed label ("bad_signature", "stale_timestamp"): the server
    counts refusals by it, so it must not vary with the request. ``detail`` is logged.
    Neither may hold a secret or the value a request sent in its place.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@runtime_checkable
class WebhookReceiver(Protocol):
    """A router's webhook, for ``leadsync serve``: it checks that a request is the
    router's, then turns its body into events. The server owns everything else: reading
    the body, the size limit, storing with dedupe, the answer, the metrics."""

    name: str

    def verify(self, request: WebhookRequest, *, max_age_s: float) -> None:
        """Check the signature, token or basic auth on the raw bytes, and a signed time
        against ``max_age_s``, before anything is parsed.

        Raises:
            WebhookRefusedError: the request is refused (401, nothing stored).
        """
        ...

    def read(self, request: WebhookRequest) -> Page:
        """The events of a verified request, and a reject for each record that cannot be
        read (the rest are stored: the router would resend the whole batch for a day
        otherwise). A body that is not the router's format at all is one reject. Each
        event's id is the router's own event id where it has one, so a resent batch
        stores nothing twice. ``cursor`` stays None."""
        ...


@dataclass(frozen=True, slots=True)
class ProfileSnapshot:
    """What a CRM knows of one person at ``observed_at``, in our words.

    ``fields`` are profile fields by our names (the mapping file translates the CRM's);
    fit rules read them. ``sales`` is what sales said (stage, status, BANT, won deal); the
    lifecycle machine reads it. Newer snapshots win field by field.
    """

    source: str
    observed_at: datetime
    email: str | None
    ids: Mapping[str, str] = field(default_factory=dict)
    fields: Mapping[str, ProfileValue] = field(default_factory=dict)
    sales: SalesSignals | None = None


@dataclass(frozen=True, slots=True)
class SnapshotPage:
    """Snapshots read together, and the cursor to resume from after them."""

    snapshots: Sequence[ProfileSnapshot]
    rejects: Sequence[RejectedInput] = field(default_factory=tuple)
    cursor: str | None = None


@runtime_checkable
class CrmReader(Protocol):
    """A CRM read for profile fields, stages, BANT answers and won deals."""

    name: str

    def read_changes(self, cursor: str | None) -> Iterator[SnapshotPage]:
        """Pages of the people changed after ``cursor`` (None: everyone)."""
        ...


CrmValue = str | float | None
# Records the core hands a writer at once, unless it says otherwise (``WritesInChunks``):
# each chunk is recorded once written, so a crash resends at most one chunk.
RECORDS_PER_WRITE = 1_000


def crm_number_text(value: float) -> str:
    """A number as a CRM takes it in text (a HubSpot property, a Bulk API CSV cell): two
    decimals at most, no trailing zeros (20.0 -> "20", 12.5 -> "12.5")."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


@dataclass(frozen=True, slots=True)
class CrmRecordWrite:
    """The fields to write for one contact, by the CRM's field names (mapping applied).

    ``crm_id`` is the CRM's id when known (from an earlier write or read); otherwise the
    writer finds the record by ``email`` and creates it only if ``may_create``.
    ``clear_first`` are fields to blank in an earlier, separate call: a CRM stage that
    only moves forward is moved back by clearing it, then setting it.
    """

    contact_id: int
    email: str | None
    crm_id: str | None
    fields: Mapping[str, CrmValue]
    clear_first: tuple[str, ...] = ()
    may_create: bool = False


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What happened to one record: ``ok`` (written), ``rejected`` (the CRM refused it,
    with its reason: fix the data), or ``deferred`` (not written this time, e.g. unknown
    to the CRM and not to be created; tried again next push)."""

    contact_id: int
    status: str  # "ok" | "rejected" | "deferred"
    crm_id: str | None = None
    reason: str | None = None
    # A CRM id the CRM no longer knows (the record was deleted or merged away): the core
    # drops its link, and the contact counts as not in the CRM.
    unlink: str | None = None
    # For a record with ``clear_first`` that was not written (status not "ok"): the fields
    # the CRM holds from this write all the same, a clear (None) that no set followed, or
    # the cleared field set again alone. Over what was last written (``PlannedPush.held``)
    # they are what the CRM now holds, so the next push sets what the clear left blank.
    applied: Mapping[str, CrmValue] = field(default_factory=dict)


@runtime_checkable
class CrmWriter(Protocol):
    """A CRM written with scores and stages."""

    name: str

    def write(
        self, records: Sequence[CrmRecordWrite], *, linked: Mapping[str, int] | None = None
    ) -> list[WriteResult]:
        """Write ``records`` (one result per record, any order); raise only when the
        push itself cannot go on (auth, unreachable after retries; ``LimitReachedError``, with
        the results so far, when the CRM's API limit is reached). ``linked`` maps the
        CRM ids already linked to our contacts: a record found by e-mail whose CRM id
        belongs to another contact must be rejected, not written."""
        ...


@runtime_checkable
class WritesInChunks(Protocol):
    """A writer that says how many records to hand it at once (else
    ``RECORDS_PER_WRITE``): a Salesforce push above ``bulk_above`` goes in Bulk API jobs,
    which only pay off with many records each; HubSpot's calls in flight run out between
    two writes, which costs less the more calls a write holds."""

    def records_per_write(self, total: int) -> int:
        """Records per ``write`` call for a push of ``total`` records."""
        ...


def linked_to_another(
    record: CrmRecordWrite, crm_id: str | None, owners: Mapping[str, int], *, shown_as: str
) -> WriteResult | None:
    """A rejection when ``crm_id``, found by ``record``'s e-mail, is linked to another
    leadsync contact: its e-mail changed in the CRM, or two people were merged there, and
    writing would put this contact's score on that one. ``shown_as`` names the record
    ("HubSpot contact", "Salesforce record")."""
    owner = owners.get(crm_id or "")
    if crm_id is None or owner is None or owner == record.contact_id:
        return None
    return WriteResult(
        record.contact_id,
        "rejected",
        reason=f"{shown_as} {crm_id}, found by the e-mail {record.email}, is already linked "
        f"to leadsync contact #{owner}; merge or fix the e-mails",
    )


# -- what an adapter declares ---------------------------------------------------------------

CreatePolicy = Literal["never", "mql", "always"]


class AdapterSettings(BaseModel):
    """Base of every adapter's settings model: a misspelt key is an error, values frozen.

    Secrets are never keys: an adapter reads them from environment variables or files
    (``connector.secrets``) and names those variables in its declaration.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceSettings(AdapterSettings):
    """``[sources.NAME]``: ``type`` names the adapter; the adapter's model adds its keys."""

    type: str


class CrmSettings(AdapterSettings):
    """``[crm.NAME]``: the keys the core reads of every CRM; the adapter's model adds its own
    (and gives ``mapping`` its default). ``type`` defaults to NAME."""

    type: str | None = None
    mapping: Path
    # Create records the CRM does not know yet: never, only from MQL on, or always.
    create: CreatePolicy = "never"


@dataclass(frozen=True, slots=True)
class SourceContext:
    """What the core tells a source factory besides its settings."""

    name: str  # NAME in [sources.NAME]: events without a source of their own get it
    base_dir: Path  # the config file's folder: relative paths start there
    max_line_bytes: int
    page_size: int

    def resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else self.base_dir / path


@dataclass(frozen=True, slots=True)
class CrmContext:
    """What the core tells a CRM factory besides its settings."""

    name: str  # NAME in [crm.NAME], the table its settings came from
    # The mapping file's ``crm`` names the CRM in the store (its ids, what it was told).
    mapping: CrmMapping


@dataclass(slots=True)
class SetupReport:
    """What ``leadsync crm setup`` did: the fields (or properties) it created."""

    group_created: bool = False
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class MappingProblem:
    """A mapping entry the live CRM contradicts, with the mapping key it concerns."""

    key: tuple[str, ...]
    message: str


@dataclass(frozen=True, slots=True)
class SourceAdapter:
    """A source adapter's declaration; the value of its ``leadsync.adapters`` entry point,
    whose name is ``type_name``."""

    type_name: str  # what ``type`` says in config
    settings_model: type[SourceSettings]
    # What `pull`, `sync` and the daemon read from a cursor; None: the source only sends
    # (webhooks), and those commands leave it out.
    source: Callable[[SourceSettings, SourceContext], EventSource] | None = None
    # Offline check for `leadsync check`: a short description, or a ConfigError (a
    # missing secret is one: name its variable).
    check: Callable[[SourceSettings, SourceContext], str] | None = None
    # `leadsync check --online`: tries the source's API key (or what stands for it) and
    # says what answered, or raises a ConfigError saying what to fix.
    check_online: Callable[[SourceSettings, SourceContext], str] | None = None
    secrets: tuple[str, ...] = ()  # the environment variables holding its secrets
    # Its sources are ``RangeSource``s: `leadsync backfill` names the types that are when
    # it refuses a source that is not.
    reads_ranges: bool = False
    # What `leadsync backfill` reads when that is not ``source`` (a router whose regular
    # intake is its webhook, with an API that reads a past range).
    range_source: Callable[[SourceSettings, SourceContext], RangeSource] | None = None
    # `POST /webhooks/NAME` in `leadsync serve`; None: the source has no webhook.
    webhook: Callable[[SourceSettings, SourceContext], WebhookReceiver] | None = None
    # The kinds its config maps the vendor's names to, by the key in its own table that
    # says so ("goals.Quote request" -> quote_request; the core adds "sources.NAME."):
    # `leadsync check` warns of a kind no rule scores, which would be stored and never count.
    mapped_kinds: Callable[[SourceSettings], Mapping[str, EventKind]] | None = None


@dataclass(frozen=True, slots=True)
class CrmAdapter:
    """A CRM adapter's declaration; the value of its ``leadsync.adapters`` entry point,
    whose name is ``type_name``."""

    type_name: str  # what ``type`` says in config
    settings_model: type[CrmSettings]
    reader: Callable[[CrmSettings, CrmContext], CrmReader]
    writer: Callable[[CrmSettings, CrmContext], CrmWriter]
    # Create what the CRM lacks for the mapping (idempotent), or a ConfigError saying how.
    setup: Callable[[CrmSettings, CrmContext], SetupReport]
    # The mapping entries the live CRM contradicts (`leadsync check --online`).
    check_online: Callable[[CrmSettings, CrmContext], list[MappingProblem]]
    secrets: tuple[str, ...] = ()  # the environment variables holding its secrets


SettingsT = TypeVar("SettingsT", bound=AdapterSettings)


def settings_of(settings: AdapterSettings, model: type[SettingsT]) -> SettingsT:
    """``settings`` as the adapter's own model (the core validated them with it)."""
    if not isinstance(settings, model):
        raise FatalError(
            f"an adapter was handed {type(settings).__name__} settings, not {model.__name__}"
        )
    return settings
