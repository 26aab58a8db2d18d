"""Fault locations drawn in proportion to bit count, or inside a requested stratum.

A radiation upset hits a *bit*, so a uniform draw over every exposed bit is the
unbiased campaign: a tensor with twice the bits is hit twice as often. Strata narrow
the population (some tensors, some bit positions, a field such as the exponent) and
sample uniformly over the bits inside it, so per-stratum statistics (Leveugle et al.
2009: 16,641 faults per stratum for 99 % / 1 %) can be planned.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from node.errors import OrbnodeError
from radiation import bits
from radiation.faults import Fault


def allowed_bits(dtype: np.dtype, bit: int | Iterable[int] | None,
                 field: str | None) -> list[int]:
    """Bit positions of a ``dtype`` word inside the stratum: positions ``bit`` (None:
    all) that lie in ``field`` (None: any)."""
    width = bits.word_bits(dtype)
    allowed = list(range(width))
    if bit is not None:
        wanted = [bit] if isinstance(bit, (int, np.integer)) else list(bit)
        allowed = [b for b in allowed if b in set(wanted)]
    if field is not None:
        allowed = [b for b in allowed if bits.bit_field(dtype, b) == field]
    return allowed


def sample_faults(arrays: dict[str, np.ndarray], n: int, rng: np.random.Generator, *,
                  tensors: Iterable[str] | None = None, bit: int | Iterable[int] | None = None,
                  field: str | None = None, kind: str = "seu", span: int = 1) -> list[Fault]:
    """``n`` faults over ``arrays`` (weights or golden activations), uniform over bits.

    Strata: ``tensors`` (names), ``bit`` (positions), ``field`` ("sign", "exponent",
    "mantissa" for floats; "sign"/"magnitude" for integers). Multi-bit kinds keep the
    whole span inside the word; multi-word kinds keep it inside the tensor.
    """
    names = list(arrays) if tensors is None else list(tensors)
    unknown = [t for t in names if t not in arrays]
    if unknown:
        raise OrbnodeError(f"no tensor named {unknown[0]!r} to sample from")
    span_bits = span if kind in ("mbu", "stuck-at-0", "stuck-at-1") else 1
    span_words = span if kind == "mcu" else 1
    pops, cands = [], []
    for name in names:
        arr = arrays[name]
        if arr.dtype.name not in bits.SUPPORTED:
            continue
        width = bits.word_bits(arr.dtype)
        allowed = [b for b in allowed_bits(arr.dtype, bit, field) if b + span_bits <= width]
        words = arr.size - span_words + 1
        if allowed and words > 0:
            cands.append((name, words, np.array(allowed, dtype=np.int64)))
            pops.append(words * len(allowed))
    if not cands:
        raise OrbnodeError("the requested stratum contains no bits")
    ends = np.cumsum(np.array(pops, dtype=np.int64))
    g = rng.integers(0, int(ends[-1]), size=n, dtype=np.int64)
    t = np.searchsorted(ends, g, side="right")
    off = g - np.where(t > 0, ends[t - 1], 0)
    faults = []
    for k in range(n):
        name, _, allowed = cands[int(t[k])]
        index, which = divmod(int(off[k]), len(allowed))
        b = int(allowed[which])
        if kind == "random":
            from radiation.faults import random_fault
            faults.append(random_fault(name, arrays[name], index, rng))
        else:
            faults.append(Fault(name, index, b, kind, span))
    return faults


def population_bits(arrays: dict[str, np.ndarray]) -> int:
    """Exposed bits over ``arrays`` (the denominator of every rate)."""
    return int(sum(a.nbytes * 8 for a in arrays.values() if a.dtype.name in bits.SUPPORTED))
