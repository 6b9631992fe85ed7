"""Whose is the stage a CRM holds (``connector.crm.stages``), on HubSpot's default mapping,
and the mapping's ``stage_order`` check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connector.crm.mapping import load_mapping
from connector.crm.stages import HeldStage, StageCall, StageOrder, held_stage, stage_call
from connector.errors import ConfigError
from tests.conftest import REPO_ROOT

HUBSPOT = REPO_ROOT / "mappings" / "hubspot.toml"
ORDER = StageOrder.of(load_mapping(HUBSPOT))
T0 = datetime(2026, 11, 2, tzinfo=UTC)
MQL = "marketingqualifiedlead"
SQL = "salesqualifiedlead"


@pytest.mark.parametrize(
    ("held", "wanted", "call"),
    [
        pytest.param(HeldStage(None), MQL, StageCall.SET, id="unknown"),
        pytest.param(HeldStage(""), "lead", StageCall.SET, id="blank"),
        pytest.param(HeldStage(MQL), MQL, StageCall.KEEP, id="there-already"),
        pytest.param(HeldStage("lead"), MQL, StageCall.SET, id="forward"),
        pytest.param(HeldStage("other"), "lead", StageCall.CLEAR_AND_SET, id="back-from-other"),
        pytest.param(HeldStage(SQL), "lead", StageCall.CLEAR_AND_SET, id="recycle"),
        pytest.param(
            HeldStage("other", changed_there=True, read_after_scoring=True),
            "lead",
            StageCall.CLEAR_AND_SET,
            id="ours-changed-there-is-repaired",
        ),
        pytest.param(
            HeldStage(SQL, changed_there=True, read_after_scoring=True),
            MQL,
            StageCall.WAIT_FOR_SCORING,
            id="sales-sql-not-yet-scored",
        ),
        pytest.param(
            HeldStage(SQL, changed_there=True, read_after_scoring=False),
            "lead",
            StageCall.CLEAR_AND_SET,
            id="sales-sql-scored-then-recycled",
        ),
        pytest.param(HeldStage("subscriber"), MQL, StageCall.SET, id="subscriber-moves-on"),
        pytest.param(HeldStage("subscriber"), "other", StageCall.SET, id="subscriber-out"),
        pytest.param(HeldStage("opportunity"), MQL, StageCall.THEIRS, id="opportunity"),
        pytest.param(HeldStage("opportunity"), "customer", StageCall.SET, id="won-opportunity"),
        pytest.param(HeldStage("evangelist"), "other", StageCall.THEIRS, id="no-other-over-it"),
        pytest.param(HeldStage("partner"), MQL, StageCall.THEIRS, id="not-placed"),
    ],
)
def test_what_a_push_does_with_the_stage_hubspot_holds(
    held: HeldStage, wanted: str, call: StageCall
) -> None:
    assert stage_call(held, wanted, ORDER) is call


class TestHeldStage:
    def test_a_read_after_the_last_write_is_what_the_crm_holds(self) -> None:
        """Newer than the write and not what was written: changed there."""
        held = held_stage(
            read="other",
            read_at=T0 + timedelta(hours=2),
            written="lead",
            written_at=T0 + timedelta(hours=1),
            scored_at=T0,
        )
        assert held == HeldStage("other", changed_there=True, read_after_scoring=True)

    def test_a_read_before_the_last_write_is_old_news(self) -> None:
        """Item 3 of issue 18: read at lead, then other written: other is held."""
        held = held_stage(
            read="lead",
            read_at=T0,
            written="other",
            written_at=T0 + timedelta(hours=1),
            scored_at=T0 + timedelta(hours=2),
        )
        assert held == HeldStage("other")

    def test_a_read_of_unknown_time_wins_as_reads_did_before_they_were_timed(self) -> None:
        held = held_stage(read="lead", read_at=None, written=MQL, written_at=T0, scored_at=T0)
        assert held == HeldStage("lead", changed_there=True)


def test_a_stage_order_without_a_value_stages_writes_names_the_file_line_and_key(
    tmp_path: Path,
) -> None:
    text = HUBSPOT.read_text(encoding="utf-8").replace(
        '"opportunity", "customer",', '"opportunity",'
    )
    path = tmp_path / "hubspot.toml"
    path.write_text(text, encoding="utf-8")
    line = text.splitlines().index("stage_order = [") + 1

    with pytest.raises(ConfigError) as refused:
        load_mapping(path, shown_as="mappings/hubspot.toml")

    assert str(refused.value) == (
        f"mappings/hubspot.toml:{line}: [stage_order] lacks 'customer', which [stages] "
        "writes; add each where the CRM's order has it, or fix [stages]"
    )
