"""Matomo: a site's visits, page views, downloads and goal conversions, pulled.

``[sources.NAME] type = "matomo"``. The declaration loads without ``requests``-using code:
the factories import it when called, so every command that only validates the config
stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from adapters.matomo.settings import TOKEN_ENV, MatomoSettings
from connector.errors import ConfigError
from connector.model import EventKind
from connector.ports import (
    EventSource,
    SourceAdapter,
    SourceContext,
    SourceSettings,
    settings_of,
)
from connector.secrets import read_secret

if TYPE_CHECKING:
    from adapters.matomo.client import MatomoApi

__all__ = ["ADAPTER", "MatomoSettings"]


def _key(context: SourceContext, name: str) -> str:
    return f"sources.{context.name}.{name}"


def _token(own: MatomoSettings, context: SourceContext) -> str:
    token = read_secret(own.token_env, purpose=f"the Matomo source {context.name!r}")
    if token is None:
        raise ConfigError(
            f"{own.token_env} is not set (the Matomo token_auth)",
            key=_key(context, "token_env"),
            hint=f"export it or point {own.token_env}_FILE at a file holding it "
            "(Matomo: Personal → Security → Auth tokens; a user with view access)",
        )
    return token.get_secret_value()


def _api(own: MatomoSettings, context: SourceContext) -> MatomoApi:
    from adapters.matomo.client import MatomoApi

    return MatomoApi(
        api_url=own.api_url,
        token=_token(own, context),
        site_id=own.site_id,
        token_env=own.token_env,
        keys={name: _key(context, name) for name in ("url", "token_env", "site_id")},
        timeout_s=own.timeout_s,
    )


def _source(settings: SourceSettings, context: SourceContext) -> EventSource:
    from adapters.matomo.source import MatomoVisitSource
    from adapters.matomo.visits import VisitReading

    own = settings_of(settings, MatomoSettings)
    return MatomoVisitSource(
        context.name,
        _api(own, context),
        VisitReading(
            source=context.name,
            site_id=own.site_id,
            goals=dict(own.goals),
            user_dimension=own.user_dimension,
            user_id_namespace=own.user_id_namespace,
            visitor_namespace=own.visitor_namespace,
        ),
        lookback_days=own.lookback_days,
        lag_minutes=own.lag_minutes,
        page_size=own.page_size,
    )


def _check(settings: SourceSettings, context: SourceContext) -> str:
    own = settings_of(settings, MatomoSettings)
    _token(own, context)
    person = f"dimension{own.user_dimension}" if own.user_dimension is not None else "userId"
    goals = f", {len(own.goals)} goals mapped" if own.goals else ""
    return (
        f"Matomo {own.api_url} site {own.site_id}: visits of the last {own.lookback_days} "
        f"days, read {own.lag_minutes} min behind; the person from {person}{goals}"
    )


def _check_online(settings: SourceSettings, context: SourceContext) -> str:
    from adapters.matomo.online import check_online

    own = settings_of(settings, MatomoSettings)
    return check_online(own, _api(own, context), key=f"sources.{context.name}")


def _mapped_kinds(settings: SourceSettings) -> Mapping[str, EventKind]:
    own = settings_of(settings, MatomoSettings)
    # The declaration is not told the source's name: the key is under [sources.NAME].
    return {f"goals.{name}": kind for name, kind in own.goals.items()}


ADAPTER = SourceAdapter(
    type_name="matomo",
    settings_model=MatomoSettings,
    source=_source,
    check=_check,
    check_online=_check_online,
    secrets=(TOKEN_ENV,),
    mapped_kinds=_mapped_kinds,
)
