"""`leadsync explain` for a person: the score's sum, the stage history in words, the lines.

The JSON form (``--json``) is the explanation's own ``as_dict``; this is the text one.
"""

from __future__ import annotations

from connector.cli.render import print_listing, shown_time, stdout
from connector.model import Stage, Transition
from connector.scoring.explain import Explanation

__all__ = ["print_explanation", "transition_in_words"]

_MOVED = {
    Stage.LEAD: "went back to lead",
    Stage.MQL: "became MQL",
    Stage.SQL: "became SQL",
    Stage.CUSTOMER: "became a customer",
    Stage.NURTURING: "went to nurturing",
    Stage.DISQUALIFIED: "was disqualified",
}


def transition_in_words(step: Transition) -> str:
    """``became MQL on 2026-09-14 10:02 UTC because score 31 is above 20 (hot)``, and
    ``(recorded 2026-11-03 08:00 UTC)`` when the pass that saw it ran at another time."""
    words = f"{_MOVED[step.to_stage]} on {shown_time(step.at)} UTC because {step.reason}"
    recorded = step.recorded_at
    if recorded is not None and shown_time(recorded) != shown_time(step.at):
        words += f" (recorded {shown_time(recorded)} UTC)"
    return words


def print_explanation(explanation: Explanation) -> None:
    outcome = explanation.outcome
    result = outcome.score
    normalised = (
        f"  ({result.normalised_score:g}/100)" if result.normalised_score is not None else ""
    )
    stdout.print(
        f"[bold]{explanation.email}[/bold]  score {result.score:g} = "
        f"behaviour {result.behaviour_score:g} + fit {result.fit_score:g}{normalised}"
    )
    steps = [transition_in_words(step) for step in explanation.history] + [
        f"{transition_in_words(step)} (not recorded yet: the next `leadsync score` records it)"
        for step in explanation.pending
    ]
    since = "" if steps else " (no stage change yet)"
    stdout.print(f"temperature {result.temperature}, stage {outcome.stage}{since}")
    for step_text in steps:
        stdout.print(f"  {step_text}", markup=False)
    if outcome.route is None:
        why = (
            outcome.stage
            if outcome.stage in (Stage.NURTURING, Stage.DISQUALIFIED)
            else "no routed rule earned points, and not hot"
        )
        stdout.print(f"not handed over ({why})")
    else:
        treatment = f", treatment {outcome.treatment}" if outcome.treatment else ""
        stdout.print(f"handed to {outcome.route}{treatment}")
    stdout.print(f"reasons: {result.reasons}", markup=False)
    machine = explanation.machine_activity
    if machine:
        counted = ", ".join(f"{rule} {count}" for rule, count in machine.items())
        stdout.print(
            f"ignored as machine activity: {sum(machine.values())} event(s) ({counted})",
            markup=False,
        )
    for join in explanation.joined:
        tied = (
            f"tied to this contact on {shown_time(join.joined_at)} UTC by {join.source} "
            f"event {join.source_event_id}"
        )
        if join.unlinked_at is None:
            stdout.print(
                f"visitor {join.key} (was contact #{join.visitor_id}): {tied}; "
                f"its {join.events} event(s) count here "
                f"(undo: leadsync identity unlink {join.key})",
                markup=False,
            )
        else:
            stdout.print(
                f"visitor {join.key} (contact #{join.visitor_id}): {tied}, unlinked on "
                f"{shown_time(join.unlinked_at)} UTC: its events count there, not here",
                markup=False,
            )
    print_listing(
        ["rule", "kind", "occurred (UTC)", "source", "url", "points", "note"],
        [
            [
                line.rule,
                line.kind,
                None if line.occurred_at is None else shown_time(line.occurred_at),
                line.source,
                line.url,
                f"{line.points:+g}",
                line.note,
            ]
            for line in result.lines
        ],
        # One line a line of the score: a long URL is cut rather than wrapped; where the
        # terminal is narrow the source goes first, then the note.
        cut=("url", "note", "source"),
    )
