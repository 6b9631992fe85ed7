"""``config.toml`` + environment -> validated, frozen settings.

Every error names the file, the line and the dotted key, and says what to do.
Secrets are never read from the TOML: only from environment variables or ``*_FILE``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from connector.errors import ConfigError
from connector.ports import AdapterSettings, CrmSettings, SourceSettings
from connector.scoring.rules import ScoringRules
from connector.scoring.settings import (
    LifecycleSettings,
    ScoringSettings,
    build_rules,
    contradictions,
)
from connector.secrets import read_secret, remember_secret
from connector.settings.daemon import DaemonSettings
from connector.settings.kpi import KpiSettings
from connector.settings.serve import ServeSettings
from connector.store_forms import ACCEPTED_FORMS, accepted_store_url

__all__ = [
    "CONFIG_ENV",
    "KeyLines",
    "Settings",
    "check_rules",
    "config_error_from_validation",
    "config_path_from",
    "default_config_text",
    "default_mapping_files",
    "load_settings",
    "scoring_rules",
]

CONFIG_ENV = "LEADSYNC_CONFIG"
STORE_URL_ENV = "LEADSYNC_STORE_URL"
STORE_PASSWORD_ENV = "LEADSYNC_STORE_PASSWORD"  # noqa: S105 - the variable's name, not a secret
_SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
_Tables = TypeVar("_Tables", SourceSettings, CrmSettings)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreSettings(_Section):
    # None means "leadsync.db beside the config file"; resolved by Settings.store_url().
    url: str | None = None

    @field_validator("url")
    @classmethod
    def _no_password_in_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parsed = make_url(value)
        except ArgumentError:
            raise ValueError(
                "is not a database URL; use sqlite:///path/to/leadsync.db or "
                "postgresql+psycopg://user@host:5432/dbname"
            ) from None
        in_query = _secret_query_keys(parsed.query)
        if parsed.password or in_query:
            # The key is named, never its value: the message is printed and logged.
            where = f" in its query ({in_query[0]}=...)" if not parsed.password else ""
            if parsed.password or in_query[0].lower() == "password":
                instead = (
                    f"export {STORE_PASSWORD_ENV} (or {STORE_PASSWORD_ENV}_FILE) instead, or "
                    f"give the whole URL in {STORE_URL_ENV}"
                )
            else:  # LEADSYNC_STORE_PASSWORD only fills the URL's own password
                instead = f"give the whole URL, with it, in {STORE_URL_ENV} instead"
            raise ValueError(f"holds a password{where}; remove it from the file and {instead}")
        if accepted_store_url(parsed) is None:
            raise ValueError(
                f"names a {parsed.drivername!r} database, which leadsync cannot use; "
                f"use {ACCEPTED_FORMS}"
            )
        return value


# libpq reads these from a URL's query string as well as from ``user:password@``.
_SECRET_QUERY_KEYS = frozenset({"password", "sslpassword"})


def _secret_query_keys(query: Mapping[str, str | tuple[str, ...]]) -> list[str]:
    return sorted(key for key in query if key.lower() in _SECRET_QUERY_KEYS)


class IngestSettings(_Section):
    max_line_bytes: int = Field(default=1_048_576, ge=1024)
    page_size: int = Field(default=20_000, ge=1, le=200_000)
    # Files at least this large are read and validated in a second process while this
    # one writes; below it, starting that process costs more than it saves.
    subprocess_above_bytes: int = Field(default=8_388_608, ge=0)


class LoggingSettings(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class CrmDryRunSettings(_Section):
    """Mapping files the dry-run plan (``leadsync demo``) renders and ``check`` validates;
    none listed: each configured CRM's and each installed CRM adapter's default mapping."""

    mappings: tuple[Path, ...] = ()


class Settings(_Section):
    store: StoreSettings = StoreSettings()
    ingest: IngestSettings = IngestSettings()
    scoring: ScoringSettings = ScoringSettings()
    lifecycle: LifecycleSettings = LifecycleSettings()
    # Validated against the model of the adapter each table's type names (load_settings).
    crm: dict[str, SerializeAsAny[CrmSettings]] = {}
    sources: dict[str, SerializeAsAny[SourceSettings]] = {}
    logging: LoggingSettings = LoggingSettings()
    plan: CrmDryRunSettings = CrmDryRunSettings()
    daemon: DaemonSettings = DaemonSettings()
    serve: ServeSettings = ServeSettings()
    kpi: KpiSettings = KpiSettings()

    # Where the settings came from; not keys of the file.
    config_file: Path | None = Field(default=None, exclude=True)
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True)

    @field_validator("sources", "crm")
    @classmethod
    def _table_names(cls, value: dict[str, _Tables], info: ValidationInfo) -> dict[str, _Tables]:
        what = "source" if info.field_name == "sources" else "CRM"
        for name in value:
            if not _SOURCE_NAME.match(name):
                raise ValueError(
                    f"{what} name {name!r} must be lower-case letters, digits, '_', '-' or '.'"
                )
        return value

    def mapping_paths(self) -> tuple[Path, ...]:
        """The mapping files the dry-run plan renders and ``check`` validates: those of
        ``[plan] mappings``, else each configured CRM's and each installed CRM adapter's
        default one."""
        if self.plan.mappings:
            return self.plan.mappings
        # Imported here: connector.plugins builds adapters from these settings.
        from connector.plugins import installed_adapters

        defaults = (
            adapter.settings_model.model_fields["mapping"].default
            for _, adapter in sorted(installed_adapters().crms.items())
        )
        return tuple(
            dict.fromkeys(
                [
                    *(crm.mapping for crm in self.crm.values()),
                    *(path for path in defaults if isinstance(path, Path)),
                ]
            )
        )

        return tuple(
            adapter.settings_model.model_fields["mapping"].default
            for _, adapter in sorted(installed_adapters().crms.items())
            if isinstance(adapter.settings_model.model_fields["mapping"].default, Path)
        )

    def resolve(self, path: Path) -> Path:
        """Paths in the config are relative to the config file's folder."""
        return path if path.is_absolute() else self.base_dir / path

    def store_url(self) -> str:
        """The database URL with its password, if any, taken from the environment."""
        from_env = read_secret(STORE_URL_ENV)
        if from_env is not None:
            try:
                parsed = make_url(from_env.get_secret_value())
            except ArgumentError:
                # The value is never quoted: it may be all password.
                raise ConfigError(
                    f"{STORE_URL_ENV} is not a database URL",
                    hint=f"use {ACCEPTED_FORMS}",
                ) from None
            # The password alone is blanked out too: a driver's message may quote it
            # without the rest of the URL.
            embedded: list[str] = [str(parsed.password)] if parsed.password else []
            for key in _secret_query_keys(parsed.query):
                value = parsed.query[key]
                embedded.extend([value] if isinstance(value, str) else value)
            for secret in embedded:
                remember_secret(secret)
            accepted = accepted_store_url(parsed)
            if accepted is None:
                raise ConfigError(
                    f"{STORE_URL_ENV} names a {parsed.drivername!r} database, "
                    "which leadsync cannot use",
                    hint=f"use {ACCEPTED_FORMS}",
                )
            return accepted.render_as_string(hide_password=False)
        if self.store.url is None:
            return f"sqlite:///{self.base_dir / 'leadsync.db'}"
        # Checked when the file was read: its driver is one the store accepts.
        parsed = make_url(self.store.url)
        url = accepted_store_url(parsed) or parsed
        if url.drivername.startswith("sqlite") and url.database not in (None, "", ":memory:"):
            url = url.set(database=str(self.resolve(Path(url.database))))
        password = read_secret(STORE_PASSWORD_ENV)
        if password is not None:
            url = url.set(password=password.get_secret_value())
        return url.render_as_string(hide_password=False)


