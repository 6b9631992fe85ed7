"""The Wilson score interval for a binomial proportion (a conversion rate).

For ``k`` successes in ``n`` trials, p̂ = k / n and z the normal quantile (1.959964 for
95 %), the interval is

    (p̂ + z²/2n ± z · sqrt(p̂(1 - p̂)/n + z²/4n²)) / (1 + z²/n)

(E. B. Wilson, "Probable inference, the law of succession, and statistical inference",
Journal of the American Statistical Association 22 (158), 1927, pp. 209-212). It is the
interval recommended for small ``n`` and rates near 0 or 1 by L. D. Brown, T. T. Cai and
A. DasGupta, "Interval Estimation for a Binomial Proportion", Statistical Science 16 (2),
2001, pp. 101-133: unlike the textbook p̂ ± z·sqrt(p̂(1 - p̂)/n) it never leaves [0, 1] and
is not of width zero at 0 of 10, which is what a band of a few dozen contacts gives.
"""

from __future__ import annotations

import math

__all__ = ["Z_95", "wilson_interval"]

# The two-sided 95 % quantile of the standard normal distribution.
Z_95 = 1.959963984540054


def wilson_interval(successes: int, trials: int, *, z: float = Z_95) -> tuple[float, float]:
    """The Wilson interval (low, high) for ``successes`` of ``trials``.

    Raises:
        ValueError: no trials, or successes outside 0..trials (no rate to bound).
    """
    if trials <= 0:
        raise ValueError(f"a rate needs at least one trial, got {trials}")
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must lie in 0..{trials}, got {successes}")
    rate = successes / trials
    z2 = z * z
    denominator = 1 + z2 / trials
    centre = (rate + z2 / (2 * trials)) / denominator
    half = z / denominator * math.sqrt(rate * (1 - rate) / trials + z2 / (4 * trials * trials))
    # Exact at the ends: 0 of n has no lower bound above 0, n of n no upper bound below 1
    # (the formula gives them only up to rounding).
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high
