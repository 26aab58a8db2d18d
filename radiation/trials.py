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
from radiation.activations import ActivationInjector, point_patch_model
from radiation.bound import BoundRun
from radiation.faults import Fault, Injector

OUTCOMES = ("masked", "tolerable", "sdc", "due")


class Golden:
    """Golden outputs of one input, pre-digested so that classifying is cheap.

    Classification runs once per trial, so its common cases (one small float output)
    take a path in plain Python that costs well under a microsecond.
    """

    def __init__(self, outputs: list[np.ndarray]) -> None:
        self.outputs = [np.array(o, copy=True) for o in outputs]
        self.raw = [np.ascontiguousarray(o).tobytes() for o in outputs]
        first = np.asarray(outputs[0])
        top1 = first.reshape(first.shape[0], -1).argmax(axis=1) if first.ndim else None
        self.top1 = None if top1 is None else top1.tolist()
        self._raw0 = self.raw[0]
        self._small = (len(outputs) == 1 and first.dtype.kind == "f" and first.size <= 256
                       and self.top1 is not None)

    def classify(self, faulty: list[np.ndarray] | None) -> str:
        """The outcome class of ``faulty`` outputs (``None``: the run failed)."""
        if faulty is None:
            return "due"
        if self._small:
            first = faulty[0]
            if first.tobytes() == self._raw0:
                return "masked"
            vals = first.ravel().tolist()
            # A NaN or inf makes the sum non-finite; a finite sum proves all finite.
            if not math.isfinite(sum(vals)) and not all(map(math.isfinite, vals)):
                return "due"
            top1 = self.top1
            if len(top1) == 1:
                return "tolerable" if vals.index(max(vals)) == top1[0] else "sdc"
            width = len(vals) // len(top1)
            for r, want in enumerate(top1):
                row = vals[r * width:(r + 1) * width]
                if row.index(max(row)) != want:
                    return "sdc"
            return "tolerable"
        for o, r in zip(faulty, self.raw, strict=True):
            if o.tobytes() != r:
                break
        else:
            return "masked"
        for o in faulty:
            if o.dtype.kind == "f" and not np.isfinite(o).all():
                return "due"
        if self.top1 is None:
            return "sdc"
        first = faulty[0]
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
        run, result = (self.bound.call if self.bound else None), self.result
        if run is not None and len(self.result) == len(t.outputs):
            self.call = run  # the tail recomputes every output: its buffers are the result
        else:
            def call() -> list[np.ndarray]:
                if run is not None:
                    run()
                return result
            self.call = call

    def __call__(self) -> list[np.ndarray]:
        return self.call()


class _PatchRun:
    """The whole graph with a one-element ScatterND patch after one activation.

    The patch index and value are live initializers: a trial writes the element's
    multi-index and the faulty word into them and runs; nothing else is fed (see
    :func:`radiation.activations.point_patch_model`). Multi-indices come from a
    precomputed byte table (one slice copy) for tensors up to ``TABLE_LIMIT``
    elements, else from divmod.
    """

    TABLE_LIMIT = 1 << 20

    def __init__(self, acts: ActivationInjector, tensor: str, x: np.ndarray,
                 golden: dict[str, np.ndarray]) -> None:
        arr = golden[tensor]
        model, idx_name, upd_name = point_patch_model(acts.engine.model, tensor, arr)
        self.idx = np.zeros((1, arr.ndim), np.int64)
        self.upd = np.ascontiguousarray(arr.reshape(-1)[:1]).copy()
        self.upd_words = memoryview(bits.word_view(self.upd))
        self._idx_bytes = memoryview(self.idx).cast("B")
        self._row = 8 * arr.ndim
        self.shape = arr.shape
        self._table = (np.stack(np.unravel_index(np.arange(arr.size), arr.shape), -1)
                       .astype(np.int64).tobytes() if arr.size <= self.TABLE_LIMIT else None)
        sess = acts.engine.build_session(model, extra={idx_name: self.idx, upd_name: self.upd})
        self.bound = BoundRun(sess, {acts.engine.input_name: x}, acts.engine.output_names,
                              golden)
        self.call = self._make_call()

    def _make_call(self):  # noqa: ANN202
        table, row, idx_bytes, upd_words = self._table, self._row, self._idx_bytes, self.upd_words
        idx, shape, run = self.idx, self.shape, self.bound.call

        def call(index: int, word: int) -> list[np.ndarray]:
            if table is not None:
                idx_bytes[:] = table[index * row:index * row + row]
            else:
                idx[0] = np.unravel_index(index, shape)
            upd_words[0] = word
            return run()

        return call

    def __call__(self, index: int, word: int) -> list[np.ndarray]:
        return self.call(index, word)


