"""One fault under one mitigation: what the campaign compares on the same fault list.

Each mitigation acts where it would on a board; the faulty outputs are judged against
the *unmitigated* golden outputs (the right answer), by the one classifier:

``none``    the fault as it is (the baseline).
``scrub``   CRC scrubbing of weight memory, one pass after the inference that saw the
            fault: that inference is judged (the exposure window), then the scrub runs
            and a second inference must equal the golden one (``detail``: ``repaired``
            or ``not repaired``, e.g. a stuck-at bit re-asserted). Transient activation
            faults are outside its reach (``detail``: ``not applicable``).
``secded``  Hamming(72,64) on every 64-bit word of weight memory, decoded on read:
            the words the fault touched are decoded (and corrected) before the
            inference. A detected double error is a ``due`` (``uncorrectable``); three
            or more errors in a word may be miscorrected, as in hardware.
            Activations are not in ECC-protected memory here (``not applicable``).
``ranges``  Clip + NaN-to-zero after every activation, bounds profiled on the clean
            runs of the campaign's inputs (so clean outputs are unchanged); the whole
            restricted graph runs (activation faults: patched before the restriction).
``tmr``     three replicas with their own weight memory; the fault hits one, the two
            others run clean, and a bitwise majority vote gives the output
            (``detail``: the vote's status).

Costs (:meth:`Kit.costs`): seconds per protected inference relative to ``none``,
measured side by side (:func:`radiation.measure.interleaved`), and the memory each
adds in bytes. The SECDED and scrub times are this emulation's software checks (a
full pass per inference: an upper bound); hardware ECC costs no inference time.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from node.errors import OrbnodeError
from radiation.faults import Fault
from radiation.outcome import Verdict

MITIGATIONS = ("none", "scrub", "secded", "ranges", "tmr")


def parse_mitigations(text: str | None, option: str = "--mitigations") -> list[str]:
    """``"none,secded"`` → ``["none", "secded"]``; an unknown name or an empty item
    (``none,,tmr``: a typo, not a choice) is one clear error."""
    if text is None:
        return ["none"]
    names = [t.strip() for t in text.split(",")]
    bad = [n for n in names if n not in MITIGATIONS]
    if bad:
        what = f"empty item in {text!r}" if "" in bad else repr(bad[0])
        raise OrbnodeError(f"unknown {option} {what}; choose any of " + ", ".join(MITIGATIONS))
    return list(dict.fromkeys(names))


class Cost(NamedTuple):
    """Measured cost of one mitigation on one model and input."""

    name: str
    seconds_per_inference: float
    time_ratio: float
    overhead_bytes: int
    note: str


class Protected(NamedTuple):
    """One fault's verdict under one mitigation, what the mitigation did, and the
    outputs judged (None: no output, the run failed or the mitigation stopped it)."""

    verdict: Verdict
    detail: str
    outputs: list[np.ndarray] | None


class Kit:
    """What the mitigations need per engine (built once per worker): ECC check bits,
    a scrubber's golden copy, profiled bounds and a restricted graph, two replicas."""

    def __init__(self, engine, names: list[str], inputs: np.ndarray) -> None:  # noqa: ANN001
        from radiation.mitigations.ranges import RangeRestriction, profile_bounds
        from radiation.mitigations.secded import Secded
        from radiation.upsets import Scrubber

        self.engine = engine
        self.names = names
        weights = engine.live_weights
        self.secded = Secded(weights) if "secded" in names else None
        self.scrubber = Scrubber(weights) if "scrub" in names else None
        self.bounds = profile_bounds(engine, inputs) if "ranges" in names else None
        self.ranges = RangeRestriction(engine, self.bounds) if self.bounds is not None else None
        self.replicas = []
        if "tmr" in names:
            from node.engine import Engine

            self.replicas = [Engine(engine.model_path, threads=1, input_shape=engine.input_shape,
                                    level=engine.level, verify_liveness=False)
                             for _ in range(2)]

    def memory_bytes(self, name: str) -> int:
        """Memory the mitigation adds, in bytes."""
        weight_bytes = sum(a.nbytes for a in self.engine.live_weights.values())
        if name == "secded":
            return self.secded.check_bits // 8
        if name == "scrub":
            return weight_bytes + 4 * self.scrubber.blocks  # golden copy + CRC-32 per block
        if name == "ranges":
            return 12 * len(self.bounds)  # lo, hi, zero (float32) per restricted tensor
        if name == "tmr":
            return 2 * weight_bytes
        return 0

    def costs(self, x: np.ndarray, *, block: int = 20, rounds: int = 5) -> list[Cost]:
        """Per mitigation: seconds per inference (side by side with ``none``) and bytes."""
        from radiation.measure import interleaved
        from radiation.mitigations.voting import vote

        e = self.engine

        def clean() -> None:
            for _ in range(block):
                e.run(x)

        blocks = {"none": (clean, block)}
        notes = {"none": "one inference"}
        if self.scrubber is not None:
            def scrub() -> None:
                for _ in range(block):
                    e.run(x)
                    self.scrubber.scrub()
            blocks["scrub"], notes["scrub"] = (scrub, block), "inference + one full CRC scrub"
        if self.secded is not None:
            def ecc() -> None:
                for _ in range(block):
                    self.secded.check()
                    e.run(x)
            blocks["secded"], notes["secded"] = (ecc, block), (
                "inference + software decode of every word (hardware ECC: no time)")
        if self.ranges is not None:
            def ranges() -> None:
                for _ in range(block):
                    self.ranges.run(x)
            blocks["ranges"], notes["ranges"] = (ranges, block), "restricted graph"
        if self.replicas:
            def tmr() -> None:
                for _ in range(block):
                    vote([e.run(x), *(r.run(x) for r in self.replicas)])
            blocks["tmr"], notes["tmr"] = (tmr, block), "three inferences + bitwise vote"
        per = interleaved(blocks, rounds=rounds)
        base = per["none"]
        return [Cost(n, per[n], per[n] / base if base > 0 else float("nan"),
                     self.memory_bytes(n), notes[n]) for n in self.names if n in per]


