"""One fault, one inference, one record: what ``orbnode inject`` prints and a campaign stores.

:func:`inject` resolves the target (a weight — initializer or Constant node; at the
runtime level a tensor of the optimised graph —, an activation, the graph input or a
graph output), applies the fault exactly, runs, undoes, and judges the outputs with
the one classifier (:mod:`radiation.outcome`), optionally under a mitigation
(:mod:`radiation.mitigations.protect`). The :class:`InjectRecord` it returns carries
the campaign's :class:`~radiation.outcome.Verdict` (outcome, ``max_abs_diff``,
``top1_changed``, output digest), so a campaign record and its replay compare field
by field.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass

import numpy as np

from node.errors import OrbnodeError
from radiation import bits
from radiation.faults import Fault, random_fault
from radiation.outcome import Tolerance, Verdict


@dataclass(frozen=True)
class OutputSummary:
    """Shape, top-1 per row, finiteness and range of the first output."""

    shape: list[int]
    top1: list[int]
    finite: bool
    min: float | None
    max: float | None

    @classmethod
    def of(cls, outputs: list[np.ndarray]) -> OutputSummary:
        first = np.asarray(outputs[0])
        flat = first.reshape(first.shape[0], -1) if first.ndim > 1 else first.reshape(1, -1)
        finite = np.isfinite(first) if first.dtype.kind == "f" else np.ones(first.shape, bool)
        return cls(list(first.shape), flat.argmax(axis=1).tolist(), bool(finite.all()),
                   float(np.nanmin(first)) if finite.any() else None,
                   float(np.nanmax(first)) if finite.any() else None)


@dataclass(frozen=True)
class InjectRecord:
    """Everything about one injected fault and what it did (``orbnode inject --json``)."""

    model: str
    level: str
    target: str            # weight | activation | input | output
    tensor: str
    index: int
    bit: int
    fault: dict
    dtype: str
    shape: list[int]
    old_word: str
    new_word: str
    old_value: float | int | str
    new_value: float | int | str
    live: bool
    method: str            # in-place | tail | scatternd
    mitigation: str
    mitigation_detail: str
    tolerance: str | None
    outcome: str
    max_abs_diff: float | None
    top1_changed: int | None
    output_digest: str | None
    golden: OutputSummary
    faulty: OutputSummary | None

    @property
    def verdict(self) -> Verdict:
        """The part a campaign stores."""
        return Verdict(self.outcome, self.max_abs_diff, self.top1_changed, self.output_digest)

    def to_dict(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        """One line for a person."""
        site = f"{self.tensor}[{self.index}]" + (
            "" if self.fault["kind"] == "random" else f" bit {self.bit}")
        mit = "" if self.mitigation == "none" else (
            f", {self.mitigation}" + (f": {self.mitigation_detail}"
                                      if self.mitigation_detail else ""))
        return (f"{self.target} {site} ({self.fault['kind']}, {self.dtype}, level {self.level}, "
                f"{self.method}{mit}): {self.old_value!r} -> {self.new_value!r}; outcome "
                f"{self.outcome}; " + (f"top-1 {self.golden.top1} -> {self.faulty.top1}"
                                       if self.faulty is not None else
                                       "no output (the faulty inference failed or a "
                                       "mitigation stopped it)"))


def _value(arr: np.ndarray, index: int) -> float | int | str:
    v = arr.reshape(-1)[index]
    v = float(v) if arr.dtype.kind == "f" or arr.dtype.name == "bfloat16" else int(v)
    return repr(v) if isinstance(v, float) and not np.isfinite(v) else v


def unknown_tensor(name: str, weights: list[str], acts: list[str], level: str) -> OrbnodeError:
    close = difflib.get_close_matches(name, weights + acts, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    where = "the optimised graph (--level runtime)" if level == "runtime" else "the model"
    return OrbnodeError(f"no tensor named {name!r} in {where}{hint} "
                        f"({len(weights)} weights, {len(acts)} activations)")


def make_fault(name: str, arr: np.ndarray, index: int, bit: int, kind: str, span: int,
               word: int | None, seed: int) -> Fault:
    """The :class:`Fault` ``orbnode inject`` means by its arguments (checked)."""
    if kind == "random":
        bits.check_site(arr, index, 0, name=name)
        fault = (Fault(name, index, 0, "random", 1, word) if word is not None
                 else random_fault(name, arr, index, np.random.default_rng(seed)))
        if not 0 <= fault.word < 1 << bits.word_bits(arr.dtype):
            raise OrbnodeError(f"--word {word:#x} does not fit a {arr.dtype.name} word")
        return fault
    if word is not None:
        raise OrbnodeError("--word applies to --fault random only")
    try:
        return Fault(name, index, bit, kind, span)
    except bits.FaultSiteError as exc:
        raise OrbnodeError(str(exc)) from None


def inject(engine, x: np.ndarray, *, tensor: str, index: int, bit: int,  # noqa: ANN001, PLR0913
           kind: str = "seu", span: int = 1, word: int | None = None, seed: int = 0,
           method: str = "patch", mitigation: str = "none", tolerance: Tolerance | None = None,
           inputs: np.ndarray | None = None) -> tuple[InjectRecord, list[np.ndarray] | None]:
    """Inject one fault into one inference of ``engine`` on ``x``; the record and outputs.

    ``method`` (activations): ``patch`` (ScatterND in the whole graph) or ``tail`` (the
    graph after the fault fed by clean activations; used only where it reproduces
    the whole graph exactly). ``inputs``: the samples range restriction profiles its
    bounds on (default ``x``).
    """
    from radiation.mitigations.protect import Kit, ProtectedTrials, parse_mitigations
    from radiation.trials import ActivationTrials, WeightTrials

    (mitigation,) = parse_mitigations(mitigation)
    if tensor in engine.weights:
        target, trials = "weight", WeightTrials(engine, x, tolerance=tolerance)
        arr = engine.weights[tensor]
    else:
        trials = ActivationTrials(engine, x, reuse=method == "tail", tolerance=tolerance)
        if tensor not in trials.golden_acts:
            raise unknown_tensor(tensor, list(engine.weights), trials.acts.targets, engine.level)
        arr = trials.golden_acts[tensor]
        target = ("input" if tensor == engine.input_name
                  else "output" if tensor in engine.output_names else "activation")
    fault = make_fault(tensor, arr, index, bit, kind, span, word, seed)
    if target == "weight":
        trials.injector.check(fault)  # the site and liveness, before anything changes
        method_used = "in-place"
    else:
        trials.acts.check(fault, trials.golden_acts)
        method_used = "tail" if trials.uses_tail(tensor) else "scatternd"
    old_word = bits.read_word(arr, index)
    new = np.array(arr.reshape(-1)[index:index + 1], copy=True)
    bits.word_view(new)[0] = fault.new_word(old_word)
    if mitigation == "none":  # no kit to build: the plain exact path
        outputs = (trials.run_fault(fault)[1] if target == "weight"
                   else trials.fault_outputs(fault))
        verdict, detail = trials.golden.verdict(outputs), ""
    else:
        kit = Kit(engine, [mitigation], x if inputs is None else inputs)
        verdict, detail, outputs = ProtectedTrials(kit, trials).run(fault, mitigation)
    hexw = 2 * arr.itemsize
    record = InjectRecord(
        model=str(engine.model_path), level=engine.level, target=target, tensor=tensor,
        index=index, bit=bit, fault=fault.to_dict(), dtype=arr.dtype.name,
        shape=list(arr.shape), old_word=f"0x{old_word:0{hexw}x}",
        new_word=f"0x{fault.new_word(old_word):0{hexw}x}", old_value=_value(arr, index),
        new_value=_value(new, 0), live=bool(engine.live.get(tensor, True)), method=method_used,
        mitigation=mitigation, mitigation_detail=detail,
        tolerance=None if tolerance is None else str(tolerance), outcome=verdict.outcome,
        max_abs_diff=verdict.max_abs_diff, top1_changed=verdict.top1_changed,
        output_digest=verdict.digest, golden=OutputSummary.of(trials.golden.outputs),
        faulty=OutputSummary.of(outputs) if outputs is not None else None)
    return record, outputs

