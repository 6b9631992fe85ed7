"""The push core (``connector.runners.push``) through the in-memory writer, on both stores:
what it plans, sends and records, with no vendor spec needed."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connector.config import Settings, scoring_rules
from connector.crm.mapping import CrmMapping
from connector.crm.plan import MISSING_MARK, CreatePolicy
from connector.errors import BusyError, FatalError, LimitReachedError, RetriableError
from connector.model import SalesStatus
from connector.ports import CrmRecordWrite, CrmValue, WriteResult
from connector.runners.crm_read import read_crm
from connector.runners.push import PushSummary, push
from connector.runners.rescore import rescore
from connector.store.engine import open_store
from connector.store.schema import contacts, identities, pushed_state, rejects
from connector.store.scores import list_scores
from tests.adapters.scored_people import DAY0, sales_said, scored_people
from tests.crm.memory_writer import MemoryCrm

MAPPING = CrmMapping(
    crm="memory",
    fields={
        "score": "score",
        "behaviour_score": "behaviour_score",
        "fit_score": "fit_score",
        "temperature": "temperature",
        "route": "route",
        "treatment": "treatment",
        "reasons": "reasons",
        "scored_at": "scored_at",
        "stage": "stage",
    },
    # In funnel order; a recycled lead goes back to "lead", a move back down the funnel.
    stages={
        "lead": "lead",
        "mql": "mql",
        "sql": "sql",
        "customer": "customer",
        "nurturing": "lead",
        "disqualified": "other",
    },
    temperatures={"cold": "cold", "warm": "warm", "hot": "hot"},
    routes={"telemarketing": "telemarketing", "sales": "sales"},
)


@pytest.fixture
def crm() -> MemoryCrm:
    return MemoryCrm()


def _push(engine: Engine, crm: MemoryCrm, *, create: CreatePolicy = "always") -> PushSummary:
    return push(engine, crm, MAPPING, create=create)


def _scored_at(engine: Engine, email: str) -> str:
    """The scored_at the store holds for ``email``, as the mapping writes it."""
    with engine.connect() as connection:
        (score,) = [score for score in list_scores(connection) if score.email == email]
    return score.scored_at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _contact_ids(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            str(email): int(contact_id)
            for contact_id, email in connection.execute(sa.select(contacts.c.id, contacts.c.email))
        }


def _pushed(engine: Engine) -> dict[int, dict[str, CrmValue]]:
    with engine.connect() as connection:
        return {
            int(contact_id): dict(fields)
            for contact_id, fields in connection.execute(
                sa.select(pushed_state.c.contact_id, pushed_state.c.fields).where(
                    pushed_state.c.crm == "memory"
                )
            )
        }


def _links(engine: Engine) -> dict[int, str]:
    with engine.connect() as connection:
        return {
            int(contact_id): str(value)
            for contact_id, value in connection.execute(
                sa.select(identities.c.contact_id, identities.c.value).where(
                    identities.c.namespace == "memory"
                )
            )
        }


def _writes_per_email(crm: MemoryCrm) -> Counter[str]:
    """How many times each record was written (its field writes, not the calls)."""
    return Counter(str(crm.records[crm_id]["email"]) for crm_id, _ in crm.applied)


class TestChangedOnly:
    def test_a_second_push_with_nothing_changed_makes_no_call(
        self, crm: MemoryCrm, engine: Engine, tmp_path: Path
    ) -> None:
        """What was written is not written again: the second push calls the writer not at all."""
        emails = scored_people(engine, tmp_path, 3)

        first = _push(engine, crm)
        again = _push(engine, crm)

        assert (first.written, first.unchanged) == (3, 0)
        assert (again.planned, again.written, again.unchanged) == (0, 0, 3)
        assert [[record.email for record in call] for call in crm.calls] == [emails]

    def test_a_rescore_of_one_contact_sends_only_it_and_only_its_changed_fields(
        self, crm: MemoryCrm, engine: Engine, tmp_path: Path
    ) -> None:
        """One contact's new event: one record, with the fields that changed (and scored_at)."""
        emails = scored_people(engine, tmp_path, 3)
        _push(engine, crm)
        crm_id = crm.by_email(emails[0])
        scored_people(engine, tmp_path, 1, kind="callback_request")  # p0 only

        summary = _push(engine, crm)

        assert (summary.written, summary.unchanged) == (1, 2)
        assert crm.calls[-1] == [
            CrmRecordWrite(
                contact_id=_contact_ids(engine)[emails[0]],
                email=emails[0],
                crm_id=crm_id,
                fields={
                    "score": 30.0,
                    "behaviour_score": 30.0,
                    "temperature": "hot",
                    "reasons": "quote_request ×1 (+20); callback_request ×1 (+10)",
                    "scored_at": _scored_at(engine, emails[0]),
                },
                may_create=True,
            )
        ]
        assert crm.records[crm_id or ""]["score"] == 30.0
        assert [crm.records[crm.by_email(email) or ""]["score"] for email in emails[1:]] == [
            20.0,
            20.0,
        ]

    def test_a_stage_moving_back_down_the_funnel_is_cleared_before_it_is_set(
        self, crm: MemoryCrm, engine: Engine, tmp_path: Path
    ) -> None:
        """An MQL recycled to nurturing: the stage is blanked, then set to "lead"."""
        (email,) = scored_people(engine, tmp_path, 1)
        _push(engine, crm)
        crm_id = crm.by_email(email) or ""

        read_crm(engine, sales_said(email, SalesStatus.NOT_NOW))
        rescore(engine, scoring_rules(Settings()))
        applied_before = len(crm.applied)

        assert _push(engine, crm).written == 1

        (record,) = crm.calls[-1]
        assert (record.clear_first, record.fields["stage"]) == (("stage",), "lead")
        assert [(written_to, fields.get("stage")) for written_to, fields in crm.applied][
            applied_before:
        ] == [(crm_id, None), (crm_id, "lead")]
        assert crm.records[crm_id]["stage"] == "lead"


