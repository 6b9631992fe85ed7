"""The help screens' one correction to typer: a flag shows no value type.

typer 0.29 prints a type beside every option in its rich help, flags too (`--json <bool>`,
`--help <bool>`), although a flag takes no value: the reader looks for a value to give.
A flag's empty metavar is what its rich help shows in that column instead. The built-in
`--help` is made by the library on first use, so the groups blank it when they hand out a
command rather than each command declaring it.
"""

from __future__ import annotations

from collections.abc import Sequence

from typer.core import TyperGroup, TyperOption
from typing_extensions import override

try:  # typer 0.29 and later carry their own copy of click
    from typer._click import Command, Context, Parameter
except ImportError:  # pragma: no cover - an older typer, on click itself
    from click import Command, Context, Parameter  # type: ignore[assignment]

__all__ = ["LeadsyncGroup"]


def _without_flag_types(params: Sequence[Parameter]) -> None:
    for param in params:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""


class LeadsyncGroup(TyperGroup):
    """A command group whose help, and its commands' help, show no type for flags."""

    @override
    def get_params(self, ctx: Context) -> list[Parameter]:
        params = super().get_params(ctx)
        _without_flag_types(params)
        return params

    @override
    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None and not isinstance(command, TyperGroup):
            # A subcommand's context inherits the help option names from this one, so
            # its --help, made (and kept) here, is the one its help screen shows.
            _without_flag_types(command.get_params(ctx))
        return command
