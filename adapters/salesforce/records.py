"""Salesforce record ids, objects and field values: what the writer and reader share."""

from __future__ import annotations

from collections.abc import Mapping

from connector.ports import CrmValue

__all__ = ["KNOWN_OBJECTS", "fields_for", "object_of"]

# Record ids start with their object's key prefix (fixed for standard objects).
_PREFIXES = {"00Q": "Lead", "003": "Contact"}
KNOWN_OBJECTS = tuple(_PREFIXES.values())


def object_of(record_id: str) -> str | None:
    """The object a record id belongs to (Lead or Contact), or None."""
    return _PREFIXES.get(record_id[:3])


def fields_for(sobject: str, fields: Mapping[str, CrmValue]) -> dict[str, CrmValue]:
    """The fields to send to a record of ``sobject``: every plain field, and the
    "Object.Field" ones of that object only (the mapping's object_fields)."""
    chosen: dict[str, CrmValue] = {}
    for name, value in fields.items():
        owner, dot, field = name.partition(".")
        if not dot:
            chosen[name] = value
        elif owner == sobject:
            chosen[field] = value
    return chosen
