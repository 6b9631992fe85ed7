"""config.toml + environment -> Settings: defaults, errors naming file:line:key, store URL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from adapters.files import FileSourceSettings
from connector.config import (
    CONFIG_ENV,
    Settings,
    config_path_from,
    load_settings,
    scoring_rules,
)
from connector.errors import ConfigError, ExitCode
from connector.secrets import redact
from tests.conftest import REPO_ROOT

EXAMPLE = REPO_ROOT / "config.example.toml"
STORE_ENV = (
    "LEADSYNC_STORE_URL",
    "LEADSYNC_STORE_URL_FILE",
    "LEADSYNC_STORE_PASSWORD",
    "LEADSYNC_STORE_PASSWORD_FILE",
    CONFIG_ENV,
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in STORE_ENV:
        monkeypatch.delenv(name, raising=False)


def write_config(folder: Path, text: str, name: str = "config.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def config_error(folder: Path, text: str) -> ConfigError:
    path = write_config(folder, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.exit_code is ExitCode.CONFIG
    return caught.value


# -- config.example.toml ---------------------------------------------------------------------


def test_example_config_loads_and_states_the_defaults() -> None:
    loaded = load_settings(EXAMPLE)
    defaults = Settings()
    assert loaded.config_file == EXAMPLE
    assert loaded.base_dir == EXAMPLE.resolve().parent
    # model_dump leaves out config_file and base_dir (exclude=True): every section else.
    assert loaded.model_dump() == defaults.model_dump()
    for section in ("store", "ingest", "scoring", "sources", "logging", "plan"):
        assert getattr(loaded, section) == getattr(defaults, section), section


def test_example_config_gives_the_default_rules_fingerprint() -> None:
    loaded = load_settings(EXAMPLE)
    assert scoring_rules(loaded).fingerprint() == scoring_rules(Settings()).fingerprint()


def test_example_config_commented_examples_are_valid(tmp_path: Path) -> None:
    """Uncommenting the example's store url and [sources.tradeshow] gives a valid file."""
    text = EXAMPLE.read_text(encoding="utf-8")
    # The tradeshow table and its three keys only: the routers' examples follow it.
    uncommented = re.sub(r'^# (url = "sqlite)', r"\1", text, flags=re.MULTILINE)
    uncommented = re.sub(
        r"^# (\[sources\.tradeshow\]\n)# (type = .*\n)# (path = .*\n)# (format = )",
        r"\1\2\3\4",
        uncommented,
        flags=re.MULTILINE,
    )
    assert uncommented.count("\n") == text.count("\n")
    assert '\nurl = "sqlite:///leadsync.db"' in uncommented
    assert "\n[sources.tradeshow]\ntype = " in uncommented
    settings = load_settings(write_config(tmp_path, uncommented))
    assert settings.sources == {
        "tradeshow": FileSourceSettings(
            type="file", path=Path("data/tradeshow-2026.jsonl"), format="auto"
        )
    }
    # The example's sqlite URL is the default location, once resolved beside the file.
    assert settings.store_url() == Settings(base_dir=tmp_path).store_url()


def test_missing_default_config_means_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(Path("config.toml"), must_exist=False)
    assert settings.model_dump() == Settings().model_dump()
    assert settings.config_file is None
    assert settings.base_dir == tmp_path


def test_relative_paths_start_at_the_config_folder(tmp_path: Path) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    settings = load_settings(
        write_config(folder, '[sources.x]\ntype = "file"\npath = "data/x.jsonl"\n')
    )
    assert settings.resolve(settings.sources["x"].path) == folder / "data" / "x.jsonl"
    assert settings.resolve(Path("/abs/x.jsonl")) == Path("/abs/x.jsonl")


def test_relative_paths_of_a_linked_config_start_at_the_link_folder(tmp_path: Path) -> None:
    """A config linked into a project (project/config.toml -> shared/leadsync.toml) reads
    the project's data, mappings and store, not the shared folder's."""
    shared = tmp_path / "shared"
    shared.mkdir()
    target = write_config(
        shared,
        '[store]\nurl = "sqlite:///state/leadsync.db"\n'
        '[sources.x]\ntype = "file"\npath = "data/x.jsonl"\n'
        '[plan]\nmappings = ["mappings/hubspot.toml"]\n',
        name="leadsync.toml",
    )
    project = tmp_path / "project"
    project.mkdir()
    link = project / "config.toml"
    link.symlink_to(target)

    settings = load_settings(link)

    assert settings.config_file == link
    assert settings.base_dir == project
    assert settings.resolve(settings.sources["x"].path) == project / "data" / "x.jsonl"
    assert [settings.resolve(path) for path in settings.mapping_paths()] == [
        project / "mappings" / "hubspot.toml"
    ]
    assert make_url(settings.store_url()).database == str(project / "state" / "leadsync.db")


