"""`leadsync crm setup|read NAME`, `leadsync sync`, and `check --online`'s CRM part."""

from __future__ import annotations

from typing import Annotated

import typer

from connector._cli_state import state_of
from connector._render import print_json, stdout
from connector._toml_lines import KeyLines
from connector.config import Settings
from connector.crm_inputs import read_crm
from connector.errors import ConfigError
from connector.plugins import source_registry
from connector.sync import configured_crms, crm_mapping_of, sync_once

__all__ = ["check_crms_online", "crm_command", "sync_command"]


def _require(settings: Settings, name: str) -> None:
    if name not in configured_crms(settings):
        raise ConfigError(
            f"no [crm.{name}] table in the config",
            key=f"crm.{name}",
            hint=f"add [crm.{name}] (see config.example.toml)",
        )


def check_crms_online(settings: Settings) -> None:
    """Each configured CRM's mapping against the live portal; the first problem raises,
    naming the mapping file's line, the others listed with theirs."""
    registry = source_registry()
    for name in configured_crms(settings):
        crm_settings = getattr(settings.crm, name)
        path = settings.resolve(crm_settings.mapping)
        shown = str(crm_settings.mapping)
        problems = registry.crm_mapping_problems(settings, name, crm_mapping_of(settings, name))
        if problems:
            lines = KeyLines(path.read_text(encoding="utf-8"))
            others = "".join(
                f"\n  {shown}:{lines.line_of(list(key)) or '?'}: [{'.'.join(key)}] {message}"
                for key, message in problems[1:]
            )
            key, message = problems[0]
            more = f" (and {len(problems) - 1} more, below){others}" if others else ""
            raise ConfigError(
                f"[{'.'.join(key)}] {message}{more}",
                file=shown,
                line=lines.line_of(list(key)),
                key=".".join(key),
            )
        stdout.print(f"online     ok  {name}: every mapped field and value exists")


def crm_command(
    ctx: typer.Context,
    action: Annotated[str, typer.Argument(help="setup or read")],
    name: Annotated[str, typer.Argument(help="The CRM: hubspot or salesforce.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """`crm setup hubspot`: create the leadsync property group and the mapped properties
    the CRM lacks (idempotent). `crm read hubspot`: read the contacts changed since the
    last read (profile fields, stages, lead status, BANT) into the store."""
    state = state_of(ctx)
    settings = state.load()
    _require(settings, name)
    mapping = crm_mapping_of(settings, name)
    registry = source_registry()
    if action == "setup":
        report = registry.crm_setup(settings, name, mapping)
        if as_json:
            print_json(report)
            return
        created, existing = report["created"], report["existing"]
        if not isinstance(created, list) or not isinstance(existing, list):  # pragma: no cover
            raise TypeError("crm_setup answered an unexpected report")
        group = "created" if report["group_created"] else "already there"
        stdout.print(f"{name}: property group leadsync {group}")
        stdout.print(f"  created: {', '.join(created) or 'none'}")
        stdout.print(f"  already there: {', '.join(existing) or 'none'}")
    elif action == "read":
        summary = read_crm(state.store(), registry.crm_reader(settings, name, mapping))
        if as_json:
            print_json(summary.as_dict())
            return
        stdout.print(
            f"{name}: read {summary.snapshots:,} contact(s), {summary.contacts_changed:,} "
            f"changed, {summary.rejected:,} set aside ({summary.duration_s:.1f} s)"
        )
    else:
        raise typer.BadParameter(f"unknown action {action!r}; use setup or read")


def sync_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Figures as JSON.")] = False,
) -> None:
    """One pass: pull the sources, read the CRMs, score what changed, push what changed."""
    state = state_of(ctx)
    settings = state.load()
    summary = sync_once(state.store(), settings, source_registry())
    if as_json:
        print_json(summary.as_dict())
        return
    pulled = sum(item.stored for item in summary.pulled)
    read = sum(item.contacts_changed for item in summary.read)
    scored = summary.scored.contacts_scored if summary.scored else 0
    stdout.print(
        f"sync: {pulled:,} new event(s) from {len(summary.pulled)} source(s), "
        f"{read:,} contact(s) changed in the CRMs, {scored:,} rescored"
    )
    for pushed in summary.pushed:
        stdout.print(
            f"  {pushed.crm}: {pushed.written:,} written, {pushed.unchanged:,} unchanged, "
            f"{pushed.rejected:,} rejected, {pushed.deferred:,} deferred"
        )
