"""Google Analytics 4: each known user's events by day, pulled with ``runReport``.

``[sources.NAME] type = "ga4"``. The declaration loads without Google's client: the
factories import it when called, so every command that only validates the config stays
cheap.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from adapters.ga4.settings import CREDENTIALS_ENV, Ga4Settings
from connector.model import EventKind
from connector.ports import EventSource, SourceAdapter, SourceContext, SourceSettings, settings_of

if TYPE_CHECKING:
    from adapters.ga4.client import Ga4Api

__all__ = ["ADAPTER", "Ga4Settings"]


def _key(context: SourceContext) -> str:
    return f"sources.{context.name}"


def _api(own: Ga4Settings, context: SourceContext) -> Ga4Api:
    from adapters.ga4.client import Ga4Api
    from adapters.ga4.credentials import load_credentials

    return Ga4Api(
        property_id=own.property_id,
        credentials=load_credentials(_key(context)),
        key=_key(context),
        api_endpoint=own.api_endpoint,
        timeout_s=own.timeout_s,
    )


def _source(settings: SourceSettings, context: SourceContext) -> EventSource:
    from adapters.ga4.source import Ga4Source

    own = settings_of(settings, Ga4Settings)
    return Ga4Source(
        context.name,
        _api(own, context),
        property_id=own.property_id,
        user_dimension=own.user_dimension,
        id_namespace=own.id_namespace,
        events=own.events,
        page_path=own.page_path,
        window_days=own.window_days,
        lookback_days=own.lookback_days,
        quota_share=own.quota_share,
        tokens_per_hour=own.tokens_per_hour,
        page_size=own.page_size,
    )


def _check(settings: SourceSettings, context: SourceContext) -> str:
    from adapters.ga4.credentials import load_credentials

    own = settings_of(settings, Ga4Settings)
    credentials = load_credentials(_key(context))
    account = getattr(credentials, "service_account_email", "a service account")
    path = " and pagePath" if own.page_path else ""
    return (
        f"GA4 property {own.property_id} as {account}: customUser:{own.user_dimension}"
        f"{path} as {own.id_namespace} ids, {len(own.events)} event names mapped, "
        f"the last {own.window_days} days read again"
    )


def _check_online(settings: SourceSettings, context: SourceContext) -> str:
    from adapters.ga4.online import check_property

    own = settings_of(settings, Ga4Settings)
    return check_property(_api(own, context), own, _key(context))


def _mapped_kinds(settings: SourceSettings) -> Mapping[str, EventKind]:
    own = settings_of(settings, Ga4Settings)
    return {f"events.{name}": kind for name, kind in own.events.items()}


ADAPTER = SourceAdapter(
    type_name="ga4",
    settings_model=Ga4Settings,
    source=_source,
    check=_check,
    check_online=_check_online,
    secrets=(CREDENTIALS_ENV,),
    mapped_kinds=_mapped_kinds,
)