class ProtectedTrials:
    """Faults on one input under every mitigation of a :class:`Kit`."""

    def __init__(self, kit: Kit, trials) -> None:  # noqa: ANN001 - Weight/ActivationTrials
        self.kit = kit
        self.trials = trials
        self.weights = hasattr(trials, "injector")
        self._ranges_run = None
        self._ranges_patch: dict[str, tuple] = {}
        self._replica_outputs: list[list[np.ndarray]] | None = None

    # -- per-mitigation pieces ----------------------------------------------------
    def _fault_outputs(self, fault: Fault) -> list[np.ndarray] | None:
        if self.weights:
            return self.trials.run_fault(fault)[1]
        return self.trials.fault_outputs(fault)

    def _ranges_outputs(self, fault: Fault) -> list[np.ndarray] | None:
        tr, rr = self.trials, self.kit.ranges
        engine = tr.engine
        try:
            if self.weights:
                with tr.applied(fault):
                    return [o.copy() for o in rr.run(tr.x)]
            arr = tr.acts.check(fault, tr.golden_acts)
            flat, values = tr.acts.faulty_words(fault, arr)
            if fault.tensor == engine.input_name:
                x = np.array(arr, copy=True)
                x.reshape(-1)[flat] = values
                return rr.run(x)
            got = self._ranges_patch.get(fault.tensor)
            if got is None:
                sess = rr.patched_session(fault.tensor, arr)
                got = self._ranges_patch[fault.tensor] = (
                    sess, [o.name for o in sess.get_outputs()])
            sess, outs = got
            idx = np.stack(np.unravel_index(flat, arr.shape), axis=-1).astype(np.int64)
            from radiation.activations import IDX_SUFFIX, UPD_SUFFIX

            return sess.run(outs, {engine.input_name: tr.x, fault.tensor + IDX_SUFFIX: idx,
                                   fault.tensor + UPD_SUFFIX: values})
        except OrbnodeError:
            raise
        except Exception:  # noqa: BLE001 - a failed run is a DUE
            return None

    def _replicas(self) -> list[list[np.ndarray]]:
        if self._replica_outputs is None:
            self._replica_outputs = [r.run(self.trials.x) for r in self.kit.replicas]
        return self._replica_outputs

    # -- one fault, one mitigation --------------------------------------------------
    def run(self, fault: Fault, name: str) -> Protected:
        """The verdict of ``fault`` under mitigation ``name``."""
        golden = self.trials.golden

        def judged(out: list[np.ndarray] | None, detail: str) -> Protected:
            return Protected(golden.verdict(out), detail, out)

        if name == "none":
            return judged(self._fault_outputs(fault), "")
        if name in ("secded", "scrub") and not self.weights:
            return judged(self._fault_outputs(fault), "not applicable")
        if name == "secded":
            tr = self.trials
            arr = tr.injector.weights[fault.tensor]
            with tr.applied(fault):
                start = fault.index * arr.itemsize
                stop = (fault.index + fault.span_words) * arr.itemsize
                status = self.kit.secded.correct_bytes(fault.tensor, start, stop)
                out = None if status == "uncorrectable" else tr.outputs_now(fault.tensor)
            return judged(out, status)
        if name == "scrub":
            tr = self.trials
            with tr.applied(fault):
                out = tr.outputs_now(fault.tensor)
                v = golden.verdict(out)  # judged before the scrub overwrites the buffers
                report = self.kit.scrubber.scrub()
                tr.injector.reassert()
                after = tr.outputs_now(fault.tensor)
            repaired = after is not None and golden.verdict(after).outcome == "masked"
            detail = ("repaired" if repaired else
                      "not detected" if not report.errors_detected else "not repaired")
            return Protected(v, detail, out)
        if name == "ranges":
            return judged(self._ranges_outputs(fault), "")
        if name == "tmr":
            from radiation.mitigations.voting import vote

            others = self._replicas()
            out = self._fault_outputs(fault)
            res = vote([out, *others] if out is not None else [others[0], *others])
            return judged(res.outputs, "corrected" if out is None else res.status)
        raise OrbnodeError(f"unknown mitigation {name!r}; choose any of {', '.join(MITIGATIONS)}")
