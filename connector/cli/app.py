"""The ``leadsync`` command: parses, calls the core, renders. No logic of its own."""

from __future__ import annotations

import sys
import tempfile
import traceback
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import structlog
import typer
from sqlalchemy.engine import make_url

from connector import __version__
from connector.cli.crm import check_crms_online, crm_command, sync_command
from connector.cli.push import push_command
from connector.cli.render import print_json, progress_bar, stdout
from connector.cli.reports import contacts, explain, rejects, score
from connector.cli.state import CliState, state_of
from connector.config import check_rules, default_config_text, default_mapping_files, scoring_rules
from connector.crm.mapping import check_mapping_routes, load_mapping
from connector.errors import ConfigError, ExitCode, LeadsyncError
from connector.logs import configure_logging
from connector.plugins import file_source, installed_adapters, source_context, source_of
from connector.runners.ingest import IngestSummary, ingest
from connector.scoring.settings import routes_built_in
from connector.secrets import redact
from connector.store.engine import create_store_engine, describe_url, store_revision, upgrade_store

__all__ = ["app", "main"]

log = structlog.get_logger("leadsync")

app = typer.Typer(
    name="leadsync",
    help="Turns marketing signals into one lead score per contact, kept current in your CRM.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The state store.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _print_version(value: bool) -> None:
    if value:
        stdout.print(f"leadsync {__version__}")
        raise typer.Exit()


@app.callback()
def _main_options(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="config.toml to use (else $LEADSYNC_CONFIG, else ./config.toml)."
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Debug logs and full tracebacks.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version."
        ),
    ] = False,
) -> None:
    configure_logging("debug" if debug else "info")
    ctx.obj = CliState(config, debug)


# -- init / check ----------------------------------------------------------------------


@app.command()
def init(
    directory: Annotated[
        Path, typer.Argument(help="Where to write config.toml and mappings/.")
    ] = Path(),
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
) -> None:
    """Write a commented config.toml and the default mapping files, ready to use."""
    targets = {directory / "config.toml": default_config_text()}
    for name, text in default_mapping_files().items():
        targets[directory / "mappings" / name] = text
    existing = [str(path) for path in targets if path.exists()]
    if existing and not force:
        raise ConfigError(
            f"{', '.join(existing)} already exist(s)",
            hint="pass --force to overwrite, or choose another folder",
        )
    for path, text in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        stdout.print(f"wrote {path}")
    stdout.print(f"next: leadsync --config {directory / 'config.toml'} check")


@app.command()
def check(
    ctx: typer.Context,
    online: Annotated[
        bool,
        typer.Option(
            "--online",
            help="Also check each configured CRM's mapping against the live portal "
            "(properties and their options). Needs the CRM's token.",
        ),
    ] = False,
) -> None:
    """Validate the config, the mapping files, the sources and the store (changes nothing)."""
    state = state_of(ctx)
    settings = state.load()
    if online:
        check_crms_online(settings)
    shown = str(settings.config_file) if settings.config_file else "(defaults: no config.toml)"
    stdout.print(f"config     ok  {shown}")
    mappings = [
        (path, settings.resolve(path), load_mapping(settings.resolve(path), shown_as=str(path)))
        for path in settings.mapping_paths()
    ]
    # Your rules first (their errors point into config.toml), then each mapping's table.
    check_rules(settings, {str(path): frozenset(found.routes) for path, _, found in mappings})
    for path, resolved, found in mappings:
        check_mapping_routes(found, resolved, routes_built_in(settings.scoring), str(path))
        stdout.print(f"mapping    ok  {path} ({found.crm}, {len(found.fields)} fields)")
    rules = scoring_rules(settings)
    stdout.print(
        f"rules      ok  {len(rules.behaviour)} behaviour ({len(settings.scoring.behaviour)} "
        f"yours), {len(rules.fit)} fit; bands: warm from {rules.bands.warm_from:g}, "
        f"hot above {rules.bands.hot_above:g}"
    )
    for name, source in settings.sources.items():
        adapter = installed_adapters().source(source.type, key=f"sources.{name}.type")
        context = source_context(settings, name)
        try:
            described = adapter.check(source, context) if adapter.check else source.type
        except ConfigError as error:
            raise ConfigError(error.message, file=shown, key=error.key, hint=error.hint) from None
        stdout.print(f"source     ok  {name} ({described})")
    url = settings.store_url()
    database = make_url(url).database
    if make_url(url).drivername.startswith("sqlite") and database and not Path(database).exists():
        # Connecting would create the file; check changes nothing.
        stdout.print(f"store      ok  {describe_url(url)} (new: created on first use)")
        return
    current, head = store_revision(create_store_engine(url))
    state_text = (
        "up to date"
        if current == head
        else f"at {current or 'empty'}, will migrate to {head} on first use"
    )
    stdout.print(f"store      ok  {describe_url(url)} ({state_text})")


# -- ingest / pull -----------------------------------------------------------------------


def _report_ingest(summary: IngestSummary, as_json: bool) -> None:
    if as_json:
        print_json(summary.as_dict())
        return
    stdout.print(
        f"{summary.source}: read {summary.read:,}, stored {summary.stored:,}, "
        f"duplicates {summary.duplicates:,}, rejected {summary.rejected:,}, "
        f"new contacts {summary.contacts_created:,} in {summary.duration_s:.1f} s"
    )
    if summary.rejected:
        stdout.print(f"  see the rejected records with: leadsync rejects --source {summary.source}")


