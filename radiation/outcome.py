"""The one outcome classifier: faulty outputs against the golden ones.

Outcome classes (per trial):

``masked``     every output bit-identical to the golden run;
``tolerable``  outputs differ but are acceptable: without a tolerance, the top-1 class
               of every batch row is unchanged (a classifier); with a
               :class:`Tolerance`, every element of every output satisfies
               ``|faulty − golden| <= abs + rel · |golden|`` (any model, regression
               included; the rule of :func:`numpy.isclose`);
``sdc``        silent data corruption: outputs finite but not acceptable;
``due``        detected unrecoverable error: non-finite outputs or a failed run (a
               simple output check catches these, so they are not silent), or an
               error a mitigation detected and could not correct.

:class:`Golden` gives the class alone (:meth:`Golden.classify`, what a fast loop
needs) or the whole :class:`Verdict` a campaign stores and ``orbnode inject`` prints
(:meth:`Golden.verdict`): outcome, ``max_abs_diff`` (max |faulty − golden| of the
first output in float64, None when nothing is finite), ``top1_changed`` and a 64-bit
blake2b digest of the faulty outputs (None when masked).
"""

from __future__ import annotations

import hashlib
import math
from typing import NamedTuple

import numpy as np

from node.errors import OrbnodeError

OUTCOMES = ("masked", "tolerable", "sdc", "due")


class Tolerance(NamedTuple):
    """``|faulty − golden| <= abs_tol + rel_tol · |golden|`` element-wise is tolerable."""

    abs_tol: float = 0.0
    rel_tol: float = 0.0

    @classmethod
    def parse(cls, text: str | None) -> Tolerance | None:
        """``"1e-3"`` (absolute), ``"abs=1e-3,rel=0.01"`` or ``"rel=0.05"``; None stays None."""
        if text is None:
            return None
        abs_tol = rel_tol = 0.0
        bad = OrbnodeError(f"bad --tolerance {text!r}: expected a number (absolute) or "
                           "abs=A,rel=R with non-negative numbers")
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if not parts:
            raise bad
        try:
            for p in parts:
                key, eq, value = p.partition("=")
                v = float(value if eq else key)
                if not math.isfinite(v) or v < 0:
                    raise ValueError
                if not eq or key.strip() == "abs":
                    abs_tol = v
                elif key.strip() == "rel":
                    rel_tol = v
                else:
                    raise ValueError
        except ValueError:
            raise bad from None
        return cls(abs_tol, rel_tol)

    def __str__(self) -> str:
        return f"abs={self.abs_tol!r},rel={self.rel_tol!r}"  # parse(str(t)) == t


class Verdict(NamedTuple):
    """What one trial's outputs amount to (a campaign result, an inject record's core)."""

    outcome: str
    max_abs_diff: float | None
    top1_changed: int | None
    digest: str | None


MASKED = Verdict("masked", 0.0, 0, None)
FAILED = Verdict("due", None, None, None)


def top1(first: np.ndarray) -> list[int]:
    """Top-1 class per row (a 1-d output is one row)."""
    flat = first.reshape(first.shape[0], -1) if first.ndim > 1 else first.reshape(1, -1)
    return flat.argmax(axis=1).tolist()


def max_abs_diff(first: np.ndarray, golden_f64: np.ndarray) -> float | None:
    """max |faulty − golden| over the first output in float64 (None: nothing finite)."""
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(first.astype(np.float64) - golden_f64)
        return float(np.nanmax(diff)) if np.isfinite(diff).any() else None


def digest(outputs: list[np.ndarray]) -> str:
    """64-bit blake2b of the outputs' bytes, in output order (exact-replay check)."""
    h = hashlib.blake2b(digest_size=8)
    for o in outputs:
        h.update(np.ascontiguousarray(o).tobytes())
    return h.hexdigest()


