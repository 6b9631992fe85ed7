"""`leadsync crm setup|read NAME`, and `check --online`'s CRM part."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer
from sqlalchemy.engine import Engine

from connector.cli._help import LeadsyncGroup
from connector.cli.render import print_json, stdout
from connector.cli.state import state_of
from connector.config import KeyLines, Settings
from connector.crm.differences import stage_differences
from connector.errors import ConfigError
from connector.model import StoredScore
from connector.plugins import configured_crms, crm_adapter_of, crm_context, crm_reader
from connector.runners.crm_read import read_crm
from connector.store.pushes import read_crm_state
from connector.store.scores import list_scores

__all__ = ["STAGE_LINES_SHOWN", "app", "check_crms_online", "print_stage_differences"]

# Contacts listed by name when their CRM stage differs; the rest are counted.
STAGE_LINES_SHOWN = 20

app = typer.Typer(cls=LeadsyncGroup, help="Set up or read a CRM.", no_args_is_help=True)


def check_crms_online(settings: Settings) -> None:
    """Each configured CRM's mapping against the live portal; the first problem raises,
    naming the mapping file's line, the others listed with theirs."""
    for name in configured_crms(settings):
        crm_settings = settings.crm[name]
        path = settings.resolve(crm_settings.mapping)
        shown = str(crm_settings.mapping)
        adapter = crm_adapter_of(settings, name)
        problems = adapter.check_online(crm_settings, crm_context(settings, name))
        if problems:
            lines = KeyLines(path.read_text(encoding="utf-8"))
            others = "".join(
                f"\n  {shown}:{lines.line_of(list(problem.key)) or '?'}: "
                f"[{'.'.join(problem.key)}] {problem.message}"
                for problem in problems[1:]
            )
            key, message = problems[0].key, problems[0].message
            more = f" (and {len(problems) - 1} more, below){others}" if others else ""
            raise ConfigError(
                f"[{'.'.join(key)}] {message}{more}",
                file=shown,
                line=lines.line_of(list(key)),
                key=".".join(key),
            )
        stdout.print(f"online     ok  {name}: every mapped field and value exists")


def print_stage_differences(settings: Settings, engine: Engine) -> None:
    """For each configured CRM with a stage field, the contacts whose stage there, as last
    read, differs from leadsync's, and why (the first ``STAGE_LINES_SHOWN``, then a count).
    Reads the store only: ``leadsync crm read`` brings the CRM's stages up to date."""
    scores: list[StoredScore] | None = None  # read once, for the first CRM that needs them
    for name in configured_crms(settings):
        mapping = crm_context(settings, name).mapping
        if "stage" not in mapping.fields:
            continue
        with engine.connect() as connection:
            known = read_crm_state(connection, mapping.crm, with_stages=True)
            if not known.crm_stages:
                continue  # never read there (or a reader that brings no stage): nothing to say
            if scores is None:
                scores = list_scores(connection)
        differences = stage_differences(scores, known, mapping, shown_as=name)
        if not differences:
            stdout.print(f"stages     ok  {name}: every contact read holds leadsync's stage")
            continue
        stdout.print(
            f"stages     {len(differences):,} {name} contact(s) hold another stage than "
            "leadsync's (as last read):"
        )
        for difference in differences[:STAGE_LINES_SHOWN]:
            shown = difference.email or f"contact #{difference.contact_id}"
            stdout.print(
                f"  {shown}: {name} {difference.in_crm or '(blank)'}, leadsync "
                f"{difference.ours}: {difference.why}",
                markup=False,
                soft_wrap=True,
            )
        if len(differences) > STAGE_LINES_SHOWN:
            stdout.print(f"  ... and {len(differences) - STAGE_LINES_SHOWN:,} more")


# The backslash keeps [crm.NAME] as text: rich help would read it as markup and drop it.
_CRM_NAME = typer.Argument(metavar="NAME", help="The CRM: NAME of a \\[crm.NAME] table.")


@app.command()
def setup(
    ctx: typer.Context,
    name: Annotated[str, _CRM_NAME],
    as_json: Annotated[bool, typer.Option("--json", help="What was created as JSON.")] = False,
) -> None:
    """Create what the CRM lacks for the mapping: for HubSpot the leadsync property group
    and the mapped properties (idempotent)."""
    settings = state_of(ctx).load()
    report = crm_adapter_of(settings, name).setup(settings.crm[name], crm_context(settings, name))
    if as_json:
        print_json(asdict(report))
        return
    group = "created" if report.group_created else "already there"
    stdout.print(f"{name}: property group leadsync {group}")
    stdout.print(f"  created: {', '.join(report.created) or 'none'}")
    stdout.print(f"  already there: {', '.join(report.existing) or 'none'}")


@app.command()
def read(
    ctx: typer.Context,
    name: Annotated[str, _CRM_NAME],
    as_json: Annotated[bool, typer.Option("--json", help="Figures as JSON.")] = False,
) -> None:
    """Read the contacts changed since the last read (profile fields, stages, lead status,
    BANT, won deals) into the store."""
    state = state_of(ctx)
    settings = state.load()
    reader = crm_reader(settings, name)  # checks the table and its mapping first
    summary = read_crm(state.store(), reader)
    if as_json:
        print_json(summary.as_dict())
        return
    stdout.print(
        f"{name}: read {summary.snapshots:,} contact(s), {summary.contacts_changed:,} "
        f"changed, {summary.rejected:,} set aside ({summary.duration_s:.1f} s)"
    )
