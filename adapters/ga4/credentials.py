"""The service account's key file named by ``GOOGLE_APPLICATION_CREDENTIALS``.

The file is read here, not by ``google.auth.default``: a file that is not a service
account's key is a ``ConfigError`` naming the variable, never the file's text, and the
private key is remembered as a secret the moment it is read, so no log line, error or
``--debug`` output can carry it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from google.auth.credentials import Credentials
from google.oauth2 import service_account

from adapters.ga4.settings import CREDENTIALS_ENV
from connector.errors import ConfigError
from connector.secrets import remember_secret

__all__ = ["SCOPES", "load_credentials"]

SCOPES = ("https://www.googleapis.com/auth/analytics.readonly",)
_HINT = (
    f"point {CREDENTIALS_ENV} at the JSON key of a service account (Google Cloud console → "
    "IAM → Service accounts → Keys → Add key → JSON) that has the Viewer role on the GA4 "
    "property (Admin → Property access management)"
)
_NEEDED = ("client_email", "private_key", "token_uri")


def _remember(info: dict[str, Any]) -> None:
    """The private key, and the file's own escaped form of it (how a JSON dump shows it)."""
    private_key = info.get("private_key")
    if isinstance(private_key, str) and private_key:
        remember_secret(private_key)
        remember_secret(json.dumps(private_key)[1:-1])
        for line in private_key.splitlines():
            # A traceback or a dump may show the key cut into its lines.
            if len(line) >= 16 and "PRIVATE KEY" not in line:
                remember_secret(line)


def _key_file(key: str) -> dict[str, Any]:
    named = os.environ.get(CREDENTIALS_ENV)
    if not named:
        raise ConfigError(
            f"{CREDENTIALS_ENV} is not set (the GA4 service account's key file)",
            key=key,
            hint=_HINT,
        )
    path = Path(named)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"{CREDENTIALS_ENV} names {path}, which cannot be read ({exc.strerror})",
            key=key,
            hint=_HINT,
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(
            f"{CREDENTIALS_ENV} names {path}, which is not UTF-8 text", key=key, hint=_HINT
        ) from None
    try:
        info = json.loads(text)
    except ValueError:
        # The decoder's message quotes the text around the fault: the key, maybe.
        raise ConfigError(
            f"{CREDENTIALS_ENV} names {path}, which is not JSON", key=key, hint=_HINT
        ) from None
    if not isinstance(info, dict):
        raise ConfigError(
            f"{CREDENTIALS_ENV} names {path}, which is not a JSON object", key=key, hint=_HINT
        )
    _remember(info)
    return info


def load_credentials(key: str) -> Credentials:
    """The service account's credentials, for the Data API's read-only scope.

    ``key`` is the config key errors name (``sources.NAME``).

    Raises:
        ConfigError: the variable is unset, or its file is not a service account's key.
    """
    info = _key_file(key)
    path = os.environ.get(CREDENTIALS_ENV, "")
    if info.get("type") != "service_account":
        raise ConfigError(
            f"{CREDENTIALS_ENV} names {path}, which is not a service account's key "
            f"(its type is {str(info.get('type'))[:40]!r})",
            key=key,
            hint=_HINT,
        )
    missing = [name for name in _NEEDED if not isinstance(info.get(name), str)]
    if missing:
        raise ConfigError(
            f"{CREDENTIALS_ENV} names {path}, a service account's key without {', '.join(missing)}",
            key=key,
            hint=_HINT,
        )
    try:
        return service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call,no-any-return]
            info, scopes=list(SCOPES)
        )
    except (ValueError, TypeError, IndexError) as exc:
        # What cryptography says of a key it cannot load names no part of it, but the
        # message stays ours all the same.
        raise ConfigError(
            f"{CREDENTIALS_ENV} names {path}, whose private_key cannot be loaded "
            f"({type(exc).__name__})",
            key=key,
            hint=_HINT,
        ) from None
