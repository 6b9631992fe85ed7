"""The gross margin of a period's new customers: each customer's margin field where one is
configured and filled, else its won deal's amount times ``[kpi] margin_rate``."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from connector.kpi.figures import Figure
from connector.model import DEAL_AMOUNT_FIELD, ProfileValue, signals_from_profile

__all__ = ["MarginPolicy", "margin_of"]

Profile = Mapping[str, ProfileValue]


@dataclass(frozen=True, slots=True)
class MarginPolicy:
    """How a customer is valued: ``rate`` of its won amount, or its ``field`` value."""

    rate: float | None = None
    field: str | None = None


def _number(value: ProfileValue) -> float | None:
    if isinstance(value, bool) or value is None or value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _won_amount(profile: Profile) -> float | None:
    amount = signals_from_profile(profile).won_amount
    return amount if amount is not None and math.isfinite(amount) else None


def margin_of(profiles: Collection[Profile], policy: MarginPolicy) -> Figure:
    """The summed margin of ``profiles`` (the period's new customers), with its basis."""
    total = len(profiles)
    if total == 0:
        return Figure(None, "no new customers in the period")
    if policy.rate is None and policy.field is None:
        return Figure(
            None,
            "neither [kpi] margin_rate nor [kpi] margin_field is set: the won amounts "
            "cannot be turned into a margin",
        )
    from_field: list[float] = []
    from_amount: list[float] = []
    for profile in profiles:
        own = _number(profile.get(policy.field)) if policy.field is not None else None
        if own is not None:
            from_field.append(own)
            continue
        amount = _won_amount(profile) if policy.rate is not None else None
        if amount is not None and policy.rate is not None:
            from_amount.append(amount * policy.rate)
    missing = total - len(from_field) - len(from_amount)
    lacking = _lacking(policy)
    if missing == total:
        return Figure(None, f"none of the {total} new customers has {lacking}")
    parts = []
    if from_field:
        parts.append(f"{len(from_field)} from their {policy.field!r} field")
    if from_amount:
        parts.append(
            f"{len(from_amount)} as won amount ({DEAL_AMOUNT_FIELD}) × margin_rate {policy.rate:g}"
        )
    basis = f"sum over the period's new customers: {', '.join(parts)}"
    if missing:
        basis += f"; {missing} of {total} customers have {_no(policy)}"
    return Figure(math.fsum(from_field) + math.fsum(from_amount), basis)


def _lacking(policy: MarginPolicy) -> str:
    if policy.field is None:
        return f"a won amount ({DEAL_AMOUNT_FIELD})"
    if policy.rate is None:
        return f"a {policy.field!r} value"
    return f"a {policy.field!r} value or a won amount ({DEAL_AMOUNT_FIELD})"


def _no(policy: MarginPolicy) -> str:
    if policy.field is None:
        return "no won amount"
    if policy.rate is None:
        return f"no {policy.field!r} value"
    return f"neither a {policy.field!r} value nor a won amount"
