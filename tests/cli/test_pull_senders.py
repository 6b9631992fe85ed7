"""`leadsync pull` with sources that only send, by webhook: it says so and pulls nothing."""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_cli import cfg, leadsync
from tests.fixtures.sendgrid.signing import new_private_key, public_key_text

__all__ = ["cfg"]  # the fixture, used by name


def test_pull_says_a_webhook_source_is_not_pulled(cfg: Path) -> None:
    with cfg.open("a", encoding="utf-8") as config:
        config.write(
            f'\n[sources.newsletter]\ntype = "sendgrid"\n'
            f'webhook_public_key = "{public_key_text(new_private_key())}"\n'
        )
    everything = leadsync("--config", cfg, "pull", cwd=cfg.parent)
    assert everything.returncode == 0, everything.stderr
    assert everything.stdout.strip() == (
        "no source to pull: newsletter sends its events by webhook to `leadsync serve`"
    )
    named = leadsync("--config", cfg, "pull", "newsletter", cwd=cfg.parent)
    assert named.returncode == 3
    assert "is not pulled: it sends its events to `leadsync serve` by webhook" in named.stderr
