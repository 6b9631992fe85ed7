"""`leadsync backfill`, run as the real command over a file source: exactly the events of
its range, its own checkpoint (a rerun resumes, the regular cursor is left alone), safe
beside a pull, stopped by a signal and resumed, clear errors, a progress bar."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connector.errors import ExitCode
from connector.store.engine import create_store_engine
from connector.store.schema import cursors, events, runs
from tests.cli.test_cli import LEADSYNC, assert_clean_failure, clean_env, leadsync
from tests.cli.test_terminal_output import on_terminal
from tests.runners.test_interrupted_ingest import ENDED_WITHIN_S, EXIT_CODES, _take_ctrl_c
from tests.runners.test_killed_ingest import _wait_for, stored_events

SINCE = datetime(2026, 11, 5, tzinfo=UTC)
UNTIL = datetime(2026, 11, 10, tzinfo=UTC)
RANGE = ("--since", "2026-11-05", "--until", "2026-11-10")
CHECKPOINT = "backfill:fair:20261105T000000Z-20261110T000000Z"


def _event(number: int, moment: str) -> str:
    return json.dumps(
        {
            "id": f"e{number}",
            "kind": "page_view",
            "occurred_at": moment,
            "email": f"p{number % 500}@acme.example",
        }
    )


def _moment_of(number: int) -> datetime:
    """Event ``number``'s time: one an hour from 2026-11-01, so about a quarter of a
    month-long file falls in the range."""
    return datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=number % 720)


def _write_events(path: Path, numbers: range, mode: str = "w") -> set[str]:
    """Events ``numbers`` into ``path``; returns the ids of those in the range."""
    in_range: set[str] = set()
    with path.open(mode, encoding="utf-8") as out:
        for number in numbers:
            moment = _moment_of(number)
            out.write(_event(number, moment.isoformat().replace("+00:00", "Z")) + "\n")
            if SINCE <= moment < UNTIL:
                in_range.add(f"e{number}")
    return in_range


def _project(
    tmp_path: Path, *, page_size: int = 20_000, subprocess_above_bytes: int = 2**40
) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        textwrap.dedent(
            f"""\
            [ingest]
            page_size = {page_size}
            subprocess_above_bytes = {subprocess_above_bytes}

            [sources.fair]
            type = "file"
            path = "events.jsonl"
            """
        ),
        encoding="utf-8",
    )
    return config


def _stored_ids(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return sorted(
            connection.execute(
                sa.select(events.c.source_event_id).where(events.c.source == "fair")
            ).scalars()
        )


def _cursors(engine: Engine) -> dict[str, str]:
    with engine.connect() as connection:
        return {row.source: row.value for row in connection.execute(sa.select(cursors))}


def _json_run(config: Path, *args: str, store_url: str) -> Any:
    result = leadsync(
        "--config", config, *args, "--json", cwd=config.parent,
        env=clean_env(LEADSYNC_STORE_URL=store_url),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


class TestRange:
    def test_a_backfill_stores_exactly_the_events_of_its_range(
        self, tmp_path: Path, store_url: str
    ) -> None:
        """Since included, until excluded, offsets honoured; the others are skipped, not
        rejected; the range's checkpoint is its own and the regular cursor is not written."""
        data = tmp_path / "events.jsonl"
        expected = _write_events(data, range(720))
        with data.open("a", encoding="utf-8") as out:
            out.write(_event(9001, "2026-11-05T00:00:00Z") + "\n")  # since: in
            out.write(_event(9002, "2026-11-10T00:00:00Z") + "\n")  # until: out
            out.write(_event(9003, "2026-11-10T01:30:00+02:00") + "\n")  # 23:30Z the 9th: in
            out.write(_event(9004, "2026-11-05T01:00:00+02:00") + "\n")  # 23:00Z the 4th: out
        expected |= {"e9001", "e9003"}
        config = _project(tmp_path)

        summary = _json_run(config, "backfill", "fair", *RANGE, store_url=store_url)

        engine = create_store_engine(store_url)
        try:
            assert _stored_ids(engine) == sorted(expected)
            assert (summary["stored"], summary["skipped"], summary["rejected"]) == (
                len(expected),
                724 - len(expected),
                0,
            )
            assert (summary["resumed"], summary["finished_before"]) == (False, False)
            assert list(_cursors(engine)) == [CHECKPOINT]
            with engine.connect() as connection:
                recorded = connection.execute(sa.select(runs.c.command, runs.c.status)).all()
            assert [tuple(row) for row in recorded] == [("backfill", "ok")]
        finally:
            engine.dispose()

    def test_a_rerun_of_a_finished_range_says_so_and_stores_nothing_new(
        self, tmp_path: Path, store_url: str
    ) -> None:
        data = tmp_path / "events.jsonl"
        expected = _write_events(data, range(720))
        config = _project(tmp_path)
        env = clean_env(LEADSYNC_STORE_URL=store_url)
        first = leadsync("--config", config, "backfill", "fair", *RANGE, cwd=tmp_path, env=env)
        assert first.returncode == 0, first.stderr
        assert "backfill finished: the range was read to its end" in first.stdout

        again = leadsync("--config", config, "backfill", "fair", *RANGE, cwd=tmp_path, env=env)

        assert again.returncode == 0, again.stderr
        assert again.stdout.splitlines() == [
            "fair from 2026-11-05T00:00:00Z to 2026-11-10T00:00:00Z: read 0, stored 0, "
            "duplicates 0, outside the range 0, rejected 0, new contacts 0 in "
            + again.stdout.splitlines()[0].rsplit(" in ", 1)[1],
            "  this range was backfilled to its end before: only what the source gained "
            "since was read",
        ]
        engine = create_store_engine(store_url)
        try:
            assert _stored_ids(engine) == sorted(expected)
        finally:
            engine.dispose()

    def test_two_ranges_keep_two_checkpoints(self, tmp_path: Path, store_url: str) -> None:
        """A second range is read from the start of the file, not from the first's
        checkpoint: each range gets all of its events."""
        data = tmp_path / "events.jsonl"
        _write_events(data, range(720))
        config = _project(tmp_path)

        first = _json_run(config, "backfill", "fair", *RANGE, store_url=store_url)
        second = _json_run(
            config, "backfill", "fair", "--since", "2026-11-20T00:00:00Z", store_url=store_url
        )

        in_second = sum(
            1 for n in range(720) if _moment_of(n) >= datetime(2026, 11, 20, tzinfo=UTC)
        )
        assert (first["stored"], second["stored"]) == (120, in_second)
        assert second["checkpoint"] == "backfill:fair:20261120T000000Z-open"
        engine = create_store_engine(store_url)
        try:
            assert sorted(_cursors(engine)) == [CHECKPOINT, "backfill:fair:20261120T000000Z-open"]
        finally:
            engine.dispose()


