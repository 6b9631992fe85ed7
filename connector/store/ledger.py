"""The event ledger: a page of events, its rejects and the source's cursor, committed
together. ``(source, source_event_id)`` is unique, so pulls are at least once and storage
exactly once."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import cast

import orjson
import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine

from connector.ingest.canonical import loads_exact
from connector.ingest.identity import is_valid_email, normalize_email
from connector.model import CRM_STAGE_PREFIX, ProfileValue, is_crm_owned
from connector.ports import ProfileSnapshot, RejectedInput, SnapshotPage
from connector.store._raw import BulkInsert, RawSql, dialect_insert
from connector.store.contacts import ContactResolver
from connector.store.ledger_rows import EncodedPage, LedgerRow, encode_snapshot
from connector.store.schema import contacts, crm_reads, cursors, events, rejects

__all__ = ["Ledger", "PageResult", "committed_by_run"]

_EVENT_COLUMNS = (
    "source",
    "source_event_id",
    "kind",
    "occurred_at",
    "contact_id",
    "url",
    "attributes",
    "run_id",
    "joined_from",
)
log = structlog.get_logger(__name__)

MAX_RAW_CHARS = 2_000
MAX_SOURCE_CHARS = 100  # rejects.source


def _storable(text: str) -> str:
    """``text`` as both stores take it: PostgreSQL refuses NUL in text, so a reject's raw
    line keeps it written out."""
    return text.replace("\x00", "\\x00") if "\x00" in text else text


@dataclass(slots=True)
class PageResult:
    read: int
    stored: int
    duplicates: int
    rejected: int
    contacts_created: int
    identity_conflicts: int


# What a record can make a write fail with: the store refusing one of its values. Only
# the database's own verdicts count (wrapped by SQLAlchemy, or raw from the driver's COPY:
# see Ledger.__init__); an error of our code, the connection failing, a lock timing out or
# the disk filling up is no record's fault and ends the run as before.
_RECORD_FAULTS: tuple[type[BaseException], ...] = (sa.exc.DataError, sa.exc.IntegrityError)


def _first_line(fault: BaseException) -> str:
    text = str(getattr(fault, "orig", None) or fault).strip()
    return text.splitlines()[0][:300] if text else type(fault).__name__


def _refused_row(
    row: LedgerRow, fault: BaseException, *, origin: str | None, line: int | None
) -> RejectedInput:
    """The row the store refused, set aside with the store's words and the record."""
    # ASCII-escaped: the text the store refused may not even be valid UTF-8.
    raw = json.dumps(
        {
            "id": row.source_event_id,
            "kind": row.kind,
            "occurred_at": row.occurred_at_utc,
            "email": row.email,
            "ids": row.ids,
            "url": row.url,
            "attributes": row.attributes_json,
        }
    )
    return RejectedInput(
        row.source,
        origin or f"event id {row.source_event_id[:200]}",
        line,
        f"the store refused it: {_first_line(fault)}",
        raw,
    )


def _part(
    page: EncodedPage, start: int, stop: int, rejects: Sequence[RejectedInput]
) -> EncodedPage:
    """Rows ``start:stop`` of ``page`` with their lines, and ``rejects``; no cursor."""
    lines = page.lines
    return EncodedPage(
        page.rows[start:stop],
        rejects,
        None,
        0,
        page.origin,
        None if lines is None else lines[start:stop],
    )


def _sum_results(results: Sequence[PageResult]) -> PageResult:
    return PageResult(
        read=sum(result.read for result in results),
        stored=sum(result.stored for result in results),
        duplicates=sum(result.duplicates for result in results),
        rejected=sum(result.rejected for result in results),
        contacts_created=sum(result.contacts_created for result in results),
        identity_conflicts=sum(result.identity_conflicts for result in results),
    )


def _reject_fingerprint(reject: RejectedInput) -> str:
    content = f"{reject.location}\0{reject.line}\0{reject.raw}".encode("utf-8", "replace")
    return hashlib.blake2b(content, digest_size=16).hexdigest()


def _merge_profile(
    stored: dict[str, ProfileValue],
    stored_at: datetime | None,
    observed: dict[str, ProfileValue],
    observed_at: datetime,
    *,
    from_crm: bool,
) -> tuple[dict[str, ProfileValue], datetime]:
    """Newer observations win; an older one only fills fields not known yet.

    What sales said (``is_crm_owned``) belongs to the CRM: its latest read always
    wins, whatever the time of a form's profile, and events cannot set it.
    """
    said = {name: observed.pop(name) for name in list(observed) if is_crm_owned(name)}
    if stored_at is None or observed_at >= stored_at:
        merged, merged_at = {**stored, **observed}, observed_at
    else:
        merged, merged_at = {**observed, **stored}, stored_at
    if from_crm:
        merged.update(said)
    return merged, merged_at