def test_relative_config_path_starts_at_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "etc").mkdir()
    write_config(tmp_path / "etc", "")
    monkeypatch.chdir(tmp_path)
    assert load_settings(Path("etc/config.toml")).base_dir == tmp_path / "etc"


# -- errors name file, line and key ------------------------------------------------------------


def test_unknown_key_names_file_line_and_dotted_key(tmp_path: Path) -> None:
    path = write_config(tmp_path, "[scoring]\nwarm_frm = 3\n")
    with pytest.raises(
        ConfigError, match=r"config.toml:2: \[scoring.warm_frm\] is not a known key"
    ) as caught:
        load_settings(path)
    error = caught.value
    assert str(error).startswith(f"{path}:2: ")
    assert error.line == 2
    assert error.key == "scoring.warm_frm"
    assert "config.example.toml" in str(error)


def test_unknown_key_after_other_lines_and_comments(tmp_path: Path) -> None:
    text = (
        "# a comment\n"
        "[ingest]\n"
        "page_size = 10\n"
        "\n"
        "[scoring]\n"
        "warm_from = 5   # trailing comment\n"
        "hot_above = 30\n"
        "colour = 'red'\n"
    )
    error = config_error(tmp_path, text)
    assert re.match(r".*config\.toml:8: \[scoring\.colour\] is not a known key", str(error))


def test_unknown_top_level_key(tmp_path: Path) -> None:
    error = config_error(tmp_path, "[ingest]\npage_size = 10\n\n[scoring_rules]\nx = 1\n")
    assert re.match(r".*config\.toml:4: \[scoring_rules\] is not a known key", str(error))


def test_unknown_key_inside_a_file_source(tmp_path: Path) -> None:
    text = '[sources.x]\ntype = "file"\npath = "x.jsonl"\nformt = "csv"\n'
    error = config_error(tmp_path, text)
    assert re.match(r".*config\.toml:4: \[sources\.x\.formt\] is not a known key", str(error))
    assert error.key == "sources.x.formt"


def test_unknown_key_in_the_second_of_two_sources(tmp_path: Path) -> None:
    text = (
        '[sources.a]\ntype = "file"\npath = "a.jsonl"\n\n'
        '[sources.b]\ntype = "file"\npath = "b.jsonl"\ncolumns = 3\n'
    )
    error = config_error(tmp_path, text)
    assert re.match(r".*config\.toml:8: \[sources\.b\.columns\] is not a known key", str(error))


def test_wrong_type_names_line_and_key(tmp_path: Path) -> None:
    error = config_error(tmp_path, '[scoring]\n\nwarm_from = "ten"\n')
    assert re.match(r".*config\.toml:3: \[scoring\.warm_from\] ", str(error))
    assert "'ten'" in str(error)
    assert error.key == "scoring.warm_from"


def test_wrong_enum_value_names_line_and_key(tmp_path: Path) -> None:
    error = config_error(tmp_path, '[logging]\nlevel = "info"\nformat = "xml"\n')
    assert re.match(r".*config\.toml:3: \[logging\.format\] ", str(error))
    assert "'xml'" in str(error)


def test_out_of_range_value_names_line_and_key(tmp_path: Path) -> None:
    error = config_error(tmp_path, "[ingest]\nmax_line_bytes = 10\n")
    assert re.match(r".*config\.toml:2: \[ingest\.max_line_bytes\] ", str(error))
    assert "1024" in str(error)


def test_warm_from_above_hot_above_is_refused(tmp_path: Path) -> None:
    error = config_error(tmp_path, "[scoring]\nwarm_from = 30\nhot_above = 20\n")
    message = str(error)
    assert re.match(r".*config\.toml:\d+: \[scoring\] ", message)
    assert "warm_from (30) is above hot_above (20)" in message
    assert error.line is not None