def config_path_from(option: Path | None) -> tuple[Path, bool]:
    """The config file to read and whether the user named it (then it must exist)."""
    if option is not None:
        return option, True
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        return Path(from_env), True
    return Path("config.toml"), False


def load_settings(path: Path, *, must_exist: bool = True) -> Settings:
    """Read and validate ``path``; a missing default file means all defaults."""
    shown = str(path)
    if not path.exists():
        if must_exist:
            raise ConfigError(
                "config file not found",
                file=shown,
                hint="run `leadsync init` to write one, or pass --config PATH",
            )
        return Settings(base_dir=Path.cwd())
    text, raw = _read_toml(path, shown)
    tables = {section: raw.pop(section, None) for section in ("sources", "crm")}
    # Relative paths start at the folder of the path as given, not resolved: a config
    # linked into a project (project/config.toml -> shared/leadsync.toml) reads that
    # project's data, mappings and store.
    base_dir = path.absolute().parent
    try:
        settings = Settings.model_validate({**raw, "config_file": path, "base_dir": base_dir})
    except ValidationError as exc:
        raise config_error_from_validation(exc, file=shown, text=text) from None
    lines = KeyLines(text)
    sources = {
        name: _adapter_settings(("sources", name), table, lines, shown, text)
        for name, table in _tables_of(tables["sources"], "sources", lines, shown).items()
    }
    crms = {
        name: _adapter_settings(("crm", name), table, lines, shown, text)
        for name, table in _tables_of(tables["crm"], "crm", lines, shown).items()
    }
    try:
        # Checks the names; the settings inside are the adapters' models, kept as they are.
        return Settings.model_validate({**settings.__dict__, "sources": sources, "crm": crms})
    except ValidationError as exc:
        raise config_error_from_validation(exc, file=shown, text=text) from None