class TestBesideThePull:
    def test_a_backfill_leaves_the_regular_cursor_alone(
        self, tmp_path: Path, store_url: str
    ) -> None:
        """A pull after a backfill resumes from its own cursor: it reads only the lines
        added since it last ran, and stores those the backfill did not."""
        data = tmp_path / "events.jsonl"
        _write_events(data, range(360))
        config = _project(tmp_path)
        env = clean_env(LEADSYNC_STORE_URL=store_url)
        assert leadsync("--config", config, "pull", cwd=tmp_path, env=env).returncode == 0
        engine = create_store_engine(store_url)
        try:
            pulled_to = _cursors(engine)["fair"]
            added_in_range = _write_events(data, range(360, 720), mode="a")

            backfilled = _json_run(config, "backfill", "fair", *RANGE, store_url=store_url)

            assert _cursors(engine)["fair"] == pulled_to
            assert backfilled["stored"] == len(added_in_range)
            (pulled,) = _json_run(config, "pull", store_url=store_url)
            assert (pulled["read"], pulled["stored"], pulled["duplicates"]) == (
                360,
                360 - len(added_in_range),
                len(added_in_range),
            )
            assert _stored_ids(engine) == sorted(f"e{n}" for n in range(720))
        finally:
            engine.dispose()

    def test_a_backfill_beside_a_pull_of_the_same_source_stores_each_event_once(
        self, tmp_path: Path, store_url: str
    ) -> None:
        """Both read the same file at once; the ledger stores each event once, the pull's
        cursor ends at the end of the file and the backfill's checkpoint is its own."""
        data = tmp_path / "events.jsonl"
        count = 60_000
        in_range = _write_events(data, range(count))
        config = _project(tmp_path, page_size=2_000)
        env = clean_env(LEADSYNC_STORE_URL=store_url)
        # The tables exist before the two start, so neither creates them beside the other.
        assert leadsync("--config", config, "db", "upgrade", cwd=tmp_path, env=env).returncode == 0
        both = [
            subprocess.Popen(
                [LEADSYNC, "--config", str(config), *command, "--json"],
                env=env,
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for command in (["pull", "fair"], ["backfill", "fair", *RANGE])
        ]
        outputs = [process.communicate(timeout=120) for process in both]
        for process, (_, stderr) in zip(both, outputs, strict=True):
            assert process.returncode == 0, stderr
        (pulled,) = json.loads(outputs[0][0])
        backfilled = json.loads(outputs[1][0])

        engine = create_store_engine(store_url)
        try:
            with engine.connect() as connection:
                rows, distinct = connection.execute(
                    sa.select(
                        sa.func.count(),
                        sa.func.count(sa.distinct(events.c.source_event_id)),
                    ).where(events.c.source == "fair")
                ).one()
            assert (rows, distinct) == (count, count)
            # Each event stored once, by one of the two: the other counted it a duplicate.
            assert pulled["stored"] + backfilled["stored"] == count
            assert backfilled["stored"] + backfilled["duplicates"] == len(in_range)
            regular = json.loads(_cursors(engine)["fair"])
            assert (regular["offset"], regular["line"]) == (data.stat().st_size, count)
            assert json.loads(_cursors(engine)[CHECKPOINT])["finished"] is True
        finally:
            engine.dispose()


LAST_LINE = re.compile(
    r"interrupted: (?P<stored>[\d,]+) new events from fair stored and kept, 0 set aside, "
    r"[\d,]+ outside the range skipped; run the same command again to go on"
)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_a_signal_ends_a_backfill_as_interrupted_and_a_rerun_resumes_it(
    tmp_path: Path, store_url: str, stop: signal.Signals
) -> None:
    """The run is recorded as interrupted with what it kept; the rerun starts at the
    checkpoint (no event read twice) and stores the rest of the range, each event once."""
    data = tmp_path / "events.jsonl"
    in_range = _write_events(data, range(200_000))
    config = _project(tmp_path, page_size=5_000, subprocess_above_bytes=0)
    env = clean_env(LEADSYNC_STORE_URL=store_url)
    command = [LEADSYNC, "--config", str(config), "backfill", "fair", *RANGE]
    engine = create_store_engine(store_url)
    running = subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, preexec_fn=_take_ctrl_c,
    )  # fmt: skip
    try:
        _wait_for(lambda: stored_events(engine), "no page was stored")
        running.send_signal(stop)
        _, stderr = running.communicate(timeout=ENDED_WITHIN_S)
        assert running.returncode == EXIT_CODES[stop], stderr
        said = LAST_LINE.fullmatch(stderr.splitlines()[-1])
        assert said is not None, stderr
        kept = int(said["stored"].replace(",", ""))
        assert kept == stored_events(engine) < len(in_range)
        with engine.connect() as connection:
            assert connection.execute(sa.select(runs.c.status)).scalars().all() == ["interrupted"]

        rerun = subprocess.run(
            [*command, "--json"], env=env, cwd=tmp_path, capture_output=True, text=True,
            timeout=120, check=False,
        )  # fmt: skip

        assert rerun.returncode == 0, rerun.stderr
        resumed = json.loads(rerun.stdout)
        assert (resumed["resumed"], resumed["duplicates"]) == (True, 0)
        assert resumed["stored"] == len(in_range) - kept
        assert _stored_ids(engine) == sorted(in_range)
        assert "fair" not in _cursors(engine)
    finally:
        if running.poll() is None:
            running.kill()
        engine.dispose()


