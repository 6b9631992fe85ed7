"""`leadsync sync`: one pass of the whole job."""

from __future__ import annotations

from typing import Annotated

import structlog
import typer

from connector.cli.render import print_json, stdout
from connector.cli.state import state_of
from connector.plugins import installed_adapters
from connector.runners.pull import raise_first_failure
from connector.sync import SyncSummary, sync_once

__all__ = ["app"]

app = typer.Typer()

log = structlog.get_logger("leadsync")


def _no_crm_note() -> str:
    tables = " or ".join(f"[crm.{name}]" for name in sorted(installed_adapters().crms))
    return (
        f"nothing pushed: no CRM is configured; add {tables} to config.toml (see "
        "config.example.toml), and `leadsync push --dry-run` shows what it would write"
    )


@app.command(name="sync")
def sync_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Figures as JSON.")] = False,
) -> None:
    """One pass: pull the sources, read the CRMs, score what changed, push what changed."""
    state = state_of(ctx)
    settings = state.load()
    summary = sync_once(state.store(), settings)
    if as_json:
        if not settings.crm:
            log.warning("sync.nothing_pushed", reason=_no_crm_note())  # stderr: stdout stays JSON
        print_json(summary.as_dict())
        _exit_for(summary)
        return
    pulled = sum(item.stored for item in summary.pulled)
    read = sum(item.contacts_changed for item in summary.read)
    scored = summary.scored.contacts_scored if summary.scored else 0
    stdout.print(
        f"sync: {pulled:,} new event(s) from {len(summary.pulled)} source(s), "
        f"{read:,} contact(s) changed in the CRMs, {scored:,} rescored"
    )
    for failure in summary.failed:
        stdout.print(f"  {failure.source}: failed: {failure.message}", markup=False)
    if not settings.crm:
        stdout.print(f"  {_no_crm_note()}", markup=False, soft_wrap=True)
    for pushed in summary.pushed:
        if pushed.skipped is not None:
            stdout.print(f"  {pushed.crm}: not pushed ({pushed.skipped}; the next sync pushes it)")
            continue
        stdout.print(
            f"  {pushed.crm}: {pushed.written:,} written, {pushed.unchanged:,} unchanged, "
            f"{pushed.rejected:,} rejected, {pushed.deferred:,} deferred"
        )
    _exit_for(summary)


def _exit_for(summary: SyncSummary) -> None:
    """A failed source first (exit 4, 3 or 6), else a CRM's API limit (exit 8)."""
    raise_first_failure(summary.failed)
    if summary.stopped is not None:
        raise summary.stopped