@app.command(name="ingest")
def ingest_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A JSONL or CSV file of canonical events.")],
    source: Annotated[
        str | None,
        typer.Option(
            "--source", help="Source name for records without one (default: the file name)."
        ),
    ] = None,
    file_format: Annotated[str, typer.Option("--format", help="auto, jsonl or csv.")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Store the events of FILE once each; bad records go to `leadsync rejects`."""
    state = state_of(ctx)
    settings = state.load()
    event_source = file_source(
        settings, file, name=source or file.stem.lower(), file_format=file_format
    )
    engine = state.store()
    with progress_bar(f"ingest {file.name}", event_source.size(), unit="bytes") as bar:
        summary = ingest(
            engine,
            event_source,
            command="ingest",
            resume=False,
            on_progress=bar.advance,
            subprocess_above_bytes=settings.ingest.subprocess_above_bytes,
        )
    _report_ingest(summary, as_json)


@app.command()
def pull(
    ctx: typer.Context,
    names: Annotated[
        list[str] | None, typer.Argument(help="Sources to pull (default: all configured).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Pull every configured source from its cursor."""
    state = state_of(ctx)
    settings = state.load()
    wanted = names or list(settings.sources)
    unknown = [name for name in wanted if name not in settings.sources]
    if unknown:
        raise ConfigError(
            f"no source named {', '.join(unknown)} in [sources]",
            file=str(settings.config_file) if settings.config_file else None,
            hint=f"configured: {', '.join(settings.sources) or 'none'}",
        )
    if not wanted:
        stdout.print("no sources configured: add a \\[sources.NAME] table to config.toml")
        return
    engine = state.store()
    summaries = []
    for name in wanted:
        event_source = source_of(settings, name)
        with progress_bar(f"pull {name}", None) as bar:
            summaries.append(
                ingest(
                    engine,
                    event_source,
                    command="pull",
                    resume=True,
                    on_progress=bar.advance,
                    subprocess_above_bytes=settings.ingest.subprocess_above_bytes,
                )
            )
    if as_json:
        print_json([summary.as_dict() for summary in summaries])
    else:
        for summary in summaries:
            _report_ingest(summary, as_json=False)


# -- score / contacts / explain / rejects --------------------------------------------------


# The reading commands live in connector/_cli_reports.py; registered here, in help order.
for _command in (score, contacts, explain, rejects):
    app.command()(_command)
app.command(name="push")(push_command)
app.command(name="crm")(crm_command)
app.command(name="sync")(sync_command)


# -- db --------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply pending migrations (they also apply on first use)."""
    settings = state_of(ctx).load()
    url = settings.store_url()
    before, after = upgrade_store(create_store_engine(url))
    if before == after:
        stdout.print(f"{describe_url(url)}: already at {after}")
    else:
        stdout.print(f"{describe_url(url)}: migrated from {before or 'empty'} to {after}")


@db_app.command("current")
def db_current(ctx: typer.Context) -> None:
    """Show the store's schema revision and the newest one this version knows."""
    settings = state_of(ctx).load()
    current, head = store_revision(create_store_engine(settings.store_url()))
    stdout.print(f"store at {current or 'empty'}; this leadsync knows up to {head}")


# -- demo ------------------------------------------------------------------------------------


@app.command()
def demo(
    ctx: typer.Context,
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir", help="Keep the sample and its store here (default: a temporary folder)."
        ),
    ] = None,
    contact_count: Annotated[int, typer.Option("--contacts", min=10)] = 2_000,
    event_count: Annotated[int, typer.Option("--events", min=100)] = 50_000,
    seed: Annotated[int, typer.Option("--seed")] = 7,
) -> None:
    """Make a realistic sample, ingest it into a fresh SQLite file, score it, show the result."""
    from connector.demo.run import run_demo

    # The demo prints its own summary; per-run log lines would only repeat it.
    configure_logging("debug" if state_of(ctx).debug else "warning")
    if directory is None:
        with tempfile.TemporaryDirectory(prefix="leadsync-demo-") as scratch:
            run_demo(Path(scratch), contact_count, event_count, seed, keep=False)
    else:
        run_demo(directory, contact_count, event_count, seed, keep=True)


def main() -> None:
    """Entry point: runs the app, turns our errors into a message and an exit code."""
    debug = "--debug" in sys.argv
    try:
        app()  # exits through SystemExit; usage errors are typer's (exit 2)
    except LeadsyncError as error:
        if debug:
            traceback.print_exc()
        log.debug("command.failed", error=type(error).__name__, **error.attrs())
        sys.stderr.write(f"error: {redact(str(error))}\n")
        sys.exit(int(error.exit_code))
    except sa.exc.SQLAlchemyError as error:
        if debug:
            raise
        sys.stderr.write(
            f"error: the store failed: {redact(str(getattr(error, 'orig', None) or error))}\n"
        )
        sys.exit(int(ExitCode.STORE))
    except Exception as error:
        if debug:
            raise
        sys.stderr.write(
            f"error: unexpected {type(error).__name__}: {redact(str(error))}\n"
            "  rerun with --debug for the traceback, and please report it\n"
        )
        sys.exit(int(ExitCode.INTERNAL))
