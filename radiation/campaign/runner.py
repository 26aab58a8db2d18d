"""The worker side of a campaign: one engine, chunks of faults in, results out.

A worker builds its :class:`~node.engine.Engine` once and keeps one trial object per
input (:class:`~radiation.trials.WeightTrials` or
:class:`~radiation.trials.ActivationTrials`, built on first use), so each trial costs
about one inference: single-bit upsets take the trials' bound fast path (flip the
live word, run the bound session or graph tail, restore), other fault kinds the
exact general path (:meth:`run_fault`). Every record carries what ``orbnode inject``
reports for the same fault, so any record can be replayed and compared.

The fast path reuses the trial classes' per-tensor runners and word views
(``_runner``, ``_words``: package-internal to :mod:`radiation`) rather than their
``run_many``, because a campaign record needs the faulty outputs (difference, top-1,
digest), not only the outcome class.

Each chunk also times a few clean inferences on the same session and binding, right
after its trials: the clean rate is measured side by side with the fault rate, under
the same load, not minutes apart.
"""

from __future__ import annotations

import hashlib
import math
import os
import platform
import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from node.errors import OrbnodeError
from radiation import bits
from radiation.faults import Fault
from radiation.trials import ActivationTrials, Golden, WeightTrials

TARGETS = ("weights", "activations")

# (id, tensor, index, bit, kind, span, word, input_id): one fault as a worker gets it.
FaultRow = tuple
MASKED = ("masked", 0.0, 0, None)


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


@dataclass
class ChunkResult:
    """Results of one chunk (``(fault_id, outcome, max_abs_diff, top1_changed, digest)``)
    and the worker's timings for it."""

    results: list[tuple]
    worker: str
    trial_s: float
    clean_n: int
    clean_s: float


def top1(first: np.ndarray) -> list[int]:
    """Top-1 class per row, as ``orbnode inject`` reports it."""
    flat = first.reshape(first.shape[0], -1) if first.ndim > 1 else first.reshape(1, -1)
    return flat.argmax(axis=1).tolist()


def max_abs_diff(first: np.ndarray, golden_f64: np.ndarray) -> float | None:
    """max |faulty − golden| over the first output, as ``orbnode inject`` reports it."""
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(first.astype(np.float64) - golden_f64)
        return float(np.nanmax(diff)) if np.isfinite(diff).any() else None


def digest(outputs: list[np.ndarray]) -> str:
    """64-bit blake2b of the outputs' bytes, in output order (exact-replay check)."""
    h = hashlib.blake2b(digest_size=8)
    for o in outputs:
        h.update(np.ascontiguousarray(o).tobytes())
    return h.hexdigest()


class Compare:
    """Outcome, max_abs_diff, top1_changed and digest of faulty outputs of one input.

    Masked outputs (bytes equal to golden) cost one bytes comparison. A small float
    output is otherwise compared in plain Python (exactly the float64 arithmetic of
    :func:`max_abs_diff`, a few times cheaper than numpy for ten logits); anything
    else, non-finite values included, goes through the numpy definitions.
    """

    def __init__(self, golden: Golden) -> None:
        self.golden = golden
        g0 = np.asarray(golden.outputs[0])
        self.single = len(golden.outputs) == 1
        self.raw = golden.raw
        self.raw0 = golden.raw[0]
        self.g0 = g0.astype(np.float64)
        self.top1 = top1(g0)
        # 2-d and up: Golden's top-1 rows and inject's coincide, so the outcome of a
        # finite output is "sdc" exactly when the top-1 changed (no second pass).
        self.fast = (self.single and g0.dtype.kind == "f" and 0 < g0.size <= 256
                     and g0.ndim >= 2 and bool(np.isfinite(g0).all()))
        self.gvals = g0.ravel().tolist()
        self.rows = len(self.top1)
        self.width = g0.size // self.rows

    def __call__(self, out: list[np.ndarray] | None) -> tuple:
        if out is None:
            return ("due", None, None, None)
        first = out[0]
        if self.single:
            raw = first.tobytes()
            if raw == self.raw0:
                return MASKED
            dig = hashlib.blake2b(raw, digest_size=8).hexdigest()
            if self.fast:
                vals = first.ravel().tolist()
                d = [abs(a - b) for a, b in zip(vals, self.gvals, strict=True)]
                if math.isfinite(sum(d)):  # every value finite: not a DUE
                    w = self.width
                    if self.rows == 1:
                        changed = [vals.index(max(vals))] != self.top1
                    else:
                        rows = [vals[r * w:(r + 1) * w] for r in range(self.rows)]
                        changed = [row.index(max(row)) for row in rows] != self.top1
                    return ("sdc" if changed else "tolerable", max(d), int(changed), dig)
        elif all(o.tobytes() == r for o, r in zip(out, self.raw, strict=True)):
            return MASKED
        else:
            dig = digest(out)
        outcome = self.golden.classify(out)
        return (outcome, max_abs_diff(first, self.g0), int(top1(first) != self.top1), dig)


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


