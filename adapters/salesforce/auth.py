"""A logged-in simple-salesforce client, from SALESFORCE_* environment variables or files.

The mode follows from what is set, the access token first:

1. ``SALESFORCE_ACCESS_TOKEN`` + ``SALESFORCE_INSTANCE_URL`` (as ``sf org display`` prints
   them): no login call; the token is used as it is.
2. ``SALESFORCE_USERNAME`` + ``SALESFORCE_CONSUMER_KEY`` + ``SALESFORCE_PRIVATE_KEY_FILE``:
   OAuth 2.0 JWT bearer flow (a connected app with the certificate uploaded).
3. ``SALESFORCE_USERNAME`` + ``SALESFORCE_PASSWORD`` + ``SALESFORCE_SECURITY_TOKEN``.
4. ``SALESFORCE_CONSUMER_KEY`` + ``SALESFORCE_CONSUMER_SECRET``: client credentials flow
   (needs ``domain`` set to your My Domain).

Every secret may instead sit in a file named by ``NAME_FILE``. TLS is left to requests, so
``REQUESTS_CA_BUNDLE`` is honoured.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import requests
import structlog
from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed

from adapters.salesforce.errors import error_for
from adapters.salesforce.settings import (
    ACCESS_TOKEN_ENV,
    CONSUMER_KEY_ENV,
    CONSUMER_SECRET_ENV,
    ENV_PREFIX,
    INSTANCE_URL_ENV,
    PASSWORD_ENV,
    PRIVATE_KEY_FILE_ENV,
    SECURITY_TOKEN_ENV,
    USERNAME_ENV,
)
from connector.errors import ConfigError
from connector.secrets import read_secret, redact, remember_secret

__all__ = ["ENV_PREFIX", "LoginMode", "connect", "login_mode", "session_with_timeout"]

log = structlog.get_logger(__name__)

_HOW = (
    "set SALESFORCE_ACCESS_TOKEN and SALESFORCE_INSTANCE_URL (see `sf org display`); or "
    "SALESFORCE_USERNAME, SALESFORCE_CONSUMER_KEY and SALESFORCE_PRIVATE_KEY_FILE (JWT); or "
    "SALESFORCE_USERNAME, SALESFORCE_PASSWORD and SALESFORCE_SECURITY_TOKEN; or "
    "SALESFORCE_CONSUMER_KEY and SALESFORCE_CONSUMER_SECRET (client credentials). Any "
    "secret may come from a file named by NAME_FILE"
)


@dataclass(frozen=True, slots=True)
class LoginMode:
    name: str  # "access token" | "JWT bearer" | "username-password" | "client credentials"
    variables: tuple[str, ...]


def _plain(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def _secret(name: str) -> str | None:
    value = read_secret(name)
    return None if value is None else value.get_secret_value()


def login_mode() -> LoginMode:
    """Which login the environment asks for; a ConfigError naming what is missing."""
    if _secret(ACCESS_TOKEN_ENV) is not None:
        if _plain(INSTANCE_URL_ENV) is None:
            raise ConfigError(
                f"{ACCESS_TOKEN_ENV} is set but {INSTANCE_URL_ENV} is not",
                key="crm.salesforce",
                hint="export SALESFORCE_INSTANCE_URL, the instanceUrl `sf org display` prints "
                "(https://yourorg.my.salesforce.com)",
            )
        _check_instance_url(_plain(INSTANCE_URL_ENV) or "")
        return LoginMode("access token", (ACCESS_TOKEN_ENV, INSTANCE_URL_ENV))
    username = _plain(USERNAME_ENV)
    consumer_key = _secret(CONSUMER_KEY_ENV)
    if username and consumer_key and _plain(PRIVATE_KEY_FILE_ENV):
        return LoginMode("JWT bearer", (USERNAME_ENV, CONSUMER_KEY_ENV, PRIVATE_KEY_FILE_ENV))
    if username and _secret(PASSWORD_ENV) is not None:
        if _secret(SECURITY_TOKEN_ENV) is None:
            raise ConfigError(
                f"{USERNAME_ENV} and {PASSWORD_ENV} are set but {SECURITY_TOKEN_ENV} is not",
                key="crm.salesforce",
                hint="export SALESFORCE_SECURITY_TOKEN (Salesforce e-mails it: Settings > "
                "Reset My Security Token)",
            )
        return LoginMode("username-password", (USERNAME_ENV, PASSWORD_ENV, SECURITY_TOKEN_ENV))
    if consumer_key and _secret(CONSUMER_SECRET_ENV) is not None:
        return LoginMode("client credentials", (CONSUMER_KEY_ENV, CONSUMER_SECRET_ENV))
    raise ConfigError(
        "no Salesforce credentials in the environment", key="crm.salesforce", hint=_HOW
    )


def _check_instance_url(value: str) -> None:
    """Refuse an instance URL simple-salesforce would not send the token where it seems to.

    simple-salesforce keeps only ``urlparse(url).hostname`` and its port and always calls
    https, so "https://acme.my.salesforce.com@evil.example" would take the token to
    evil.example. The value is never echoed: a user:password@ may stand in it.
    """
    hint = (
        "set it to the instanceUrl `sf org display` prints, like "
        "https://acme.my.salesforce.com, and nothing else"
    )
    try:
        parts = urlsplit(value)
        host, _port = parts.hostname, parts.port  # .port raises on one that is not a number
    except ValueError:
        raise ConfigError(
            f"{INSTANCE_URL_ENV} is not a URL", key="crm.salesforce", hint=hint
        ) from None
    if "@" in parts.netloc:
        raise ConfigError(
            f"{INSTANCE_URL_ENV} holds a user name or password (user@ or user:password@ before "
            "the host), and the token would go to the host after the @",
            key="crm.salesforce",
            hint=hint,
        )
    if parts.scheme not in ("http", "https") or not host:
        raise ConfigError(
            f"{INSTANCE_URL_ENV} must be an https URL like https://acme.my.salesforce.com",
            key="crm.salesforce",
            hint=hint,
        )


class _TimeoutAdapter(HTTPAdapter):
    """Every call gets a timeout: simple-salesforce's Bulk 2.0 and login calls set none,
    and a stalled connection would hang the push."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self._timeout_s = timeout_s

    def send(self, request: PreparedRequest, **kwargs: Any) -> Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout_s
        return super().send(request, **kwargs)


