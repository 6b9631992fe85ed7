"""The ``[scoring]``, ``[[scoring.behaviour]]``, ``[[scoring.fit]]`` and ``[lifecycle]``
sections of ``config.toml``, validated, and turned into ``ScoringRules``.

Pydantic checks each rule on its own (an unknown kind, a bad regex, a range upside down);
``contradictions`` checks the rules against each other and against the mapping files
(a rule no event can reach, a route no CRM mapping knows).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from connector.model import EventKind, Route, Treatment
from connector.scoring.lifecycle import Bands, LifecyclePolicy
from connector.scoring.machine import DEFAULT_SCANNER_USER_AGENTS, MachineRules
from connector.scoring.rules import (
    AttributeCondition,
    BehaviourRule,
    FitRule,
    Normalisation,
    ScoringRules,
    default_behaviour_rules,
)

__all__ = [
    "DEFAULT_STRONG_CLICK_PATTERNS",
    "BehaviourRuleSettings",
    "FitRuleSettings",
    "LifecycleSettings",
    "RuleProblem",
    "ScoringSettings",
    "build_rules",
    "contradictions",
    "routes_built_in",
]

DEFAULT_STRONG_CLICK_PATTERNS = ("*quote*", "*devis*", "*pricing*")
_RULE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# Shorthands for the attributes adapters fill in most often.
_ATTRIBUTE_SHORTHANDS = ("campaign", "form", "goal", "link")

AttributeValue = str | bool | float


def _one_or_more(value: object) -> object:
    """One value or a non-empty list of them (an empty list would match nothing)."""
    if isinstance(value, list):
        if not value:
            raise ValueError("is an empty list, which matches nothing; give at least one value")
        return value
    return [value]


# Written as one value or a list; held as a tuple.
TextOrTexts = Annotated[tuple[str, ...], BeforeValidator(_one_or_more)]
AttributeValues = Annotated[tuple[AttributeValue, ...], BeforeValidator(_one_or_more)]
# Route names are stored (16 characters) and written to CRM fields through [routes].
ROUTE_NAME = r"^[a-z][a-z0-9_]{0,15}$"
RouteName = Annotated[str, Field(pattern=ROUTE_NAME)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _compiles(pattern: str | None) -> str | None:
    if pattern is None:
        return None
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"is not a valid regular expression ({exc}): {pattern!r}") from None
    return pattern


def _texts(value: tuple[str, ...] | None) -> tuple[str, ...]:
    return () if value is None else value


def _rule_name(value: str) -> str:
    if not _RULE_NAME.match(value):
        raise ValueError(
            f"rule name {value!r} must be 1-64 letters, digits, '_', '-' or '.' "
            "(it is shown in explain and written to the CRM's reasons field)"
        )
    return value


class BehaviourRuleSettings(_Section):
    name: str
    kind: EventKind
    points: float
    route: RouteName | None = None
    treatment: Treatment | None = None
    url: TextOrTexts | None = None
    url_regex: str | None = None
    campaign: TextOrTexts | None = None
    form: TextOrTexts | None = None
    goal: TextOrTexts | None = None
    link: TextOrTexts | None = None
    attributes: dict[str, AttributeValues] = {}
    max_times: int | None = Field(default=None, ge=1)
    max_points: float | None = Field(default=None, gt=0)
    # At most a century: longer would mean "for ever", which is no window at all.
    window_days: float | None = Field(default=None, gt=0, le=36_500)
    half_life_days: float | None = Field(default=None, gt=0, le=36_500)

    _name = field_validator("name")(_rule_name)
    _regex = field_validator("url_regex")(_compiles)

    @model_validator(mode="after")
    def _treatment_needs_a_route(self) -> BehaviourRuleSettings:
        if self.treatment is not None and self.route is None:
            raise ValueError(
                f"rule {self.name!r} has a treatment but no route: say who the lead is "
                'handed to (route = "telemarketing" or "sales"...), or drop the treatment'
            )
        return self

    @property
    def has_conditions(self) -> bool:
        return bool(
            self.url
            or self.url_regex
            or self.attributes
            or any(getattr(self, name) for name in _ATTRIBUTE_SHORTHANDS)
        )

    def to_rule(self) -> BehaviourRule:
        conditions = [
            AttributeCondition(name, _texts(getattr(self, name)))
            for name in _ATTRIBUTE_SHORTHANDS
            if getattr(self, name)
        ]
        for name, values in self.attributes.items():
            conditions.append(AttributeCondition(name, values))
        return BehaviourRule(
            name=self.name,
            kind=self.kind,
            points=self.points,
            route=self.route,
            treatment=self.treatment,
            url=_texts(self.url),
            url_regex=self.url_regex,
            attributes=tuple(conditions),
            max_times=self.max_times,
            max_points=self.max_points,
            window_days=self.window_days,
            half_life_days=self.half_life_days,
        )


_FIT_OPERATORS = ("equals", "in", "contains", "regex", "range", "present")


class FitRuleSettings(_Section):
    name: str
    field: str = Field(min_length=1)
    points: float = 0
    disqualify: bool = False
    equals: str | bool | float | None = None
    any_of: TextOrTexts | None = Field(default=None, alias="in")
    contains: str | None = None
    regex: str | None = None
    minimum: float | None = Field(default=None, alias="min")
    maximum: float | None = Field(default=None, alias="max")
    present: bool | None = None

    _name = field_validator("name")(_rule_name)
    _regex = field_validator("regex")(_compiles)

    def _operators(self) -> list[str]:
        given = {
            "equals": self.equals is not None,
            "in": self.any_of is not None,
            "contains": self.contains is not None,
            "regex": self.regex is not None,
            "range": self.minimum is not None or self.maximum is not None,
            "present": self.present is not None,
        }
        return [name for name in _FIT_OPERATORS if given[name]]

    @model_validator(mode="after")
    def _one_test(self) -> FitRuleSettings:
        operators = self._operators()
        if len(operators) != 1:
            raise ValueError(
                f"fit rule {self.name!r} needs exactly one test among equals, in, contains, "
                f"regex, min/max, present (found: {', '.join(operators) or 'none'})"
            )
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(
                f"fit rule {self.name!r}: min ({self.minimum:g}) is above max "
                f"({self.maximum:g}); no value can match"
            )
        if self.points == 0 and not self.disqualify:
            raise ValueError(
                f"fit rule {self.name!r} gives 0 points and does not disqualify: it does "
                "nothing; give it points or disqualify = true"
            )
        return self

    def to_rule(self) -> FitRule:
        return FitRule(
            name=self.name,
            field_name=self.field,
            operator=self._operators()[0],
            points=self.points,
            disqualify=self.disqualify,
            equals=self.equals,
            any_of=tuple(value.strip().lower() for value in self.any_of or ()),
            contains=None if self.contains is None else self.contains.strip().lower(),
            regex=self.regex,
            low=self.minimum,
            high=self.maximum,
            present=True if self.present is None else self.present,
        )


class ScoringSettings(_Section):
    strong_click_patterns: tuple[str, ...] = DEFAULT_STRONG_CLICK_PATTERNS
    # Your [[scoring.behaviour]] rules are tried first; the built-in table after them,
    # unless this is false.
    default_rules: bool = True
    warm_from: float = 10
    hot_above: float = 20
    normalised: bool = False
    normalised_half_at: float | None = Field(default=None, gt=0)
    # Processes a full pass is split over (a pass over fewer than 20,000 contacts uses one).
    workers: int = Field(default=2, ge=1, le=32)
    # Machine activity (README, "Machine activity"): scores nothing, shown in explain.
    # The router's own flag (attributes.machine).
    machine_router_flag: bool = True
    # A click this soon after its message's delivery; 0 turns the rule off. Past an hour
    # a person may well have clicked: that is no scanner's speed any more.
    machine_click_within_s: float = Field(default=10, ge=0, le=3600)
    # This many distinct links of one message clicked within machine_burst_s; 0: off.
    machine_burst_links: int = Field(default=3, ge=0, le=100)
    machine_burst_s: float = Field(default=5, gt=0, le=600)
    # Globs on attributes.user_agent (case-insensitive, whole text); [] turns it off.
    machine_user_agents: tuple[str, ...] = DEFAULT_SCANNER_USER_AGENTS
    behaviour: tuple[BehaviourRuleSettings, ...] = ()
    fit: tuple[FitRuleSettings, ...] = ()

    @field_validator("machine_burst_links")
    @classmethod
    def _a_burst_is_several_links(cls, value: int) -> int:
        if value == 1:
            raise ValueError(
                "is 1, which would make every click a burst; give 2 or more, or 0 to turn "
                "the burst rule off"
            )
        return value

    @field_validator("machine_user_agents")
    @classmethod
    def _no_empty_glob(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for glob in value:
            if not glob.strip() or glob.strip("*") == "":
                raise ValueError(
                    f"holds {glob!r}, which would match every user agent (or none); give "
                    'globs naming a scanner, such as "*mimecast*", or [] to turn the rule off'
                )
        return value

    @model_validator(mode="after")
    def _bands_in_order(self) -> ScoringSettings:
        if self.warm_from > self.hot_above:
            raise ValueError(
                f"warm_from ({self.warm_from:g}) is above hot_above ({self.hot_above:g}); "
                "a warm lead must score less than a hot one"
            )
        return self

    def machine_rules(self) -> MachineRules:
        return MachineRules(
            router_flag=self.machine_router_flag,
            click_within_s=self.machine_click_within_s,
            burst_links=self.machine_burst_links,
            burst_s=self.machine_burst_s,
            user_agents=self.machine_user_agents,
        )


class LifecycleSettings(_Section):
    # Which BANT answers sales must confirm for an MQL to become an SQL.
    bant_required: Annotated[
        tuple[Literal["budget", "authority", "need", "timing"], ...], Field(min_length=1)
    ] = (
        "budget",
        "authority",
        "need",
        "timing",
    )


def build_rules(scoring: ScoringSettings, lifecycle: LifecycleSettings) -> ScoringRules:
    behaviour = tuple(rule.to_rule() for rule in scoring.behaviour)
    if scoring.default_rules:
        behaviour += default_behaviour_rules(scoring.strong_click_patterns)
    return ScoringRules(
        behaviour=behaviour,
        fit=tuple(rule.to_rule() for rule in scoring.fit),
        bands=Bands(scoring.warm_from, scoring.hot_above),
        normalisation=Normalisation(scoring.normalised, scoring.normalised_half_at),
        lifecycle=LifecyclePolicy(frozenset(lifecycle.bant_required)),
        machine=scoring.machine_rules(),
    )


class RuleProblem(BaseModel):
    """A contradiction between rules, placed at a key of the config file."""

    loc: tuple[str | int, ...]
    message: str


def contradictions(
    scoring: ScoringSettings, routes_by_mapping: Mapping[str, frozenset[str]]
) -> list[RuleProblem]:
    """What pydantic cannot see rule by rule: rules no event can reach, and routes the
    mapping files (shown name -> the routes listed under their [routes]) do not know."""
    problems: list[RuleProblem] = []
    known = {
        shown: routes or frozenset(BUILT_IN_ROUTES) for shown, routes in routes_by_mapping.items()
    }
    if not known:
        known = {"(no mapping file)": frozenset(BUILT_IN_ROUTES)}
    unconditional: dict[EventKind, str] = {}
    same_conditions: dict[str, str] = {}
    for index, rule in enumerate(scoring.behaviour):
        where = ("scoring", "behaviour", index)
        shadowing = unconditional.get(rule.kind)
        # The same kind with the same conditions as an earlier rule: that one takes all.
        conditions = rule.model_dump_json(
            include={"kind", "url", "url_regex", "campaign", "form", "goal", "link", "attributes"}
        )
        twin = same_conditions.setdefault(conditions, rule.name)
        if shadowing is None and twin != rule.name and rule.has_conditions:
            problems.append(
                RuleProblem(
                    loc=(*where, "kind"),
                    message=(
                        f"rule {rule.name!r} can never match: rule {twin!r} before it has "
                        "the same kind and conditions; merge them, or change a condition"
                    ),
                )
            )
        if shadowing is not None:
            problems.append(
                RuleProblem(
                    loc=(*where, "kind"),
                    message=(
                        f"rule {rule.name!r} can never match: rule {shadowing!r} before it "
                        f"takes every {rule.kind.value} event; move it above, or add a "
                        "condition to the earlier rule"
                    ),
                )
            )
        elif not rule.has_conditions:
            unconditional[rule.kind] = rule.name
        if rule.route is None:
            continue
        lacking = sorted(shown for shown, routes in known.items() if rule.route not in routes)
        if len(lacking) == len(known):
            every = ", ".join(sorted(set().union(*known.values())))
            problems.append(
                RuleProblem(
                    loc=(*where, "route"),
                    message=(
                        f"route {rule.route!r} is known to no mapping file (known: {every}); "
                        "add it under [routes] in the mapping files or fix the name"
                    ),
                )
            )
        elif lacking:
            problems.append(
                RuleProblem(
                    loc=(*where, "route"),
                    message=(
                        f"route {rule.route!r} is missing from [routes] in "
                        f"{', '.join(lacking)}; add it there too, or that CRM would get a "
                        "value it does not know"
                    ),
                )
            )
    return problems


def routes_built_in(scoring: ScoringSettings) -> frozenset[str]:
    """The routes leads are handed to whatever your rules say: a hot lead always goes to
    sales, and the built-in rules (unless switched off) also hand leads to telemarketing.
    Every mapping file with a [routes] table must list them."""
    if scoring.default_rules:
        return frozenset(BUILT_IN_ROUTES)
    return frozenset({Route.SALES.value})


# Routes the built-in rules use: every mapping file must know them.
BUILT_IN_ROUTES = tuple(route.value for route in Route)
