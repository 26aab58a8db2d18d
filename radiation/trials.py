"""Fault trials: apply one fault, infer, classify against the golden output, undo.

Outcome classes (per trial):

``masked``     every output bit-identical to the golden run;
``tolerable``  outputs differ but the top-1 class of every batch row is unchanged;
``sdc``        silent data corruption: some top-1 class changed, outputs finite;
``due``        detected unrecoverable error: non-finite outputs or a failed run
               (a simple output check catches these, so they are not silent).

Weight trials flip the live buffer in place (no rebuild), run, and restore the exact
word. Activation trials use a ScatterND patch fed the faulty word. With ``reuse=True``
both run only the graph tail after the fault, fed by clean activations captured once
per input. Sessions are bound once to their buffers (:mod:`radiation.bound`), so the
single-bit fast path (:meth:`trial`) costs little more than the inference itself.
"""

from __future__ import annotations

import math

import numpy as np

from radiation import bits
from radiation.activations import ActivationInjector
from radiation.bound import BoundRun
from radiation.faults import Fault, Injector

OUTCOMES = ("masked", "tolerable", "sdc", "due")


class Golden:
    """Golden outputs of one input, pre-digested so that classifying is cheap."""

    def __init__(self, outputs: list[np.ndarray]) -> None:
        self.outputs = [np.array(o, copy=True) for o in outputs]
        self.raw = [np.ascontiguousarray(o).tobytes() for o in outputs]
        first = np.asarray(outputs[0])
        top1 = first.reshape(first.shape[0], -1).argmax(axis=1) if first.ndim else None
        self.top1 = None if top1 is None else top1.tolist()

    def classify(self, faulty: list[np.ndarray] | None) -> str:
        """The outcome class of ``faulty`` outputs (``None``: the run failed)."""
        if faulty is None:
            return "due"
        for o, r in zip(faulty, self.raw, strict=True):
            if o.tobytes() != r:
                break
        else:
            return "masked"
        first = faulty[0]
        if len(faulty) == 1 and first.size <= 256 and first.dtype.kind == "f":
            # Small class-score outputs: plain Python beats numpy's per-call overhead.
            vals = first.ravel().tolist()
            if not all(map(math.isfinite, vals)):
                return "due"
            if self.top1 is None:
                return "sdc"
            width = len(vals) // len(self.top1)
            for r, want in enumerate(self.top1):
                row = vals[r * width:(r + 1) * width]
                if row.index(max(row)) != want:
                    return "sdc"
            return "tolerable"
        for o in faulty:
            if o.dtype.kind == "f" and not np.isfinite(o).all():
                return "due"
        if self.top1 is None:
            return "sdc"
        top1 = first.reshape(first.shape[0], -1).argmax(axis=1).tolist()
        return "tolerable" if top1 == self.top1 else "sdc"


def classify(golden: list[np.ndarray], faulty: list[np.ndarray] | None) -> str:
    """Outcome class of ``faulty`` against ``golden`` (see the module docstring)."""
    return Golden(golden).classify(faulty)


class _TailRun:
    """The graph after one tensor, bound to the golden activations it reads."""

    def __init__(self, acts: ActivationInjector, tensor: str,
                 golden: dict[str, np.ndarray]) -> None:
        t = acts.tail(tensor, golden)
        self.bound = None
        produced: dict[str, np.ndarray] = {}
        if t.session is not None and t.outputs:
            self.bound = BoundRun(t.session, {f: golden[f] for f in t.feeds}, t.outputs, golden)
            produced = dict(zip(t.outputs, self.bound.outputs, strict=True))
        # Outputs the tail does not recompute are the golden arrays themselves (for an
        # output tensor that is the faulty array, flipped in place during the trial).
        self.result = [produced.get(o, golden[o]) for o in acts.engine.output_names]

    def __call__(self) -> list[np.ndarray]:
        if self.bound is not None:
            self.bound()
        return self.result


class _PatchRun:
    """The whole graph with a ScatterND after one activation, fed a one-element patch."""

    def __init__(self, acts: ActivationInjector, tensor: str, x: np.ndarray,
                 golden: dict[str, np.ndarray]) -> None:
        arr = golden[tensor]
        sess, outs = acts._patched_session(tensor, arr)
        self.idx = np.zeros((1, arr.ndim), np.int64)
        self.upd = np.zeros(1, arr.dtype)
        self.upd_words = bits.word_view(self.upd)
        strides, step = [], 1
        for d in reversed(arr.shape):
            strides.append(step)
            step *= d
        self.strides = tuple(reversed(strides))
        feeds = {acts.engine.input_name: x, tensor + "__orbnode_idx": self.idx,
                 tensor + "__orbnode_upd": self.upd}
        self.bound = BoundRun(sess, feeds, outs, golden)

    def __call__(self, index: int, word: int) -> list[np.ndarray]:
        pos = []
        for st in self.strides:
            q, index = divmod(index, st)
            pos.append(q)
        self.idx[0] = pos
        self.upd_words[0] = word
        return self.bound()


class _Always(dict):
    """A mapping that answers every key with the same runner (no-reuse weight trials)."""

    def __init__(self, runner) -> None:  # noqa: ANN001
        super().__init__()
        self.runner = runner

    def get(self, key, default=None):  # noqa: ANN001, ANN201
        return self.runner


