"""A Salesforce mapping checked against the org (``leadsync check --online``).

leadsync creates no Salesforce field: custom fields need the admin's field-level security
choices. Instead each field the mapping names is looked up in the describe of its objects
(one call per object), and whatever would make a write or a read fail is reported at the
mapping entry it concerns: a field missing or hidden, read-only, of a type our values do
not fit, a picklist without a value leadsync writes or reads, a text field too short.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from adapters.salesforce.client import SalesforceApi
from adapters.salesforce.records import KNOWN_OBJECTS, fields_for
from connector.crm.mapping import CrmMapping, OurField
from connector.errors import FatalError, LimitReachedError
from connector.model import Temperature
from connector.ports import MappingProblem

__all__ = ["mapping_problems"]

Key = tuple[str, ...]
Field = Mapping[str, Any]

_NUMBER = frozenset({"double", "int", "long", "currency", "percent"})
_TEXT = frozenset({"string", "textarea"})
# A combobox takes any text besides its listed values, so it holds text as well.
_WORDS = _TEXT | {"picklist", "combobox"}
_SCORE = (_NUMBER, "Number(18, 0)")
# Our field -> (describe types its values fit, the type to choose when creating it).
_KINDS: dict[OurField, tuple[frozenset[str], str]] = {
    "score": _SCORE,
    "behaviour_score": _SCORE,
    "fit_score": _SCORE,
    "normalised_score": (_NUMBER, "Number(3, 0)"),
    "temperature": (_WORDS, "Picklist"),
    "route": (_WORDS, "Text(40)"),
    "treatment": (_WORDS, "Text(80)"),
    # Free text made of rule names: no picklist could list its values.
    "reasons": (_TEXT, "Long Text Area(1000)"),
    "scored_at": (frozenset({"datetime"}), "Date/Time"),
    "stage": (_WORDS, "Text(40)"),
}
_WHAT: dict[OurField, str] = {
    "score": "numbers",
    "behaviour_score": "numbers",
    "fit_score": "numbers",
    "normalised_score": "numbers (0-100)",
    "temperature": "temperature names",
    "route": "route names",
    "treatment": "treatment names",
    "reasons": "free text",
    "scored_at": "date-times",
    "stage": "stage names",
}
_NOT_DESCRIBABLE = ("NOT_FOUND", "INVALID_TYPE", "answered 404 ")
_SHOWN_VALUES = 20


def mapping_problems(api: SalesforceApi, mapping: CrmMapping) -> list[MappingProblem]:
    """What the org contradicts in the mapping: fields missing, hidden, read-only or of
    the wrong type, picklist values it lacks, values too long for a text field."""
    problems: list[MappingProblem] = []
    described: dict[str, dict[str, Field]] = {}
    for sobject in dict.fromkeys(mapping.objects):
        try:
            answer = api.describe(sobject)
        except LimitReachedError as limit:
            raise LimitReachedError(
                f"Salesforce's API budget stopped the check: {limit.message}",
                retry_after=limit.retry_after,
                vendor="salesforce",
                hint=f"run `leadsync check --online` again after {limit.retry_after:%H:%M} UTC",
            ) from None
        except FatalError as error:
            # Only "no such object" is the mapping's business; a refusal or an
            # unreachable org is the run's, and keeps its own message and hint.
            if not any(mark in error.message for mark in _NOT_DESCRIBABLE):
                raise
            problems.append(
                MappingProblem(
                    ("objects",),
                    f"the org has no object {sobject!r}, or the integration user cannot see "
                    f"it ({error.message}): give the user's profile or permission set Read "
                    f"access to {sobject}s, or remove {sobject!r} from objects",
                )
            )
            continue
        described[sobject] = {
            str(item.get("name")): item for item in answer.get("fields") or [] if item
        }
    problems += _written_problems(described, mapping)
    problems += _read_problems(described, mapping)
    return problems


# -- looking fields up ------------------------------------------------------------------------


def _setup(sobject: str, name: str | None = None) -> str:
    where = f"Setup > Object Manager > {sobject} > Fields & Relationships"
    return where if name is None else f"{where} > {name}"


def _lookup(fields: Mapping[str, Field], name: str) -> Field | None:
    """The field ``name`` of an object, found as Salesforce and the reader find it: API
    names ignore case."""
    found = fields.get(name)
    if found is not None:
        return found
    lowered = name.lower()
    return next((field for actual, field in fields.items() if actual.lower() == lowered), None)


def _missing(sobject: str, name: str, key: Key, create_as: str | None) -> MappingProblem:
    hidden = (
        f"{sobject} has no field {name!r} (missing, or hidden from the integration user by "
        "field-level security)"
    )
    if name.endswith("__c") and create_as is not None:
        fix = (
            f"the admin creates it in {_setup(sobject)} > New, as {create_as}, visible "
            "to the integration user's profile, or fixes the name here"
        )
    elif name.endswith("__c"):
        fix = (
            f"check its field-level security in {_setup(sobject)} (the integration user's "
            "profile must see it), or fix the name here"
        )
    else:
        fix = (
            f"grant the integration user's profile access to it ({_setup(sobject, name)} > "
            "Set Field-Level Security), or fix the name here"
        )
    return MappingProblem(key, f"{hidden}: {fix}")


def _either(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _listing(values: Sequence[str]) -> str:
    shown = ", ".join(values[:_SHOWN_VALUES]) or "none"
    if len(values) > _SHOWN_VALUES:
        shown += f", ... ({len(values)} in all)"
    return shown


# -- written fields ---------------------------------------------------------------------------


def _written_values(
    ours: OurField, owner: str | None, key: Key, mapping: CrmMapping
) -> list[tuple[Key, str]]:
    """(mapping key holding it, value) of each value leadsync may write to ``ours``, as
    ``connector.crm.plan`` picks them."""
    if ours == "temperature":
        # A temperature the table lacks is written under its own name.
        return [
            (("temperatures", str(t)), mapping.temperatures[t])
            if t in mapping.temperatures
            else (key, str(t))
            for t in Temperature
        ]
    if ours == "stage":
        if owner is None:
            return [(("stages", str(stage)), value) for stage, value in mapping.stages.items()]
        return [
            (("object_stages", owner, str(stage)), value)
            for stage, value in mapping.object_stages.get(owner, {}).items()
        ]
    if ours == "route":
        # Without a [routes] table route names are written as the rules spell them,
        # which this file does not list.
        return [(("routes", route), value) for route, value in mapping.routes.items()]
    return []


def _written_problems(
    described: Mapping[str, Mapping[str, Field]], mapping: CrmMapping
) -> list[MappingProblem]:
    problems: list[MappingProblem] = []
    for owner, ours, theirs in mapping.field_targets():
        key: Key = ("fields", ours) if owner is None else ("object_fields", owner, ours)
        if ours == "stage" and owner is not None and not mapping.object_stages.get(owner):
            problems.append(
                MappingProblem(
                    key,
                    f"{owner}.{theirs} takes our stage from [object_stages.{owner}], which "
                    f"lists none: leadsync would never write it; add the {theirs} value for "
                    "each stage there, or remove this line",
                )
            )
            continue
        # Named as the writer will send it: an object field, or a [fields] entry that
        # names its object, goes to records of that object only.
        full = theirs if owner is None else f"{owner}.{theirs}"
        first, dot, _ = full.partition(".")
        if dot and first not in mapping.objects:
            problems.append(
                MappingProblem(
                    key,
                    f"{theirs!r} names no object of objects ({', '.join(mapping.objects)}), "
                    "so leadsync would write it nowhere: name the field alone (every "
                    "object), or as Object.Field for one of those",
                )
            )
            continue
        for sobject, fields in described.items():
            chosen = fields_for(sobject, {full: None})
            if not chosen:
                continue
            (name,) = chosen
            problems += _written_field(fields, sobject, name, ours, owner, key, mapping)
    return problems


def _written_field(
    fields: Mapping[str, Field],
    sobject: str,
    name: str,
    ours: OurField,
    owner: str | None,
    key: Key,
    mapping: CrmMapping,
) -> list[MappingProblem]:
    types, create_as = _KINDS[ours]
    values = _written_values(ours, owner, key, mapping)
    if ours == "temperature":
        create_as = f"Picklist with the values {_listing([v for _, v in values])}"
    if "." in name:
        return [
            MappingProblem(
                key,
                f"{name!r} is not a field of {sobject}: leadsync writes fields of the record "
                "itself, named alone (no object prefix, no relationship)",
            )
        ]
    field = _lookup(fields, name)
    if field is None:
        return [_missing(sobject, name, key, create_as)]
    name = str(field.get("name", name))
    if field.get("calculated"):
        return [
            MappingProblem(
                key,
                f"{sobject}.{name} is a formula field, which nobody can write: map a "
                f"{create_as} field instead",
            )
        ]
    problems: list[MappingProblem] = []
    if not field.get("updateable", False):
        problems.append(
            MappingProblem(
                key,
                f"{sobject}.{name} is read-only for the integration user: grant it Edit "
                f"access ({_setup(sobject, name)} > Set Field-Level Security), or map a "
                "field it may edit",
            )
        )
    actual = str(field.get("type"))
    if actual not in types:
        problems.append(
            MappingProblem(
                key,
                f"{sobject}.{name} is a {actual} field; leadsync writes {_WHAT[ours]} to it, "
                f"which need a field of type {_either(sorted(types))}: map a {create_as} "
                "field instead "
                f"(a custom field's type changes in {_setup(sobject, name)} > Change Field "
                "Type)",
            )
        )
        return problems
    if actual == "picklist":
        problems += _picklist_problems(field, sobject, name, values)
    length = int(field.get("length") or 0)
    if actual in _TEXT | {"combobox"} and length > 0:
        problems += [
            MappingProblem(
                value_key,
                f"{value!r} has {len(value)} characters, more than {sobject}.{name} holds "
                f"({length}): Salesforce would refuse the write (STRING_TOO_LONG); shorten "
                f"the value, or lengthen the field in {_setup(sobject, name)} > Edit",
            )
            for value_key, value in values
            if len(value) > length
        ]
    return problems


def _picklist_problems(
    field: Field, sobject: str, name: str, values: Iterable[tuple[Key, str]]
) -> list[MappingProblem]:
    entries = [item for item in field.get("picklistValues") or [] if item]
    active = [str(item.get("value")) for item in entries if item.get("active", True)]
    inactive = {str(item.get("value")) for item in entries if not item.get("active", True)}
    # An unrestricted picklist stores any value, but outside its list the value escapes
    # reports and filters built on it: still worth fixing.
    effect = (
        "Salesforce would refuse the write"
        if field.get("restrictedPicklist")
        else "Salesforce would store a value outside the list"
    )
    problems: list[MappingProblem] = []
    for key, value in values:
        if value in active:
            continue
        state = "an inactive value" if value in inactive else "no value"
        problems.append(
            MappingProblem(
                key,
                f"the picklist {sobject}.{name} has {state} {value!r} ({effect}; active "
                f"values: {_listing(active)}): add or activate it in {_setup(sobject, name)} "
                "> Values, or map one of those",
            )
        )
    return problems


# -- read fields ------------------------------------------------------------------------------


def _read_paths(name: str, objects: Iterable[str]) -> list[tuple[str, list[str]]]:
    """(object, path on it) of a field read: "Object.Field" (or "Object.Relationship.Field")
    on that object only, "Field" on every object."""
    first, dot, rest = name.partition(".")
    if dot and (first in KNOWN_OBJECTS or first in objects):
        return [(first, rest.split("."))] if first in objects else []
    return [(sobject, name.split(".")) for sobject in objects]


def _read_field(
    fields: Mapping[str, Field],
    sobject: str,
    path: Sequence[str],
    key: Key,
    create_as: str | None = None,
) -> tuple[Field | None, list[MappingProblem]]:
    """The field a read names (None for a relationship path), or why it cannot be read."""
    if len(path) > 1:
        # The related object is not described: one call per mapped object is the
        # budget, and a relationship the user sees almost always shows its fields.
        relationship = path[0]
        if any(
            str(field.get("relationshipName") or "").lower() == relationship.lower()
            for field in fields.values()
        ):
            return None, []
        return None, [
            MappingProblem(
                key,
                f"{sobject} has no relationship {relationship!r}: no lookup field of "
                f"{sobject} has that relationship name (or it is hidden from the integration "
                "user by field-level security); fix the path (Contact.Account.Industry "
                "follows the lookup Contact.AccountId), or remove the line",
            )
        ]
    field = _lookup(fields, path[0])
    if field is None:
        return None, [_missing(sobject, path[0], key, create_as)]
    return field, []


def _read_problems(
    described: Mapping[str, Mapping[str, Field]], mapping: CrmMapping
) -> list[MappingProblem]:
    problems: list[MappingProblem] = []
    objects = tuple(mapping.objects)
    for theirs in mapping.profile:
        for sobject, path in _read_paths(theirs, objects):
            if sobject in described:
                problems += _read_field(described[sobject], sobject, path, ("profile", theirs))[1]
    for answer, theirs in mapping.bant.items():
        key: Key = ("bant", answer)
        for sobject, path in _read_paths(theirs, objects):
            if sobject not in described:
                continue
            field, found = _read_field(described[sobject], sobject, path, key, "Checkbox")
            problems += found
            if field is not None and field.get("type") != "boolean":
                problems.append(
                    MappingProblem(
                        key,
                        f"{sobject}.{field.get('name')} is a {field.get('type')} field; "
                        "leadsync reads BANT answers from checkboxes: map a Checkbox field",
                    )
                )
    if mapping.lead_status_property:
        problems += _status_problems(described, mapping, mapping.lead_status_property)
    return problems


def _status_problems(
    described: Mapping[str, Mapping[str, Field]], mapping: CrmMapping, theirs: str
) -> list[MappingProblem]:
    problems: list[MappingProblem] = []
    for sobject, path in _read_paths(theirs, tuple(mapping.objects)):
        if sobject not in described:
            continue
        field, found = _read_field(described[sobject], sobject, path, ("lead_status_property",))
        problems += found
        if field is None or field.get("type") != "picklist":
            continue  # a text status holds anything: nothing to compare
        name = str(field.get("name"))
        # Records keep a value deactivated since: reading it stays meaningful.
        offered = [str(item.get("value")) for item in field.get("picklistValues") or [] if item]
        mapped = [("lead_statuses", value) for value in mapping.lead_statuses]
        mapped += [("status_stages", value) for value in mapping.status_stages]
        problems += [
            MappingProblem(
                (table, value),
                f"the picklist {sobject}.{name} has no value {value!r} (values: "
                f"{_listing(offered)}): map the org's own value, or remove the line",
            )
            for table, value in mapped
            if value not in offered
        ]
    return problems
