"""`leadsync daemon`: the sync pass and its steps on their schedules, until stopped."""

from __future__ import annotations

import structlog
import typer

from connector.cli.state import state_of
from connector.config import Settings, config_path_from, load_settings
from connector.daemon.service import Daemon
from connector.logs import configure_logging

__all__ = ["app"]

app = typer.Typer()

log = structlog.get_logger("leadsync")


@app.command(name="daemon")
def daemon_command(ctx: typer.Context) -> None:
    """Run the sync pass every [daemon] every, and each [daemon.jobs.NAME] on its own
    schedule, until SIGTERM or Ctrl-C (exit 0); SIGHUP reloads the config."""
    state = state_of(ctx)
    settings = state.load()
    # Every line of a daemon goes to its log, summaries included.
    configure_logging("debug" if state.debug else settings.logging.level, settings.logging.format)

    def reload() -> Settings:
        path, named = config_path_from(state.config_option)
        return load_settings(path, must_exist=named)

    Daemon(settings, state.store(), reload).run()
