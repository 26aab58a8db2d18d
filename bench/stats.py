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
Mann & Whitney 1947). For 3 against 3 that is p = 0.1, for 5 against 5 p = 0.008:
more repetitions make a verdict sharper. Overlapping sets are reported as "within the
spread", whatever the medians say.
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


@dataclass(frozen=True)
class Change:
    """One figure, old run against new run."""

    old: float  # median
    new: float  # median
    ratio: float  # new / old
    separated: bool  # the two sets of repetitions do not overlap
    p_value: float  # exact two-sided probability of that separation by chance

    @property
    def verdict(self) -> str:
        if not self.separated:
            return "within the spread"
        return "higher" if self.ratio > 1 else "lower"


def compare(old: list[float], new: list[float]) -> Change:
    """The change from ``old`` repetitions to ``new`` ones and its significance."""
    a = [x for x in old if x is not None and math.isfinite(x)]
    b = [x for x in new if x is not None and math.isfinite(x)]
    if not a or not b:
        nan = float("nan")
        return Change(nan, nan, nan, False, nan)
    m_old, m_new = float(np.median(a)), float(np.median(b))
    separated = max(a) < min(b) or max(b) < min(a)
    p = min(1.0, 2.0 / math.comb(len(a) + len(b), len(a)))
    return Change(m_old, m_new, m_new / m_old if m_old else float("nan"), separated,
                  p if separated else float("nan"))