def _checked_snapshots(
    snapshots: Sequence[ProfileSnapshot],
) -> tuple[list[ProfileSnapshot], list[RejectedInput]]:
    """Snapshots with their e-mail normalised as events' are; those naming no one, or
    with an e-mail that is not one, set aside with the reason."""
    accepted: list[ProfileSnapshot] = []
    set_aside: list[RejectedInput] = []
    for snapshot in snapshots:
        email = normalize_email(snapshot.email) if snapshot.email else None
        reason = None
        if email is not None and not is_valid_email(email):
            reason = f"invalid e-mail {email[:80]!r}"
        elif email is None and not snapshot.ids:
            reason = "names no person: no e-mail and no ids"
        if reason is None:
            accepted.append(replace(snapshot, email=email))
            continue
        raw = orjson.dumps(
            {"email": snapshot.email, "ids": dict(snapshot.ids), "fields": dict(snapshot.fields)},
            default=str,
        ).decode()
        set_aside.append(RejectedInput(snapshot.source, "crm snapshot", None, reason, raw))
    return accepted, set_aside


def _note_stage_reads(
    connection: sa.Connection,
    snapshots: Sequence[ProfileSnapshot],
    contact_ids: Sequence[int],
    now: datetime,
) -> None:
    """When each contact's CRM stage was read, by our clock: a push compares it with its
    own last write (``pushed_at``, the same clock) to know which is the newer news. The
    CRM's modification time would not do: a write the CRM answered without applying
    still moves it, to just before the push recorded that write."""
    read: dict[tuple[str, int], dict[str, object]] = {}
    for snapshot, contact_id in zip(snapshots, contact_ids, strict=True):
        for name in snapshot.fields:
            if name.startswith(CRM_STAGE_PREFIX):
                crm = name.removeprefix(CRM_STAGE_PREFIX)
                read[crm, contact_id] = {"crm": crm, "contact_id": contact_id, "read_at": now}
    if not read:
        return
    statement = dialect_insert(connection.dialect, crm_reads)
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=[crm_reads.c.crm, crm_reads.c.contact_id],
            set_={"read_at": statement.excluded.read_at},
        ),
        list(read.values()),
    )


