"""Spread over repetitions, and whether a change between two runs exceeds it.

Every bench figure is measured in ``n >= 3`` repetitions and reported as the median
with its min-max range and interquartile range (quartiles by linear interpolation,
numpy's default), as MLPerf Power asks for repeated runs rather than one number.

Comparing two runs: the change is the ratio of medians. It is called *significant*
when the two sets of repetitions do not overlap at all (every new value above every
old one, or below). Under the null hypothesis that both sets come from one
distribution, every ordering of the pooled values is equally likely, so complete
separation in a given direction has probability ``1 / C(n1 + n2, n1)`` and in either
direction ``p = 2 / C(n1 + n2, n1)`` (the exact two-sided Mann-Whitney test at U = 0;
Mann & Whitney 1947). That is also the smallest p the counts allow: 3 against 3
cannot go below p = 0.1, 5 against 5 reaches 0.008. A change is called higher or lower
only when p is below the chosen level (:data:`ALPHA` by default); a separation the
counts cannot make significant says so and how many repetitions would. Overlapping
sets are reported as "within the spread", whatever the medians say.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Spread:
    """Median and spread of one figure over its repetitions."""

    median: float
    min: float
    max: float
    q1: float
    q3: float
    n: int

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
        if v.size == 0:
            nan = float("nan")
            return cls(nan, nan, nan, nan, nan, 0)
        q1, med, q3 = np.percentile(v, [25, 50, 75])
        return cls(float(med), float(v.min()), float(v.max()), float(q1), float(q3), int(v.size))

    @property
    def relative_range(self) -> float:
        """(max - min) / median: the spread as a fraction of the figure."""
        return (self.max - self.min) / self.median if self.median else float("nan")

    def to_dict(self) -> dict:
        return asdict(self)


ALPHA = 0.05  # default significance level of a comparison


def smallest_p(n_old: int, n_new: int) -> float:
    """The smallest two-sided p that ``n_old`` against ``n_new`` repetitions can give."""
    return min(1.0, 2.0 / math.comb(n_old + n_new, n_old)) if n_old and n_new else 1.0


def repetitions_needed(n_old: int, alpha: float) -> int:
    """The fewest new repetitions against ``n_old`` old ones that can reach p < alpha."""
    n = 3  # the bench's minimum
    while smallest_p(n_old, n) >= alpha:
        n += 1
    return n


@dataclass(frozen=True)
class Change:
    """One figure, old run against new run."""

    old: float  # median
    new: float  # median
    ratio: float  # new / old
    separated: bool  # the two sets of repetitions do not overlap
    p_value: float  # exact two-sided probability of that separation by chance
    n_old: int = 0  # finite repetitions compared
    n_new: int = 0

    @property
    def p_min(self) -> float:
        """The smallest p these repetition counts allow."""
        return smallest_p(self.n_old, self.n_new)

    def significant(self, alpha: float = ALPHA) -> bool:
        return self.separated and self.p_value < alpha

    def verdict(self, alpha: float = ALPHA) -> str:
        if not self.separated:
            return "within the spread"
        if self.significant(alpha):
            return ("higher" if self.ratio > 1 else "lower") + f" (p = {self.p_value:.3g})"
        # Complete separation is the strongest evidence the counts can give: p is p_min.
        return (f"not significant at n = {self.n_old} against {self.n_new} (p cannot go "
                f"below {self.p_min:.3g}); use --repetitions "
                f"{repetitions_needed(self.n_old, alpha)} or more")


def compare(old: list[float], new: list[float]) -> Change:
    """The change from ``old`` repetitions to ``new`` ones and its significance."""
    a = [x for x in old if x is not None and math.isfinite(x)]
    b = [x for x in new if x is not None and math.isfinite(x)]
    if not a or not b:
        nan = float("nan")
        return Change(nan, nan, nan, False, nan, len(a), len(b))
    m_old, m_new = float(np.median(a)), float(np.median(b))
    separated = max(a) < min(b) or max(b) < min(a)
    p = smallest_p(len(a), len(b))
    return Change(m_old, m_new, m_new / m_old if m_old else float("nan"), separated,
                  p if separated else float("nan"), len(a), len(b))
