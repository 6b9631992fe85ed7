"""The database URLs the store accepts, and the common spellings taken as one of them.

Only SQLite and PostgreSQL through psycopg (3) are installed and tested. ``postgres://``
(Heroku, Render and libpq write it) and a bare ``postgresql://`` mean the same server, so
they are read as ``postgresql+psycopg://`` rather than refused; SQLAlchemy knows no
``postgres`` dialect, and naming the driver keeps a bare URL off psycopg2, which is not
installed, whatever SQLAlchemy's default.
"""

from __future__ import annotations

from sqlalchemy.engine import URL

__all__ = ["ACCEPTED_FORMS", "accepted_store_url"]

ACCEPTED_FORMS = (
    "sqlite:///path/to/leadsync.db or postgresql+psycopg://user@host:5432/dbname "
    "(postgres:// and postgresql:// are read as postgresql+psycopg://)"
)
_SQLITE = frozenset({"sqlite", "sqlite+pysqlite"})
_POSTGRESQL = "postgresql+psycopg"
_POSTGRESQL_SPELLINGS = frozenset({"postgres", "postgresql", _POSTGRESQL})


def accepted_store_url(url: URL) -> URL | None:
    """``url`` with its driver spelt as the store opens it, or None if no store is of its kind."""
    driver = url.drivername.lower()
    if driver in _SQLITE:
        return url
    if driver in _POSTGRESQL_SPELLINGS:
        return url.set(drivername=_POSTGRESQL)
    return None