class TestResults:
    def test_each_result_is_recorded_written_linked_or_remembered_as_missing(
        self, crm: MemoryCrm, engine: Engine, tmp_path: Path
    ) -> None:
        """Two contacts found by e-mail are written and linked; the third, not to be
        created, is remembered as missing."""
        emails = scored_people(engine, tmp_path, 3)
        known = [crm.add(email) for email in emails[:2]]

        summary = _push(engine, crm, create="never")

        ids = _contact_ids(engine)
        assert (summary.written, summary.deferred, summary.rejected) == (2, 1, 0)
        assert _links(engine) == {ids[emails[0]]: known[0], ids[emails[1]]: known[1]}
        pushed = _pushed(engine)
        assert sorted(pushed) == sorted(ids.values())
        for email, crm_id in zip(emails[:2], known, strict=True):
            assert pushed[ids[email]] == {
                name: value for name, value in crm.records[crm_id].items() if name != "email"
            }
        assert list(pushed[ids[emails[2]]]) == [MISSING_MARK]

    def test_a_refused_record_lands_in_rejects_with_the_reason_and_is_sent_again_next_push(
        self, crm: MemoryCrm, engine: Engine, tmp_path: Path
    ) -> None:
        """The refusal is a reject with the CRM's reason; the record is not marked written,
        so the next push sends it (alone) again, and a fixed record is then written."""
        emails = scored_people(engine, tmp_path, 3)
        crm.refused[emails[1]] = "memory CRM: the e-mail is on the block list"

        summary = _push(engine, crm)
        retried = _push(engine, crm)

        assert (summary.written, summary.rejected) == (2, 1)
        assert summary.rejected_reasons == {"memory CRM: the e-mail is on the block list": 1}
        with engine.connect() as connection:
            stored = connection.execute(
                sa.select(rejects.c.source, rejects.c.location, rejects.c.reason)
            ).all()
        # The same refusal seen by two pushes is one reject.
        assert [tuple(row) for row in stored] == [
            ("push:memory", f"contact {emails[1]}", "memory CRM: the e-mail is on the block list")
        ]
        assert _contact_ids(engine)[emails[1]] not in _pushed(engine)
        assert (retried.written, retried.rejected, retried.unchanged) == (0, 1, 2)
        assert [record.email for record in crm.calls[-1]] == [emails[1]]

        del crm.refused[emails[1]]
        fixed = _push(engine, crm)
        assert (fixed.written, fixed.unchanged) == (1, 2)
        assert _writes_per_email(crm) == dict.fromkeys(emails, 1)


