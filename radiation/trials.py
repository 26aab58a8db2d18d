"""Fault trials: apply one fault, infer, judge against the golden output, undo.

The outcome classes and the judging are :mod:`radiation.outcome`'s (one classifier).

Weight trials flip the live buffer in place (no rebuild), run, and restore the exact
word. Activation trials use a ScatterND patch fed the faulty word. With ``reuse=True``
both run only the graph tail after the fault, fed by clean activations captured once
per input. Sessions are bound once to their buffers (:mod:`radiation.bound`), so the
single-bit fast path costs little more than the inference itself.

The public fast path, shared by benchmarks, campaigns and ``orbnode inject``:

``seu(tensor)``     a callable ``(index, bit) -> outputs | None`` that flips one bit,
                    runs and restores (``None``: the run failed, a DUE);
``each(sites, judge)``  the one flip–run–restore loop: ``judge(outputs)`` per site;
``run_many`` / ``verdicts``  that loop with :meth:`Golden.classify` / :meth:`Golden.verdict`;
``run_fault(fault)``  any fault kind, the exact general path (outputs copied);
``applied(fault)``  the fault held in the live weights (mitigations run inside it).

Reuse is exact or not used: the first time a cut is needed for an input, the tail fed
with the captured clean activations must reproduce the whole graph's golden outputs
bit for bit (checked on the clean weights: a fault is applied only after its cut is
resolved, see :meth:`WeightTrials.applied`). Where it does not (an fp16 graph in
which onnxruntime keeps some intermediate values in float32 across inserted casts,
which the captured fp16 tensor cannot carry; non-deterministic kernels) the trials
use the whole graph for that cut and list it in :attr:`reuse_fallbacks`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import numpy as np

from radiation import bits
from radiation.activations import ActivationInjector, point_patch_model
from radiation.bound import BoundRun
from radiation.faults import Fault, Injector
from radiation.outcome import OUTCOMES, Golden, Tolerance, Verdict

__all__ = ["OUTCOMES", "ActivationTrials", "Golden", "WeightTrials", "classify"]

Outputs = list[np.ndarray]
SeuCall = Callable[[int, int], "Outputs | None"]


def classify(golden: list[np.ndarray], faulty: list[np.ndarray] | None) -> str:
    """Outcome class of ``faulty`` against ``golden`` (see :mod:`radiation.outcome`)."""
    return Golden(golden).classify(faulty)


def _same(outs: Outputs, golden: Golden) -> bool:
    return all(np.ascontiguousarray(o).tobytes() == r
               for o, r in zip(outs, golden.raw, strict=True))


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
                 golden: dict[str, np.ndarray],
                 transform: Callable[[object], object] | None = None) -> None:
        arr = golden[tensor]
        model, idx_name, upd_name = point_patch_model(acts.engine.model, tensor, arr)
        if transform is not None:  # e.g. range restriction, applied after the patch
            model = transform(model)
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


class _Trials:
    """What weight and activation trials share: the golden outputs and the one loop."""

    golden: Golden
    reuse_fallbacks: set[str]
    _calls: dict[str, SeuCall]

    def seu(self, tensor: str) -> SeuCall:
        """``(index, bit) -> outputs | None``: flip one bit of ``tensor``, run, restore;
        made on first use per tensor and kept."""
        call = self._calls.get(tensor)
        if call is None:
            call = self._calls[tensor] = self._make_seu(tensor)
        return call

    def _make_seu(self, tensor: str) -> SeuCall:  # pragma: no cover - abstract
        raise NotImplementedError

    def each(self, sites: Iterable[tuple[str, int, int]],
             judge: Callable[[Outputs | None], object]) -> list:
        """Single-bit trials ``(tensor, index, bit)`` in order; ``judge(outputs)`` each.

        The word is restored before the next trial, also when a run fails (a failed
        run gives ``None``, a DUE, not a crash of the campaign).
        """
        calls = self._calls
        out = []
        append = out.append
        for tensor, index, bit in sites:
            call = calls.get(tensor) or self.seu(tensor)
            append(judge(call(index, bit)))
        return out

    def run_many(self, sites: Iterable[tuple[str, int, int]]) -> list[str]:
        """Outcome classes of single-bit trials (what a benchmark loop calls)."""
        return self.each(sites, self.golden.classify)

    def verdicts(self, sites: Iterable[tuple[str, int, int]]) -> list[Verdict]:
        """Full verdicts of single-bit trials (what a campaign stores)."""
        return self.each(sites, self.golden.verdict)

    def trial(self, tensor: str, index: int, bit: int) -> str:
        """One single-bit trial; the word is restored before returning."""
        return self.run_many([(tensor, index, bit)])[0]


class WeightTrials(_Trials):
    """Flip, infer, judge, restore — on the engine's live session, for one input.

    Bound to ``engine.session`` as it is at construction (thread count included).
    """

    def __init__(self, engine, x: np.ndarray, *, reuse: bool = False,  # noqa: ANN001
                 tolerance: Tolerance | None = None) -> None:
        self.engine = engine
        self.x = np.array(x, copy=True, order="C")
        self.injector = Injector.from_engine(engine)
        self.reuse = reuse
        outs = engine.run(self.x)
        self.golden = Golden(outs, tolerance)
        self._clean = BoundRun(engine.session, {engine.input_name: self.x}, engine.output_names,
                               dict(zip(engine.output_names, outs, strict=True)))
        self._runs: dict[str, Callable[[], Outputs]] = {}
        self._calls: dict[str, SeuCall] = {}
        self.reuse_fallbacks: set[str] = set()
        if reuse:
            self.acts = ActivationInjector(engine)
            self.golden_acts = self.acts.golden(self.x)
        # Live weights only (the injector's rule): a memoryview of the words (its items
        # are plain ints, several times cheaper to read and write than numpy scalars).
        self.words = {n: memoryview(w) for n, w in self.injector.words.items()
                      if engine.live.get(n, False)}

    def clean(self) -> Outputs:
        """One clean inference on the same session and binding (the rate to compare with)."""
        return self._clean()

    def runner(self, tensor: str) -> Callable[[], Outputs]:
        """Runs the graph a fault in ``tensor`` needs: its exact tail, or the whole graph."""
        run = self._runs.get(tensor)
        if run is None:
            run = self._clean.call
            if self.reuse:
                tail = _TailRun(self.acts, tensor, self.golden_acts).call
                if _same(tail(), self.golden):
                    run = tail
                else:
                    self.reuse_fallbacks.add(tensor)
            self._runs[tensor] = run
        return run

    def _make_seu(self, tensor: str) -> SeuCall:
        """Flip one bit of the live weight ``tensor``, run, restore."""
        words = self.words.get(tensor)
        if words is None:
            self.injector.check(Fault(tensor, 0, 0))  # raises the clear error
        run, n, width, check = self.runner(tensor), len(words), words.itemsize * 8, \
            self.injector.check

        def call(index: int, bit: int) -> Outputs | None:
            if not (0 <= index < n and 0 <= bit < width):
                check(Fault(tensor, index, bit))  # raises the clear error
            old = words[index]
            words[index] = old ^ (1 << bit)
            try:
                return run()
            except Exception:
                return None
            finally:
                words[index] = old

        return call

    @contextmanager
    def applied(self, fault: Fault) -> Iterator[None]:
        """``fault`` held in the live weights inside the block, undone after it.

        The cut is resolved first: its exactness check must see the clean weights
        (checked under the fault it would compare faulty outputs with golden ones).
        """
        self.injector.check(fault)  # a bad site is one clear error, before any cut
        self.runner(fault.tensor)
        token = self.injector.apply(fault)
        try:
            yield
        finally:
            self.injector.undo(token)

    def outputs_now(self, tensor: str) -> Outputs | None:
        """A copy of the outputs for the weights as they are now (a fault in ``tensor``
        held by :meth:`applied`); ``None`` if the run fails."""
        try:
            return [o.copy() for o in self.runner(tensor)()]
        except Exception:
            return None

    def run_fault(self, fault: Fault) -> tuple[str, Outputs | None]:
        """Any fault kind: apply, infer, undo; returns the outcome and a copy of the outputs."""
        with self.applied(fault):
            out = self.outputs_now(fault.tensor)
        return self.golden.classify(out), out


class ActivationTrials(_Trials):
    """Transient activation faults for one input: ScatterND patch or graph tail.

    Group trials by target tensor (a campaign does): each target has its own patched
    (or tail) session, built on first use and cached. The golden outputs are the
    whole graph's (``engine.run``), which every path must reproduce.
    """

    def __init__(self, engine, x: np.ndarray, *, reuse: bool = False,  # noqa: ANN001
                 tolerance: Tolerance | None = None) -> None:
        self.engine = engine
        self.x = np.array(x, copy=True, order="C")
        self.reuse = reuse
        self.acts = ActivationInjector(engine)
        self.golden_acts = self.acts.golden(self.x)
        self.golden = Golden(engine.run(self.x), tolerance)
        self.words = {t: memoryview(bits.word_view(a)) for t, a in self.golden_acts.items()
                      if a.dtype.name in bits.SUPPORTED and a.dtype.name != "bfloat16"}
        self._clean = BoundRun(engine.session, {engine.input_name: self.golden_acts[
            engine.input_name]}, engine.output_names, self.golden_acts)
        self._calls: dict[str, SeuCall] = {}
        self._tail_ok: dict[str, bool] = {}
        self.reuse_fallbacks: set[str] = set()

    def clean(self) -> Outputs:
        """One clean inference on the engine's session, bound like the trials."""
        return self._clean()

    def uses_tail(self, tensor: str) -> bool:
        """Whether faults in ``tensor`` run on the graph tail (exact) or the patched graph."""
        if tensor == self.engine.input_name:
            return True  # the whole graph from the (faulty) input: nothing to patch
        if not self.reuse:
            return False
        ok = self._tail_ok.get(tensor)
        if ok is None:
            ok = self._tail_ok[tensor] = _same(
                self.acts.tail_outputs(tensor, self.golden_acts), self.golden)
            if not ok:
                self.reuse_fallbacks.add(tensor)
        return ok

    def _make_seu(self, tensor: str) -> SeuCall:
        """Flip one bit of the computed ``tensor`` (golden value), run the rest."""
        words = self.words.get(tensor)
        if words is None:
            self.acts.check(Fault(tensor, 0, 0), self.golden_acts)  # raises
        n, width = len(words), words.itemsize * 8
        check, golden_acts = self.acts.check, self.golden_acts
        if self.uses_tail(tensor):
            tail = _TailRun(self.acts, tensor, golden_acts)
            # An output tensor comes back as the flipped golden array itself: copy it
            # before the flip is put back.
            copy = tensor in self.engine.output_names

            def run(index: int, word: int) -> Outputs:
                old = words[index]
                words[index] = word  # flip the golden value in place for the tail
                try:
                    return [o.copy() for o in tail()] if copy else tail()
                finally:
                    words[index] = old
        else:
            run = _PatchRun(self.acts, tensor, self.x, golden_acts).call

        def call(index: int, bit: int) -> Outputs | None:
            if not (0 <= index < n and 0 <= bit < width):
                check(Fault(tensor, index, bit), golden_acts)  # raises
            try:
                return run(index, words[index] ^ (1 << bit))
            except Exception:
                return None

        return call

    def fault_outputs(self, fault: Fault) -> Outputs | None:
        """Faulty outputs of any fault kind (``None``: the run failed)."""
        self.acts.check(fault, self.golden_acts)  # a bad site is the user's error, not a DUE
        try:
            if self.uses_tail(fault.tensor):
                return self.acts.run_tail(fault, self.golden_acts)
            return self.acts.run_patched(self.x, fault, self.golden_acts)
        except Exception:
            return None

    def run_fault(self, fault: Fault) -> tuple[str, Outputs | None]:
        """Any fault kind; returns the outcome and the outputs."""
        out = self.fault_outputs(fault)
        return self.golden.classify(out), out