def test_equal_bands_are_accepted(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, "[scoring]\nwarm_from = 15\nhot_above = 15\n"))
    assert settings.scoring.warm_from == settings.scoring.hot_above == 15


def test_broken_toml_names_the_line(tmp_path: Path) -> None:
    error = config_error(tmp_path, "[scoring]\nwarm_from = 3\nhot_above = \n")
    assert re.match(r".*config\.toml:3: is not valid TOML", str(error))
    assert error.line == 3


def test_unknown_source_type_names_type(tmp_path: Path) -> None:
    error = config_error(tmp_path, '[sources.x]\ntype = "ftp"\npath = "x"\n')
    message = str(error)
    assert re.match(r".*config\.toml:\d+: \[sources\.x", message)
    assert '"type"' in message
    assert '"file"' in message  # says which types exist


def test_source_without_type_or_path(tmp_path: Path) -> None:
    error = config_error(tmp_path, '[sources.x]\npath = "x.jsonl"\n')
    assert re.match(r".*config\.toml:\d+: \[sources\.x", str(error))
    assert "type" in str(error)
    error = config_error(tmp_path, '[sources.x]\ntype = "file"\n')
    assert re.match(r".*config\.toml:1: \[sources\.x\.path\] is required", str(error))


def test_bad_source_name(tmp_path: Path) -> None:
    error = config_error(tmp_path, '[sources.Trade_Show]\ntype = "file"\npath = "x.jsonl"\n')
    assert "Trade_Show" in str(error)
    assert "lower-case" in str(error)


def test_several_problems_are_counted(tmp_path: Path) -> None:
    error = config_error(tmp_path, "[scoring]\nwarm_frm = 3\nhot_abov = 4\n")
    assert re.match(r".*config\.toml:2: \[scoring\.warm_frm\]", str(error))
    assert "and 1 more problem" in str(error)


def test_named_missing_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as caught:
        load_settings(missing)
    message = str(caught.value)
    assert message.startswith(f"{missing}: ")
    assert "config file not found" in message
    assert "leadsync init" in message


def test_password_in_store_url_is_refused_without_echoing_it(tmp_path: Path) -> None:
    secret = "Hunter2-Secret-Pw"
    text = f'[store]\nurl = "postgresql+psycopg://leadsync:{secret}@db:5432/leadsync"\n'
    error = config_error(tmp_path, text)
    message = str(error)
    assert re.match(r".*config\.toml:2: \[store\.url\] ", message)
    assert "LEADSYNC_STORE_PASSWORD" in message
    assert secret not in message
    assert secret not in repr(error.args)
    assert secret not in repr(error.attrs())


@pytest.mark.parametrize(
    "query",
    ["password={secret}", "sslmode=require&password={secret}", "sslpassword={secret}"],
    ids=["password", "password-after-another", "sslpassword"],
)
def test_password_in_the_store_url_query_is_refused_without_echoing_it(
    tmp_path: Path, query: str
) -> None:
    """libpq takes ``?password=`` as well as ``user:password@``: neither may come from the
    file."""
    secret = "Hunter2-Secret-Pw"
    url = f"postgresql+psycopg://leadsync@db:5432/leadsync?{query.format(secret=secret)}"
    error = config_error(tmp_path, f'[store]\nurl = "{url}"\n')
    message = str(error)
    assert re.match(r".*config\.toml:2: \[store\.url\] holds a password", message), message
    assert "LEADSYNC_STORE_URL" in message
    assert secret not in message
    assert secret not in repr(error.args)
    assert secret not in repr(error.attrs())
    assert (error.key, error.line) == ("store.url", 2)


def test_store_url_that_is_not_a_url(tmp_path: Path) -> None:
    error = config_error(tmp_path, '[store]\nurl = "leadsync.db"\n')
    assert re.match(r".*config\.toml:2: \[store\.url\] is not a database URL", str(error))


# -- store_url() -------------------------------------------------------------------------------


def test_store_url_default_is_sqlite_beside_the_config(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, "[ingest]\npage_size = 100\n"))
    url = make_url(settings.store_url())
    assert url.drivername == "sqlite"
    assert url.database == str(tmp_path / "leadsync.db")


def test_store_url_relative_sqlite_path_is_resolved_beside_the_config(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, '[store]\nurl = "sqlite:///state/ls.db"\n'))
    assert make_url(settings.store_url()).database == str(tmp_path / "state" / "ls.db")