class TestStops:
    def test_a_limit_stop_keeps_what_was_written_and_the_next_push_sends_exactly_the_rest(
        self, crm: MemoryCrm, engine: Engine, tmp_path: Path
    ) -> None:
        """Stopped after two of five: those two are recorded, the next push sends the
        other three, and each record is written exactly once."""
        emails = scored_people(engine, tmp_path, 5)
        crm.limit_after = 2

        with pytest.raises(LimitReachedError, match="2 written, 3 kept for the next push"):
            _push(engine, crm)
        ids = _contact_ids(engine)
        assert sorted(_pushed(engine)) == sorted(ids[email] for email in emails[:2])

        crm.limit_after = None
        resumed = _push(engine, crm)

        assert (resumed.written, resumed.unchanged) == (3, 2)
        assert [record.email for record in crm.calls[-1]] == emails[2:]
        assert _writes_per_email(crm) == dict.fromkeys(emails, 1)

    def test_an_interruption_keeps_what_was_written_and_raises_its_cause(
        self, crm: MemoryCrm, engine: Engine, tmp_path: Path
    ) -> None:
        """The connection lost after two of five: those two are recorded, the cause (not
        the wrapper) reaches the caller, and the next push sends the other three."""
        emails = scored_people(engine, tmp_path, 5)
        crm.interrupt_after = 2

        with pytest.raises(RetriableError, match="the memory CRM stopped answering") as raised:
            _push(engine, crm)
        assert type(raised.value) is RetriableError
        ids = _contact_ids(engine)
        assert sorted(_pushed(engine)) == sorted(ids[email] for email in emails[:2])

        crm.interrupt_after = None
        resumed = _push(engine, crm)

        assert (resumed.written, resumed.unchanged) == (3, 2)
        assert [record.email for record in crm.calls[-1]] == emails[2:]
        assert _writes_per_email(crm) == dict.fromkeys(emails, 1)


@dataclass
class HeldCrm(MemoryCrm):
    """A memory CRM whose first write waits until the test lets it go: a push in flight."""

    writing: threading.Event = field(default_factory=threading.Event)
    go_on: threading.Event = field(default_factory=threading.Event)

    def write(
        self, records: Sequence[CrmRecordWrite], *, linked: Mapping[str, int] | None = None
    ) -> list[WriteResult]:
        self.writing.set()
        assert self.go_on.wait(timeout=30), "the test never let the held push go on"
        return super().write(records, linked=linked)


@pytest.fixture
def second_engine(store_url: str) -> Iterator[Engine]:
    """The same store opened again, as a second command would: its own connections."""
    store = open_store(store_url)
    yield store
    store.dispose()


@contextmanager
def _push_in_flight(engine: Engine, held: HeldCrm) -> Iterator[list[PushSummary]]:
    """A push to the memory CRM running in a thread, stopped inside its first write until
    the block ends; yields the list its summary lands in."""
    done: list[PushSummary] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            done.append(push(engine, held, MAPPING, create="always"))
        except BaseException as exc:
            failed.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert held.writing.wait(timeout=30), failed
        yield done
    finally:
        held.go_on.set()
        thread.join(timeout=30)
    assert not failed and not thread.is_alive()


