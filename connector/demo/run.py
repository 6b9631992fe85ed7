"""`leadsync demo`: the main job end to end on a sample, with no credentials and no network."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy.engine import Engine

from connector.calibration import CalibrationOptions
from connector.config import Settings, default_mapping_files, load_settings, scoring_rules
from connector.crm.mapping import load_mapping
from connector.demo.sales_desk import DEMO_RULES_TOML, SalesDesk
from connector.demo.sample import write_costs, write_sample
from connector.errors import ConfigError
from connector.model import Stage, Temperature
from connector.plugins import file_source
from connector.runners.calibrate import calibrate_store
from connector.runners.crm_read import read_crm
from connector.runners.ingest import ingest
from connector.runners.kpi import KpiAsked, kpi_of
from connector.runners.push import plan_from_store
from connector.runners.report import write_report
from connector.runners.rescore import rescore
from connector.store.engine import open_store
from connector.store.scores import list_scores

__all__ = ["OPEN_STAGES", "ProgressShown", "Screen", "run_demo"]

# Stages of the leads sales work now: not nurtured (sent back), disqualified or won.
OPEN_STAGES = frozenset({Stage.MQL, Stage.SQL})


def _fresh_store(folder: Path) -> Path:
    database = folder / "leadsync.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    return database


class ProgressShown(Protocol):
    def advance(self, amount: float) -> None: ...

    def update(self, completed: float, total: float | None = None) -> None: ...


class Screen(Protocol):
    """Where the demo shows what it does; the CLI passes its console."""

    def say(self, text: str) -> None:
        """A line of text (rich markup allowed)."""
        ...

    def line(self, text: str) -> None:
        """One line of plain text, cut with "…" where the screen ends."""
        ...

    def table(
        self, title: str | None, headers: Sequence[str], rows: Sequence[Sequence[object]]
    ) -> None: ...

    def progress(
        self, description: str, total: float | None, *, unit: str = "items"
    ) -> AbstractContextManager[ProgressShown]: ...


# Written into the demo's folder: a later demo may replace what holds it, nothing else.
DEMO_MARK = ".leadsync-demo"


# The sample spans three months, and the simulated sales desk won its deals in the last
# one: outcomes are known after a short horizon only.
DEMO_HORIZON_DAYS = 60


def _write_report(engine: Engine, settings: Settings, path: Path) -> Path:
    """KPIs by month and the calibration of the bands, beside the scores, as HTML."""
    rules = scoring_rules(settings)
    with engine.connect() as connection:
        kpi = kpi_of(connection, settings, KpiAsked(by="month"), today=datetime.now(UTC).date())
    calibration = calibrate_store(engine, rules, CalibrationOptions(DEMO_HORIZON_DAYS))
    return write_report(
        engine,
        path,
        bands=rules.bands,
        title="leadsync demo: Acme Pumps & Valves, autumn 2026",
        kpi=kpi,
        calibration=calibration.as_contract(),
    )


def _refuse_foreign_folder(folder: Path) -> None:
    """A folder holding anything but an earlier demo's output is refused: the demo would
    replace its config.toml, mappings and leadsync.db."""
    if not folder.exists() or (folder / DEMO_MARK).is_file():
        return
    if not folder.is_dir():
        raise ConfigError(
            f"{folder} is not a folder", hint="pass --dir a folder to keep the demo in"
        )
    if any(folder.iterdir()):
        raise ConfigError(
            f"{folder} holds files an earlier demo did not write; the demo would replace its "
            "config.toml, mappings/ and leadsync.db",
            hint="choose a new or empty folder, or pass --force to replace them",
        )


def run_demo(
    folder: Path,
    contacts: int,
    events: int,
    seed: int,
    *,
    keep: bool,
    screen: Screen,
    force: bool = False,
    report: Path | None = None,
) -> None:
    """The main job end to end on a sample, in ``folder``; the HTML report written to
    ``report`` (default: ``folder/report.html``).

    Raises:
        ConfigError: ``folder`` holds files an earlier demo did not write (unless
            ``force``).
    """
    started = time.perf_counter()
    folder = folder.absolute()
    if not force:
        _refuse_foreign_folder(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / DEMO_MARK).write_text(
        "written by `leadsync demo`: a later demo may replace this folder's files\n",
        encoding="utf-8",
    )
    for name, text in default_mapping_files().items():
        mapping_path = folder / "mappings" / name
        mapping_path.parent.mkdir(exist_ok=True)
        mapping_path.write_text(text, encoding="utf-8")
    config_path = folder / "config.toml"
    config_path.write_text(DEMO_RULES_TOML, encoding="utf-8")
    write_costs(folder / "costs.csv", seed=seed)
    settings = load_settings(config_path)
    rules = scoring_rules(settings)
    sample = write_sample(folder / "sample", contacts=contacts, events=events, seed=seed)
    screen.say(
        f"[bold]leadsync demo[/bold]: {sample.contacts:,} contacts, {sample.events:,} events "
        f"from {len(sample.files)} sources, into a fresh SQLite store"
    )
    engine = open_store(f"sqlite:///{_fresh_store(folder)}")

    for name, path in sample.files:
        source = file_source(settings, path, name=name)
        with screen.progress(f"ingest {path.name}", source.size(), unit="bytes") as bar:
            summary = ingest(
                engine,
                source,
                command="demo",
                resume=False,
                on_progress=bar.advance,
                subprocess_above_bytes=settings.ingest.subprocess_above_bytes,
            )
        screen.say(
            f"  ingested {name:<15} {summary.stored:>7,} events, {summary.rejected} rejected "
            f"({summary.duration_s:.1f} s)"
        )
    with screen.progress("score", None) as bar:
        scored = rescore(
            engine,
            rules,
            workers=settings.scoring.workers,
            on_progress=lambda done, total: bar.update(done, total),
        )
    screen.say(
        f"  scored {scored.contacts_scored:,} contacts by {len(rules.behaviour) + len(rules.fit)} "
        f"rules ({config_path.name}): {scored.transitions:,} stage changes "
        f"({scored.duration_s:.1f} s)"
    )
    with engine.connect() as connection:
        mqls = [
            row.email for row in list_scores(connection) if row.stage == Stage.MQL and row.email
        ]
    desk = SalesDesk(mqls, at=datetime.now(UTC), seed=seed)
    answered = read_crm(engine, desk)
    again = rescore(engine, rules)
    screen.say(
        f"  sales answered for {answered.contacts_changed:,} of the {len(mqls):,} MQLs "
        f"(simulated CRM): {again.transitions:,} stage changes\n"
    )

    with engine.connect() as connection:
        everyone = list_scores(connection)
        funnel = Counter((row.temperature, row.stage) for row in everyone)
        stages = [stage for stage in Stage if any(s == stage for _, s in funnel)]
        screen.table(
            "Funnel",
            ["temperature", *stages, "total"],
            [
                [
                    temperature,
                    *[funnel[(temperature, stage)] for stage in stages],
                    sum(funnel[(temperature, stage)] for stage in stages),
                ]
                for temperature in Temperature
            ],
        )
        routes = Counter(row.route for row in everyone if row.route is not None)
        handed = ", ".join(f"{route} {count:,}" for route, count in sorted(routes.items()))
        screen.say(
            f"handed to {handed or 'nobody'}; not handed over: {len(everyone) - routes.total():,}\n"
        )
        # The leads sales should call: open ones, not those sent back, out or already won.
        to_call = [row for row in everyone if row.stage in OPEN_STAGES][:10]
        screen.say(
            f"[bold]The {len(to_call)} hottest open leads (MQL, SQL): call these first[/bold]"
        )
        # Two lines a lead rather than a table: at 80 columns a table of e-mail, figures and
        # reasons folds the e-mail and the reasons letter by letter.
        screen.line(f"{'':4} {'score':>7} {'0-100':>6}  {'stage':<5}  e-mail")
        for rank, row in enumerate(to_call, start=1):
            normalised = "-" if row.normalised_score is None else f"{row.normalised_score:g}"
            handed = ", ".join(str(part) for part in (row.route, row.treatment) if part)
            screen.line(f"{rank:>3}. {row.score:>7g} {normalised:>6}  {row.stage:<5}  {row.email}")
            screen.line(f"{'':13}{handed or 'not handed over'}: {row.reasons}")
        screen.say("\n[bold]What a push would write (dry run, nothing sent)[/bold]")
        for mapping_path in settings.mapping_paths():
            mapping = load_mapping(settings.resolve(mapping_path), shown_as=str(mapping_path))
            plan = plan_from_store(connection, mapping, create="never", scores=everyone)
            planned, unchanged = plan.records, plan.unchanged
            screen.say(
                f"  {mapping.crm}: {len(planned):,} records to write, {unchanged:,} unchanged "
                f"(mapping {mapping_path})"
            )
            if planned:
                first = planned[0]
                screen.line(f"    e.g. {first.email}: {first.fields}")
    written = _write_report(engine, settings, report or folder / "report.html")
    screen.say(
        f"\n[bold]The report[/bold]: {written}\n  open it in a browser (one file, no network "
        "needed): KPIs, funnel, score distribution, conversion by band"
    )
    where = f"kept in {folder}" if keep else "in a temporary folder, removed now"
    screen.say(f"\ndone in {time.perf_counter() - started:.1f} s; sample and store {where}")
    if keep:
        screen.say(
            f"explore: leadsync explain {to_call[0].email if to_call else 'EMAIL'} "
            f'(with [store] url = "sqlite:///{folder / "leadsync.db"}")'
        )
