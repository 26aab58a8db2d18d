"""The worker side of a campaign: one engine, chunks of planned faults in, results out.

A worker builds its :class:`~node.engine.Engine` once (and, when the campaign compares
mitigations, one :class:`~radiation.mitigations.protect.Kit`) and keeps one trial
object per input (:class:`~radiation.trials.WeightTrials` or
:class:`~radiation.trials.ActivationTrials`, built on first use). Unmitigated
single-bit upsets take the trials' public fast path (:meth:`verdicts`: flip the live
word, run the bound session or exact graph tail, restore); other fault kinds and
every mitigation take the exact general path. Each result is the
:class:`~radiation.outcome.Verdict` that ``orbnode inject`` reports for the same fault
(:mod:`radiation.inject`), so any record can be replayed and compared.

With ``shortcuts`` unmitigated single-bit upsets may go through
:class:`~radiation.propagate.FastPath` instead: node by node from the fault, stopping
where the activations equal the clean ones again, faults batched (and Conv weight
faults grouped) where a start-up check shows the batched results equal single runs
bit for bit. The same verdicts, decided sooner or later: by default each tensor takes
whichever of the two paths measured faster on its first faults
(:class:`~radiation.campaign.choice.PathChoice`); each chunk reports how
(:class:`~radiation.propagate.ShortcutCounts`) and what was chosen.

Each chunk also times clean inferences on the same session and binding (same thread
count), right after its trials: the clean rate is measured side by side with the
fault rate, under the same load, not minutes apart. Their number follows a time
budget (about ``CLEAN_SHARE`` of the chunk's trial time, at least one), so a fast
trial path is not slowed down by its own yardstick.
"""

from __future__ import annotations

import os
import platform
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from node.errors import OrbnodeError
from radiation import bits
from radiation.campaign.choice import PathChoice
from radiation.campaign.plan import PlannedFault
from radiation.mitigations.protect import Kit, ProtectedTrials
from radiation.outcome import Tolerance
from radiation.propagate import FastPath, ShortcutCounts
from radiation.trials import ActivationTrials, WeightTrials

TARGETS = ("weights", "activations")


@dataclass(frozen=True)
class WorkSpec:
    """Everything a worker needs to rebuild the parent's trial setup exactly."""

    model: str
    level: str
    input_shape: tuple[int, ...] | None
    target: str
    reuse: bool
    inputs: np.ndarray
    live: dict[str, bool]
    fingerprint: str
    mitigations: tuple[str, ...] = ("none",)
    tolerance: Tolerance | None = None
    threads: int = 1          # intra-op threads of each worker's sessions
    # Node by node with early stop (radiation.propagate): True, False, or None: per
    # tensor, whichever of it and the graph tail measured faster (campaign.choice).
    shortcuts: bool | None = None
    batch: bool = True        # batched / grouped evaluation where checked exact


class FaultResult(NamedTuple):
    """One fault's result under one mitigation (a row of the ``results`` table)."""

    fault_id: int
    mitigation: str
    outcome: str
    max_abs_diff: float | None
    top1_changed: int | None
    digest: str | None
    detail: str = ""


@dataclass
class ChunkResult:
    """Results of one chunk and the worker's timings for it; ``reuse_fallbacks``: the
    cuts where this worker found the graph tail inexact and ran the whole graph."""

    results: list[FaultResult]
    worker: str
    trial_s: float
    clean_n: int
    clean_s: float
    reuse_fallbacks: list[str] = field(default_factory=list)
    shortcuts: dict[str, int] = field(default_factory=dict)  # ShortcutCounts of this chunk
    batch_fallbacks: list[str] = field(default_factory=list)  # nodes/weights run singly
    paths: dict[str, dict] = field(default_factory=dict)  # PathChoice.report() of the worker


def population(engine, target: str, x0: np.ndarray) -> dict[str, np.ndarray]:  # noqa: ANN001
    """The arrays whose bits the campaign may hit: live weights, or every activation
    of a clean run on ``x0`` that the trials can flip exactly (not bfloat16)."""
    if target == "weights":
        return dict(engine.live_weights)
    from radiation.activations import ActivationInjector

    acts = ActivationInjector(engine).golden(x0)
    return {n: a for n, a in acts.items()
            if a.dtype.name in bits.SUPPORTED and a.dtype.name != "bfloat16"}


def sample(inputs: np.ndarray, batch: int, input_id: int) -> np.ndarray:
    """Input ``input_id``: ``inputs[input_id : input_id + batch]`` (``inject --sample``)."""
    return np.ascontiguousarray(inputs[input_id:input_id + batch])


class InputTrials(NamedTuple):
    """The trials of one input, plain, through the shortcuts and under the mitigations."""

    trials: WeightTrials | ActivationTrials
    protected: ProtectedTrials
    fast: FastPath | None


