"""Small key/value facts about the store itself (scoring watermark, rules hash)."""

from __future__ import annotations

import sqlalchemy as sa

from connector.store.schema import store_meta

__all__ = ["delete_meta", "read_meta", "write_meta"]


def read_meta(connection: sa.Connection, key: str) -> str | None:
    value = connection.execute(
        sa.select(store_meta.c.value).where(store_meta.c.key == key)
    ).scalar()
    return None if value is None else str(value)


def write_meta(connection: sa.Connection, key: str, value: str) -> None:
    updated = connection.execute(
        sa.update(store_meta).where(store_meta.c.key == key).values(value=value)
    )
    if updated.rowcount == 0:
        connection.execute(sa.insert(store_meta).values(key=key, value=value))


def delete_meta(connection: sa.Connection, key: str) -> None:
    connection.execute(sa.delete(store_meta).where(store_meta.c.key == key))
