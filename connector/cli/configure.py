"""`leadsync init` and `leadsync check`: write the config files, validate them."""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from connector.cli.crm import check_crms_online, print_stage_differences
from connector.cli.render import stdout
from connector.cli.state import state_of
from connector.config import (
    KeyLines,
    Settings,
    check_rules,
    default_config_text,
    default_mapping_files,
    scoring_rules,
)
from connector.crm.mapping import check_mapping_routes, load_mapping
from connector.errors import ConfigError
from connector.model import EventKind
from connector.plugins import crm_adapter_of, installed_adapters, source_context
from connector.scoring.machine import machine_rules_in_words
from connector.scoring.settings import routes_built_in
from connector.store.engine import create_store_engine, describe_url, store_revision

__all__ = ["app"]

app = typer.Typer()


@app.command()
def init(
    directory: Annotated[
        Path, typer.Argument(metavar="DIR", help="Where to write config.toml and mappings/.")
    ] = Path(),
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
) -> None:
    """Write a commented config.toml and the default mapping files, ready to use."""
    targets = {directory / "config.toml": default_config_text()}
    for name, text in default_mapping_files().items():
        targets[directory / "mappings" / name] = text
    existing = [str(path) for path in targets if path.exists() or path.is_symlink()]
    if existing and not force:
        raise ConfigError(
            f"{', '.join(existing)} already exist(s)",
            hint="pass --force to overwrite, or choose another folder",
        )
    for path, text in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink() or path.exists():
            # --force puts a new file in place of the old name; it never writes through
            # a symbolic link, or into a file hard-linked under another name, to change
            # a file elsewhere.
            path.unlink()
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
            "(properties and their options), and list the contacts whose stage there, as "
            "last read, differs from leadsync's, and why; and try each source's API key "
            "where it has one. Needs the CRM's token and the sources' keys.",
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
    yours = len(settings.scoring.behaviour)
    # Counted by name, as the README's table lists them: one built-in rule may match in
    # two ways (a strong click by its URL or by its "strong" attribute).
    built_in = len({rule.name for rule in rules.behaviour[yours:]})
    stdout.print(
        f"rules      ok  {built_in} built-in behaviour, {yours} yours, {len(rules.fit)} fit; "
        f"bands: warm from {rules.bands.warm_from:g}, hot above {rules.bands.hot_above:g}"
    )
    stdout.print(f"machine    ok  {machine_rules_in_words(rules.machine)}", markup=False)
    scored_kinds = {rule.kind for rule in rules.behaviour if rule.points != 0}
    for name, source in settings.sources.items():
        adapter = installed_adapters().source(source.type, key=f"sources.{name}.type")
        context = source_context(settings, name)
        try:
            described = adapter.check(source, context) if adapter.check else source.type
        except ConfigError as error:
            raise _in_config(settings, shown, error) from None
        stdout.print(f"source     ok  {name} ({described})")
        if adapter.mapped_kinds is not None:
            _warn_of_unscored(adapter.mapped_kinds(source), scored_kinds, f"sources.{name}.")
        if online and adapter.check_online is not None:
            try:
                answered = adapter.check_online(source, context)
            except ConfigError as error:
                raise _in_config(settings, shown, error) from None
            stdout.print(f"online     ok  {name}: {answered}")
    for name, crm in settings.crm.items():
        declared = crm_adapter_of(settings, name)
        stdout.print(
            f"crm        ok  {name} ({declared.type_name}, {crm.mapping}; "
            f"{_secrets_text(declared.secrets)})"
        )
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
    if online and current == head:
        print_stage_differences(settings, create_store_engine(url))


def _warn_of_unscored(
    mapped: Mapping[str, EventKind], scored: Collection[EventKind], table: str
) -> None:
    """A vendor's goal or event mapped to a kind no rule gives points: stored, never
    counted. A warning, not an error: the admin may mean to add the rule later."""
    for key, kind in mapped.items():
        if kind not in scored:
            stdout.print(
                f"warning        {table}{key} maps to {kind.value}, which no scoring rule gives "
                "points: add a [[scoring.behaviour]] rule for it, or map it to a scored kind",
                markup=False,
            )


def _in_config(settings: Settings, shown: str, error: ConfigError) -> ConfigError:
    """An adapter's error about its keys, placed in the config: the adapter knows the key;
    the file and its line are the config's."""
    return ConfigError(
        error.message,
        file=shown,
        line=_line_of(settings, error.key),
        key=error.key,
        hint=error.hint,
    )


def _line_of(settings: Settings, key: str | None) -> int | None:
    if key is None or settings.config_file is None:
        return None
    return KeyLines(settings.config_file.read_text(encoding="utf-8")).line_of(key.split("."))


def _secrets_text(names: tuple[str, ...]) -> str:
    """Which of an adapter's secret variables are set (offline: whether they work is
    `check --online`'s business)."""
    if not names:
        return "no secrets"
    found = [name for name in names if os.environ.get(name) or os.environ.get(f"{name}_FILE")]
    if not found:
        return f"none of {', '.join(names)} set"
    return f"{', '.join(found)} set"
