"""The fault list of a campaign, drawn once from a seed and stored before any trial.

Why a stored plan: a campaign that is killed and resumed must run exactly the faults
it had not run yet, and two runs with the same seed must run the same faults whatever
the number of workers. So every fault is drawn up front, numbered, and written to the
database (:mod:`radiation.campaign.store`); execution only ever reads that list.

Population: every fault *site* of the target tensors — for a single-bit upset, every
bit. A :class:`Stratum` is a set of :class:`Part` (a tensor and the start bits and
words a fault of the requested kind fits in), ordered so that a flat offset
``0 .. population-1`` maps to exactly one site (:meth:`Stratum.locate`, a bijection).
Drawing offsets uniformly *without replacement* is therefore uniform over bits: a
tensor with twice the bits is hit twice as often (the unbiased campaign of
:mod:`radiation.sampling`, whose stratum filters we reuse), and no site repeats,
which is what Leveugle's finite-population sample size assumes.

Strata (``by``): ``none`` (one stratum), ``tensor``, ``bit`` (start-bit position) or
``field`` (sign / exponent / mantissa, or sign / magnitude for integers), or a product
of these, e.g. ``tensor,field``: one stratum per cell (``conv1.weight × exponent``),
each with its own Leveugle sample size when ``--faults`` is not given.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from node.errors import OrbnodeError
from radiation import bits as bitops
from radiation.campaign.stats import leveugle_sample_size
from radiation.faults import KINDS
from radiation.sampling import allowed_bits

STRATA = ("none", "tensor", "bit", "field")
DIMENSIONS = ("tensor", "bit", "field")
FIELDS = ("sign", "exponent", "mantissa", "magnitude")


@dataclass(frozen=True)
class Part:
    """Sites of one tensor in one stratum: start words ``0 .. words-1`` × start ``bits``."""

    tensor: str
    dtype: str
    words: int
    bits: tuple[int, ...]

    @property
    def population(self) -> int:
        return self.words * len(self.bits)


@dataclass(frozen=True)
class Stratum:
    """A named set of sites, sampled uniformly inside (see the module docstring)."""

    name: str
    parts: tuple[Part, ...]

    @property
    def population(self) -> int:
        return sum(p.population for p in self.parts)

    def locate(self, offsets: np.ndarray) -> list[tuple[str, int, int]]:
        """``(tensor, index, bit)`` of each flat offset in ``0 .. population-1``.

        Offsets run part by part, and inside a part index-major: offset ``o`` of a
        part is word ``o // len(bits)``, start bit ``bits[o % len(bits)]``.
        """
        offsets = np.asarray(offsets, dtype=np.int64)
        ends = np.cumsum([p.population for p in self.parts], dtype=np.int64)
        if offsets.size and (offsets.min() < 0 or offsets.max() >= ends[-1]):
            raise ValueError("offset outside the stratum")
        which = np.searchsorted(ends, offsets, side="right")
        local = offsets - np.where(which > 0, ends[which - 1], 0)
        out = []
        for w, o in zip(which.tolist(), local.tolist(), strict=True):
            part = self.parts[w]
            index, b = divmod(o, len(part.bits))
            out.append((part.tensor, index, part.bits[b]))
        return out


@dataclass(frozen=True)
class PlannedFault:
    """One numbered fault of the plan (a row of the ``faults`` table)."""

    id: int
    tensor: str
    index: int
    bit: int
    kind: str
    span: int
    word: int | None
    input_id: int
    stratum: int


def parse_bits(text: str | None) -> list[int] | None:
    """``"0-22,31"`` → ``[0, 1, ..., 22, 31]`` (None stays None)."""
    if text is None:
        return None
    out: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            lo, _, hi = part.partition("-")
            a, b = int(lo), int(hi) if hi else int(lo)
            if a < 0 or b < a:
                raise ValueError
            out.extend(range(a, b + 1))
    except ValueError:
        raise OrbnodeError(f"bad --bits {text!r}: expected positions like 0-22,31") from None
    if not out:
        raise OrbnodeError(f"bad --bits {text!r}: no bit positions")
    return sorted(set(out))


def fingerprint(arrays: dict[str, np.ndarray]) -> str:
    """A short hash of the population's tensor names, dtypes and shapes.

    Stored with the plan: on resume a different graph (another onnxruntime or CPU
    producing another optimised graph at the runtime level) is refused.
    """
    desc = [[n, a.dtype.name, list(a.shape)] for n, a in arrays.items()]
    return hashlib.sha256(json.dumps(desc).encode()).hexdigest()[:16]


def _parts(arrays: dict[str, np.ndarray], *, tensors: Iterable[str] | None,
           bits: list[int] | None, field: str | None, kind: str, span: int) -> list[Part]:
    names = list(arrays) if tensors is None else list(tensors)
    unknown = [t for t in names if t not in arrays]
    if unknown:
        shown = ", ".join(list(arrays)[:12]) + (" ..." if len(arrays) > 12 else "")
        raise OrbnodeError(f"no target tensor named {unknown[0]!r}; targets: {shown}")
    span_bits = span if kind in ("mbu", "stuck-at-0", "stuck-at-1") else 1
    span_words = span if kind == "mcu" else 1
    parts = []
    for name in names:
        arr = arrays[name]
        if arr.dtype.name not in bitops.SUPPORTED:
            continue
        width = bitops.word_bits(arr.dtype)
        if kind == "random":  # the whole word is replaced: a site is a word
            allowed = [0]
        else:
            allowed = [b for b in allowed_bits(arr.dtype, bits, field) if b + span_bits <= width]
        words = arr.size - span_words + 1
        if allowed and words > 0:
            parts.append(Part(name, arr.dtype.name, words, tuple(allowed)))
    return parts


def parse_stratum(text: str) -> tuple[str, ...]:
    """``"tensor,field"`` → ``("tensor", "field")``; ``"none"`` → ``()``; else one clear error."""
    dims = tuple(t.strip() for t in text.split(",") if t.strip())
    if dims == ("none",):
        return ()
    bad = [d for d in dims if d not in DIMENSIONS]
    if bad or not dims or len(set(dims)) != len(dims):
        what = bad[0] if bad else text
        raise OrbnodeError(f"unknown --stratum {what!r}; choose none, or one or more of "
                           f"{', '.join(DIMENSIONS)} separated by commas (e.g. tensor,field)")
    if "bit" in dims and "field" in dims:  # a bit position already fixes its field
        raise OrbnodeError(f"redundant --stratum {text!r}: a bit position fixes its field; "
                           "use bit or field (e.g. tensor,bit or tensor,field)")
    return dims


def build_strata(arrays: dict[str, np.ndarray], by: str = "none", *,
                 tensors: Iterable[str] | None = None, bits: list[int] | None = None,
                 field: str | None = None, kind: str = "seu", span: int = 1) -> list[Stratum]:
    """The strata of the population ``arrays`` restricted by ``tensors``/``bits``/``field``."""
    dims = parse_stratum(by)
    if kind not in KINDS:
        raise OrbnodeError(f"unknown --fault {kind!r}; choose one of {', '.join(KINDS)}")
    if field is not None and field not in FIELDS:
        raise OrbnodeError(f"unknown --field {field!r}; choose one of {', '.join(FIELDS)}")
    if kind == "random" and ("bit" in dims or "field" in dims or bits is not None
                             or field is not None):
        raise OrbnodeError("a random-word fault replaces the whole word and has no bit: "
                           "use --stratum none or tensor, without --bits/--field")
    parts = _parts(arrays, tensors=tensors, bits=bits, field=field, kind=kind, span=span)
    if not parts:
        raise OrbnodeError("the requested population contains no fault sites")
    if not dims:
        return [Stratum("all", tuple(parts))]
    order = {p.tensor: k for k, p in enumerate(parts)}
    cells: dict[tuple, list[Part]] = {}
    for p in parts:
        dt = _dtype(p.dtype)
        mine: dict[tuple, list[int]] = {}
        for b in p.bits:
            key = tuple(p.tensor if d == "tensor" else b if d == "bit" else bitops.bit_field(dt, b)
                        for d in dims)
            mine.setdefault(key, []).append(b)
        for key, bs in mine.items():
            cells.setdefault(key, []).append(Part(p.tensor, p.dtype, p.words, tuple(bs)))

    def rank(key: tuple) -> tuple:
        return tuple(order[k] if d == "tensor" else k if d == "bit" else FIELDS.index(k)
                     for d, k in zip(dims, key, strict=True))

    def name(key: tuple) -> str:
        return " × ".join(f"bit {k}" if d == "bit" else str(k)
                          for d, k in zip(dims, key, strict=True))

    return [Stratum(name(k), tuple(cells[k])) for k in sorted(cells, key=rank)]


def _dtype(name: str) -> np.dtype:
    if name == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


def allocate(populations: list[int], faults: int | None, *, margin: float,
             confidence: float) -> list[int]:
    """Faults per stratum: Leveugle's size for each (``faults`` None), else ``faults``
    shared as equally as the strata's populations allow (a stratum never gets more
    faults than it has sites: then it is exhaustive and the rest goes elsewhere)."""
    if faults is None:
        return [leveugle_sample_size(p, margin, confidence) for p in populations]
    alloc = [0] * len(populations)
    remaining = faults
    while remaining > 0:
        open_ = [h for h, p in enumerate(populations) if alloc[h] < p]
        if not open_:
            break
        share = max(1, remaining // len(open_))
        for h in open_:
            give = min(share, populations[h] - alloc[h], remaining)
            alloc[h] += give
            remaining -= give
            if remaining == 0:
                break
    return alloc


def make_plan(strata: list[Stratum], alloc: list[int], *, seed: int, kind: str = "seu",
              span: int = 1, samples: int = 1) -> list[PlannedFault]:
    """The numbered fault list: deterministic for ``(strata, alloc, seed, kind, span, samples)``.

    Three independent streams from ``seed`` draw the sites (per stratum, without
    replacement), the input each fault runs on, and the replacement words of
    ``random`` faults. Faults are numbered in (input, tensor, index, bit) order so
    that a chunk of consecutive ids shares one input and one target session.
    """
    if samples < 1:
        raise OrbnodeError(f"--samples must be at least 1, got {samples}")
    r_sites, r_inputs, r_words = (np.random.default_rng(s)
                                  for s in np.random.SeedSequence(seed).spawn(3))
    order = {}
    widths = {}
    for st in strata:
        for p in st.parts:
            order.setdefault(p.tensor, len(order))
            widths[p.tensor] = bitops.word_bits(_dtype(p.dtype))
    rows: list[tuple[int, str, int, int]] = []
    for h, (st, n) in enumerate(zip(strata, alloc, strict=True)):
        if n <= 0:
            continue
        offsets = np.sort(r_sites.choice(st.population, size=n, replace=False))
        rows.extend((h, t, i, b) for t, i, b in st.locate(offsets))
    inputs = r_inputs.integers(0, samples, size=len(rows)).tolist()
    words: list[int | None] = [None] * len(rows)
    if kind == "random":
        for k, (_, t, _, _) in enumerate(rows):
            w = widths[t]
            words[k] = int(r_words.integers(0, (1 << w) - 1, dtype=np.uint64, endpoint=True))
    keyed = sorted(range(len(rows)), key=lambda k: (inputs[k], order[rows[k][1]],
                                                    rows[k][2], rows[k][3], rows[k][0]))
    return [PlannedFault(fid, rows[k][1], rows[k][2], rows[k][3], kind, span, words[k],
                         inputs[k], rows[k][0]) for fid, k in enumerate(keyed)]
