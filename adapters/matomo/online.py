"""``leadsync check --online`` for Matomo: the token is taken, and the site has each goal
and custom dimension the config names.

``API.getMatomoVersion`` needs a token with some view access (plugins/API/API.php), so it
proves the token; ``Goals.getGoals`` (plugins/Goals/API.php) lists the site's goals by
``idgoal`` and ``name``; ``CustomDimensions.getConfiguredCustomDimensions`` its custom
dimensions, each ``idcustomdimension`` the N of the visit's ``dimensionN``
(plugins/CustomDimensions/API.php).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.matomo.client import MatomoApi
from adapters.matomo.settings import MatomoSettings
from connector.errors import ConfigError

__all__ = ["check_online", "missing_goals"]

_LISTED = 10


def missing_goals(configured: Mapping[str, object], goals: list[dict[str, Any]]) -> list[str]:
    """The configured goal names or ids the site has no goal for."""
    known = {str(goal.get("idgoal")) for goal in goals} | {
        str(goal.get("name")) for goal in goals if goal.get("name")
    }
    return [name for name in configured if name not in known]


def _listed(goals: list[dict[str, Any]]) -> str:
    shown = ", ".join(f"{goal.get('idgoal')} {goal.get('name')!r}" for goal in goals[:_LISTED])
    more = f" and {len(goals) - _LISTED} more" if len(goals) > _LISTED else ""
    return (shown + more) if goals else "none"


def check_online(own: MatomoSettings, api: MatomoApi, *, key: str) -> str:
    """What answered, or a ConfigError naming what the site lacks.

    ``key`` is the source's dotted config key (``sources.NAME``).
    """
    version = api.version()
    problems: list[str] = []
    if own.goals:
        goals = api.goals()
        missing = missing_goals(own.goals, goals)
        if missing:
            problems.append(
                f"{key}.goals names {', '.join(repr(name) for name in missing)}, which site "
                f"{own.site_id} has no goal of that name or id (its goals: {_listed(goals)})"
            )
    if own.user_dimension is not None:
        dimensions = api.custom_dimensions()
        found = [
            item
            for item in dimensions
            if str(item.get("idcustomdimension")) == str(own.user_dimension)
        ]
        if not found:
            problems.append(
                f"{key}.user_dimension = {own.user_dimension}: site {own.site_id} has no custom "
                "dimension of that id"
            )
        elif found[0].get("scope") not in (None, "visit"):
            problems.append(
                f"{key}.user_dimension = {own.user_dimension} is an {found[0].get('scope')}-"
                "scoped dimension; the person's id needs a visit-scoped one"
            )
    if problems:
        raise ConfigError(
            "; ".join(problems),
            key=f"{key}.goals" if own.goals and "goals" in problems[0] else f"{key}.user_dimension",
            hint="fix the names in the config, or create them in Matomo (Goals → Manage, "
            "Administration → Websites → Custom Dimensions)",
        )
    mapped = f", {len(own.goals)} goals mapped" if own.goals else ""
    dimension = f", the user's id in dimension{own.user_dimension}" if own.user_dimension else ""
    return f"Matomo {version} took the token: site {own.site_id}{mapped}{dimension}"
