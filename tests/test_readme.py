"""README.md and config.example.toml say what the code does: every command and option the
README names exists in the Typer app, every config key it names is a field of the settings
models, config.example.toml loads, and the built-in rules table lists every built-in rule.

Each problem is reported with the README line that names it, since several people edit
the README at once."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pydantic
import typer.main

from connector.cli.app import GLOBAL_FLAGS, app
from connector.config import ScoringSettings, Settings, load_settings
from connector.errors import ConfigError
from connector.plugins import installed_adapters
from connector.ports import CrmSettings, SourceSettings
from connector.scoring.rules import default_behaviour_rules
from tests.cli.test_cli import leadsync
from tests.conftest import REPO_ROOT

README = REPO_ROOT / "README.md"
CLI = typer.main.get_command(app)
# Options of the benchmark scripts (`python bench/...`), not of the leadsync command.
BENCHMARKS_HEADING = "## Benchmarks"

_SPAN = re.compile(r"`+([^`]+)`+")
_TABLE_KEY = re.compile(r"^\[([a-z0-9_.]+|[a-z]+\.NAME)\] ([a-z_]+)$")
_OPTION = re.compile(r"^--[a-z][a-z0-9-]*$")


def _subcommands(command: Any) -> dict[str, Any] | None:
    # Typer carries its own copy of click (typer._click): read the tree by its attributes.
    return getattr(command, "commands", None)


def _numbered(text: str) -> list[tuple[int, str]]:
    return list(enumerate(text.splitlines(), start=1))


def _command_mentions(text: str) -> list[tuple[int, str]]:
    """`leadsync ...` in code spans, and lines of sh blocks that run leadsync."""
    found: list[tuple[int, str]] = []
    in_sh = False
    for number, line in _numbered(text):
        if line.startswith("```"):
            in_sh = line.strip() == "```sh" and not in_sh
            continue
        if in_sh:
            if line.startswith("leadsync "):
                found.append((number, line.split("#")[0]))
            continue
        found += [(number, span) for span in _SPAN.findall(line) if span.startswith("leadsync ")]
    return found


def _tokens(mention: str) -> list[str]:
    # `[--crm NAME]`, `auto\|jsonl`, `A / B`: brackets and alternatives are not words.
    return [token for token in re.split(r"[\s\[\]|\\/]+", mention) if token]


def command_problems(text: str) -> list[str]:
    """Each `leadsync COMMAND [SUBCOMMAND] [--option]` naming what the app lacks."""
    problems: list[str] = []
    for number, mention in _command_mentions(text):
        command: Any = CLI
        names = ["leadsync"]
        tokens = _tokens(mention)[1:]
        while tokens:
            token = tokens.pop(0)
            if token.startswith("-"):
                option = token.split("=")[0]
                known = {name: param for param in command.params for name in param.opts}
                if option not in known and (
                    _subcommands(command) is not None or option in GLOBAL_FLAGS
                ):
                    # The root's options; --debug is also taken after any command.
                    known = {name: param for param in CLI.params for name in param.opts}
                param = known.get(option)
                if param is None:
                    problems.append(
                        f"README.md:{number}: `{mention.strip()}`: `{' '.join(names)}` "
                        f"has no option {option}"
                    )
                elif param.param_type_name == "option" and not param.is_flag and "=" not in token:
                    tokens[:1] = []  # its value
                continue
            if _subcommands(command) is None:
                break  # arguments from here on (FILE, EMAIL, NAME...)
            if not re.fullmatch(r"[a-z][a-z-]*", token):
                break
            sub = command.commands.get(token)
            if sub is None:
                problems.append(
                    f"README.md:{number}: `{mention.strip()}`: `{' '.join(names)}` has no "
                    f"command {token!r} (it has: {', '.join(sorted(command.commands))})"
                )
                break
            command, names = sub, [*names, token]
    return problems


def _all_options(command: Any) -> set[str]:
    found = {"--help", *(name for param in command.params for name in param.opts)}
    for sub in (_subcommands(command) or {}).values():
        found |= _all_options(sub)
    return found


def option_problems(text: str) -> list[str]:
    """Each `--option` span outside the benchmarks that no leadsync command has."""
    options = _all_options(CLI)
    problems: list[str] = []
    section = ""
    for number, line in _numbered(text):
        if line.startswith("## "):
            section = line
        if section == BENCHMARKS_HEADING:
            continue
        for span in _SPAN.findall(line):
            option = span.split("=")[0].split(" ")[0]
            if _OPTION.match(option) and option not in options:
                problems.append(f"README.md:{number}: `{span}` is no option of any command")
    return problems


def _model_of(table: str) -> type[pydantic.BaseModel] | None:
    parts = table.split(".")
    if parts[0] == "crm" and len(parts) == 2:
        crms = installed_adapters().crms
        return crms[parts[1]].settings_model if parts[1] in crms else CrmSettings
    if parts[0] == "sources" and len(parts) == 2:
        return SourceSettings
    field = Settings.model_fields.get(parts[0])
    if field is None or len(parts) != 1:
        return None
    model = field.annotation
    return model if isinstance(model, type) and issubclass(model, pydantic.BaseModel) else None


def _key_problem(number: int, table: str, key: str) -> str | None:
    model = _model_of(table.replace("NAME", "x"))  # [crm.NAME]: the keys of every CRM
    if model is None:
        return f"README.md:{number}: [{table}] is no table of config.toml"
    if key not in model.model_fields:
        return f"README.md:{number}: [{table}] {key}: {model.__name__} has no field {key!r}"
    return None


def _key_table_row(
    number: int, line: str, table_of_bare_keys: str | None, problems: list[str]
) -> list[tuple[str, str]]:
    """The (table, key) pairs one row of a `| key |` table names."""
    cells = line.split("|")[1:-1]
    first = _SPAN.findall(cells[0])
    if not first:
        return []
    listed = _TABLE_KEY.match(first[0])
    if listed:  # `[scoring] warm_from`, `hot_above`
        return [
            (listed[1], key) for key in [listed[2], *first[1:]] if re.fullmatch(r"[a-z_]+", key)
        ]
    table = re.fullmatch(r"\[([a-z0-9_.A-Z]+)\](?: type = \"(\w+)\")?", first[0])
    if table is not None and len(cells) > 2:
        # `[crm.hubspot]` | | `base_url`, `mapping`, ... (see "HubSpot"): keys before "(".
        keys = [key for key in _SPAN.findall(cells[2].split("(")[0]) if re.fullmatch(r"\w+", key)]
        if table[2] is None:
            return [(table[1], key) for key in keys]
        model = installed_adapters().sources[table[2]].settings_model
        problems += [
            f"README.md:{number}: [{table[1]}] type = {table[2]!r}: {model.__name__} has no "
            f"field {key!r}"
            for key in keys
            if key not in model.model_fields
        ]
        return []
    if table_of_bare_keys and re.fullmatch(r"[a-z_]+", first[0]):
        return [(table_of_bare_keys, first[0])]  # Salesforce's `domain` | `login` | ...
    return []


def key_problems(text: str) -> list[str]:
    """Each `[table] key` (in prose and in the key tables) naming no settings field."""
    problems: list[str] = []
    table_of_bare_keys: str | None = None  # the table a `| key |` table describes
    in_key_table = False
    for number, line in _numbered(text):
        if line.startswith("| key |"):
            in_key_table = True
            continue
        if not line.startswith("|"):
            in_key_table = False
        spans = _SPAN.findall(line)
        named: list[tuple[str, str]] = []
        for span in spans:
            matched = _TABLE_KEY.match(span)
            if matched:
                named.append((matched[1], matched[2]))
        if in_key_table and not line.startswith("|---"):
            named += _key_table_row(number, line, table_of_bare_keys, problems)
        for span in spans:
            if re.fullmatch(r"\[[a-z0-9_.]+\]", span):
                table_of_bare_keys = span[1:-1]
        for table, key in dict.fromkeys(named):
            problem = _key_problem(number, table, key)
            if problem:
                problems.append(problem)
    return problems


def toml_block_problems(text: str, tmp_path: Path) -> list[str]:
    """Each ```toml block of config.toml tables the real loader refuses."""
    problems: list[str] = []
    for index, matched in enumerate(re.finditer(r"^```toml\n(.*?)^```", text, re.M | re.S)):
        number = text[: matched.start()].count("\n") + 1
        block = matched[1]
        if not set(tomllib.loads(block)) <= set(Settings.model_fields):
            continue  # pyproject.toml's entry points, say
        config = tmp_path / f"block{index}.toml"
        config.write_text(block, encoding="utf-8")
        try:
            load_settings(config)
        except ConfigError as error:
            problems.append(f"README.md:{number}: the TOML block is refused: {error}")
    return problems


class TestReadmeNamesWhatExists:
    def test_every_command_and_option_exists(self) -> None:
        text = README.read_text(encoding="utf-8")
        assert command_problems(text) + option_problems(text) == []

    def test_every_config_key_is_a_settings_field(self, tmp_path: Path) -> None:
        text = README.read_text(encoding="utf-8")
        assert key_problems(text) + toml_block_problems(text, tmp_path) == []

    def test_a_fake_command_option_and_key_are_named_with_their_line(self, tmp_path: Path) -> None:
        """The checks above would catch what is not there, at its README line."""
        text = README.read_text(encoding="utf-8")
        fake = "\n".join(
            [
                "## Trying the checks",  # the benchmarks' options are not checked
                "`leadsync frobnicate`, `leadsync push --zap`, `leadsync crm wipe NAME`",
                "`--nowhere`, and `[scoring] warmth`",
                "```toml\n[scoring]\nhot_above = 30\nwarmth = 1\n```",
            ]
        )
        first = len(text.splitlines()) + 2
        broken = text.rstrip("\n") + "\n" + fake

        found = (
            command_problems(broken)
            + option_problems(broken)
            + key_problems(broken)
            + toml_block_problems(broken, tmp_path)
        )

        assert [problem.split(": ")[0] for problem in found] == [
            f"README.md:{line}" for line in (first, first, first, first + 1, first + 1, first + 2)
        ]
        commands = _subcommands(CLI)
        assert commands is not None and {"check", "contacts", "score", "sync"} <= set(commands)
        assert found[0].endswith(
            f"`leadsync` has no command 'frobnicate' (it has: {', '.join(sorted(commands))})"
        )
        assert found[1].endswith("`leadsync push` has no option --zap")
        assert found[2].endswith("`leadsync crm` has no command 'wipe' (it has: read, setup)")
        assert found[3].endswith("`--nowhere` is no option of any command")
        assert found[4].endswith("[scoring] warmth: ScoringSettings has no field 'warmth'")
        assert "[scoring.warmth] is not a known key" in found[5]


def document_problems(text: str) -> list[str]:
    """Each Markdown document named in a code span that the repository lacks."""
    return [
        f"README.md:{number}: `{span}` is not in the repository"
        for number, line in _numbered(text)
        for span in _SPAN.findall(line)
        if span.endswith(".md") and not (REPO_ROOT / span).is_file()
    ]


class TestReadmeCitesWhatIsThere:
    def test_every_markdown_file_it_names_is_in_the_repository(self) -> None:
        text = README.read_text(encoding="utf-8")
        assert document_problems(text) == []
        assert document_problems("x\nsee `DOMAIN.md`") == [
            "README.md:2: `DOMAIN.md` is not in the repository"
        ]


class TestConfigExample:
    def test_loads_with_the_real_loader_and_documents_every_section(self) -> None:
        settings = load_settings(REPO_ROOT / "config.example.toml")
        written = tomllib.loads((REPO_ROOT / "config.example.toml").read_text(encoding="utf-8"))
        assert settings.scoring == ScoringSettings(**written["scoring"])
        sections = {
            name
            for name, field in Settings.model_fields.items()
            if name not in ("crm", "sources") and not field.exclude
        }
        text = (REPO_ROOT / "config.example.toml").read_text(encoding="utf-8")
        assert {name for name in sections if f"[{name}]" not in text} == set()


class TestBuiltInRulesTable:
    def _table_rules(self) -> list[str]:
        text = README.read_text(encoding="utf-8")
        section = text.split("### Built-in behaviour rules")[1].split("\n### ")[0]
        return [_SPAN.findall(line)[0] for line in section.splitlines() if line.startswith("| `")]

    def test_lists_every_built_in_rule_once(self) -> None:
        built_in = default_behaviour_rules(ScoringSettings().strong_click_patterns)
        listed = self._table_rules()
        assert sorted(listed) == sorted({rule.name for rule in built_in})

    def test_check_counts_what_the_table_lists(self, tmp_path: Path) -> None:
        assert leadsync("init", tmp_path, cwd=tmp_path).returncode == 0
        checked = leadsync("check", cwd=tmp_path)
        assert checked.returncode == 0, checked.stderr
        (line,) = [line for line in checked.stdout.splitlines() if line.startswith("rules")]
        assert line.startswith(f"rules      ok  {len(self._table_rules())} built-in behaviour, ")
