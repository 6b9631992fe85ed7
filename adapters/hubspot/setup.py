"""Our properties in a HubSpot portal: created once (``leadsync crm setup hubspot``) and
checked against the mapping (``leadsync check --online``).

Idempotent: the group and each property are created only when the portal lacks them;
existing ones are never changed (an admin may have edited their labels or options).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from hubspot import HubSpot
from hubspot.crm.properties import OptionInput, PropertyCreate, PropertyGroupCreate

from adapters.hubspot.client import Caller, message_of
from connector.crm.mapping import CrmMapping
from connector.errors import FatalError
from connector.ports import MappingProblem, SetupReport

__all__ = ["GROUP", "ensure_properties", "mapping_problems"]

GROUP = "leadsync"
_NUMBER = ("number", "number")
_TEXT = ("string", "text")
# Our field -> (HubSpot type, field type) of the property created for it.
_KINDS: dict[str, tuple[str, str]] = {
    "score": _NUMBER,
    "behaviour_score": _NUMBER,
    "fit_score": _NUMBER,
    "normalised_score": _NUMBER,
    "temperature": ("enumeration", "select"),
    "route": _TEXT,
    "treatment": _TEXT,
    "reasons": ("string", "textarea"),
    "scored_at": ("datetime", "date"),
    "stage": ("enumeration", "select"),
}
_LABELS = {
    "score": "leadsync score",
    "behaviour_score": "leadsync behaviour score",
    "fit_score": "leadsync fit score",
    "normalised_score": "leadsync score (0-100)",
    "temperature": "leadsync temperature",
    "route": "leadsync route",
    "treatment": "leadsync treatment",
    "reasons": "leadsync reasons",
    "scored_at": "leadsync scored at",
    "stage": "leadsync stage",
}


def _options(ours: str, mapping: CrmMapping) -> list[str]:
    if ours == "temperature":
        return list(dict.fromkeys(mapping.temperatures.values()))
    if ours == "stage":
        return list(dict.fromkeys(mapping.stages.values()))
    return []


def _option_keys(ours: str, mapping: CrmMapping) -> list[tuple[tuple[str, ...], str]]:
    """(mapping key, CRM value) of the values an enumeration must offer."""
    if ours == "temperature":
        return [(("temperatures", str(t)), value) for t, value in mapping.temperatures.items()]
    if ours == "stage":
        return [(("stages", str(stage)), value) for stage, value in mapping.stages.items()]
    return []


def _portal_properties(client: HubSpot, caller: Caller) -> dict[str, dict[str, Any]]:
    status, answer = caller.call(
        partial(client.crm.properties.core_api.get_all, "contacts", _preload_content=False)
    )
    if status >= 300:
        raise FatalError(f"HubSpot refused to list contact properties: {message_of(answer)}")
    return {str(item["name"]): item for item in answer.get("results", [])}


def ensure_properties(client: HubSpot, caller: Caller, mapping: CrmMapping) -> SetupReport:
    """Create the ``leadsync`` group and every mapped property the portal lacks."""
    report = SetupReport()
    status, groups = caller.call(
        partial(client.crm.properties.groups_api.get_all, "contacts", _preload_content=False)
    )
    if status >= 300:
        raise FatalError(f"HubSpot refused to list property groups: {message_of(groups)}")
    if not any(group.get("name") == GROUP for group in groups.get("results", [])):
        status, answer = caller.call(
            partial(
                client.crm.properties.groups_api.create,
                "contacts",
                PropertyGroupCreate(name=GROUP, label="leadsync", display_order=-1),
                _preload_content=False,
            )
        )
        if status >= 300 and status != 409:
            raise FatalError(f"HubSpot refused the group {GROUP!r}: {message_of(answer)}")
        report.group_created = status < 300
    existing = _portal_properties(client, caller)
    wanted: list[tuple[str, str, str, str]] = [
        (ours, name, *_KINDS[ours]) for ours, name in mapping.fields.items()
    ]
    # The checkboxes where sales confirm BANT, when they are ours to create.
    wanted += [
        (f"bant_{answer}", name, "bool", "booleancheckbox")
        for answer, name in mapping.bant.items()
        if name.startswith("leadsync_")
    ]
    for ours, name, kind, field_type in wanted:
        if name in existing:
            report.existing.append(name)
            continue
        options = [
            OptionInput(label=value, value=value, hidden=False, display_order=order)
            for order, value in enumerate(_options(ours, mapping))
        ]
        if kind == "bool":
            options = [
                OptionInput(label="Yes", value="true", hidden=False, display_order=0),
                OptionInput(label="No", value="false", hidden=False, display_order=1),
            ]
        status, answer = caller.call(
            partial(
                client.crm.properties.core_api.create,
                "contacts",
                PropertyCreate(
                    name=name,
                    label=_LABELS.get(ours, f"leadsync {ours.replace('_', ' ').upper()}"),
                    type=kind,
                    field_type=field_type,
                    group_name=GROUP,
                    options=options,
                    description=f"Written by leadsync: the contact's {ours.replace('_', ' ')}.",
                ),
                _preload_content=False,
            )
        )
        if status == 409:
            report.existing.append(name)
        elif status >= 300:
            raise FatalError(f"HubSpot refused the property {name!r}: {message_of(answer)}")
        else:
            report.created.append(name)
    return report


def mapping_problems(client: HubSpot, caller: Caller, mapping: CrmMapping) -> list[MappingProblem]:
    """What the portal contradicts in the mapping: missing properties, options it lacks."""
    existing = _portal_properties(client, caller)
    problems: list[MappingProblem] = []
    for ours, name in mapping.fields.items():
        found = existing.get(name)
        if found is None:
            problems.append(
                MappingProblem(
                    ("fields", ours),
                    f"HubSpot has no contact property {name!r}; run `leadsync crm setup "
                    "hubspot` to create it, or fix the name",
                )
            )
            continue
        if found.get("modificationMetadata", {}).get("readOnlyValue"):
            problems.append(
                MappingProblem(("fields", ours), f"HubSpot's property {name!r} is read-only")
            )
        expected, actual = _KINDS[ours][0], found.get("type")
        # Text takes anything; otherwise the type must be the one our values are written
        # for (a number for the score, a datetime for scored_at, options for stage...).
        if actual != expected and actual != "string" and name.startswith("leadsync_"):
            problems.append(
                MappingProblem(
                    ("fields", ours),
                    f"HubSpot's property {name!r} is of type {actual!r}, leadsync writes "
                    f"{expected!r} values to it; recreate it (or map another property)",
                )
            )
            continue
        offered = {str(option.get("value")) for option in found.get("options") or []}
        if actual != "enumeration":
            continue
        for key, value in _option_keys(ours, mapping):
            if value not in offered:
                problems.append(
                    MappingProblem(
                        key,
                        f"{name!r} has no option {value!r} in this portal (options: "
                        f"{', '.join(sorted(offered)) or 'none'}); add it in HubSpot or "
                        "map to an existing one",
                    )
                )
        if ours == "stage" and mapping.stage_order:
            problems += _stage_order_problems(name, found.get("options") or [], mapping)
    problems += _reading_problems(existing, mapping)
    return problems


def _stage_order_problems(
    name: str, options: list[dict[str, Any]], mapping: CrmMapping
) -> list[MappingProblem]:
    """stage_order is the portal's order of the stage's options: HubSpot drops a write
    that moves back in it, so a stale order would leave stages unwritten."""
    portal = [
        str(option.get("value"))
        for option in sorted(options, key=lambda option: int(option.get("displayOrder") or 0))
        if not option.get("hidden")
    ]
    if list(mapping.stage_order) == portal:
        return []
    return [
        MappingProblem(
            ("stage_order",),
            f"is not the order of {name!r} in this portal ({', '.join(portal) or 'none'}); "
            "set stage_order to it",
        )
    ]


def _reading_problems(
    existing: dict[str, dict[str, Any]], mapping: CrmMapping
) -> list[MappingProblem]:
    """The properties read from HubSpot exist, and the lead statuses are its options."""
    problems: list[MappingProblem] = []
    read: list[tuple[tuple[str, ...], str]] = [
        (("profile", theirs), theirs) for theirs in mapping.profile
    ]
    read += [(("bant", answer), name) for answer, name in mapping.bant.items()]
    if mapping.lead_status_property:
        read.append((("lead_status_property",), mapping.lead_status_property))
    if mapping.won_amount_property:
        read.append((("won_amount_property",), mapping.won_amount_property))
    for key, name in read:
        if name not in existing:
            fix = (
                "run `leadsync crm setup hubspot` to create it"
                if name.startswith("leadsync_")
                else "fix the name or remove the line"
            )
            problems.append(MappingProblem(key, f"HubSpot has no contact property {name!r}; {fix}"))
    status = existing.get(mapping.lead_status_property or "")
    if status is not None:
        offered = {str(option.get("value")) for option in status.get("options") or []}
        for value in mapping.lead_statuses:
            if value not in offered:
                problems.append(
                    MappingProblem(
                        ("lead_statuses", value),
                        f"{mapping.lead_status_property!r} has no option {value!r} in this "
                        f"portal (options: {', '.join(sorted(offered)) or 'none'}); remove "
                        "the line or map the portal's own status",
                    )
                )
    return problems
