"""The state store: SQLAlchemy Core over SQLite (the default, a file) or PostgreSQL."""

from connector.store.engine import open_store, upgrade_store
from connector.store.schema import metadata

__all__ = ["metadata", "open_store", "upgrade_store"]
