"""`leadsync push`: send each configured CRM what changed since its last successful write."""

from __future__ import annotations

from typing import Annotated

import structlog
import typer

from connector.cli.render import print_json, progress_bar, stdout
from connector.cli.state import state_of
from connector.config import Settings
from connector.crm.plan import PlannedPush
from connector.errors import BusyError, ConfigError, LimitReachedError
from connector.plugins import (
    configured_crms,
    crm_mapping_of,
    crm_writer,
    default_crm_settings,
    installed_adapters,
)
from connector.runners.push import PushSummary, push
from connector.runners.rescore import scoring_watermark
from connector.store.scores import unscored_count

__all__ = ["app"]

app = typer.Typer()

log = structlog.get_logger("leadsync")


@app.command(name="push")
def push_command(
    ctx: typer.Context,
    crm: Annotated[
        list[str] | None, typer.Option("--crm", metavar="NAME", help="Only this CRM (repeatable).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the planned writes; send nothing.")
    ] = False,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait", help="Wait for another push to the same CRM to end instead of stopping."
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Push scores a `score --as-of` left in the store (refused otherwise)."
        ),
    ] = False,
    rewrite_all: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Rewrite every scored contact's fields in the --crm CRM, whatever was last "
            "written (after a mapping change or a CRM restore); a rerun after a stop goes "
            "on where it stopped.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Figures as JSON.")] = False,
) -> None:
    """Write scores, temperatures and stages that changed to the configured CRMs."""
    if rewrite_all and not crm:
        # Rewriting every record of every CRM at once is too big a move to be a default.
        raise typer.BadParameter(
            "--all needs --crm NAME: name the CRM whose records to rewrite",
            param_hint="--all",
        )
    state = state_of(ctx)
    settings = state.load()
    configured = configured_crms(settings)
    if dry_run and not configured:
        # A first look before any CRM is set up: plan as an empty [crm.TYPE] table of each
        # installed CRM would, with the default mapping `leadsync init` wrote. A dry run
        # sends nothing, so it needs no credentials.
        settings = settings.model_copy(update={"crm": default_crm_settings()})
        configured = configured_crms(settings)
        _say_planned_with_defaults(settings, list(crm or configured), as_json)
    wanted = crm or configured
    for name in wanted:
        if name not in configured:
            raise ConfigError(
                f"no [crm.{name}] table in the config",
                key=f"crm.{name}",
                hint=f"add [crm.{name}] (see config.example.toml), or leave out --crm",
            )
    if not wanted:
        raise ConfigError(
            "no CRM is configured",
            hint="add a [crm.NAME] table to config.toml for a CRM type installed ("
            + ", ".join(sorted(installed_adapters().crms))
            + "; see config.example.toml); `leadsync push --dry-run` shows what the "
            "default mappings would write",
        )
    engine = state.store()
    with engine.connect() as connection:
        pending = unscored_count(connection, after_event_id=scoring_watermark(connection))
    if pending:
        log.warning("push.unscored_changes", contacts=pending, hint="run `leadsync score` first")
    summaries: list[PushSummary] = []
    stopped: LimitReachedError | BusyError | None = None
    for name in wanted:
        crm_settings = settings.crm[name]
        mapping = crm_mapping_of(settings, name)
        writer = None if dry_run else crm_writer(settings, name, mapping)
        shown: list[PlannedPush] = []
        summary = PushSummary(crm=mapping.crm)
        try:
            with progress_bar(f"push {name}", None) as bar:
                push(
                    engine,
                    writer,
                    mapping,
                    create=crm_settings.create,
                    dry_run=dry_run,
                    wait=wait,
                    force=force,
                    rewrite_all=rewrite_all,
                    summary=summary,
                    on_planned=shown.append,
                    on_progress=lambda done, total: bar.update(done, total),
                )
        except (LimitReachedError, BusyError) as stop:
            # The other CRMs are still pushed; this one's stop ends the command.
            stopped = stopped or stop
            if isinstance(stop, BusyError):
                summary.skipped = stop.message
        summaries.append(summary)
        if dry_run and not as_json:
            _print_plan(name, shown[0])
    if as_json:
        print_json([summary.as_dict() for summary in summaries])
    else:
        _print_summaries(summaries, closing=None if stopped is None else stopped.message)
    if stopped is not None:
        raise stopped  # its message is the last line: what stopped it, when to retry


def _say_planned_with_defaults(settings: Settings, names: list[str], as_json: bool) -> None:
    """One line saying the plan uses the default mappings, and what to add to push."""
    planned_with = {name: str(settings.crm[name].mapping) for name in names if name in settings.crm}
    if not planned_with:
        return  # --crm named no installed CRM: the error that follows says so
    tables = " or ".join(f"[crm.{name}]" for name in planned_with)
    if as_json:
        log.warning("push.no_crm_configured", planned_with=planned_with, hint=f"add {tables}")
        return
    mappings = ", ".join(f"{name}: {path}" for name, path in planned_with.items())
    stdout.print(
        f"no CRM configured: planned with the default mappings ({mappings}), nothing sent; "
        f"to push, add {tables} to config.toml (see config.example.toml)",
        markup=False,  # [crm.NAME] is text, not rich markup
        soft_wrap=True,
    )


def _print_summaries(summaries: list[PushSummary], *, closing: str | None) -> None:
    for summary in summaries:
        if summary.skipped is not None:
            if summary.skipped != closing:  # the error line closing the command says it
                stdout.print(f"{summary.crm}: not pushed ({summary.skipped})")
            continue
        verb = "would write" if summary.dry_run else "written"
        if summary.rewrite_all:
            verb = "would rewrite" if summary.dry_run else "rewritten"
        count = summary.planned if summary.dry_run else summary.written
        stdout.print(
            f"{summary.crm}: {count:,} {verb}, {summary.unchanged:,} unchanged, "
            f"{summary.rejected:,} rejected, {summary.deferred:,} deferred "
            f"({summary.duration_s:.1f} s)"
        )
        if summary.resumed_after is not None:
            stdout.print(
                f"  {'would go' if summary.dry_run else 'went'} on from where the last "
                f"push --all stopped (after contact "
                f"#{summary.resumed_after})"
            )
        for reason, times in sorted(summary.rejected_reasons.items(), key=lambda item: -item[1]):
            stdout.print(f"  rejected ×{times}: {reason}")


def _print_plan(name: str, planned: PlannedPush) -> None:
    for record in planned.records[:20]:
        cleared = f" (clear {', '.join(record.clear_first)} first)" if record.clear_first else ""
        stdout.print(
            f"  {name} {record.email or record.contact_id}: {dict(record.fields)}{cleared}"
        )
    if len(planned.records) > 20:
        stdout.print(f"  … and {len(planned.records) - 20:,} more")