class TrialRunner:
    """Runs chunks of faults on one engine (one per worker process)."""

    KEEP_INPUTS = 4  # trial objects kept (one per input, least recently used dropped)
    CLEAN_SHARE = 0.05  # share of a chunk's trial time spent timing clean inferences

    def __init__(self, spec: WorkSpec, engine=None) -> None:  # noqa: ANN001
        from node.engine import Engine

        self.spec = spec
        if engine is None:
            # Liveness was verified by the parent on the same model, level and options;
            # re-probing in every worker would cost one inference per weight each.
            engine = Engine(spec.model, threads=spec.threads, input_shape=spec.input_shape,
                            level=spec.level, verify_liveness=False)
            engine.live.update(spec.live)
        elif engine.threads != spec.threads:
            engine.set_threads(spec.threads)
        self.engine = engine
        self.batch = engine.input_shape[0]
        self.worker = f"{platform.node()}:{os.getpid()}"
        self._trials: OrderedDict[int, InputTrials] = OrderedDict()
        self._checked = False
        others = [m for m in spec.mitigations if m != "none"]
        self.kit = Kit(engine, others, spec.inputs) if others else None
        self.fallbacks: set[str] = set()
        self.batch_fallbacks: set[str] = set()
        self._sessions: dict = {}  # per-node sessions, shared by every input's fast path
        self.choice = PathChoice(spec.shortcuts)
        self._clean_s_per = None  # seconds per clean inference, from the last chunk

    def _get(self, input_id: int) -> InputTrials:
        got = self._trials.get(input_id)
        if got is not None:
            self._trials.move_to_end(input_id)
            return got
        x = sample(self.spec.inputs, self.batch, input_id)
        cls = WeightTrials if self.spec.target == "weights" else ActivationTrials
        tr = cls(self.engine, x, reuse=self.spec.reuse, tolerance=self.spec.tolerance)
        if not self._checked:
            from radiation.campaign.plan import fingerprint

            pop = (dict(self.engine.live_weights) if self.spec.target == "weights"
                   else {n: a for n, a in tr.golden_acts.items()
                         if a.dtype.name in bits.SUPPORTED and a.dtype.name != "bfloat16"})
            if fingerprint(pop) != self.spec.fingerprint:
                raise OrbnodeError("this worker's graph differs from the planned one "
                                   "(another onnxruntime or CPU at --level runtime?)")
            self._checked = True
        fast = (FastPath(tr, batch=self.spec.batch, group=self.spec.batch,
                         sessions=self._sessions) if self.spec.shortcuts is not False else None)
        got = InputTrials(tr, ProtectedTrials(self.kit, tr), fast)
        self._trials[input_id] = got
        if len(self._trials) > self.KEEP_INPUTS:
            self._trials.popitem(last=False)
        return got

    def run_chunk(self, faults: list[PlannedFault]) -> ChunkResult:
        """Trials for ``faults`` (in order, every mitigation), then a few clean
        inferences, timed apart."""
        from radiation.faults import Fault

        results: list[FaultResult] = []
        mitigations = self.spec.mitigations
        t0 = time.perf_counter()
        tr = None
        counts = ShortcutCounts()
        k = 0
        while k < len(faults):
            input_id = faults[k].input_id
            end = k
            while end < len(faults) and faults[end].input_id == input_id:
                end += 1
            group = faults[k:end]
            k = end
            tr, protected, fast = self._get(input_id)
            for m in mitigations:
                if m == "none":
                    seu = [f for f in group if f.kind == "seu"]
                    sites = [(f.tensor, f.index, f.bit) for f in seu]
                    if fast is not None:
                        before = fast.counts.to_dict()
                        tail = self.choice.tail_trials
                        verdicts = self.choice.verdicts(fast, tr, sites)
                        counts.add({k2: v - before[k2] for k2, v in fast.counts.to_dict().items()})
                        counts.tail_chosen += self.choice.tail_trials - tail
                        self.batch_fallbacks |= fast.batch_fallbacks | fast.group_fallbacks
                    else:
                        verdicts = tr.verdicts(sites)
                    results.extend(FaultResult(f.id, m, *v)
                                   for f, v in zip(seu, verdicts, strict=True))
                    group_rest = [f for f in group if f.kind != "seu"]
                else:
                    group_rest = group
                for f in group_rest:
                    p = protected.run(Fault(f.tensor, f.index, f.bit, f.kind, f.span, f.word), m)
                    results.append(FaultResult(f.id, m, *p.verdict, p.detail))
            self.fallbacks |= tr.reuse_fallbacks
        t1 = time.perf_counter()
        clean_n = 0
        if tr is not None:
            per = self._clean_s_per
            clean_n = 2 if per is None else max(1, min(len(faults), round(
                self.CLEAN_SHARE * (t1 - t0) / max(per, 1e-9))))
            clean = tr.clean
            for _ in range(clean_n):
                clean()
        t2 = time.perf_counter()
        if clean_n:
            self._clean_s_per = (t2 - t1) / clean_n
        return ChunkResult(results, self.worker, t1 - t0, clean_n, t2 - t1,
                           sorted(self.fallbacks), counts.to_dict(),
                           sorted(self.batch_fallbacks), self.choice.report())