class TestOnePushPerCrm:
    def test_a_second_push_to_the_crm_stops_at_once_and_a_dry_run_still_plans(
        self, engine: Engine, second_engine: Engine, tmp_path: Path
    ) -> None:
        """While one push writes, another to the same CRM (its own connections, as another
        command's) sends nothing and says why; a dry run, which records nothing, plans."""
        scored_people(engine, tmp_path, 3)
        held, second = HeldCrm(), MemoryCrm()

        with _push_in_flight(engine, held) as first:
            with pytest.raises(BusyError) as busy:
                push(second_engine, second, MAPPING, create="always")
            dry = push(second_engine, None, MAPPING, create="always", dry_run=True)

        assert str(busy.value) == (
            "another push to memory is running on this store; retry when it has finished, "
            "or wait for it with `leadsync push --wait`"
        )
        assert busy.value.exit_code == 5
        assert second.calls == []
        assert (dry.planned, dry.written) == (3, 0)
        assert [(summary.written, summary.unchanged) for summary in first] == [(3, 0)]
        again = push(second_engine, second, MAPPING, create="always")  # released
        assert (again.planned, again.unchanged) == (0, 3)

    def test_with_wait_the_second_push_waits_then_plans_from_what_the_first_wrote(
        self, engine: Engine, second_engine: Engine, tmp_path: Path
    ) -> None:
        """The waiting push starts once the first ends, and finds its records written:
        nothing goes to the CRM twice (two pushes at once created each contact twice)."""
        emails = scored_people(engine, tmp_path, 3)
        held, second = HeldCrm(), MemoryCrm()
        waiting = threading.Event()
        waited: list[PushSummary] = []

        with _push_in_flight(engine, held) as first:
            thread = threading.Thread(
                target=lambda: waited.append(
                    push(
                        second_engine,
                        second,
                        MAPPING,
                        create="always",
                        wait=True,
                        on_wait=waiting.set,
                    )
                )
            )
            thread.start()
            assert waiting.wait(timeout=30)
            assert (waited, second.calls) == ([], [])
        thread.join(timeout=30)

        assert [(summary.written, summary.unchanged) for summary in first] == [(3, 0)]
        assert [(summary.planned, summary.written, summary.unchanged) for summary in waited] == [
            (0, 0, 3)
        ]
        assert second.calls == []
        assert _writes_per_email(held) == dict.fromkeys(emails, 1)

    def test_pushes_to_two_crms_do_not_wait_for_each_other(
        self, engine: Engine, second_engine: Engine, tmp_path: Path
    ) -> None:
        """A push to another CRM runs to its end while the first is still writing."""
        scored_people(engine, tmp_path, 3)
        other = MemoryCrm(name="other")

        with _push_in_flight(engine, HeldCrm()) as first:
            beside = push(
                second_engine, other, MAPPING.model_copy(update={"crm": "other"}), create="always"
            )
            assert first == []  # the first is still in its write

        assert (beside.written, beside.unchanged) == (3, 0)
        assert [(summary.written, summary.unchanged) for summary in first] == [(3, 0)]


class TestScoresAsOf:
    def test_scores_as_of_another_moment_are_not_pushed_unless_forced(
        self, crm: MemoryCrm, engine: Engine, tmp_path: Path
    ) -> None:
        """After `score --as-of` a push refuses and sends nothing (a dry run still plans);
        with force it writes."""
        scored_people(engine, tmp_path, 3)
        rescore(engine, scoring_rules(Settings()), as_of=DAY0 + timedelta(days=1))

        with pytest.raises(FatalError) as refused:
            _push(engine, crm)
        dry = push(engine, None, MAPPING, create="always", dry_run=True)
        forced = push(engine, crm, MAPPING, create="always", force=True)

        assert str(refused.value) == (
            "the stored scores are as of 2026-11-03T00:00:00Z (score --as-of), so nothing was "
            "pushed to memory; run `leadsync score` first, or push them anyway with --force"
        )
        assert dry.planned == 3
        assert forced.written == 3 and len(crm.calls) == 1

    def test_an_ordinary_pass_after_score_as_of_lets_the_push_go(
        self, crm: MemoryCrm, engine: Engine, tmp_path: Path
    ) -> None:
        """The next ordinary pass rescores everyone as of now, and the push writes them."""
        scored_people(engine, tmp_path, 3)
        rescore(engine, scoring_rules(Settings()), as_of=DAY0 + timedelta(days=1))

        ordinary = rescore(engine, scoring_rules(Settings()))

        assert ordinary.full and ordinary.contacts_scored == 3
        assert _push(engine, crm).written == 3