class Golden:
    """Golden outputs of one input, pre-digested so that judging a trial is cheap.

    Judging runs once per trial, so the common case (one small float output, no
    tolerance) takes a path in plain Python that costs well under a microsecond and
    is exactly the float64 arithmetic of :func:`max_abs_diff`; anything else goes
    through the numpy definitions.
    """

    def __init__(self, outputs: list[np.ndarray], tolerance: Tolerance | None = None) -> None:
        self.outputs = [np.array(o, copy=True) for o in outputs]
        self.tolerance = tolerance
        self.raw = [np.ascontiguousarray(o).tobytes() for o in outputs]
        first = np.asarray(outputs[0])
        t1 = first.reshape(first.shape[0], -1).argmax(axis=1) if first.ndim else None
        self.top1 = None if t1 is None else t1.tolist()
        self.raw0 = self.raw[0]
        self.single = len(outputs) == 1
        self._small = (self.single and first.dtype.kind == "f" and first.size <= 256
                       and self.top1 is not None and tolerance is None)
        self._g64 = first.astype(np.float64)
        self._top1_inject = top1(first)
        # 2-d and up: the classifier's rows and top1()'s coincide, so a finite output is
        # "sdc" exactly when the top-1 changed (one pass computes both).
        self.fast = (self._small and 0 < first.size and first.ndim >= 2
                      and bool(np.isfinite(first).all()))
        self._gvals = first.ravel().tolist()
        self._rows = len(self._top1_inject)
        self._width = first.size // max(self._rows, 1)

    def classify(self, faulty: list[np.ndarray] | None) -> str:
        """The outcome class of ``faulty`` outputs (``None``: the run failed)."""
        if faulty is None:
            return "due"
        if self._small:
            first = faulty[0]
            if first.tobytes() == self.raw0:
                return "masked"
            vals = first.ravel().tolist()
            # A NaN or inf makes the sum non-finite; a finite sum proves all finite.
            if not math.isfinite(sum(vals)) and not all(map(math.isfinite, vals)):
                return "due"
            want = self.top1
            if len(want) == 1:
                return "tolerable" if vals.index(max(vals)) == want[0] else "sdc"
            width = len(vals) // len(want)
            for r, w in enumerate(want):
                row = vals[r * width:(r + 1) * width]
                if row.index(max(row)) != w:
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
        if self.tolerance is not None:
            a, r = self.tolerance
            for o, g in zip(faulty, self.outputs, strict=True):
                d = np.abs(o.astype(np.float64) - g.astype(np.float64))
                if not (d <= a + r * np.abs(g.astype(np.float64))).all():
                    return "sdc"
            return "tolerable"
        if self.top1 is None:
            return "sdc"
        first = faulty[0]
        got = first.reshape(first.shape[0], -1).argmax(axis=1).tolist()
        return "tolerable" if got == self.top1 else "sdc"

    def verdict(self, faulty: list[np.ndarray] | None) -> Verdict:
        """The full :class:`Verdict` of ``faulty`` outputs (``None``: the run failed)."""
        if faulty is None:
            return FAILED
        first = faulty[0]
        if self.single:
            raw = first.tobytes()
            if raw == self.raw0:
                return MASKED
            dig = hashlib.blake2b(raw, digest_size=8).hexdigest()
            if self.fast:
                vals = first.ravel().tolist()
                d = [abs(a - b) for a, b in zip(vals, self._gvals, strict=True)]
                if math.isfinite(sum(d)):  # every value finite: not a DUE
                    w, rows = self._width, self._rows
                    if rows == 1:
                        changed = [vals.index(max(vals))] != self._top1_inject
                    else:
                        changed = [vals[r * w:(r + 1) * w].index(max(vals[r * w:(r + 1) * w]))
                                   for r in range(rows)] != self._top1_inject
                    return Verdict("sdc" if changed else "tolerable", max(d), int(changed), dig)
        elif all(o.tobytes() == r for o, r in zip(faulty, self.raw, strict=True)):
            return MASKED
        else:
            dig = digest(faulty)
        changed = int(top1(first) != self._top1_inject)
        return Verdict(self.classify(faulty), max_abs_diff(first, self._g64), changed, dig)