class WeightTrials:
    """Flip, infer, classify, restore — on the engine's live session, for one input.

    :meth:`trial` is one trial; :meth:`run_many` runs a list of single-bit sites in a
    tight loop (what a campaign calls). Bound to ``engine.session`` as it is at
    construction (thread count included).
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
        if reuse:
            self.acts = ActivationInjector(engine)
            self.golden_acts = self.acts.golden(self.x)
        # Live weights only (the injector's rule): a memoryview of the words (its items
        # are plain ints, several times cheaper to read and write than numpy scalars),
        # the element count and the word width.
        self._sites = {n: (memoryview(w), w.size, w.itemsize * 8)
                       for n, w in self.injector._words.items() if engine.live.get(n, False)}

    def clean(self) -> list[np.ndarray]:
        """One clean inference on the same session and binding (the rate to compare with)."""
        return self._clean()

    def _runner(self, tensor: str):  # noqa: ANN202
        if not self.reuse:
            return self._clean
        r = self._tails.get(tensor)
        if r is None:
            r = self._tails[tensor] = _TailRun(self.acts, tensor, self.golden_acts).call
        return r

    def _site(self, tensor: str, index: int, bit: int) -> tuple:
        site = self._sites.get(tensor)
        if site is None or not (0 <= index < site[1] and 0 <= bit < site[2]):
            self.injector.check(Fault(tensor, index, bit))  # raises the clear error
        return site

    def trial(self, tensor: str, index: int, bit: int) -> str:
        """One single-bit trial; the weight is restored exactly before returning."""
        return self.run_many([(tensor, index, bit)])[0]

    def run_many(self, sites: list[tuple[str, int, int]]) -> list[str]:
        """Single-bit trials ``(tensor, index, bit)`` in order; one outcome each.

        Each weight word is restored before the next trial, also when a run fails
        (a failed run is a ``due`` outcome, not a crash of the campaign).
        """
        table, classify = self._sites, self.golden.classify
        raw0 = self.golden._raw0 if self.golden._small else None  # masked: no call at all
        whole = None if self.reuse else self._clean.call
        outcomes: list[str] = []
        append = outcomes.append
        for tensor, index, bit in sites:
            site = table.get(tensor)
            if site is None or not (0 <= index < site[1] and 0 <= bit < site[2]):
                site = self._site(tensor, index, bit)
            words = site[0]
            run = whole or self._tails.get(tensor) or self._runner(tensor)
            old = words[index]
            words[index] = old ^ (1 << bit)
            try:
                try:
                    out = run()
                except Exception:
                    out = None
                if out is not None and out[0].tobytes() == raw0:
                    append("masked")
                else:
                    append(classify(out))
            finally:
                words[index] = old
        return outcomes

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
    """Transient activation faults for one input: ScatterND patch or graph tail.

    Group trials by target tensor (a campaign does): each target has its own patched
    (or tail) session, built on first use and cached.
    """

    def __init__(self, engine, x: np.ndarray, *, reuse: bool = False) -> None:  # noqa: ANN001
        self.engine = engine
        self.x = np.array(x, copy=True, order="C")
        self.reuse = reuse
        self.acts = ActivationInjector(engine)
        self.golden_acts = self.acts.golden(self.x)
        self.golden = Golden([self.golden_acts[o] for o in engine.output_names])
        self._words = {t: memoryview(bits.word_view(a)) for t, a in self.golden_acts.items()
                       if a.dtype.name in bits.SUPPORTED and a.dtype.name != "bfloat16"}
        self._clean = BoundRun(engine.session, {engine.input_name: self.golden_acts[
            engine.input_name]}, engine.output_names, self.golden_acts)
        self._runs: dict[str, object] = {}

    def clean(self) -> list[np.ndarray]:
        """One clean inference on the engine's session, bound like the trials."""
        return self._clean()

    def _runner(self, tensor: str):  # noqa: ANN202
        r = self._runs.get(tensor)
        if r is None:
            if self.reuse or tensor == self.engine.input_name:
                tail = _TailRun(self.acts, tensor, self.golden_acts)
                words = self._words[tensor]
                # An output tensor is returned as the flipped golden array itself: copy it
                # before the flip is put back.
                copy = tensor in self.engine.output_names

                def r(index: int, word: int, tail=tail, words=words,  # noqa: ANN001, ANN202
                      copy=copy):
                    # flip the golden value in place for the tail, put it back after
                    old = words[index]
                    words[index] = word
                    try:
                        return [o.copy() for o in tail()] if copy else tail()
                    finally:
                        words[index] = old
            else:
                r = _PatchRun(self.acts, tensor, self.x, self.golden_acts).call
            self._runs[tensor] = r
        return r

    def trial(self, tensor: str, index: int, bit: int) -> str:
        """One single-bit activation trial (exact flip of the computed value)."""
        return self.run_many([(tensor, index, bit)])[0]

    def run_many(self, sites: list[tuple[str, int, int]]) -> list[str]:
        """Single-bit activation trials ``(tensor, index, bit)``; one outcome each."""
        table, classify = self._words, self.golden.classify
        raw0 = self.golden._raw0 if self.golden._small else None
        outcomes: list[str] = []
        append = outcomes.append
        for tensor, index, bit in sites:
            words = table.get(tensor)
            if words is None or not (0 <= index < len(words) and 0 <= bit < words.itemsize * 8):
                self.acts.check(Fault(tensor, index, bit), self.golden_acts)  # raises
            run = self._runs.get(tensor) or self._runner(tensor)
            try:
                out = run(index, words[index] ^ (1 << bit))
            except Exception:
                out = None
            if out is not None and out[0].tobytes() == raw0:
                append("masked")
            else:
                append(classify(out))
        return outcomes

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