class Ledger:
    """Writes pages for one run. Not thread-safe: one writer per Ledger."""

    def __init__(self, engine: Engine, *, run_id: int) -> None:
        self._engine = engine
        self._run_id = run_id
        self._raw = RawSql(engine.dialect)
        # Bulk inserts go through the driver itself (COPY on PostgreSQL): its own
        # exceptions come unwrapped. PEP 249 names them alike in every driver.
        dbapi = engine.dialect.loaded_dbapi
        self._record_faults: tuple[type[BaseException], ...] = (
            *_RECORD_FAULTS,
            dbapi.DataError,
            dbapi.IntegrityError,
        )
        self._resolver = ContactResolver(self._raw)
        # Raw DBAPI executemany: SQLAlchemy's per-row parameter processing costs more than
        # the insert itself on this path (measured: 37k vs 125k rows/s on SQLite).
        self._insert_events = BulkInsert(
            self._raw, "events", _EVENT_COLUMNS, ignore_conflict_on=("source", "source_event_id")
        )
        self._bump_change_seq_sql = (
            f"UPDATE contacts SET change_seq = change_seq + 1 WHERE id = {self._raw.placeholder}"
        )
        self._cursor_upsert = self._cursor_statement()
        self._reject_insert = dialect_insert(engine.dialect, rejects).on_conflict_do_nothing()

    def _cursor_statement(self) -> sa.Insert:
        statement = dialect_insert(self._engine.dialect, cursors)
        upsert: sa.Insert = statement.on_conflict_do_update(
            index_elements=[cursors.c.source],
            set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at},
        )
        return upsert

    @contextmanager
    def _transaction(
        self, cursor_name: str | None, cursor: str | None, now: datetime
    ) -> Iterator[sa.Connection]:
        """One serialised write transaction that also moves the reader's cursor, so a
        page and its cursor commit together or not at all."""
        try:
            with self._engine.begin() as connection:
                self._raw.lock_for_writing(connection)
                yield connection
                if cursor_name is not None and cursor is not None:
                    connection.execute(
                        self._cursor_upsert,
                        {"source": cursor_name, "value": cursor, "updated_at": now},
                    )
        except BaseException:
            # The cache may name contacts that were never committed.
            self._resolver.forget()
            raise

    def write_page(self, page: EncodedPage, *, cursor_name: str | None) -> PageResult:
        """Store the page with its rejects and cursor in one transaction.

        Records are validated before they get here, so the store refusing one is a limit
        validation missed. Rather than stop the source there on every rerun, the page is
        split in halves, each in a savepoint, until the record the store refuses is
        found; it is set aside with the store's reason and the rest is stored, all still
        in the one transaction with the cursor.
        """
        now = datetime.now(UTC)
        with self._transaction(cursor_name, page.cursor, now) as connection:
            return self._write_one(connection, page, now)

    def write_pages(self, pages: Sequence[EncodedPage]) -> list[PageResult]:
        """Store several pages, each with its rejects, in one transaction and without a
        cursor: the webhook intake commits the requests that arrived together at once
        (one commit, one lock, rather than one each). A page the store refuses a record
        of is split as ``write_page`` does, without touching the others."""
        now = datetime.now(UTC)
        with self._transaction(None, None, now) as connection:
            return [self._write_one(connection, page, now) for page in pages]

    def _write_one(self, connection: sa.Connection, page: EncodedPage, now: datetime) -> PageResult:
        try:
            return self._write_in_savepoint(connection, page, now)
        except self._record_faults as fault:
            if not page.rows:
                raise
            log.warning("ledger.page_refused", rows=len(page.rows), error=_first_line(fault))
            result = self._write_split(connection, page, now, fault)
            refused = result.rejected - len(page.rejects)
            if refused == len(page.rows) > 1:
                # Every record refused on its own: the store (a schema out of date,
                # say) is at fault, not the records; none may be set aside for that.
                raise
            return result

    def _write_in_savepoint(
        self, connection: sa.Connection, page: EncodedPage, now: datetime
    ) -> PageResult:
        try:
            with connection.begin_nested():
                return self._write(connection, page, now)
        except self._record_faults:
            # The cache may name contacts the savepoint's rollback took back.
            self._resolver.forget()
            raise

    def _write_split(
        self, connection: sa.Connection, page: EncodedPage, now: datetime, fault: BaseException
    ) -> PageResult:
        """Write ``page``, which the store refused whole with ``fault``, in halves; a lone
        refused row is set aside with that fault."""
        rows = page.rows
        if len(rows) == 1:
            refused = _refused_row(rows[0], fault, origin=page.origin, line=page.line_of(0))
            alone = EncodedPage((), [*page.rejects, refused], None, page.bytes_read)
            return self._write(connection, alone, now)
        middle = len(rows) // 2
        results = []
        # The page's rejects go with the first half.
        for part in (_part(page, 0, middle, page.rejects), _part(page, middle, len(rows), ())):
            try:
                results.append(self._write_in_savepoint(connection, part, now))
            except self._record_faults as part_fault:
                results.append(self._write_split(connection, part, now, part_fault))
        return _sum_results(results)

    def write_snapshots(self, page: SnapshotPage, *, cursor_name: str | None) -> tuple[int, int]:
        """Merge CRM snapshots into the contacts' profiles, with the reader's cursor, in
        one transaction; return (contacts changed, records set aside). Changed contacts
        are rescored, and their stages moved, by the next scoring pass."""
        now = datetime.now(UTC)
        accepted, set_aside = _checked_snapshots(page.snapshots)
        rows = [encode_snapshot(snapshot) for snapshot in accepted]
        touched: set[int] = set()
        with self._transaction(cursor_name, page.cursor, now) as connection:
            if rows:
                resolution = self._resolver.resolve(
                    connection, rows, source=rows[0].source, now=now
                )
                touched = self._merge_and_mark(
                    connection, rows, resolution.contact_ids, from_crm=True
                )
                _note_stage_reads(connection, accepted, resolution.contact_ids, now)
            if page.rejects or set_aside:
                self._insert_rejects(connection, [*page.rejects, *set_aside], now)
        return len(touched), len(page.rejects) + len(set_aside)

    def _write(self, connection: sa.Connection, page: EncodedPage, now: datetime) -> PageResult:
        rows = page.rows
        stored = 0
        created = conflicts = 0
        if rows:
            resolution = self._resolver.resolve(connection, rows, source=rows[0].source, now=now)
            created, conflicts = resolution.contacts_created, resolution.identity_conflicts
            stored = self._store_events(
                connection, rows, resolution.contact_ids, resolution.joined_from
            )
            # New events are found by scoring through their ids (see rescore.py); only a
            # profile change has to mark its contact.
            self._merge_and_mark(connection, rows, resolution.contact_ids, from_crm=False)
        if page.rejects:
            self._insert_rejects(connection, page.rejects, now)
        return PageResult(
            read=len(rows) + len(page.rejects),
            stored=stored,
            duplicates=len(rows) - stored,
            rejected=len(page.rejects),
            contacts_created=created,
            identity_conflicts=conflicts,
        )

    def _merge_and_mark(
        self,
        connection: sa.Connection,
        rows: Sequence[LedgerRow],
        contact_ids: Sequence[int],
        *,
        from_crm: bool,
    ) -> set[int]:
        """Merge the rows' profiles; mark the contacts whose profile changed for the next
        scoring pass (change_seq). Returns them."""
        touched = self._merge_profiles(connection, rows, contact_ids, from_crm=from_crm)
        if touched:
            connection.exec_driver_sql(
                self._bump_change_seq_sql, [(contact_id,) for contact_id in sorted(touched)]
            )
        return touched

    def _store_events(
        self,
        connection: sa.Connection,
        rows: Sequence[LedgerRow],
        contact_ids: Sequence[int],
        joined_from: Sequence[int | None] | None,
    ) -> int:
        """Insert the page; return how many events were new."""
        run_id = self._run_id
        visitors = joined_from or [None] * len(rows)
        time_suffix = self._raw.utc_text_suffix
        values = [
            (
                row.source,
                row.source_event_id,
                row.kind,
                row.occurred_at_utc + time_suffix,
                contact_id,
                row.url,
                row.attributes_json,
                run_id,
                visitor,
            )
            for row, contact_id, visitor in zip(rows, contact_ids, visitors, strict=True)
        ]
        return self._insert_events.run(connection, values)

    def _merge_profiles(
        self,
        connection: sa.Connection,
        rows: Sequence[LedgerRow],
        contact_ids: Sequence[int],
        *,
        from_crm: bool,
    ) -> set[int]:
        observed: dict[int, list[tuple[datetime, dict[str, ProfileValue]]]] = {}
        for row, contact_id in zip(rows, contact_ids, strict=True):
            profile_json = row.profile_json
            if profile_json is not None:
                moment = datetime.fromisoformat(row.occurred_at_utc + "+00:00")
                values = cast("dict[str, ProfileValue]", loads_exact(profile_json))
                observed.setdefault(contact_id, []).append((moment, values))
        if not observed:
            return set()
        changed: dict[int, tuple[dict[str, ProfileValue], datetime | None]] = {}
        current = connection.execute(
            sa.select(contacts.c.id, contacts.c.profile, contacts.c.profile_at).where(
                contacts.c.id.in_(sa.bindparam("ids", expanding=True))
            ),
            {"ids": list(observed)},
        )
        for contact_id, stored_profile, stored_at in current:
            profile: dict[str, ProfileValue] = dict(stored_profile or {})
            profile_at: datetime | None = stored_at
            for moment, values in sorted(observed[contact_id], key=lambda item: item[0]):
                profile, profile_at = _merge_profile(
                    profile, profile_at, values, moment, from_crm=from_crm
                )
            if profile != (stored_profile or {}) or profile_at != stored_at:
                changed[contact_id] = (profile, profile_at)
        if changed:
            connection.execute(
                contacts.update()
                .where(contacts.c.id == sa.bindparam("contact"))
                .values(
                    profile=sa.bindparam("new_profile"), profile_at=sa.bindparam("new_profile_at")
                ),
                [
                    {"contact": contact_id, "new_profile": profile, "new_profile_at": profile_at}
                    for contact_id, (profile, profile_at) in changed.items()
                ],
            )
        return set(changed)

    def _insert_rejects(
        self, connection: sa.Connection, rejected: Sequence[RejectedInput], now: datetime
    ) -> None:
        connection.execute(
            self._reject_insert,
            [
                {
                    "run_id": self._run_id,
                    "source": reject.source[:MAX_SOURCE_CHARS],
                    "location": _storable(reject.location),
                    "line": reject.line,
                    "reason": _storable(reject.reason),
                    "raw": _storable(reject.raw[:MAX_RAW_CHARS]),
                    "fingerprint": _reject_fingerprint(reject),
                    "created_at": now,
                }
                for reject in rejected
            ],
        )


def committed_by_run(engine: Engine, run_id: int, *, after_event_id: int) -> tuple[int, int]:
    """(events, rejects) that run ``run_id`` committed; its events all have ids above
    ``after_event_id``, the newest id when it started, which bounds the scan."""
    with engine.connect() as connection:
        stored = connection.execute(
            sa.select(sa.func.count())
            .select_from(events)
            .where(events.c.id > after_event_id, events.c.run_id == run_id)
        ).scalar_one()
        set_aside = connection.execute(
            sa.select(sa.func.count()).select_from(rejects).where(rejects.c.run_id == run_id)
        ).scalar_one()
    return int(stored), int(set_aside)
