"""Statistics of a fault-injection campaign: sample sizes and confidence intervals.

Sample size (Leveugle et al., "Statistical fault injection: quantified error and
confidence", DATE 2009): to estimate a proportion over a population of ``N`` fault
sites with error margin ``e`` at confidence level whose normal quantile is ``t``,

    n = N / (1 + e² (N - 1) / (t² p (1 - p)))

with ``p = 0.5`` when nothing is known (the worst case). For N → ∞ this is
``t² p (1 - p) / e²``: 16,641 for 99 % / 1 % with the paper's rounded ``t = 2.58``,
16,588 with the exact quantile 2.5758 that we use.

Intervals on a rate are Wilson score intervals from :func:`scipy.stats.binomtest`
(a library, not a hand-rolled formula): they stay inside [0, 1] and behave at 0 or
a handful of events, where the normal interval does not. A stratified campaign's
whole-population rate weights each stratum by its share of the fault sites. Its
interval is the Wilson score interval of that weighted rate with Kish's effective
sample size ``n_eff = 1 / Σ (W_h² / n_h)`` (Kish, *Survey Sampling*, 1965; the
approach of Korn & Graubard, "Confidence intervals for proportions with small
expected number of positive counts estimated from survey data", Survey Methodology
24, 1998, with Wilson's form instead of Clopper–Pearson's). Unlike the normal
interval of the weighted estimator, whose variance is zero when no stratum saw an
event, it never has zero width: with no events its upper bound is the Wilson bound
of ``n_eff`` trials (``n_eff`` equals ``n`` under proportional allocation). No finite
population correction is applied, which makes it conservative.
"""

from __future__ import annotations

import math


def quantile(confidence: float) -> float:
    """The two-sided normal quantile ``t`` for ``confidence`` (2.5758 for 0.99)."""
    from scipy.stats import norm

    return float(norm.ppf(0.5 + confidence / 2.0))


def leveugle_sample_size(population: int | None, margin: float, confidence: float, *,
                         p: float = 0.5, t: float | None = None) -> int:
    """Faults needed for ``margin`` at ``confidence`` over ``population`` sites (None: ∞)."""
    t = quantile(confidence) if t is None else t
    infinite = t * t * p * (1.0 - p) / (margin * margin)
    if population is None:
        return math.ceil(infinite)
    n = population / (1.0 + (population - 1) / infinite)
    return min(population, math.ceil(n - 1e-9))


def achieved_margin(n: int, population: int | None, confidence: float, *,
                    p: float = 0.5) -> float | None:
    """The margin ``n`` faults give (Leveugle's formula solved for ``e``); None for n = 0."""
    if n <= 0:
        return None
    t = quantile(confidence)
    fpc = 1.0 if population is None or population <= 1 else max(
        0.0, (population - n) / (population - 1))
    return t * math.sqrt(p * (1.0 - p) / n * fpc)


def wilson(k: int, n: int, confidence: float) -> tuple[float, float] | None:
    """Wilson score interval of ``k`` events in ``n`` trials; None when ``n`` is 0."""
    if n <= 0:
        return None
    from scipy.stats import binomtest

    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


STRATIFIED_METHOD = "stratified (population-weighted), Wilson score with Kish effective n"


def wilson_score(p: float, n: float, confidence: float) -> tuple[float, float]:
    """Wilson score interval of a proportion ``p`` observed over ``n`` (possibly
    fractional, an effective sample size) trials:

        centre = (p + z²/2n) / (1 + z²/n),
        half   = z / (1 + z²/n) · √(p(1 − p)/n + z²/4n²)
    """
    z = quantile(confidence)
    z2n = z * z / n
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z / (1.0 + z2n) * math.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def stratified(parts: list[tuple[int, int, int]], confidence: float
               ) -> tuple[float, float, float] | None:
    """Whole-population rate from strata ``(events, trials, population)``, with its interval.

    Each stratum's rate is weighted by its population share; the interval is the
    Wilson score interval at Kish's effective sample size (module docstring), named
    by :data:`STRATIFIED_METHOD`. Strata without trials are skipped (their weight is
    not known to the estimate): None if none ran.
    """
    done = [(k, n, pop) for k, n, pop in parts if n > 0]
    if not done:
        return None
    total = sum(pop for _, _, pop in done)
    rate = sum(pop / total * k / n for k, n, pop in done)
    n_eff = 1.0 / sum((pop / total) ** 2 / n for _, n, pop in done)
    lo, hi = wilson_score(rate, n_eff, confidence)
    return rate, min(lo, rate), max(hi, rate)
