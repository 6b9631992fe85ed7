"""Read Salesforce Leads and Contacts changed since a cursor, and the Contacts of won deals.

One SOQL query per object, ``WHERE SystemModstamp >= <newest read> ORDER BY SystemModstamp
ASC``, its pages (up to 2,000 records) followed through ``nextRecordsUrl``. SystemModstamp,
not LastModifiedDate: it is indexed, so the filter stays selective on large orgs, and it
also moves on system changes such as a conversion. The pages of one query come from the
query locator Salesforce made when the query ran, not from offsets: a record edited
meanwhile shifts nothing still to come, and is read again by the next run. ``>=``, not
``>``: records sharing the newest instant read may not all have been read when a run
stopped, and reading one again changes nothing. Each query also starts ``COMMIT_LAG``
(5 minutes) before its cursor, for records committed late by long transactions.

The cursor is a JSON object with each query's newest SystemModstamp read (``Lead``,
``Contact``, and ``won`` for the contact roles of won opportunities), committed with each
page: a run that stops part-way resumes every query where it got to.

A converted Lead speaks for the Contact it became (sales qualified it), dated by its
ConvertedDate; its own id is never linked, as it can no longer be written. A Lead's Status
carries no date of its own: a status is dated by the read. A Contact's own record says
nothing of what sales decided; a won opportunity does, through its contact roles. Its
close date and amount are in ``adapters.salesforce.won_deals``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.salesforce.client import SalesforceApi
from adapters.salesforce.records import KNOWN_OBJECTS
from adapters.salesforce.won_deals import WonDeals, close_day, won_amount_field
from connector.crm.mapping import CrmMapping
from connector.errors import LimitReachedError
from connector.model import ProfileValue, SalesSignals, Stage
from connector.ports import ProfileSnapshot, RejectedInput, SnapshotPage

__all__ = ["ROLE_KEY", "WON_KEY", "SalesforceReader", "soql_datetime"]

WON_KEY = "won"  # the cursor's key for the won opportunities' contact roles
# ... and for contact roles added since to opportunities already won (the opportunity's own
# stamp does not move then).
ROLE_KEY = "won_roles"
# SystemModstamp is stamped when a transaction starts, not when it commits: a record saved
# by a long transaction can appear with a stamp older than the newest one already read.
# Each query goes back this far before its cursor (reading a record again changes nothing).
COMMIT_LAG = timedelta(minutes=5)
_SOURCE = "salesforce"
_ROLE = "OpportunityContactRole"
_STAMP = "SystemModstamp"
_BASE = ("Id", "Email", _STAMP)
_CONVERSION = ("IsConverted", "ConvertedContactId", "ConvertedDate")
_MAX_RAW_CHARS = 1_000


def soql_datetime(moment: datetime) -> str:
    """A SOQL datetime literal (unquoted, UTC, milliseconds: SystemModstamp's precision)."""
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _parse_cursor(cursor: str | None) -> dict[str, datetime]:
    # Anything unreadable reads everything again: slower, never a record lost.
    if not cursor:
        return {}
    try:
        raw = json.loads(cursor)
    except ValueError:
        return {}
    if not isinstance(raw, dict):
        return {}
    found: dict[str, datetime] = {}
    for key, value in raw.items():
        moment = _moment(value)
        if moment is not None:
            found[str(key)] = moment
    return found


def _field(record: Mapping[str, Any], name: str) -> Any:
    if name in record:
        return record[name]
    # SOQL names are case-insensitive and answers spell them as the org does: a mapping
    # saying "title" gets "Title" back.
    wanted = name.lower()
    for key, value in record.items():
        if key.lower() == wanted:
            return value
    return None


def _value(record: Mapping[str, Any], path: str) -> Any:
    """A field of ``record``, through relationships ("Account.Industry"); None when a
    relationship on the way is empty."""
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = _field(value, part)
    return value


def _profile_value(value: Any) -> ProfileValue:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, bool | int | float):
        return value
    return None  # compound fields (addresses, geolocations) hold no single value