def session_with_timeout(timeout_s: float) -> requests.Session:
    session = requests.Session()
    session.mount("https://", _TimeoutAdapter(timeout_s))
    return session


def connect(
    *, domain: str, api_version: str, session: requests.Session | None = None
) -> Salesforce:
    """A client logged in as the environment says.

    Raises:
        ConfigError: a variable is missing or wrong, or Salesforce refused the login (the
            message names no secret).
        RetriableError: Salesforce could not be reached to log in.
    """
    mode = login_mode()
    # simple-salesforce warns with the consumer key in a URL when a connected app is not
    # approved: the warning is logged here, redacted, instead of going to stderr as is.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            return _connect(mode, domain=domain, api_version=api_version, session=session)
        finally:
            for warning in caught:
                log.warning("salesforce.login_warning", message=redact(str(warning.message)))


def _connect(
    mode: LoginMode, *, domain: str, api_version: str, session: requests.Session | None
) -> Salesforce:
    http = session or requests.Session()

    def client(**credentials: Any) -> Salesforce:
        logged_in = Salesforce(version=api_version, session=http, **credentials)
        # A token a login returned is as secret as the credentials that got it.
        remember_secret(logged_in.session_id)
        return logged_in

    try:
        if mode.name == "access token":
            return client(
                session_id=_secret(ACCESS_TOKEN_ENV),
                instance_url=_plain(INSTANCE_URL_ENV),
            )
        if mode.name == "JWT bearer":
            key_file = Path(_plain(PRIVATE_KEY_FILE_ENV) or "")
            try:
                private_key = key_file.read_bytes()
            except OSError as exc:
                raise ConfigError(
                    f"{PRIVATE_KEY_FILE_ENV} points at {key_file}, which cannot be read "
                    f"({exc.strerror})",
                    key="crm.salesforce",
                    hint="point it at the connected app's private key (PEM)",
                ) from None
            try:
                return client(
                    username=_plain(USERNAME_ENV),
                    consumer_key=_secret(CONSUMER_KEY_ENV),
                    privatekey=private_key,
                    domain=domain,
                )
            except (jwt.PyJWTError, ValueError, TypeError) as exc:
                raise ConfigError(
                    f"the private key in {PRIVATE_KEY_FILE_ENV} cannot sign the JWT "
                    f"({type(exc).__name__})",
                    key="crm.salesforce",
                    hint="point it at the connected app's RSA private key, PEM-encoded and "
                    "not passphrase-protected",
                ) from None
        if mode.name == "username-password":
            return client(
                username=_plain(USERNAME_ENV),
                password=_secret(PASSWORD_ENV),
                security_token=_secret(SECURITY_TOKEN_ENV),
                domain=domain,
            )
        if domain in ("login", "test"):
            raise ConfigError(
                "the client credentials flow needs your My Domain",
                key="crm.salesforce.domain",
                hint='set [crm.salesforce] domain = "yourorg.my" (for '
                "https://yourorg.my.salesforce.com)",
            )
        return client(
            consumer_key=_secret(CONSUMER_KEY_ENV),
            consumer_secret=_secret(CONSUMER_SECRET_ENV),
            domain=domain,
        )
    except SalesforceAuthenticationFailed as exc:
        raise ConfigError(
            f"Salesforce refused the {mode.name} login ({', '.join(mode.variables)}): "
            f"{redact(str(exc.code))}: {redact(str(exc.auth_message))}",
            key="crm.salesforce",
            hint="check those variables and [crm.salesforce] domain "
            f"({domain!r}: login for production, test for a sandbox, or your My Domain)",
        ) from None
    except requests.RequestException as exc:
        # As for any call: no answer is worth another run (adapters.salesforce.errors).
        raise error_for(exc, f"the {mode.name} login") from None
