"""``config.toml`` + environment -> validated, frozen settings.

Every error names the file, the line and the dotted key, and says what to do.
Secrets are never read from the TOML: only from environment variables or ``*_FILE``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from connector._toml_lines import KeyLines
from connector.errors import ConfigError
from connector.rules import ScoringRules
from connector.rules_config import (
    DEFAULT_STRONG_CLICK_PATTERNS,
    LifecycleSettings,
    ScoringSettings,
    build_rules,
    contradictions,
)
from connector.secrets import read_secret, remember_secret

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_STRONG_CLICK_PATTERNS",
    "CrmSettings",
    "FileSourceSettings",
    "HubSpotSettings",
    "SalesforceSettings",
    "Settings",
    "check_rules",
    "config_path_from",
    "load_settings",
    "scoring_rules",
]

CONFIG_ENV = "LEADSYNC_CONFIG"
STORE_URL_ENV = "LEADSYNC_STORE_URL"
STORE_PASSWORD_ENV = "LEADSYNC_STORE_PASSWORD"  # noqa: S105 - the variable's name, not a secret
_SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")


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
        if parsed.password:
            raise ValueError(
                f"holds a password; remove it from the file and export {STORE_PASSWORD_ENV} "
                f"(or {STORE_PASSWORD_ENV}_FILE) instead"
            )
        return value


class IngestSettings(_Section):
    max_line_bytes: int = Field(default=1_048_576, ge=1024)
    page_size: int = Field(default=20_000, ge=1, le=200_000)
    # Files at least this large are read and validated in a second process while this
    # one writes; below it, starting that process costs more than it saves.
    subprocess_above_bytes: int = Field(default=8_388_608, ge=0)


class FileSourceSettings(_Section):
    type: Literal["file"]
    path: Path
    format: Literal["auto", "jsonl", "csv"] = "auto"


SourceSettings = Annotated[FileSourceSettings, Field(discriminator="type")]


class LoggingSettings(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class CrmDryRunSettings(_Section):
    """Mapping files the dry-run plan (``leadsync demo``, ``contacts --plan``) renders."""

    mappings: tuple[Path, ...] = (Path("mappings/hubspot.toml"), Path("mappings/salesforce.toml"))


class HubSpotSettings(_Section):
    """``[crm.hubspot]``: present means "push to HubSpot". The token comes from
    HUBSPOT_ACCESS_TOKEN or HUBSPOT_ACCESS_TOKEN_FILE, never from this file."""

    base_url: str = "https://api.hubapi.com"
    mapping: Path = Path("mappings/hubspot.toml")
    # Create contacts HubSpot does not know yet: never, only from MQL on, or always.
    create: Literal["never", "mql", "always"] = "never"
    # Pacing: at most this many calls in any 10 s (private apps get 190, public apps 100).
    requests_per_10s: int = Field(default=100, ge=1, le=1000)
    # Inputs per batch call; HubSpot's limit is 100.
    batch_size: int = Field(default=100, ge=1, le=100)
    # Write calls in flight at once (the pacing still holds): one at a time, round trips
    # would leave most of the rate limit unused.
    in_flight: int = Field(default=4, ge=1, le=10)
    timeout_s: float = Field(default=30, gt=0)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        match = re.match(r"^(https?)://([^\s/:]+)", value)
        if not match:
            raise ValueError("must be an https URL like https://api.hubapi.com")
        scheme, host = match.groups()
        if scheme == "http" and host not in ("127.0.0.1", "localhost", "::1", "[::1]"):
            raise ValueError(
                "uses http:// for a host other than this machine: the token would travel "
                "unencrypted; use https:// (http:// is only for a local test server)"
            )
        return value.rstrip("/")


class SalesforceSettings(_Section):
    """``[crm.salesforce]``: present, even empty, means "push to Salesforce". Credentials
    come from SALESFORCE_* environment variables or files, never from this file."""

    # Where logins go: login (production), test (sandbox) or your My Domain
    # ("acme.my" for https://acme.my.salesforce.com; client credentials need it).
    domain: str = "login"
    api_version: str = "62.0"
    mapping: Path = Path("mappings/salesforce.toml")
    # Create records Salesforce does not know yet (as Leads): never, only from MQL on,
    # or always.
    create: Literal["never", "mql", "always"] = "never"
    # Pushes of more changed records than this go through Bulk API 2.0 ingest jobs.
    bulk_above: int = Field(default=10_000, ge=200)
    # The share of the org's daily API requests a push may bring usage up to (read from
    # the Sforce-Limit-Info header); reaching it stops the push until later.
    api_share: float = Field(default=0.8, gt=0, le=1)
    timeout_s: float = Field(default=60, gt=0)

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9.-]*$", value) or value.endswith(".salesforce.com"):
            raise ValueError(
                'must be "login", "test" or your My Domain without ".salesforce.com" '
                '(e.g. "acme.my")'
            )
        return value

    @field_validator("api_version")
    @classmethod
    def _api_version(cls, value: str) -> str:
        if not re.match(r"^[1-9][0-9]\.0$", value):
            raise ValueError('must be an API version like "62.0"')
        return value


class CrmSettings(_Section):
    hubspot: HubSpotSettings | None = None
    salesforce: SalesforceSettings | None = None


class Settings(_Section):
    store: StoreSettings = StoreSettings()
    ingest: IngestSettings = IngestSettings()
    scoring: ScoringSettings = ScoringSettings()
    lifecycle: LifecycleSettings = LifecycleSettings()
    crm: CrmSettings = CrmSettings()
    sources: dict[str, SourceSettings] = {}
    logging: LoggingSettings = LoggingSettings()
    plan: CrmDryRunSettings = CrmDryRunSettings()

    # Where the settings came from; not keys of the file.
    config_file: Path | None = Field(default=None, exclude=True)
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True)

    @field_validator("sources")
    @classmethod
    def _source_names(cls, value: dict[str, SourceSettings]) -> dict[str, SourceSettings]:
        for name in value:
            if not _SOURCE_NAME.match(name):
                raise ValueError(
                    f"source name {name!r} must be lower-case letters, digits, '_', '-' or '.'"
                )
        return value

    def resolve(self, path: Path) -> Path:
        """Paths in the config are relative to the config file's folder."""
        return path if path.is_absolute() else self.base_dir / path

    def store_url(self) -> str:
        """The database URL with its password, if any, taken from the environment."""
        from_env = read_secret(STORE_URL_ENV)
        if from_env is not None:
            try:
                embedded = make_url(from_env.get_secret_value()).password
            except ArgumentError:
                embedded = None
            if embedded:
                remember_secret(str(embedded))
            return from_env.get_secret_value()
        if self.store.url is None:
            return f"sqlite:///{self.base_dir / 'leadsync.db'}"
        url = make_url(self.store.url)
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
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot be read ({exc})", file=shown) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise ConfigError(
            f"is not valid TOML: {exc}",
            file=shown,
            line=int(match.group(1)) if match else None,
            hint="fix the syntax (see config.example.toml)",
        ) from None
    try:
        return Settings.model_validate(
            {**raw, "config_file": path, "base_dir": path.resolve().parent}
        )
    except ValidationError as exc:
        raise config_error_from_validation(exc, file=shown, text=text) from None


def config_error_from_validation(exc: ValidationError, *, file: str, text: str) -> ConfigError:
    """The first problem of a pydantic error as a ConfigError naming file, line and key."""
    lines = KeyLines(text)
    problems = exc.errors(include_url=False)
    first = problems[0]
    loc = [part for part in first["loc"] if part != "file"]
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
    if kind in {"union_tag_invalid", "union_tag_not_found"}:
        return 'has an unknown "type"; the source types available are: "file"'
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    return f"{message} (got {error['input']!r})" if kind != "value_error" else message


def check_rules(settings: Settings, routes_by_mapping: Mapping[str, frozenset[str]]) -> None:
    """Raise a ConfigError naming file, line and key for the first contradiction among
    the scoring rules (``connector.rules_config.contradictions``)."""
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
