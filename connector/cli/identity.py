"""`leadsync identity unlink KEY`: undo the join of an anonymous visitor to a contact."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from connector.cli._help import LeadsyncGroup
from connector.cli.render import stdout
from connector.cli.state import state_of
from connector.errors import ConfigError
from connector.store.joins import unlink_key

__all__ = ["app"]

app = typer.Typer(
    cls=LeadsyncGroup, help="Identity keys and the visitors joined by them.", no_args_is_help=True
)


@app.command("unlink")
def unlink(
    ctx: typer.Context,
    key: Annotated[
        str,
        typer.Argument(
            metavar="KEY",
            help="The visitor key as `leadsync explain` shows it, NAMESPACE:VALUE "
            "(matomo_visitor:5f2a0c9e1b7d3a48).",
        ),
    ],
) -> None:
    """Give a joined visitor its keys and events back: they stop counting for the
    contact from the next scoring pass, and ingest never joins the two again."""
    namespace, colon, value = key.partition(":")
    if not colon or not namespace or not value:
        raise ConfigError(
            f"{key!r} is not NAMESPACE:VALUE",
            hint="copy the key from `leadsync explain EMAIL`, e.g. matomo_visitor:5f2a0c9e1b7d3a48",
        )
    undone = unlink_key(state_of(ctx).store(), namespace, value, now=datetime.now(UTC))
    stdout.print(
        f"unlinked {key}: visitor contact #{undone.visitor_id} has its {undone.keys} key(s) "
        f"and {undone.events} event(s) back from contact #{undone.contact_id}; the next "
        "`leadsync score` scores both",
        markup=False,
    )
