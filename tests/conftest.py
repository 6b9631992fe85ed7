"""Shared fixtures: a store on a real SQLite file and on the real PostgreSQL.

PostgreSQL comes from LEADSYNC_TEST_POSTGRES_URL (default: the local server). Each test gets
its own schema, dropped afterwards. When the server is unreachable the PostgreSQL cases
skip, unless LEADSYNC_REQUIRE_POSTGRES=1 (as .ci/run sets), where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine, make_url

from connector.store.engine import open_store

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REPO_ROOT = Path(__file__).resolve().parent.parent

# The vendors' API specs the CRM fakes validate every call against (read in place, never
# copied here): beside the repository (the project's layout), or where this variable says.
SPECS_VARIABLE = "LEADSYNC_SPECS_DIR"
SPECS_DIR = Path(os.environ.get(SPECS_VARIABLE) or REPO_ROOT.parent / "shared" / "specs")
_SPECS_NEEDED = (SPECS_DIR / "hubspot", SPECS_DIR / "salesforce" / "postman-request-items")


def _specs_missing() -> list[Path]:
    return [path for path in _SPECS_NEEDED if not path.is_dir()]


def _specs_warning(skipped: int | None) -> str:
    what = "the HubSpot and Salesforce tests" if skipped is None else f"{skipped} tests"
    return (
        f"VENDOR SPECS NOT FOUND at {SPECS_DIR}: {what} "
        f"{'will be' if skipped is None else 'were'} SKIPPED; "
        f"set {SPECS_VARIABLE}=/path/to/shared/specs"
    )


# A missing specs folder skips a quarter of the suite, which pytest alone shows only as a
# count in its last line: say so loudly before the first test and again after the last.
def pytest_sessionstart(session: pytest.Session) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and _specs_missing():
        reporter.write_sep("!", _specs_warning(None), red=True, bold=True)


def pytest_unconfigure(config: pytest.Config) -> None:
    """The last line of the run, under pytest's own counts."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or not _specs_missing():
        return
    skipped = sum(
        1
        for report in reporter.stats.get("skipped", [])
        if isinstance(report.longrepr, tuple) and str(SPECS_DIR) in str(report.longrepr[2])
    )
    if skipped:
        reporter.write_sep("!", _specs_warning(skipped), red=True, bold=True)


def postgres_admin_url() -> str:
    return os.environ.get("LEADSYNC_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def _postgres_unavailable(reason: str) -> None:
    if os.environ.get("LEADSYNC_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL is required here but unreachable: {reason}")
    pytest.skip(f"PostgreSQL unreachable ({reason}); set LEADSYNC_TEST_POSTGRES_URL")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL whose search_path is a fresh schema on the real PostgreSQL."""
    admin = sa.create_engine(postgres_admin_url())
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    except sa.exc.OperationalError as exc:
        admin.dispose()
        _postgres_unavailable(str(exc.orig).strip().splitlines()[0])
    url = make_url(postgres_admin_url()).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest) -> str:
    """The same test over a real SQLite file and the real PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    store = open_store(store_url)
    yield store
    store.dispose()


CRM_VARIABLE_PREFIXES = ("HUBSPOT_", "SALESFORCE_")


@pytest.fixture(autouse=True)
def _no_crm_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's real CRM tokens never reach a test; a test that needs one sets it."""
    for name in list(os.environ):
        if name.startswith(CRM_VARIABLE_PREFIXES):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _quiet_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()
