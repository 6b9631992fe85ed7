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
