"""Per tensor, the faster of two exact paths for single-bit upsets, measured as it runs.

The node-by-node fast path (:class:`radiation.propagate.FastPath`) wins on large
convolutions, where most faults vanish at the faulted node; on a small model one bound
graph-tail run (:meth:`radiation.trials.WeightTrials.verdicts`) costs less than the
per-node runs and checks, so the fast path can lose several times over. Both give
the same verdicts bit for bit, so which one runs is a matter of speed only.

``auto`` (``shortcuts=None``): the first faults of each tensor run in slices of
``SAMPLE`` through both paths in turn; a path's first slice on each input is its
warm-up (sessions built, exactness checked) and is not timed. Once both have been
timed, the faster takes the tensor's faults, still timed; the other is timed again on
one slice now and then, at most ``EXPLORE`` of the time, so that an early figure
(the fast path checks each new batch size once, so its first slices cost more than
its later ones) does not fix the choice for the whole campaign. Times are averages
over trials that halve the weight of older ones at each new measurement.
``True`` / ``False`` force the node-by-node or the tail path.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from radiation.outcome import Verdict
from radiation.propagate import tensor_runs

NODE, TAIL = "node", "tail"
Sites = list[tuple[str, int, int]]


class _Path(Protocol):
    def verdicts(self, sites: Sites) -> list[Verdict]: ...


class Choice(NamedTuple):
    """The path a tensor runs on and the seconds per trial measured on each
    (``None``: not measured; a node time of ``None`` with ``tail``: the fast path
    cannot take the tensor)."""

    path: str
    node_s: float | None
    tail_s: float | None


@dataclass
class _Tensor:
    seconds: dict[str, float] = field(default_factory=lambda: {NODE: 0.0, TAIL: 0.0})
    weight: dict[str, float] = field(default_factory=lambda: {NODE: 0.0, TAIL: 0.0})
    timed: dict[str, int] = field(default_factory=lambda: {NODE: 0, TAIL: 0})
    fixed: str | None = None  # the only path (the fast path gave the tensor up)
    credit: float = 0.0  # trials on the faster path before the other is timed again

    def per_trial(self, path: str) -> float | None:
        w = self.weight[path]
        return self.seconds[path] / w if w else None

    def add(self, path: str, seconds: float, trials: int) -> None:
        self.seconds[path] = self.seconds[path] / 2 + seconds
        self.weight[path] = self.weight[path] / 2 + trials
        self.timed[path] += trials

    def best(self) -> str:
        node, tail = self.per_trial(NODE), self.per_trial(TAIL)
        return NODE if node is not None and (tail is None or node <= tail) else TAIL


class PathChoice:
    """One worker's choices, shared by the fast paths of all its inputs."""

    SAMPLE = 16  # trials per timed slice (one batch / group of the fast path)
    EXPLORE = 0.05  # at most this share of the time goes to timing the slower path again

    def __init__(self, mode: bool | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.mode = mode
        self.clock = clock
        self.tail_trials = 0  # trials run on the tail path by this choice
        self._tensors: dict[str, _Tensor] = {}
        self._warm: set[tuple[int, str, str]] = set()

    @property
    def chosen(self) -> dict[str, Choice]:
        """The choice for each tensor timed on both paths (or given up by the fast path)."""
        out = {}
        for t, st in self._tensors.items():
            if st.fixed:
                out[t] = Choice(st.fixed, None, st.per_trial(TAIL))
            elif all(st.timed[p] >= self.SAMPLE for p in (NODE, TAIL)):
                out[t] = Choice(st.best(), st.per_trial(NODE), st.per_trial(TAIL))
        return out

    def report(self) -> dict[str, dict]:
        """``{tensor: Choice as a dict}`` for the tensors decided so far."""
        return {t: c._asdict() for t, c in sorted(self.chosen.items())}

    def verdicts(self, fast, trials: _Path, sites: Sites) -> list[Verdict]:  # noqa: ANN001
        """Verdicts of ``sites`` in order; ``fast`` a FastPath (``None``: tail only)."""
        if fast is None or self.mode is False:
            return trials.verdicts(sites)
        if self.mode is True:
            return fast.verdicts(sites)
        out: list[Verdict] = []
        for tensor, run in tensor_runs(sites):
            out.extend(self._tensor(fast, trials, tensor, run))
        return out

    def _next(self, st: _Tensor, left: int) -> tuple[str, int]:
        """The path for the next trials of a tensor and how many to run on it."""
        if st.fixed:
            return st.fixed, left
        if min(st.timed.values()) < self.SAMPLE:  # still sampling both
            return (NODE if st.timed[NODE] <= st.timed[TAIL] else TAIL), self.SAMPLE
        best = st.best()
        if st.credit <= 0:
            return (TAIL if best == NODE else NODE), self.SAMPLE
        return best, left

    def _tensor(self, fast, trials: _Path, tensor: str, sites: Sites) -> list[Verdict]:  # noqa: ANN001
        st = self._tensors.setdefault(tensor, _Tensor())
        out: list[Verdict] = []
        k = 0
        while k < len(sites):
            best = None if min(st.timed.values()) < self.SAMPLE else st.best()
            path, n = self._next(st, len(sites) - k)
            part = sites[k:k + n]
            k += len(part)
            t0 = self.clock()
            out.extend(fast.verdicts(part) if path == NODE else trials.verdicts(part))
            dt = self.clock() - t0
            if path == TAIL:
                self.tail_trials += len(part)
            if st.fixed:
                continue
            if path == NODE and tensor in fast.fallback_tensors:
                st.fixed = TAIL  # the fast path leaves this tensor to the tail path anyway
                continue
            warm = (id(fast), tensor, path)
            if warm not in self._warm:
                self._warm.add(warm)  # first slice on this input: sessions built, not timed
                continue
            st.add(path, dt, len(part))
            if best is None or path != best:  # sampled, or the slower path timed again
                self._renew(st)
            else:
                st.credit -= len(part)
        return out

    def _renew(self, st: _Tensor) -> None:
        """Trials on the faster path before the slower one is timed again: a slice of
        the slower path then costs at most ``EXPLORE`` of the time in between."""
        if min(st.timed.values()) < self.SAMPLE:
            return
        fast_s, slow_s = sorted(st.per_trial(p) or 0.0 for p in (NODE, TAIL))
        st.credit = self.SAMPLE * (slow_s / fast_s if fast_s > 0 else 1.0) / self.EXPLORE
