"""SendGrid: its signed Event Webhook into ``leadsync serve``, and ``check --online``.

SendGrid has no pull here: its Email Activity API (``GET /v3/messages``) is a paid add-on,
so events arrive only by webhook (``source=None``, no backfill).

- ``settings``: ``[sources.NAME] type = "sendgrid"`` and the verification key.
- ``receiver``: the ECDSA check of a request and its events into canonical ones.
- ``events``: one SendGrid event into a canonical record.
- ``online``: the API key tried against the account's Event Webhook settings.
"""

from __future__ import annotations

from adapters.sendgrid.adapter import ADAPTER
from adapters.sendgrid.receiver import SendGridReceiver
from adapters.sendgrid.settings import DEFAULT_API_KEY_ENV, SendGridSettings

__all__ = ["ADAPTER", "DEFAULT_API_KEY_ENV", "SendGridReceiver", "SendGridSettings"]
