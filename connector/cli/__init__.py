"""The ``leadsync`` command (Typer): one module per command group, and the rendering."""

from connector.cli.app import app, main

__all__ = ["app", "main"]
