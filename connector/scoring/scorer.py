"""Rules -> points, per contact, with every point's reason kept for ``explain``.

Pure: takes events, a profile, the rules and "now"; returns a ``ContactScore``. No store,
no clock, no network. The score is by construction the sum of its lines. Machine
activity (``connector.scoring.machine``) is set aside before any behaviour rule sees it.
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
from connector.scoring.machine import (
    DELIVERY_KINDS,
    MACHINE_KINDS,
    MachineClick,
    MachineRule,
    MachineVerdict,
    machine_clicks,
)
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

# What ``Scorer.rule_for`` answers besides a rule's index (0 and up) and -1 (no rule).
# Machine activity by the event alone (rules 1 and 2): the event scores nothing.
_BY_FLAG = -2
_BY_AGENT = -3
# A click carrying a message id (_WATCHED + 1 + its rule's index, or + 0 without one)
# and a delivery carrying one (_DELIVERY + 1 + index): the timing rules decide the click
# once all the contact's events are read; a delivery also scores as its rule says.
# Plain integers, so the memo and the loop over a million events stay as cheap as before.
_WATCHED = 1 << 20
_DELIVERY = 1 << 21
_MACHINE_CODES = {_BY_FLAG: MachineRule.ROUTER_FLAG, _BY_AGENT: MachineRule.USER_AGENT}
_CLICK = "email_click"


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

    def __init__(
        self, rules: ScoringRules, *, as_of: datetime, strict: bool = False, reasons: bool = True
    ) -> None:
        self.rules = rules
        self.as_of = as_of.astimezone(UTC)
        self.strict = strict
        # Without, ``reasons`` is left empty: a simulation never shows it, and its text
        # costs a tenth of a pass.
        self.reasons = reasons
        self._as_of_text = self.as_of.isoformat(" ", "microseconds")[:26]
        self._rules_by_kind: dict[str, tuple[tuple[int, BehaviourRule], ...]] = {}
        for index, rule in enumerate(rules.behaviour):
            self._rules_by_kind.setdefault(rule.kind.value, ())
            self._rules_by_kind[rule.kind.value] += ((index, rule),)
        self._plain = tuple(_rule_is_plain(rule) for rule in rules.behaviour)
        # Enum look-ups cost a µs each: done once here, not per contact.
        self._kind_names = tuple(rule.kind.value for rule in rules.behaviour)
        self._memo: dict[tuple[str, str | None, str | None], int] = {}
        machine = rules.machine
        self._reads_messages = machine.reads_messages
        self._machine_kinds = (
            MACHINE_KINDS if machine.reads_attributes or machine.reads_messages else frozenset()
        )
        self._machine_keys = tuple(
            key
            for key, wanted in (
                ("machine", machine.router_flag),
                ("user_agent", machine.user_agents != ()),
                ("message_id", machine.reads_messages),
            )
            if wanted
        )
        self._delivery_kinds = frozenset(DELIVERY_KINDS if machine.reads_deliveries else ())

    def rule_for(self, event: ScoringEvent) -> int:
        """The index of the first rule matching ``event``, -1 for none, or a code above
        (machine activity; a click or a delivery the timing rules must see)."""
        attributes = event[3]
        cacheable = attributes is None or isinstance(attributes, str)
        key = (event[0], event[2], attributes)
        if cacheable:
            found = self._memo.get(key)  # type: ignore[arg-type]
            if found is not None:
                return found
        found = self._code_for(event[0], event[2], attributes)
        if cacheable:
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()
            self._memo[key] = found  # type: ignore[index]
        return found

    def _code_for(
        self, kind: str, url: str | None, attributes: Mapping[str, JsonValue] | str | None
    ) -> int:
        parsed: dict[str, JsonValue] | None = None
        offset = 0
        if kind in self._machine_kinds and _may_carry(attributes, self._machine_keys):
            parsed = _attributes_of(attributes)
            verdict = self.rules.machine.of_attributes(parsed)
            if verdict is not None:
                return _BY_FLAG if verdict.rule is MachineRule.ROUTER_FLAG else _BY_AGENT
            if kind == _CLICK and self._reads_messages and _message_id(parsed) is not None:
                offset = _WATCHED + 1
        elif kind in self._delivery_kinds and _may_carry(attributes, _MESSAGE_ID_KEY):
            parsed = _attributes_of(attributes)
            if _message_id(parsed) is not None:
                offset = _DELIVERY + 1
        return offset + self._behaviour_index(kind, url, attributes, parsed)

    def _behaviour_index(
        self,
        kind: str,
        url: str | None,
        attributes: Mapping[str, JsonValue] | str | None,
        parsed: dict[str, JsonValue] | None,
    ) -> int:
        for index, rule in self._rules_by_kind.get(kind, ()):
            if rule.needs_attributes and parsed is None:
                parsed = _attributes_of(attributes)
            if rule.matches(url, parsed or {}):
                return index
        return -1

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
        # Machine activity and what the timing rules need, with rule_for's code; made
        # only for a contact that has some.
        aside: list[tuple[int, ScoringEvent]] | None = None
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
                # Machine activity by the event alone counts for nothing: only explain's
                # lines show it.
                if detailed and index != -1:
                    if aside is None:
                        aside = []
                    aside.append((index, event))
                continue
            if index >= _WATCHED:
                if aside is None:
                    aside = []
                aside.append((index, event))
                if index < _DELIVERY:
                    continue  # a click: counted after the loop, unless it is a machine's
                index -= _DELIVERY + 1
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

        machine_lines: list[ScoreLine] = []
        if aside is not None:
            for index, event in self._humans_of(aside, machine_lines if detailed else None):
                if detailed or not plain[index]:
                    kept.setdefault(index, []).append(event)
                    continue
                when = event[1]
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
        if detailed:
            lines.extend(machine_lines)
        return self._finish(tallies, lines, profile, email, rescore_after, detailed=detailed)

    def finish_with(
        self,
        result: ContactScore,
        profile: Mapping[str, ProfileValue],
        *,
        email: str | None = None,
        detailed: bool,
    ) -> ContactScore:
        """``result`` (another scorer's, whose behaviour and machine rules are these
        rules' too) with this scorer's fit rules, bands and normalisation: what ``score``
        would give, without reading the events again (a simulation of new thresholds)."""
        lines = [line for line in result.lines if line.kind != "fit"] if detailed else []
        return self._finish(
            list(result.tallies),
            lines,
            profile,
            email,
            result.rescore_after,
            detailed=detailed,
        )

    def _finish(
        self,
        tallies: list[RuleTally],
        lines: list[ScoreLine],
        profile: Mapping[str, ProfileValue],
        email: str | None,
        rescore_after: datetime | None,
        *,
        detailed: bool,
    ) -> ContactScore:
        """From the behaviour tallies (and lines): the fit rules, the total, the band,
        the hand-over and the reasons."""
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
        reasons = ""
        if self.reasons:
            fit_tallies = [
                RuleTally(line.rule, "fit", None, None, line.points, 1, line.points, None)
                for line in fit_lines
            ]
            reasons = top_reasons([*tallies, *fit_tallies])
        return ContactScore(
            score=total,
            behaviour_score=behaviour,
            fit_score=fit,
            temperature=temperature,
            # A disqualified contact goes to no one: decide.py, which knows the stage
            # (an SQL or a customer cannot be disqualified), withholds the route.
            route=handover.route,
            treatment=handover.treatment,
            reasons=reasons,
            lines=tuple(lines),
            normalised_score=self.rules.normalisation.of(total, bands),
            disqualified_by=disqualified_by,
            tallies=tuple(tallies),
            rescore_after=rescore_after,
        )

    def _humans_of(
        self, aside: list[tuple[int, ScoringEvent]], machine_lines: list[ScoreLine] | None
    ) -> list[tuple[int, ScoringEvent]]:
        """The timing rules over the clicks and deliveries set aside: the clicks that are
        not machine activity, with their rule's index, to count as the loop would have.

        With ``machine_lines``, also one line (0 points) per machine event, saying why."""
        delivered_at: dict[str, datetime] = {}
        sent_at: dict[str, datetime] = {}
        clicks: list[MachineClick] = []
        watched: list[tuple[int, ScoringEvent]] = []
        for code, event in aside:
            if code < 0:
                if machine_lines is not None:
                    verdict = self.rules.machine.of_attributes(_attributes_of(event[3]))
                    if verdict is None:  # pragma: no cover - rule_for found one
                        verdict = MachineVerdict(_MACHINE_CODES[code], "")
                    machine_lines.append(self._machine_line(event, verdict, None))
                continue
            message_id = _message_id(_attributes_of(event[3]))
            if message_id is None:  # pragma: no cover - rule_for checked it
                continue
            occurred_at = as_utc_time(event[1])
            if code >= _DELIVERY:
                found = delivered_at if event[0] == DELIVERY_KINDS[0] else sent_at
                earlier = found.get(message_id)
                if earlier is None or occurred_at < earlier:
                    found[message_id] = occurred_at
                continue
            clicks.append(MachineClick(occurred_at, event[2], message_id))
            watched.append((code - _WATCHED - 1, event))
        if not clicks:
            return []
        verdicts = machine_clicks(self.rules.machine, clicks, {**sent_at, **delivered_at})
        humans: list[tuple[int, ScoringEvent]] = []
        for position, (index, event) in enumerate(watched):
            verdict = verdicts.get(position)
            if verdict is None:
                if index >= 0:
                    humans.append((index, event))
            elif machine_lines is not None:
                machine_lines.append(self._machine_line(event, verdict, index))
        return humans

    def _machine_line(
        self, event: ScoringEvent, verdict: MachineVerdict, index: int | None
    ) -> ScoreLine:
        """A 0-point line naming the machine rule, and the points it did not let count."""
        if index is None:
            index = self._behaviour_index(event[0], event[2], event[3], None)
        note = f"ignored as machine activity: {verdict.reason}"
        if index >= 0:
            rule = self.rules.behaviour[index]
            note += f"; {rule.name} {_format_points(float(rule.points))} not counted"
        return ScoreLine(
            verdict.rule.value,
            event[0],
            as_utc_time(event[1]),
            0.0,
            event[4],
            event[2],
            None,
            None,
            note,
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


_MESSAGE_ID_KEY = ("message_id",)


def _may_carry(attributes: Mapping[str, JsonValue] | str | None, keys: tuple[str, ...]) -> bool:
    """Whether the attributes may hold one of ``keys``: looked for in the JSON text the
    store holds before it is parsed, so events without them cost a substring search."""
    if attributes is None or not keys:
        return False
    if isinstance(attributes, str):
        return any(f'"{key}"' in attributes for key in keys)
    return any(key in attributes for key in keys)


def _message_id(attributes: Mapping[str, JsonValue]) -> str | None:
    value = attributes.get("message_id")
    if isinstance(value, bool) or value is None or value == "":
        return None
    return str(value) if isinstance(value, str | int | float) else None


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