def _read_toml(path: Path, shown: str) -> tuple[str, dict[str, Any]]:
    """The file's text and its tables; a ConfigError naming the file (and the line of a
    syntax error) when it cannot be read or is not TOML."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot be read ({exc})", file=shown) from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise ConfigError(
            f"is not valid TOML: {exc}",
            file=shown,
            line=int(match.group(1)) if match else None,
            hint="fix the syntax (see config.example.toml)",
        ) from None


def _tables_of(
    value: object, section: str, lines: KeyLines, shown: str
) -> dict[str, dict[str, Any]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(
            f"[{section}] must hold tables like [{section}.NAME]",
            file=shown,
            line=lines.line_of([section]),
            key=section,
        )
    for name, table in value.items():
        if not isinstance(table, dict):
            raise ConfigError(
                f"[{section}.{name}] must be a table: write it as [{section}.{name}] with its "
                "keys below",
                file=shown,
                line=lines.line_of([section, name]),
                key=f"{section}.{name}",
            )
    return value


def _adapter_settings(
    loc: tuple[str, str], table: dict[str, Any], lines: KeyLines, shown: str, text: str
) -> AdapterSettings:
    """``table`` validated with the settings model of the adapter its ``type`` names."""
    # Imported here: connector.plugins builds adapters from these settings.
    from connector.plugins import installed_adapters

    section, name = loc
    adapters = installed_adapters()
    kinds = adapters.sources if section == "sources" else adapters.crms
    what = "source" if section == "sources" else "CRM"
    if not _SOURCE_NAME.match(name):
        raise ConfigError(
            f"[{section}.{name}] {what} name {name!r} must be lower-case letters, digits, '_', "
            "'-' or '.'",
            file=shown,
            line=lines.line_of(list(loc)),
            key=".".join(loc),
        )
    type_name = table.get("type", name if section == "crm" else None)
    if type_name is None:
        raise ConfigError(
            f'[{section}.{name}] has no "type"; add one of: {_names(kinds)}',
            file=shown,
            line=lines.line_of(list(loc)),
            key=".".join(loc),
        )
    adapter = kinds.get(str(type_name))
    if adapter is None:
        raise ConfigError(
            f'[{section}.{name}] has an unknown "type" {type_name!r}; the {what} types '
            f"available are: {_names(kinds)}",
            file=shown,
            line=lines.line_of(list(loc)),
            key=".".join(loc),
        )
    model: type[AdapterSettings] = adapter.settings_model
    try:
        return model.model_validate(table)
    except ValidationError as exc:
        raise config_error_from_validation(exc, file=shown, text=text, prefix=loc) from None


def _names(kinds: Mapping[str, object]) -> str:
    return ", ".join(f'"{kind}"' for kind in sorted(kinds)) or "none installed"


def config_error_from_validation(
    exc: ValidationError, *, file: str, text: str, prefix: Sequence[str] = ()
) -> ConfigError:
    """The first problem of a pydantic error as a ConfigError naming file, line and key
    (``prefix``: where in the file the validated table stands)."""
    lines = KeyLines(text)
    problems = exc.errors(include_url=False)
    first = problems[0]
    loc = [*prefix, *(part for part in first["loc"] if part != "file")]
    key = ".".join(str(part) for part in loc)
    message = _describe(first)
    more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
    return ConfigError(
        f"[{key}] {message}{more}" if key else f"{message}{more}",
        file=file,
        line=lines.line_of(loc),
        key=key or None,
    )


def _describe(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "is not a known key; check its spelling against config.example.toml or remove it"
    if kind == "missing":
        return "is required; add it"
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    return f"{message} (got {error['input']!r})" if kind != "value_error" else message


def check_rules(settings: Settings, routes_by_mapping: Mapping[str, frozenset[str]]) -> None:
    """Raise a ConfigError naming file, line and key for the first contradiction among
    the scoring rules (``connector.scoring.settings.contradictions``)."""
    problems = contradictions(settings.scoring, routes_by_mapping)
    if not problems:
        return
    shown = str(settings.config_file) if settings.config_file else "config.toml"
    text = settings.config_file.read_text(encoding="utf-8") if settings.config_file else ""
    first = problems[0]
    key = ".".join(str(part) for part in first.loc)
    more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
    raise ConfigError(
        f"[{key}] {first.message}{more}",
        file=shown,
        line=KeyLines(text).line_of(first.loc),
        key=key,
    )


def scoring_rules(settings: Settings) -> ScoringRules:
    """The rules the settings describe: your behaviour rules, then the built-in table
    (unless ``default_rules = false``), your fit rules, the bands and the lifecycle."""
    return build_rules(settings.scoring, settings.lifecycle)


def candidate_rules(path: Path, settings: Settings) -> ScoringRules:
    """The rules of a candidate file for ``leadsync simulate``: the current config's
    ``[scoring]`` and ``[lifecycle]`` with each key the candidate's tables give in place
    of the current one (a list of rules replaces the whole list); its other tables are not
    read, so a copy of the whole config.toml will do, and so will a file of one key."""
    shown = str(path)
    if not path.is_file():
        raise ConfigError(
            "candidate file not found", file=shown, hint="give the path of a TOML file"
        )
    text, raw = _read_toml(path, shown)
    if "scoring" not in raw and "lifecycle" not in raw:
        raise ConfigError(
            "has neither a [scoring] nor a [lifecycle] table: there is nothing to simulate",
            file=shown,
            hint="copy those tables from config.toml and change what you want to try",
        )
    tables: dict[str, Any] = {"scoring": settings.scoring, "lifecycle": settings.lifecycle}
    for table, model in (("scoring", ScoringSettings), ("lifecycle", LifecycleSettings)):
        if table not in raw:
            continue
        given = raw[table]
        if not isinstance(given, dict):
            raise ConfigError(f"[{table}] must be a table", file=shown, key=table)
        current = tables[table].model_dump(mode="json", exclude_unset=True)
        try:
            model.model_validate(given)  # its own mistakes, named at its own lines
            tables[table] = model.model_validate({**current, **given})
        except ValidationError as exc:
            raise config_error_from_validation(
                exc, file=shown, text=text, prefix=(table,)
            ) from None
    return build_rules(tables["scoring"], tables["lifecycle"])


# -- where a key stands in the TOML text ---------------------------------------------------
# ``tomllib`` keeps no positions; this reads the text once more, line by line, and records
# where each table header and each ``key =`` stands. It is meant for error messages only:
# a key it cannot place falls back to its table's header line.

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(
    r"^\s*((?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'))*)\s*="
)

KeyPath = tuple[str | int, ...]


def _split_dotted(text: str) -> list[str]:
    parts = re.findall(r"\"[^\"]*\"|'[^']*'|[A-Za-z0-9_-]+", text)
    return [part.strip("\"'") for part in parts]


class KeyLines:
    """Line numbers (1-based) of the tables and keys of one TOML document."""

    def __init__(self, text: str) -> None:
        self._lines: dict[KeyPath, int] = {}
        array_counts: dict[tuple[str, ...], int] = {}
        table: KeyPath = ()
        for number, raw in enumerate(text.splitlines(), start=1):
            header = _HEADER.match(raw)
            if header:
                names = tuple(_split_dotted(header.group(2)))
                if header.group(1) == "[[":
                    index = array_counts.get(names, -1) + 1
                    array_counts[names] = index
                    table = (*names, index)
                    self._lines.setdefault(names, number)
                else:
                    table = names
                self._lines.setdefault(table, number)
                continue
            key = _KEY.match(raw)
            if key:
                self._lines.setdefault((*table, *_split_dotted(key.group(1))), number)

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """The line of ``loc`` or, failing that, of its nearest enclosing key or table."""
        known_prefixes = {path[:n] for path in self._lines for n in range(1, len(path) + 1)}
        placed: list[str | int] = []
        for part in loc:
            candidate = (*placed, part)
            if candidate in known_prefixes:
                placed.append(part)
        while placed:
            line = self._lines.get(tuple(placed))
            if line is not None:
                return line
            placed.pop()
        return None


# -- the files `leadsync init` writes -------------------------------------------------------
# A wheel carries config.example.toml and mappings/*.toml in ``connector/_default_files``
# (see pyproject.toml); an editable install reads them from the checkout, so there is one
# copy of each in the repository.

_PACKAGED = Path(__file__).with_name("_default_files")
_CHECKOUT = Path(__file__).resolve().parent.parent


def _root() -> Path:
    return _PACKAGED if (_PACKAGED / "config.example.toml").exists() else _CHECKOUT


def default_config_text() -> str:
    return (_root() / "config.example.toml").read_text(encoding="utf-8")


def default_mapping_files() -> dict[str, str]:
    """File name -> text of each default mapping file."""
    folder = _root() / "mappings"
    return {path.name: path.read_text(encoding="utf-8") for path in sorted(folder.glob("*.toml"))}
