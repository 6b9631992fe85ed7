"""`leadsync check --online` for a ga4 source: what the property's metadata lacks.

``getMetadata`` lists the property's dimensions and metrics, custom ones included. The
user dimension must be there (every report asks for it). A mapped event that is not one
of GA4's own is most likely a key event; when the metadata lists key events as metrics
(``keyEvents:<event name>``), those it does not list are named, as a note: a plain event
is still reported, a key event's mark is only GA4's.
"""

from __future__ import annotations

from adapters.ga4.client import Ga4Api
from adapters.ga4.settings import DEFAULT_EVENTS, Ga4Settings
from connector.errors import ConfigError

__all__ = ["check_property"]

_KEY_EVENT_PREFIX = "keyEvents:"


def check_property(api: Ga4Api, own: Ga4Settings, key: str) -> str:
    """What the property answered, or a ConfigError naming what it lacks."""
    found = api.metadata()
    dimension = f"customUser:{own.user_dimension}"
    if dimension not in found.dimensions:
        custom = sorted(name for name in found.dimensions if name.startswith("customUser:"))
        raise ConfigError(
            f"GA4 property {own.property_id} has no user-scoped custom dimension "
            f"{dimension} (its own: {', '.join(custom) or 'none'})",
            key=f"{key}.user_dimension",
            hint="register it under Admin → Custom definitions (scope User, the user "
            "property the site sets), or set user_dimension to one of its own",
        )
    said = f"property {own.property_id} has {dimension}"
    key_events = {
        name.removeprefix(_KEY_EVENT_PREFIX)
        for name in found.metrics
        if name.startswith(_KEY_EVENT_PREFIX)
    }
    if not key_events:
        return said
    mapped = sorted(name for name in own.events if name not in DEFAULT_EVENTS)
    lacking = [name for name in mapped if name not in key_events]
    if lacking:
        names = ", ".join(f"{key}.events.{name}" for name in lacking)
        said += f"; not key events there (no keyEvents:<name> metric): {names}"
    return said