def _checked(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _text(value: Any) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def _unique(names: Sequence[str]) -> tuple[str, ...]:
    # Salesforce refuses a query selecting one field twice (any spelling).
    seen: set[str] = set()
    chosen: list[str] = []
    for name in names:
        if name.lower() not in seen:
            seen.add(name.lower())
            chosen.append(name)
    return tuple(chosen)


def _raw(record: Mapping[str, Any]) -> str:
    shown = {key: value for key, value in record.items() if key != "attributes"}
    return json.dumps(shown, default=str, ensure_ascii=False)[:_MAX_RAW_CHARS]


@dataclass(frozen=True, slots=True)
class _ObjectRead:
    """What one object's query selects, and where the mapping's fields are in its answer."""

    sobject: str
    select: tuple[str, ...]
    profile: tuple[tuple[str, str], ...]  # (field path, our profile field)
    status: str | None  # field path of the lead status, if read on this object
    bant: tuple[tuple[str, str], ...]  # (BANT answer, checkbox field path)


class SalesforceReader:
    name = _SOURCE

    def __init__(
        self, api: SalesforceApi, *, mapping: CrmMapping, objects: tuple[str, ...]
    ) -> None:
        self._api = api
        self._mapping = mapping
        self._objects = objects
        self._prefixes = {*KNOWN_OBJECTS, *objects}
        self._reads = [self._object_read(sobject) for sobject in objects]
        self._won_deals = WonDeals(api, amount_field=won_amount_field(mapping))

    def _on(self, name: str, sobject: str) -> str | None:
        """``name`` as read on ``sobject`` ("Lead.Title" -> "Title" on Lead only; a name
        without an object prefix on every object), or None when it is another's."""
        owner, dot, rest = name.partition(".")
        if dot and owner in self._prefixes:
            return rest if owner == sobject else None
        return name

    def _object_read(self, sobject: str) -> _ObjectRead:
        mapping = self._mapping
        profile = tuple(
            (path, ours)
            for theirs, ours in mapping.profile.items()
            if (path := self._on(theirs, sobject)) is not None
        )
        bant = tuple(
            (answer, path)
            for answer, theirs in mapping.bant.items()
            if (path := self._on(theirs, sobject)) is not None
        )
        status = (
            self._on(mapping.lead_status_property, sobject)
            if mapping.lead_status_property
            else None
        )
        mapped = {path for path, _ in profile} | {path for _, path in bant}
        if status is not None:
            mapped.add(status)
        fixed = (*_BASE, *_CONVERSION) if sobject == "Lead" else _BASE
        return _ObjectRead(sobject, _unique([*fixed, *sorted(mapped)]), profile, status, bant)

    # -- reading -------------------------------------------------------------------------

    def read_changes(self, cursor: str | None) -> Iterator[SnapshotPage]:
        since = _parse_cursor(cursor)
        # The first read of won opportunities finds every role; later roles are read by
        # their own stamp from the moment that read began.
        roles_from = since.get(ROLE_KEY)
        if "Contact" in self._objects:
            since.setdefault(ROLE_KEY, datetime.now(UTC))
        try:
            for read in self._reads:
                yield from self._read_object(read, since)
            if "Contact" in self._objects:
                yield from self._read_won(since, f"Opportunity.{_STAMP}", WON_KEY)
                if roles_from is not None:
                    yield from self._read_won(since, _STAMP, ROLE_KEY)
        except LimitReachedError as limit:
            retry_after = soql_datetime(limit.retry_after)
            raise LimitReachedError(
                f"Salesforce read stopped: {limit.message}; the pages read so far are kept "
                f"and the next read resumes after them; retry after {retry_after}",
                retry_after=limit.retry_after,
                vendor="salesforce",
            ) from None

    def _read_object(self, read: _ObjectRead, since: dict[str, datetime]) -> Iterator[SnapshotPage]:
        where = ""
        if read.sobject in since:
            where = f" WHERE {_STAMP} >= {soql_datetime(since[read.sobject] - COMMIT_LAG)}"
        soql = f"SELECT {', '.join(read.select)} FROM {read.sobject}{where} ORDER BY {_STAMP} ASC"
        for records in self._api.query_pages(soql):
            snapshots: list[ProfileSnapshot] = []
            rejects: list[RejectedInput] = []
            for record in records:
                self._advance(since, read.sobject, _value(record, _STAMP))
                found = self._snapshot(read, record)
                if isinstance(found, ProfileSnapshot):
                    snapshots.append(found)
                else:
                    rejects.append(found)
            yield SnapshotPage(snapshots, rejects, cursor=_cursor_text(since))

    def _read_won(self, since: dict[str, datetime], stamp: str, key: str) -> Iterator[SnapshotPage]:
        """Contact roles of won opportunities, by the opportunity's stamp or the role's."""
        where = "Opportunity.IsWon = true"
        if key in since:
            where += f" AND {stamp} >= {soql_datetime(since[key] - COMMIT_LAG)}"
        select = _unique(["ContactId", "Contact.Email", *self._won_deals.select, stamp])
        soql = f"SELECT {', '.join(select)} FROM {_ROLE} WHERE {where} ORDER BY {stamp} ASC"
        for records in self._api.query_pages(soql):
            snapshots: list[ProfileSnapshot] = []
            rejects: list[RejectedInput] = []
            # A contact's amount is the sum of all its won deals, the ones won before this
            # read's window too: one look-up per page for the contacts it names.
            deals = self._won_deals.of_contacts(records)
            for record in records:
                modified = _value(record, stamp)
                self._advance(since, key, modified)
                contact_id = _text(_value(record, "ContactId"))
                email = _text(_value(record, "Contact.Email"))
                if contact_id is None and email is None:
                    rejects.append(
                        _rejected(
                            _ROLE, None, "a won opportunity's contact role names no one", record
                        )
                    )
                    continue
                won = deals.of(contact_id, record)
                snapshots.append(
                    ProfileSnapshot(
                        _SOURCE,
                        _moment(modified) or datetime.now(UTC),
                        email,
                        ids={_SOURCE: contact_id} if contact_id else {},
                        fields={},
                        sales=SalesSignals(
                            stage=Stage.CUSTOMER,
                            won=True,
                            won_at=won.first_closed,
                            won_amount=won.amount,
                        ),
                    )
                )
            yield SnapshotPage(snapshots, rejects, cursor=_cursor_text(since))

    @staticmethod
    def _advance(since: dict[str, datetime], key: str, modified: Any) -> None:
        moment = _moment(modified)
        if moment is not None and (key not in since or moment > since[key]):
            since[key] = moment

    # -- records -> snapshots -------------------------------------------------------------

    def _snapshot(
        self, read: _ObjectRead, record: Mapping[str, Any]
    ) -> ProfileSnapshot | RejectedInput:
        record_id = _text(_value(record, "Id"))
        email = _text(_value(record, "Email"))
        fields: dict[str, ProfileValue] = {}
        for path, ours in read.profile:
            value = _profile_value(_value(record, path))
            if value is not None:
                fields[ours] = value
        sales: SalesSignals | None = None
        if read.sobject == "Lead":
            bant = frozenset(answer for answer, path in read.bant if _checked(_value(record, path)))
            status = _text(_value(record, read.status)) if read.status else None
            if _checked(_value(record, "IsConverted")):
                # The Lead's id is dead for writes once converted: the person goes on as
                # the Contact, and linking the Lead could make a push write through it.
                record_id = _text(_value(record, "ConvertedContactId"))
                if record_id is None:
                    return _rejected(
                        read.sobject,
                        _text(_value(record, "Id")),
                        "a converted Lead without ConvertedContactId: its Contact is "
                        "unknown, and the Lead itself can no longer be written",
                        record,
                    )
                # Converted means qualified whatever the Status says; a Status meaning
                # won still counts.
                stage = self._mapping.status_stages.get(status or "")
                sales = SalesSignals(
                    stage=Stage.CUSTOMER if stage is Stage.CUSTOMER else Stage.SQL,
                    bant=bant,
                    changed_at=close_day(_value(record, "ConvertedDate")),
                )
            else:
                sales = SalesSignals(
                    stage=self._mapping.status_stages.get(status or ""),
                    status=self._mapping.lead_statuses.get(status or ""),
                    bant=bant,
                )
        if record_id is None and email is None:
            return _rejected(read.sobject, None, "no e-mail and no record id", record)
        return ProfileSnapshot(
            _SOURCE,
            _moment(_value(record, _STAMP)) or datetime.now(UTC),
            email,
            ids={_SOURCE: record_id} if record_id else {},
            fields=fields,
            sales=sales,
        )


def _rejected(
    sobject: str, record_id: str | None, reason: str, record: Mapping[str, Any]
) -> RejectedInput:
    return RejectedInput(_SOURCE, f"{sobject} {record_id or '(no id)'}", None, reason, _raw(record))


def _cursor_text(since: Mapping[str, datetime]) -> str:
    return json.dumps(
        {key: soql_datetime(moment) for key, moment in sorted(since.items())},
        separators=(",", ":"),
    )
