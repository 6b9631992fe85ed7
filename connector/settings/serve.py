"""The ``[serve]`` section of ``config.toml``: where `leadsync serve` listens and what it
takes (outside `connector.serve` so the config can read it)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ServeSettings"]

MIB = 1024 * 1024


class ServeSettings(BaseModel):
    """``[serve]``: the webhook intake."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Loopback unless told otherwise: the intake belongs behind a TLS reverse proxy.
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    # A signed time further than this from ours is a replay (or a clock gone wrong).
    max_age_s: float = Field(default=600, gt=0)
    # A larger body is refused with 413 before it is read whole.
    max_body_bytes: int = Field(default=5 * MIB, ge=1024)
