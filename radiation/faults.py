"""Fault models applied in place to live weight memory, each exactly undoable.

A :class:`Fault` names a site (tensor, flat index, bit) and a kind:

``seu``          single-event upset: one bit inverted.
``mbu``          multi-bit upset in one word: ``span`` adjacent bits from ``bit`` inverted.
``mcu``          multi-cell upset: the same ``bit`` inverted in ``span`` neighbouring
                 words ``index .. index+span-1``.
``stuck-at-0``   ``span`` bits from ``bit`` forced to 0; permanent (re-asserted after a
``stuck-at-1``   scrub repairs the word, see :meth:`Injector.reassert`).
``random``       the whole word replaced by ``word`` (a random pattern from
                 :func:`random_fault`).

Applying a fault saves the touched words; :meth:`Injector.undo` writes them back, so
undo is exact for every kind and every bit pattern (NaN payloads included), and
undoing in reverse order restores any stack of overlapping faults.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from node.errors import OrbnodeError
from radiation import bits

KINDS = ("seu", "mbu", "mcu", "stuck-at-0", "stuck-at-1", "random")
PERMANENT = ("stuck-at-0", "stuck-at-1")


@dataclass(frozen=True)
class Fault:
    """One fault at one site; ``span`` counts bits (mbu, stuck-at) or words (mcu)."""

    tensor: str
    index: int
    bit: int = 0
    kind: str = "seu"
    span: int = 1
    word: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise OrbnodeError(
                f"unknown fault kind {self.kind!r}; choose one of {', '.join(KINDS)}")
        if self.span < 1:
            raise bits.FaultSiteError(f"span must be at least 1, got {self.span}")
        if self.kind == "random" and self.word is None:
            raise OrbnodeError("a random-value fault needs its replacement word")

    @property
    def span_words(self) -> int:
        return self.span if self.kind == "mcu" else 1

    @property
    def span_bits(self) -> int:
        return self.span if self.kind in ("mbu", "stuck-at-0", "stuck-at-1") else 1

    @property
    def permanent(self) -> bool:
        return self.kind in PERMANENT

    def new_word(self, old: int) -> int:
        """The word this fault leaves where ``old`` was."""
        if self.kind == "random":
            return int(self.word)  # type: ignore[arg-type]
        if self.kind == "stuck-at-0":
            return bits.stuck_word(old, self.bit, 0, self.span)
        if self.kind == "stuck-at-1":
            return bits.stuck_word(old, self.bit, 1, self.span)
        return bits.flip_word(old, self.bit, self.span_bits)

    def to_dict(self) -> dict:
        d = {"tensor": self.tensor, "index": int(self.index), "bit": int(self.bit),
             "kind": self.kind, "span": int(self.span)}
        if self.word is not None:
            d["word"] = int(self.word)
        return d


@dataclass
class Applied:
    """A fault as applied: the words it overwrote, to put back on undo."""

    fault: Fault
    saved: list[tuple[int, int]] = field(default_factory=list)  # (index, old word)
    undone: bool = False


def random_fault(tensor: str, arr: np.ndarray, index: int, rng: np.random.Generator) -> Fault:
    """A random-value fault: the word at ``index`` replaced by a uniform random pattern."""
    nbits = bits.word_bits(arr.dtype)
    word = int(rng.integers(0, 1 << nbits, dtype=np.uint64)) if nbits < 64 else int(
        rng.integers(0, np.iinfo(np.uint64).max, dtype=np.uint64, endpoint=True))
    return Fault(tensor, index, 0, "random", 1, word)


class Injector:
    """Applies and undoes faults in a dict of live buffers, refusing dead ones.

    ``live`` (from :attr:`node.engine.Engine.live`) lists which buffers the session is
    known to read; a fault into any other is an error, never a silent no-op.
    The word views are made once, so one flip plus restore costs about a microsecond.
    """

    def __init__(self, weights: dict[str, np.ndarray], *, live: dict[str, bool] | None = None,
                 notes: dict[str, str] | None = None) -> None:
        self.weights = weights
        self.live = live
        self.notes = notes or {}
        # One word view per tensor (public: the trials' fast path reads and writes it).
        self.words = {n: bits.word_view(a) for n, a in weights.items()
                       if a.dtype.name in bits.SUPPORTED}
        self.active_permanent: list[Fault] = []

    @classmethod
    def from_engine(cls, engine) -> Injector:  # noqa: ANN001 - avoid importing node.engine
        """An injector over ``engine.weights`` honouring ``engine.live``."""
        return cls(engine.weights, live=engine.live, notes=engine.liveness_notes)

    def check(self, fault: Fault) -> None:
        """Raise a clear :class:`~radiation.bits.FaultSiteError` if ``fault`` cannot apply."""
        arr = self.weights.get(fault.tensor)
        if arr is None:
            names = sorted(self.weights)
            shown = ", ".join(names[:12]) + (" ..." if len(names) > 12 else "")
            raise bits.FaultSiteError(f"no weight tensor named {fault.tensor!r}; weights: {shown}")
        if self.live is not None and not self.live.get(fault.tensor, False):
            why = self.notes.get(fault.tensor, "not verified live")
            raise bits.FaultSiteError(
                f"weight {fault.tensor!r} is not live in this session ({why}); a fault there "
                "would not reach the inference. Use the other --level or another tensor"
            )
        bits.check_site(arr, fault.index, fault.bit, name=fault.tensor,
                        span_words=fault.span_words, span_bits=fault.span_bits)

    def apply(self, fault: Fault) -> Applied:
        """Apply ``fault`` in place (after :meth:`check`); returns the undo record."""
        self.check(fault)
        words = self.words[fault.tensor]
        applied = Applied(fault)
        for i in range(fault.index, fault.index + fault.span_words):
            old = int(words[i])
            applied.saved.append((i, old))
            words[i] = fault.new_word(old)
        if fault.permanent:
            self.active_permanent.append(fault)
        return applied

    def undo(self, applied: Applied) -> None:
        """Write back exactly the words ``applied`` overwrote (stuck-at faults are cleared)."""
        if applied.undone:
            return
        words = self.words[applied.fault.tensor]
        for i, old in reversed(applied.saved):
            words[i] = old
        if applied.fault.permanent and applied.fault in self.active_permanent:
            self.active_permanent.remove(applied.fault)
        applied.undone = True

    def reassert(self) -> int:
        """Force active stuck-at bits again (after a scrub rewrote their words).

        Returns how many words changed, i.e. how many repairs the stuck bits undid.
        """
        changed = 0
        for fault in self.active_permanent:
            words = self.words[fault.tensor]
            old = int(words[fault.index])
            new = fault.new_word(old)
            if new != old:
                words[fault.index] = new
                changed += 1
        return changed

    # Fast path for campaigns and the benchmark: one bit, no record object.
    def flip(self, tensor: str, index: int, bit: int) -> int:
        """Check and invert one bit; returns the old word for :meth:`restore`."""
        arr = self.weights.get(tensor)
        if arr is None or (self.live is not None and not self.live.get(tensor, False)):
            self.check(Fault(tensor, index, bit))
        if not (0 <= index < arr.size and 0 <= bit < arr.itemsize * 8):
            bits.check_site(arr, index, bit, name=tensor)
        words = self.words[tensor]
        old = int(words[index])
        words[index] = old ^ (1 << bit)
        return old

    def restore(self, tensor: str, index: int, word: int) -> None:
        """Put back the word :meth:`flip` returned."""
        self.words[tensor][index] = word
