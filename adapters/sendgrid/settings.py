"""``[sources.NAME] type = "sendgrid"``: the webhook's verification key and the API key's
variable, checked when the config is loaded."""

from __future__ import annotations

import base64
import binascii
from typing import Literal

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key
from pydantic import field_validator

from connector.ports import SourceSettings

__all__ = [
    "DEFAULT_API_HOST",
    "DEFAULT_API_KEY_ENV",
    "SendGridSettings",
    "public_key_der",
]

DEFAULT_API_KEY_ENV = "SENDGRID_API_KEY"
DEFAULT_API_HOST = "https://api.sendgrid.com"
_PEM_ARMOUR = ("-----BEGIN PUBLIC KEY-----", "-----END PUBLIC KEY-----")
_WHERE_THE_KEY_IS = (
    "copy it from SendGrid: Settings → Mail Settings → Event Webhooks → your webhook → "
    "Signed Event Webhook → Verification Key"
)


def public_key_der(text: str) -> bytes:
    """The DER bytes of a P-256 public key written as SendGrid shows it (base64), or as a
    PEM block (the same base64 between its armour lines).

    Raises:
        ValueError: the text is not base64, not a public key, or not on the P-256 curve
            (SendGrid signs with ECDSA P-256); the message says which.
    """
    compact = "".join(text.replace(_PEM_ARMOUR[0], "").replace(_PEM_ARMOUR[1], "").split())
    try:
        der = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"is not base64 text; {_WHERE_THE_KEY_IS}") from None
    try:
        key = load_der_public_key(der)
    except ValueError:
        raise ValueError(f"is base64 but not a public key; {_WHERE_THE_KEY_IS}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError(
            "is a public key, but not the P-256 (ECDSA) key SendGrid signs with; "
            f"{_WHERE_THE_KEY_IS}"
        )
    return der


class SendGridSettings(SourceSettings):
    """A SendGrid account's Event Webhook; the API key only serves ``check --online``."""

    type: Literal["sendgrid"]
    # Not a secret: SendGrid shows it to verify its signatures with, and it signs nothing.
    webhook_public_key: str
    api_key_env: str = DEFAULT_API_KEY_ENV
    # EU regional subusers: https://api.eu.sendgrid.com (spec: tsg_webhooks_v3.json servers).
    api_host: str = DEFAULT_API_HOST

    @field_validator("webhook_public_key")
    @classmethod
    def _is_a_p256_key(cls, value: str) -> str:
        # Kept as the single line of base64 the official verifier wraps into PEM itself.
        return base64.b64encode(public_key_der(value)).decode("ascii")

    @field_validator("api_key_env")
    @classmethod
    def _is_a_variable_name(cls, value: str) -> str:
        if not value or not value.replace("_", "A").isalnum() or value[0].isdigit():
            raise ValueError(
                "must name an environment variable (letters, digits and _), "
                f'such as "{DEFAULT_API_KEY_ENV}"'
            )
        return value

    @field_validator("api_host")
    @classmethod
    def _is_a_base_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(
                f'must be a URL such as "{DEFAULT_API_HOST}" (EU: "https://api.eu.sendgrid.com")'
            )
        return value.rstrip("/")