class TestRefused:
    @pytest.mark.parametrize(
        ("args", "said"),
        [
            (
                ("--since", "last week"),
                r"Invalid value for --since: 'last week' is not an ISO 8601",
            ),
            (("--since", "2026-11-05T10:00"), r"Invalid value for --since: .* has no timezone"),
            (
                ("--since", "2026-11-05", "--until", "2026-11-05"),
                r"Invalid value for --until: '2026-11-05' is not after --since",
            ),
            (("--since", "2026-11-05", "--until", "13/11/2026"), r"for --until: '13/11/2026'"),
        ],
        ids=["words", "no-offset", "empty-range", "not-iso"],
    )
    def test_a_bad_date_is_a_usage_error_naming_the_option(
        self, tmp_path: Path, args: tuple[str, ...], said: str
    ) -> None:
        _write_events(tmp_path / "events.jsonl", range(10))
        config = _project(tmp_path)

        result = leadsync("--config", config, "backfill", "fair", *args, cwd=tmp_path)

        assert result.returncode == int(ExitCode.USAGE), result.stderr
        # rich boxes the message and may wrap it: compare it on one line.
        flat = " ".join(
            line.strip("│ ") for line in result.stderr.splitlines() if line.startswith("│")
        )
        assert re.search(said, flat), result.stderr
        assert not (tmp_path / "leadsync.db").exists()

    def test_an_unknown_source_is_named(self, tmp_path: Path) -> None:
        config = _project(tmp_path)

        result = leadsync(
            "--config", config, "backfill", "fiar", "--since", "2026-11-05", cwd=tmp_path
        )

        assert_clean_failure(result, ExitCode.CONFIG)
        assert result.stderr == (
            f"error: {config}: no source named fiar in [sources]; configured: fair\n"
        )

    def test_a_source_that_cannot_read_a_range_names_the_types_that_can(
        self, tmp_path: Path
    ) -> None:
        """A source type installed from another package, with only ``pull``, is refused
        with the source's name and the installed types that read ranges."""
        plugins = tmp_path / "plugins"
        info = plugins / "rangeless_source-0.1.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: rangeless-source\nVersion: 0.1\n", encoding="utf-8"
        )
        (info / "entry_points.txt").write_text(
            "[leadsync.adapters]\nrangeless = rangeless_source:ADAPTER\n", encoding="utf-8"
        )
        (plugins / "rangeless_source.py").write_text(
            textwrap.dedent(
                """\
                from typing import Literal

                from connector.ports import SourceAdapter, SourceSettings


                class RangelessSettings(SourceSettings):
                    type: Literal["rangeless"]


                class Rangeless:
                    def __init__(self, name):
                        self.name = name

                    def pull(self, cursor):
                        return iter(())


                ADAPTER = SourceAdapter(
                    type_name="rangeless",
                    settings_model=RangelessSettings,
                    source=lambda settings, context: Rangeless(context.name),
                )
                """
            ),
            encoding="utf-8",
        )
        config = tmp_path / "config.toml"
        config.write_text('[sources.newsletter]\ntype = "rangeless"\n', encoding="utf-8")
        env = clean_env(PYTHONPATH=str(plugins))
        assert leadsync("--config", config, "pull", cwd=tmp_path, env=env).returncode == 0

        result = leadsync(
            "--config", config, "backfill", "newsletter", "--since", "2026-11-05",
            cwd=tmp_path, env=env,
        )  # fmt: skip

        assert_clean_failure(result, ExitCode.CONFIG)
        assert result.stderr == (
            f"error: {config}: [sources.newsletter.type] source 'newsletter' (type "
            "'rangeless') cannot read a range of dates, so it cannot be backfilled; "
            'backfill a source of a type that can: "file", "mailchimp"; '
            "`leadsync pull newsletter` reads it from its cursor\n"
        )


def test_a_backfill_shows_a_progress_bar_with_counts_and_eta_on_a_terminal(
    tmp_path: Path, sqlite_url: str
) -> None:
    data = tmp_path / "events.jsonl"
    _write_events(data, range(100_000))
    config = _project(tmp_path, page_size=5_000)

    lines = on_terminal(
        "--config", config, "backfill", "fair", *RANGE, cwd=tmp_path,
        LEADSYNC_STORE_URL=sqlite_url,
    )  # fmt: skip

    size_mb = f"{data.stat().st_size / 1e6:.1f}"
    bars = [line for line in lines if line.startswith("backfill fair")]
    assert bars, lines
    # rich's download column (done/total in MB), its speed, and the time remaining.
    assert all(re.search(rf"\d+\.\d/{size_mb} MB ", bar) for bar in bars), bars
    assert any(re.search(r" \d:\d\d:\d\d$", bar) for bar in bars), bars
    assert [line for line in lines if line.startswith("fair from")] == [
        next(line for line in lines if line.startswith("fair from 2026-11-05T00:00:00Z"))
    ]
