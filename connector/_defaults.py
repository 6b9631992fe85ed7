"""The files `leadsync init` writes: config.example.toml and mappings/*.toml.

A wheel carries them in ``connector/_default_files`` (see pyproject.toml); an editable install
reads them from the checkout, so there is one copy of each in the repository.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["default_config_text", "default_mapping_files"]

_PACKAGED = Path(__file__).with_name("_default_files")
_CHECKOUT = Path(__file__).resolve().parent.parent


def _root() -> Path:
    return _PACKAGED if (_PACKAGED / "config.example.toml").exists() else _CHECKOUT


def default_config_text() -> str:
    return (_root() / "config.example.toml").read_text(encoding="utf-8")


def default_mapping_files() -> dict[str, str]:
    """File name -> text of each default mapping file."""
    folder = _root() / "mappings"
    return {path.name: path.read_text(encoding="utf-8") for path in sorted(folder.glob("*.toml"))}
