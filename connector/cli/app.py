"""The ``leadsync`` command: parses, calls the core, renders. No logic of its own.

Each command group is a Typer app of its own module; this one holds the global options,
puts the groups together in help order, and turns our errors into exit codes.
"""

from __future__ import annotations

import signal
import sys
import traceback
from pathlib import Path
from typing import Annotated, NoReturn

import sqlalchemy as sa
import structlog
import typer

from connector import __version__
from connector.cli import (
    backfill,
    calibrate,
    configure,
    crm,
    daemon,
    db,
    demo,
    identity,
    ingest,
    kpi,
    push,
    reports,
    serve,
    simulate,
    sync,
)
from connector.cli._help import LeadsyncGroup
from connector.cli.render import stdout
from connector.cli.state import CliState
from connector.errors import ExitCode, Interrupted, LeadsyncError, interrupted_underneath
from connector.logs import configure_logging
from connector.secrets import redact

__all__ = ["GLOBAL_FLAGS", "app", "main"]

log = structlog.get_logger("leadsync")

app = typer.Typer(
    name="leadsync",
    cls=LeadsyncGroup,
    help="Turns marketing signals into one lead score per contact, kept current in your CRM.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for group in (
    configure.app,
    ingest.app,
    backfill.app,
    reports.app,
    calibrate.app,
    simulate.app,
    push.app,
):
    app.add_typer(group)
app.add_typer(crm.app, name="crm")
app.add_typer(sync.app)
app.add_typer(kpi.app)
app.add_typer(db.app, name="db")
app.add_typer(identity.app, name="identity")
app.add_typer(demo.app)
app.add_typer(daemon.app)
app.add_typer(serve.app)


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
            "--config",
            "-c",
            metavar="PATH",
            help="config.toml to use (else $LEADSYNC_CONFIG, else ./config.toml).",
        ),
    ] = None,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            help="Debug logs and full tracebacks (also after the command: leadsync score "
            "--debug). SQLAlchemy's SQL is not logged.",
        ),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version."
        ),
    ] = False,
) -> None:
    configure_logging("debug" if debug else "info", summaries_printed=True)
    ctx.obj = CliState(config, debug)


# 128 + the signal's number, as shells report a command a signal ended.
_INTERRUPTED_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}
_stop_signal = [signal.SIGINT]


def _stop_on_sigterm(signum: int, _frame: object) -> None:
    _stop_signal[0] = signal.Signals(signum)
    raise KeyboardInterrupt


def _interruption_of(done: BaseException) -> Interrupted | None:
    """The runner's ``Interrupted`` behind typer's exit: typer raises its exit from it."""
    seen: BaseException | None = done
    while seen is not None:
        if isinstance(seen, Interrupted):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _global_flags_first(args: list[str]) -> list[str]:
    """The arguments with each ``--debug`` moved before the command.

    click takes a group's options only before the subcommand, so ``leadsync score --debug``
    would be refused; a person adds ``--debug`` at the end when a command has just failed.
    Arguments after ``--`` are values (a file named ``--debug``) and stay where they are.
    """
    end = args.index("--") if "--" in args else len(args)
    options, values = args[:end], args[end:]
    moved = [arg for arg in options if arg in GLOBAL_FLAGS]
    return [*moved, *(arg for arg in options if arg not in GLOBAL_FLAGS), *values]


GLOBAL_FLAGS = ("--debug",)
KEPT_ANYWAY = "what was stored is kept"


def _exit_interrupted(kept: str) -> NoReturn:
    sys.stderr.write(f"interrupted: {kept}; run the same command again to go on\n")
    sys.exit(_INTERRUPTED_EXIT[_stop_signal[0]])


def main() -> None:
    """Entry point: runs the app, turns our errors into a message and an exit code."""
    args = _global_flags_first(sys.argv[1:])
    debug = bool(args) and args[0] == "--debug"
    # SIGTERM (a service manager, `kill`) ends a command as Ctrl-C does: the page in
    # flight commits or rolls back whole, the run is recorded as interrupted.
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        app(args)  # exits through SystemExit; usage errors are typer's (exit 2)
    except SystemExit as done:
        if done.code != _INTERRUPTED_EXIT[signal.SIGINT]:  # typer's word for Ctrl-C
            raise
        stop = _interruption_of(done)
        _exit_interrupted(stop.kept if stop is not None else KEPT_ANYWAY)
    except LeadsyncError as error:
        if interrupted_underneath(error):
            _exit_interrupted(KEPT_ANYWAY)
        if debug:
            traceback.print_exc()
        log.debug("command.failed", error=type(error).__name__, **error.attrs())
        sys.stderr.write(f"error: {redact(str(error))}\n")
        sys.exit(int(error.exit_code))
    except sa.exc.SQLAlchemyError as error:
        if interrupted_underneath(error):
            _exit_interrupted(KEPT_ANYWAY)
        if debug:
            raise
        sys.stderr.write(
            f"error: the store failed: {redact(str(getattr(error, 'orig', None) or error))}\n"
        )
        sys.exit(int(ExitCode.STORE))
    except Exception as error:
        if interrupted_underneath(error):
            _exit_interrupted(KEPT_ANYWAY)
        if debug:
            raise
        sys.stderr.write(
            f"error: unexpected {type(error).__name__}: {redact(str(error))}\n"
            "  rerun with --debug for the traceback, and please report it\n"
        )
        sys.exit(int(ExitCode.INTERNAL))
