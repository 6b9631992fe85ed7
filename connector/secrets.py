"""Secrets come from an environment variable NAME or a file named by NAME_FILE.

Every secret read here is remembered so that ``redact`` can blank it out of any text
that leaves the process (log lines, error messages, reports).
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import SecretStr

from connector.errors import ConfigError

__all__ = ["read_secret", "redact", "remember_secret"]

_MASK = "***"
_known_secrets: set[str] = set()
# Longest first, kept as secrets are remembered (redact runs for every log line): a
# secret that begins another would otherwise leave the rest of the longer one in the text.
_longest_first: tuple[str, ...] = ()


def remember_secret(value: str) -> None:
    global _longest_first
    # Very short values would blank out ordinary words; no real secret is that short.
    if len(value) >= 4:
        _known_secrets.add(value)
        _longest_first = tuple(sorted(_known_secrets, key=len, reverse=True))


def read_secret(name: str, *, required: bool = False, purpose: str = "") -> SecretStr | None:
    """Read ``name`` from the environment, or the file ``name_FILE`` points at.

    Raises:
        ConfigError: the file cannot be read or is not UTF-8 text, or ``required`` and
            the secret is not set.
    """
    value = os.environ.get(name)
    file_var = f"{name}_FILE"
    file_path = os.environ.get(file_var)
    if value is None and file_path:
        path = Path(file_path)
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"{file_var} points at {path}, which cannot be read ({exc.strerror})",
                hint=f"fix the path or export {name} instead",
            ) from None
        except UnicodeDecodeError:
            # The decoder's own message quotes a byte of the secret and its position:
            # neither goes in ours.
            raise ConfigError(
                f"{file_var} points at {path}, which is not UTF-8 text",
                hint=f"save the file as UTF-8 (for example: iconv -f latin1 -t utf-8), "
                f"or export {name} instead",
            ) from None
    if value is None or value == "":
        if required:
            needed_for = f" ({purpose})" if purpose else ""
            raise ConfigError(
                f"{name} is not set{needed_for}",
                hint=f"export it or point {file_var} at a file holding it",
            )
        return None
    remember_secret(value)
    return SecretStr(value)


def redact(text: str) -> str:
    for secret in _longest_first:
        if secret in text:
            text = text.replace(secret, _MASK)
    return text
