"""`leadsync db upgrade|current`: the state store's migrations."""

from __future__ import annotations

import typer

from connector.cli._help import LeadsyncGroup
from connector.cli.render import stdout
from connector.cli.state import state_of
from connector.store.engine import create_store_engine, describe_url, store_revision, upgrade_store

__all__ = ["app"]

app = typer.Typer(cls=LeadsyncGroup, help="The state store.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply pending migrations (they also apply on first use)."""
    settings = state_of(ctx).load()
    url = settings.store_url()
    before, after = upgrade_store(create_store_engine(url))
    if before == after:
        stdout.print(f"{describe_url(url)}: already at {after}")
    else:
        stdout.print(f"{describe_url(url)}: migrated from {before or 'empty'} to {after}")


@app.command("current")
def db_current(ctx: typer.Context) -> None:
    """Show the store's schema revision and the newest one this version knows."""
    settings = state_of(ctx).load()
    current, head = store_revision(create_store_engine(settings.store_url()))
    stdout.print(f"store at {current or 'empty'}; this leadsync knows up to {head}")
