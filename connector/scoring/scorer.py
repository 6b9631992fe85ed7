"""Rules -> points, per contact, with every point's reason kept for ``explain``.

Pure: takes events, a profile, the rules and "now"; returns a ``ContactScore``. No store,
no clock, no network. The score is by construction the sum of its lines.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import orjson

from connector.model import (
    ContactScore,
    JsonValue,
    ProfileValue,
    RuleTally,
    ScoreLine,
    ScoringEvent,
)
from connector.scoring.lifecycle import derive_handover, temperature_for
from connector.scoring.rules import BehaviourRule, FitRule, ScoringRules

__all__ = [
    "Scorer",
    "ScoringEvent",
    "as_utc_time",
    "profile_fields",
    "score_contact",
    "top_reasons",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECONDS_PER_DAY = 86_400.0
_MEMO_LIMIT = 200_000
# Decaying points are brought up to date at most this often.
_DECAY_STEP = timedelta(days=1)


def as_utc_time(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value + "+00:00")


def _format_points(points: float) -> str:
    return f"{points:+g}"


@lru_cache(maxsize=65_536)
def _reason_part(rule: str, count: int, points: float) -> str:
    # Cached: across a pass the same few texts ("site_visit x3 (+3)") recur endlessly.
    shown = _format_points(round(points, 2))
    return f"{rule} ×{count} ({shown})" if count else f"{rule} ({shown})"


def _rank(item: tuple[str, list[float]]) -> tuple[float, str]:
    return (-abs(item[1][1]), item[0])


def top_reasons(tallies: Sequence[RuleTally], *, limit: int = 3) -> str:
    """A short text for a CRM field: the rules that brought the most points."""
    totals: dict[str, list[float]] = {}
    for tally in tallies:
        if tally.times == 0 and tally.points == 0:
            continue
        found = totals.get(tally.rule)
        if found is None:
            totals[tally.rule] = [tally.times, tally.points]
        else:
            found[0] += tally.times
            found[1] += tally.points
    if not totals:
        return "no scored activity"
    ranked = sorted(totals.items(), key=_rank) if len(totals) > 1 else list(totals.items())
    parts = [_reason_part(rule, int(count), points) for rule, (count, points) in ranked[:limit]]
    if len(ranked) > limit:
        parts.append(f"+{len(ranked) - limit} more")
    return "; ".join(parts)


def _line_order(line: ScoreLine) -> tuple[object, ...]:
    # Fit lines first, then events by time; every field takes part, so the order (and
    # so the whole result) does not depend on the order the events arrived in.
    return (
        line.occurred_at is not None,
        line.occurred_at or _EPOCH,
        line.kind,
        line.rule,
        line.source or "",
        line.url or "",
        line.points,
        line.note or "",
    )


def _tally_order(tally: RuleTally) -> tuple[object, ...]:
    # Total: two rules may share a name (the two strong-click rules), and the tallies'
    # order must not depend on the events' order.
    return (
        tally.rule,
        tally.kind,
        tally.base_points,
        tally.route or "",
        tally.treatment or "",
        tally.times,
        tally.points,
        tally.latest_at or _EPOCH,
    )


def _newest_first(event: ScoringEvent) -> tuple[datetime, str, str]:
    # Events of one rule at one time earn the same points whichever comes first; the
    # origin only makes the lines' order total.
    return (as_utc_time(event[1]), event[4] or "", event[5] or "")


def _rule_is_plain(rule: BehaviourRule) -> bool:
    return (
        rule.max_times is None
        and rule.max_points is None
        and rule.window_days is None
        and rule.half_life_days is None
    )


def _tally_of(rule: BehaviourRule, lines: Sequence[ScoreLine]) -> RuleTally:
    earning = [line for line in lines if line.points != 0]
    return RuleTally(
        rule.name,
        rule.kind.value,
        rule.route,
        rule.treatment,
        float(rule.points),
        len(earning),
        math.fsum(line.points for line in lines),
        max((line.occurred_at for line in earning if line.occurred_at is not None), default=None),
    )


class Scorer:
    """Applies one set of rules as of one moment; one per scoring pass.

    ``as_of`` is "now" for windows and decay. With ``strict`` (a time the user fixed),
    events after ``as_of`` are left out, so the score is the one the contact had then.
    Without it, an event stamped a little in the future (a source's clock) counts as new.
    """

    def __init__(self, rules: ScoringRules, *, as_of: datetime, strict: bool = False) -> None:
        self.rules = rules
        self.as_of = as_of.astimezone(UTC)
        self.strict = strict
        self._as_of_text = self.as_of.isoformat(" ", "microseconds")[:26]
        self._rules_by_kind: dict[str, tuple[tuple[int, BehaviourRule], ...]] = {}
        for index, rule in enumerate(rules.behaviour):
            self._rules_by_kind.setdefault(rule.kind.value, ())
            self._rules_by_kind[rule.kind.value] += ((index, rule),)
        self._plain = tuple(_rule_is_plain(rule) for rule in rules.behaviour)
        # Enum look-ups cost a µs each: done once here, not per contact.
        self._kind_names = tuple(rule.kind.value for rule in rules.behaviour)
        self._memo: dict[tuple[str, str | None, str | None], int] = {}

    def rule_for(self, event: ScoringEvent) -> int:
        """The index of the first rule matching ``event``, or -1."""
        attributes = event[3]
        cacheable = attributes is None or isinstance(attributes, str)
        key = (event[0], event[2], attributes)
        if cacheable:
            found = self._memo.get(key)  # type: ignore[arg-type]
            if found is not None:
                return found
        parsed: dict[str, JsonValue] | None = None
        found = -1
        for index, rule in self._rules_by_kind.get(event[0], ()):
            if rule.needs_attributes and parsed is None:
                parsed = _attributes_of(attributes)
            if rule.matches(event[2], parsed or {}):
                found = index
                break
        if cacheable:
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()
            self._memo[key] = found  # type: ignore[index]
        return found

    def _after_as_of(self, when: datetime | str) -> bool:
        return when > (self._as_of_text if isinstance(when, str) else self.as_of)  # type: ignore[operator]

    def score(
        self,
        events: Iterable[ScoringEvent],
        profile: Mapping[str, ProfileValue],
        *,
        email: str | None = None,
        detailed: bool = True,
    ) -> ContactScore:
        """The contact's score; with ``detailed``, also one line per event.

        Without it, events of rules with no caps, window or decay are only counted (a
        scoring pass reads a million events: building a line for each would cost more
        than reading them). Both ways give the same totals, tallies and reasons.
        """
        plain = self._plain
        memo_get = self._memo.get
        rule_for = self.rule_for
        strict = self.strict
        counts: dict[int, int] = {}
        latest: dict[int, datetime | str] = {}
        kept: dict[int, list[ScoringEvent]] = {}
        for event in events:
            when = event[1]
            if strict and self._after_as_of(when):
                continue
            try:
                index = memo_get((event[0], event[2], event[3]))  # type: ignore[arg-type]
            except TypeError:  # attributes given as a dict (tests, explain): not hashable
                index = None
            if index is None:
                index = rule_for(event)
            if index < 0:
                continue
            if detailed or not plain[index]:
                bucket = kept.get(index)
                if bucket is None:
                    kept[index] = [event]
                else:
                    bucket.append(event)
                continue
            count = counts.get(index)
            if count is None:
                counts[index] = 1
                latest[index] = when
            else:
                counts[index] = count + 1
                if when > latest[index]:  # type: ignore[operator]
                    latest[index] = when

        rules = self.rules.behaviour
        tallies: list[RuleTally] = []
        kind_names = self._kind_names
        for index, count in counts.items():
            rule = rules[index]
            tallies.append(
                RuleTally(
                    rule.name,
                    kind_names[index],
                    rule.route,
                    rule.treatment,
                    float(rule.points),
                    count if rule.points else 0,
                    count * float(rule.points),
                    as_utc_time(latest[index]) if rule.points else None,
                )
            )
        lines: list[ScoreLine] = []
        rescore_after: datetime | None = None
        for index, found in kept.items():
            rule = rules[index]
            if plain[index]:
                rule_lines = self._plain_lines(rule, found)
            else:
                rule_lines = self._timed_lines(rule, found)
                change = self._next_change(rule, found)
                if change is not None and (rescore_after is None or change < rescore_after):
                    rescore_after = change
            tallies.append(_tally_of(rule, rule_lines))
            if detailed:
                lines.extend(rule_lines)
        tallies.sort(key=_tally_order)
        behaviour = round(math.fsum(tally.points for tally in tallies), 2)

        fit_lines, disqualified_by = _fit_lines(self.rules.fit, profile, email)
        fit = round(math.fsum(line.points for line in fit_lines), 2)
        if detailed:
            lines.extend(fit_lines)
            lines.sort(key=_line_order)

        total = round(behaviour + fit, 2)
        bands = self.rules.bands
        temperature = temperature_for(total, bands)
        handover = derive_handover(temperature, tallies)
        fit_tallies = [
            RuleTally(line.rule, "fit", None, None, line.points, 1, line.points, None)
            for line in fit_lines
        ]
        return ContactScore(
            score=total,
            behaviour_score=behaviour,
            fit_score=fit,
            temperature=temperature,
            # A disqualified contact goes to no one: decide.py, which knows the stage
            # (an SQL or a customer cannot be disqualified), withholds the route.
            route=handover.route,
            treatment=handover.treatment,
            reasons=top_reasons([*tallies, *fit_tallies]),
            lines=tuple(lines),
            normalised_score=self.rules.normalisation.of(total, bands),
            disqualified_by=disqualified_by,
            tallies=tuple(tallies),
            rescore_after=rescore_after,
        )

    @staticmethod
    def _plain_lines(rule: BehaviourRule, found: list[ScoringEvent]) -> list[ScoreLine]:
        return [
            ScoreLine(
                rule.name,
                event[0],
                as_utc_time(event[1]),
                float(rule.points),
                event[4],
                event[2],
                rule.route,
                rule.treatment,
            )
            for event in found
        ]

    def _next_change(self, rule: BehaviourRule, found: list[ScoringEvent]) -> datetime | None:
        """When time alone will change this rule's points for the contact: the first event
        to leave the window, or, for decay, a day from now (rescored daily, not
        continuously)."""
        if not rule.points:
            return None
        moments: list[datetime] = []
        if rule.window_days is not None:
            window = timedelta(days=rule.window_days)
            # An event whose window ends past the last representable time never leaves
            # it (events stored before times were bounded at validation may be that far).
            last_start = datetime.max.replace(tzinfo=UTC) - window
            moments.extend(
                expiry
                for expiry in (
                    occurred_at + window
                    for occurred_at in (as_utc_time(event[1]) for event in found)
                    if occurred_at <= last_start
                )
                if expiry > self.as_of
            )
        if rule.half_life_days is not None:
            moments.append(self.as_of + _DECAY_STEP)
        return min(moments, default=None)

    def _timed_lines(self, rule: BehaviourRule, found: list[ScoringEvent]) -> list[ScoreLine]:
        """Lines for a rule with caps, a window or decay: the newest events count first."""
        found.sort(key=_newest_first, reverse=True)
        lines: list[ScoreLine] = []
        counted = 0
        total = 0.0
        for event in found:
            occurred_at = as_utc_time(event[1])
            age_days = max((self.as_of - occurred_at).total_seconds(), 0.0) / _SECONDS_PER_DAY
            points = float(rule.points)
            note: str | None = None
            if rule.window_days is not None and age_days > rule.window_days:
                points, note = 0.0, f"older than the {rule.window_days:g}-day window"
            elif rule.max_times is not None and counted >= rule.max_times:
                points, note = 0.0, f"over max_times {rule.max_times}"
            else:
                if rule.half_life_days is not None:
                    points = round(points * 0.5 ** (age_days / rule.half_life_days), 2)
                    note = f"{rule.points:g} decayed over {age_days:.0f} days"
                if rule.max_points is not None:
                    room = max(rule.max_points - abs(total), 0.0)
                    if abs(points) > room:
                        points = round(math.copysign(room, points), 2)
                        note = f"capped by max_points {rule.max_points:g}"
                counted += 1
            total += points
            lines.append(
                ScoreLine(
                    rule.name,
                    event[0],
                    occurred_at,
                    points,
                    event[4],
                    event[2],
                    rule.route,
                    rule.treatment,
                    note,
                )
            )
        return lines


def _attributes_of(attributes: Mapping[str, JsonValue] | str | None) -> dict[str, JsonValue]:
    if attributes is None:
        return {}
    if isinstance(attributes, str):
        loaded = orjson.loads(attributes)
        return loaded if isinstance(loaded, dict) else {}
    return dict(attributes)


def profile_fields(
    profile: Mapping[str, ProfileValue], email: str | None
) -> dict[str, ProfileValue]:
    """The profile as fit rules see it: the stored fields plus ``email`` and
    ``email_domain``, derived from the contact's address."""
    fields = dict(profile)
    if email:
        fields.setdefault("email", email)
        fields.setdefault("email_domain", email.rpartition("@")[2])
    return fields


def _fit_lines(
    fit_rules: Sequence[FitRule], profile: Mapping[str, ProfileValue], email: str | None
) -> tuple[list[ScoreLine], str | None]:
    if not fit_rules:
        return [], None
    fields = profile_fields(profile, email)
    lines: list[ScoreLine] = []
    disqualified_by: str | None = None
    for rule in fit_rules:
        value = fields.get(rule.field_name)
        if not rule.matches(value):
            continue
        if rule.disqualify and disqualified_by is None:
            disqualified_by = rule.name
        shown = "(empty)" if value is None or value == "" else repr(value)
        lines.append(
            ScoreLine(
                rule.name, "fit", None, float(rule.points), note=f"{rule.field_name} = {shown}"
            )
        )
    return lines, disqualified_by


def score_contact(
    events: Iterable[ScoringEvent],
    rules: ScoringRules,
    profile: Mapping[str, ProfileValue] | None = None,
    *,
    as_of: datetime | None = None,
    email: str | None = None,
) -> ContactScore:
    """One contact's score (tests, ``explain``); passes use one ``Scorer`` for all."""
    moment = as_of or datetime.now(UTC)
    return Scorer(rules, as_of=moment, strict=as_of is not None).score(
        events, profile or {}, email=email
    )