def test_store_password_is_inserted_into_a_postgres_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    password = "p@ss/w:rd%x"  # characters a URL must escape
    monkeypatch.setenv("LEADSYNC_STORE_PASSWORD", password)
    settings = load_settings(
        write_config(
            tmp_path, '[store]\nurl = "postgresql+psycopg://leadsync@db.internal:5432/leads"\n'
        )
    )
    url = make_url(settings.store_url())
    assert url.drivername == "postgresql+psycopg"
    assert url.username == "leadsync"
    assert url.password == password
    assert (url.host, url.port, url.database) == ("db.internal", 5432, "leads")


def test_store_password_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret_file = tmp_path / "store-password"
    secret_file.write_text("from-a-file\n", encoding="utf-8")
    monkeypatch.setenv("LEADSYNC_STORE_PASSWORD_FILE", str(secret_file))
    settings = load_settings(
        write_config(tmp_path, '[store]\nurl = "postgresql+psycopg://leadsync@db/leads"\n')
    )
    assert make_url(settings.store_url()).password == "from-a-file"


def test_store_password_env_beats_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret_file = tmp_path / "store-password"
    secret_file.write_text("from-a-file\n", encoding="utf-8")
    monkeypatch.setenv("LEADSYNC_STORE_PASSWORD_FILE", str(secret_file))
    monkeypatch.setenv("LEADSYNC_STORE_PASSWORD", "from-the-env")
    settings = load_settings(
        write_config(tmp_path, '[store]\nurl = "postgresql+psycopg://leadsync@db/leads"\n')
    )
    assert make_url(settings.store_url()).password == "from-the-env"


def test_unreadable_store_password_file_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADSYNC_STORE_PASSWORD_FILE", str(tmp_path / "absent"))
    settings = load_settings(
        write_config(tmp_path, '[store]\nurl = "postgresql+psycopg://leadsync@db/leads"\n')
    )
    with pytest.raises(ConfigError, match="LEADSYNC_STORE_PASSWORD_FILE points at"):
        settings.store_url()


def test_store_url_env_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    override = "postgresql+psycopg://other:pw@elsewhere:6543/x"
    monkeypatch.setenv("LEADSYNC_STORE_URL", override)
    monkeypatch.setenv("LEADSYNC_STORE_PASSWORD", "ignored")
    settings = load_settings(
        write_config(tmp_path, '[store]\nurl = "postgresql+psycopg://leadsync@db/leads"\n')
    )
    assert settings.store_url() == override
    assert Settings(base_dir=tmp_path).store_url() == override


def test_a_password_in_the_query_of_the_store_url_env_is_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LEADSYNC_STORE_URL may carry its password as ?password=: it is blanked out of
    messages like one given as user:password@."""
    secret = "Query-Pw-6f1e2d"
    monkeypatch.setenv(
        "LEADSYNC_STORE_URL", f"postgresql+psycopg://leadsync@db/leads?password={secret}"
    )
    Settings(base_dir=tmp_path).store_url()
    assert redact(f"FATAL: password {secret} rejected") == "FATAL: password *** rejected"


# -- which config file -------------------------------------------------------------------------


def test_config_option_beats_env_beats_cwd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_ENV, "/from/env.toml")
    assert config_path_from(Path("/from/option.toml")) == (Path("/from/option.toml"), True)
    assert config_path_from(None) == (Path("/from/env.toml"), True)
    monkeypatch.delenv(CONFIG_ENV)
    assert config_path_from(None) == (Path("config.toml"), False)
    monkeypatch.setenv(CONFIG_ENV, "")
    assert config_path_from(None) == (Path("config.toml"), False)


def test_a_crm_entry_that_is_not_a_table_is_named_at_its_line(tmp_path: Path) -> None:
    error = config_error(tmp_path, "[crm]\nhubspot = 1\n")
    assert str(error).endswith(
        "config.toml:2: [crm.hubspot] must be a table: write it as [crm.hubspot] with its keys "
        "below"
    )
    assert error.key == "crm.hubspot"


def test_a_bad_crm_name_says_crm(tmp_path: Path) -> None:
    error = config_error(tmp_path, "[crm.HubSpot]\n")
    assert "CRM name 'HubSpot' must be lower-case" in str(error)