class WeightTrials:
    """Flip, infer, classify, restore — on the engine's live session, for one input.

    Bound to ``engine.session`` as it is at construction (thread count included).
    """

    def __init__(self, engine, x: np.ndarray, *, reuse: bool = False) -> None:  # noqa: ANN001
        self.engine = engine
        self.x = np.array(x, copy=True, order="C")
        self.injector = Injector.from_engine(engine)
        self.reuse = reuse
        outs = engine.run(self.x)
        self.golden = Golden(outs)
        self._clean = BoundRun(engine.session, {engine.input_name: self.x}, engine.output_names,
                               dict(zip(engine.output_names, outs, strict=True)))
        self._tails: dict[str, object] = {}
        if not reuse:  # every tensor runs the whole bound graph
            self._tails = _Always(self._clean)
        else:
            self.acts = ActivationInjector(engine)
            self.golden_acts = self.acts.golden(self.x)
        # Live weights only (the injector's rule); masks typed like the words.
        self._words = {n: w for n, w in self.injector._words.items()
                       if engine.live.get(n, False)}
        self._masks = {size: [np.dtype(f"u{size}").type(1 << b) for b in range(size * 8)]
                       for size in (1, 2, 4, 8)}

    def clean(self) -> list[np.ndarray]:
        """One clean inference on the same session and binding (the rate to compare with)."""
        return self._clean()

    def _runner(self, tensor: str):  # noqa: ANN202
        r = self._tails.get(tensor)
        if r is None:
            r = self._tails[tensor] = _TailRun(self.acts, tensor, self.golden_acts)
        return r

    def trial(self, tensor: str, index: int, bit: int) -> str:
        """One single-bit trial; the weight is restored exactly before returning."""
        words = self._words.get(tensor)
        if words is None or not (0 <= index < words.size and 0 <= bit < words.itemsize * 8):
            self.injector.check(Fault(tensor, index, bit))  # raises the clear error
        old = words[index]
        words[index] = old ^ self._masks[words.dtype.itemsize][bit]
        try:
            try:
                out = (self._tails.get(tensor) or self._runner(tensor))()
            except Exception:  # a failed run is a detected error, not a campaign crash
                out = None
            return self.golden.classify(out)
        finally:
            words[index] = old

    def run_fault(self, fault: Fault) -> tuple[str, list[np.ndarray] | None]:
        """Any fault kind: apply, infer, undo; returns the outcome and a copy of the outputs."""
        applied = self.injector.apply(fault)
        try:
            try:
                out = [o.copy() for o in self._runner(fault.tensor)()]
            except Exception:
                out = None
        finally:
            self.injector.undo(applied)
        return self.golden.classify(out), out


class ActivationTrials:
    """Transient activation faults for one input: ScatterND patch or graph tail."""

    def __init__(self, engine, x: np.ndarray, *, reuse: bool = False) -> None:  # noqa: ANN001
        self.engine = engine
        self.x = np.array(x, copy=True, order="C")
        self.reuse = reuse
        self.acts = ActivationInjector(engine)
        self.golden_acts = self.acts.golden(self.x)
        self.golden = Golden([self.golden_acts[o] for o in engine.output_names])
        self._words = {t: bits.word_view(a) for t, a in self.golden_acts.items()
                       if a.dtype.name in bits.SUPPORTED and a.dtype.name != "bfloat16"}
        self._clean = BoundRun(engine.session, {engine.input_name: self.golden_acts[
            engine.input_name]}, engine.output_names, self.golden_acts)
        self._tails: dict[str, _TailRun] = {}
        self._patches: dict[str, _PatchRun] = {}

    def clean(self) -> list[np.ndarray]:
        """One clean inference on the engine's session, bound like the trials."""
        return self._clean()

    def trial(self, tensor: str, index: int, bit: int) -> str:
        """One single-bit activation trial (exact flip of the computed value)."""
        words = self._words.get(tensor)
        if words is None or not (0 <= index < words.size and 0 <= bit < words.itemsize * 8):
            self.acts.check(Fault(tensor, index, bit), self.golden_acts)  # raises
        old = int(words[index])
        new = old ^ (1 << bit)
        try:
            if self.reuse or tensor == self.engine.input_name:
                r = self._tails.get(tensor)
                if r is None:
                    r = self._tails[tensor] = _TailRun(self.acts, tensor, self.golden_acts)
                words[index] = new
                try:
                    return self.golden.classify(r())
                finally:
                    words[index] = old
            p = self._patches.get(tensor)
            if p is None:
                p = self._patches[tensor] = _PatchRun(self.acts, tensor, self.x, self.golden_acts)
            return self.golden.classify(p(index, new))
        except Exception:
            return "due"

    def run_fault(self, fault: Fault) -> tuple[str, list[np.ndarray] | None]:
        """Any fault kind; returns the outcome and the outputs."""
        self.acts.check(fault, self.golden_acts)  # a bad site is the user's error, not a DUE
        try:
            if self.reuse:
                out = self.acts.run_tail(fault, self.golden_acts)
            else:
                out = self.acts.run_patched(self.x, fault, self.golden_acts)
        except Exception:
            out = None
        return self.golden.classify(out), out
