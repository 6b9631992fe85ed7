"""What every ``leadsync`` command shares: the global options, the settings and the store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import typer
from sqlalchemy.engine import Engine

from connector.config import Settings, config_path_from, load_settings
from connector.logs import configure_logging
from connector.store.engine import open_store

__all__ = ["CliState", "state_of"]


@dataclass
class CliState:
    config_option: Path | None
    debug: bool
    settings: Settings | None = None

    def load(self) -> Settings:
        if self.settings is None:
            path, named = config_path_from(self.config_option)
            self.settings = load_settings(path, must_exist=named)
            # Every command prints its runs' summaries on stdout: the console shows no copy.
            configure_logging(
                "debug" if self.debug else self.settings.logging.level,
                self.settings.logging.format,
                summaries_printed=True,
            )
        return self.settings

    def store(self) -> Engine:
        return open_store(self.load().store_url())


def state_of(ctx: typer.Context) -> CliState:
    state = ctx.find_object(CliState)
    if state is None:  # pragma: no cover - the callback always sets it
        raise RuntimeError("leadsync state missing")
    return state
