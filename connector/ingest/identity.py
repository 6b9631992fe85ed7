"""Identity keys: how one person is recognised across sources.

An e-mail is trimmed, lower-cased and put in Unicode NFC; it names exactly one contact.
Other keys (CRM ids, router subscriber ids, analytics user ids) live in namespaces and are
linked to the contact the first event that carries them resolves to; they are kept
exactly as their system issued them, since we hand them back to it.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "ANONYMOUS_SUFFIX",
    "EMAIL_NAMESPACE",
    "is_anonymous_namespace",
    "is_valid_email",
    "normalize_email",
    "valid_namespace",
]

EMAIL_NAMESPACE = "email"
# A namespace whose name ends so holds keys of a browser or device, not of a person
# (Matomo's visitorId as "matomo_visitor"): a contact known by such keys alone is an
# anonymous visitor, and the first event that ties one of its keys to a known contact
# joins it to that contact (connector.store.joins) rather than counting as a conflict.
ANONYMOUS_SUFFIX = "_visitor"
_EMAIL = re.compile(r"^[^@\s\"<>(),;:]+@[^@\s\"<>(),;:]+\.[^@\s\"<>(),;:.]+$")
_NAMESPACE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
MAX_EMAIL_LENGTH = 254


def normalize_email(raw: str) -> str:
    """The one spelling of an e-mail that identifies its contact.

    "é" may come as one character (NFC, what most keyboards type) or as "e" and a
    combining accent (NFD, what some systems store): both are the same address, so both
    are put in NFC, last, so the result is NFC whatever lower-casing made of it.
    """
    lowered = raw.strip().lower()
    # ASCII is always NFC; skipping the call keeps the common case at its old cost.
    return lowered if lowered.isascii() else unicodedata.normalize("NFC", lowered)


def is_valid_email(email: str) -> bool:
    return len(email) <= MAX_EMAIL_LENGTH and _EMAIL.match(email) is not None


def valid_namespace(name: str) -> bool:
    return name != EMAIL_NAMESPACE and _NAMESPACE.match(name) is not None


def is_anonymous_namespace(name: str) -> bool:
    return name.endswith(ANONYMOUS_SUFFIX)