class TrialRunner:
    """Runs chunks of faults on one engine (one per worker process)."""

    KEEP_INPUTS = 4  # trial objects kept (one per input, least recently used dropped)

    def __init__(self, spec: WorkSpec, engine=None) -> None:  # noqa: ANN001
        from node.engine import Engine

        self.spec = spec
        if engine is None:
            # Liveness was verified by the parent on the same model, level and options;
            # re-probing in every worker would cost one inference per weight each.
            engine = Engine(spec.model, threads=1, input_shape=spec.input_shape,
                            level=spec.level, verify_liveness=False)
            engine.live.update(spec.live)
        self.engine = engine
        self.batch = engine.input_shape[0]
        self.worker = f"{platform.node()}:{os.getpid()}"
        self._trials: OrderedDict[int, tuple] = OrderedDict()
        self._words = {n: memoryview(bits.word_view(a)) for n, a in engine.weights.items()
                       if a.dtype.name in bits.SUPPORTED}
        self._checked = False

    def _get(self, input_id: int) -> tuple:
        got = self._trials.get(input_id)
        if got is not None:
            self._trials.move_to_end(input_id)
            return got
        x = sample(self.spec.inputs, self.batch, input_id)
        cls = WeightTrials if self.spec.target == "weights" else ActivationTrials
        tr = cls(self.engine, x, reuse=self.spec.reuse)
        if not self._checked:
            from radiation.campaign.plan import fingerprint

            pop = (dict(self.engine.live_weights) if self.spec.target == "weights"
                   else {n: tr.golden_acts[n] for n in self._act_names(tr)})
            if fingerprint(pop) != self.spec.fingerprint:
                raise OrbnodeError("this worker's graph differs from the planned one "
                                   "(another onnxruntime or CPU at --level runtime?)")
            self._checked = True
        got = (tr, Compare(tr.golden))
        self._trials[input_id] = got
        if len(self._trials) > self.KEEP_INPUTS:
            self._trials.popitem(last=False)
        return got

    @staticmethod
    def _act_names(tr: ActivationTrials) -> list[str]:
        return [n for n, a in tr.golden_acts.items()
                if a.dtype.name in bits.SUPPORTED and a.dtype.name != "bfloat16"]

    def run_chunk(self, rows: list[FaultRow]) -> ChunkResult:
        """Trials for ``rows`` (in order), then a few clean inferences, timed apart."""
        results: list[tuple] = []
        append = results.append
        weights = self.spec.target == "weights"
        t0 = time.perf_counter()
        tr = compare = None
        current = None
        last = None
        words = run = acts = None
        for fid, tensor, index, bit, kind, span, word, input_id in rows:
            if input_id != current:
                tr, compare = self._get(input_id)
                current, last = input_id, None
            if kind != "seu":
                _, out = tr.run_fault(Fault(tensor, index, bit, kind, span, word))
                append((fid, *compare(out)))
                continue
            if tensor != last:  # chunks share one tensor: look its runner up once
                run = tr._runner(tensor)
                words = self._words.get(tensor) if weights else None
                acts = None if weights else tr._words[tensor]
                last = tensor
            # Single-bit fast path: the trials' own runners (bound sessions / tails).
            if weights:
                old = words[index]
                words[index] = old ^ (1 << bit)
                try:
                    out = run()
                except Exception:  # a failed run is a DUE, not a crash of the campaign
                    out = None
                finally:
                    words[index] = old
            else:
                try:
                    out = run(index, acts[index] ^ (1 << bit))
                except Exception:
                    out = None
            append((fid, *compare(out)))
        t1 = time.perf_counter()
        clean_n = 0
        if tr is not None:
            clean_n = max(4, len(rows) // 16)
            clean = tr.clean
            for _ in range(clean_n):
                clean()
        t2 = time.perf_counter()
        return ChunkResult(results, self.worker, t1 - t0, clean_n, t2 - t1)
