"""Identity keys: how one person is recognised across sources.

An e-mail is trimmed and lower-cased; it names exactly one contact. Other keys (CRM ids,
router subscriber ids, analytics user ids) live in namespaces and are linked to the
contact the first event that carries them resolves to.
"""

from __future__ import annotations

import re

__all__ = ["EMAIL_NAMESPACE", "is_valid_email", "normalize_email", "valid_namespace"]

EMAIL_NAMESPACE = "email"
_EMAIL = re.compile(r"^[^@\s\"<>(),;:]+@[^@\s\"<>(),;:]+\.[^@\s\"<>(),;:.]+$")
_NAMESPACE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
MAX_EMAIL_LENGTH = 254


def normalize_email(raw: str) -> str:
    return raw.strip().lower()


def is_valid_email(email: str) -> bool:
    return len(email) <= MAX_EMAIL_LENGTH and _EMAIL.match(email) is not None


def valid_namespace(name: str) -> bool:
    return name != EMAIL_NAMESPACE and _NAMESPACE.match(name) is not None
