"""`leadsync daemon`: the sync pass and its steps on their schedules, until stopped;
`leadsync status`: what the daemon did and will do, from the store."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import structlog
import typer

from connector.cli.render import print_json, print_listing, shown_time, stdout
from connector.cli.state import state_of
from connector.config import Settings, config_path_from, load_settings
from connector.daemon.service import Daemon
from connector.daemon.status import read_status
from connector.logs import configure_logging
from connector.serve.server import IntakeServer

__all__ = ["app"]

app = typer.Typer()

log = structlog.get_logger("leadsync")


@app.command(name="daemon")
def daemon_command(
    ctx: typer.Context,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve",
            help="Also run the webhook intake (`leadsync serve`) in this process, on "
            "[serve] host and port: one service for a small installation.",
        ),
    ] = False,
) -> None:
    """Run the sync pass every [daemon] every, and each [daemon.jobs.NAME] on its own
    schedule, until SIGTERM or Ctrl-C (exit 0); SIGHUP reloads the config."""
    state = state_of(ctx)
    settings = state.load()
    # Every line of a daemon goes to its log, summaries included.
    configure_logging("debug" if state.debug else settings.logging.level, settings.logging.format)

    def reload() -> Settings:
        path, named = config_path_from(state.config_option)
        return load_settings(path, must_exist=named)

    engine = state.store()
    intake = (
        IntakeServer(settings, engine, host=settings.serve.host, port=settings.serve.port)
        if serve
        else None
    )
    Daemon(settings, engine, reload, intake=intake).run()


@app.command(name="status")
def status_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="The status as JSON.")] = False,
) -> None:
    """Each job's last and next run and failures in a row, each source's last pull, cursor
    and last error, each CRM's records waiting, pause and rejects by reason."""
    state = state_of(ctx)
    settings = state.load()
    status = read_status(state.store(), settings)
    if as_json:
        print_json(status.as_dict())
        return
    lease = status.lease
    if lease is None:
        # A daemon that stopped cleanly gave its lease back: its runs still tell it ran.
        ran = any(job.last_run_at is not None for job in status.jobs)
        stdout.print("daemon: none active" if ran else "daemon: none has run on this store")
    elif lease["live"]:
        stdout.print(
            f"daemon: active on {lease['host']} (pid {lease['pid']}) since "
            f"{_time(str(lease['acquired_at']))}, lease renewed {_time(str(lease['renewed_at']))}"
        )
    else:
        stdout.print(
            f"daemon: none active (the last, on {lease['host']} pid {lease['pid']}, let its "
            f"lease expire {_time(str(lease['expires_at']))})"
        )
    print_listing(
        ["job", "next run", "last run", "outcome", "failures", "error"],
        [
            [
                job.job,
                _time(job.next_run_at),
                _time(job.last_run_at),
                job.outcome or "never run",
                f"{job.failures_in_a_row}{' (alert)' if job.alerting else ''}",
                job.error,
            ]
            for job in status.jobs
        ],
        cut=("error",),
    )
    if status.schedule_written_at is None:
        stdout.print("(no daemon has run on this store: next runs unknown)")
    if status.sources:
        stdout.print()
        print_listing(
            ["source", "last pull", "status", "stored", "cursor moved", "lag", "last error"],
            [
                [
                    source.source,
                    _time(source.last_pull_at),
                    source.last_pull_status,
                    "" if source.events_stored is None else f"{source.events_stored:,}",
                    _time(source.cursor_moved_at),
                    source.lag,
                    source.last_error,
                ]
                for source in status.sources
            ],
            cut=("last error", "lag"),
        )
    for crm in status.crms:
        stdout.print()
        paused = f", paused until {_time(crm.paused_until)} (API limit)" if crm.paused_until else ""
        last = (
            f", last push {_time(crm.last_push_at)} ({crm.last_push_status})"
            if crm.last_push_at
            else ", never pushed"
        )
        stdout.print(f"{crm.crm}: {crm.waiting:,} record(s) waiting to be written{paused}{last}")
        if crm.api_allowed is not None and crm.api_used is not None:
            stdout.print(
                f"  API: {crm.api_used:,} of {crm.api_allowed:,} calls used "
                f"(as of {_time(crm.api_budget_at)})"
            )
        for reason, count in crm.rejects.items():
            stdout.print(f"  rejected ×{count:,}: {reason}", markup=False)


def _time(iso: str | None) -> str:
    return "" if iso is None else shown_time(datetime.fromisoformat(iso))
