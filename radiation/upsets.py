"""Radiation in the running node: upsets accumulate in live weights, a scrubber repairs.

:class:`UpsetProcess` turns an upset rate (upsets per bit per day, from the
envelope's radiation hook and ``firmware_stubs/data/radiation.toml``) into Poisson
arrivals over the exposed bits and flips them in place in the live weight buffers,
so the node's very next inference computes with the damaged weights.
:class:`Scrubber` keeps a golden copy and a CRC-32 per block; each scrub finds the
blocks whose CRC no longer matches and rewrites the differing words from the golden
copy, counting what it did.

Pass the engine's *live* weights (``engine.live_weights``): upsets in a buffer the
session does not read would be reported but have no effect.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass

import numpy as np

from radiation import bits

SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class Upset:
    """One event applied to live memory: ``span`` adjacent bits from ``bit`` inverted."""

    tensor: str
    index: int
    bit: int
    kind: str  # "seu" | "mbu"
    span: int = 1


class _BitMap:
    """Maps a global bit number over a dict of tensors to (tensor, index, bit)."""

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self.names = [n for n, a in weights.items() if a.dtype.name in bits.SUPPORTED and a.size]
        self.words = [bits.word_view(weights[n]) for n in self.names]
        self.wbits = np.array([weights[n].itemsize * 8 for n in self.names], dtype=np.int64)
        sizes = np.array([weights[n].size for n in self.names], dtype=np.int64) * self.wbits
        self.ends = np.cumsum(sizes)
        self.total = int(self.ends[-1]) if len(self.ends) else 0

    def locate(self, g: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t = np.searchsorted(self.ends, g, side="right")
        start = np.where(t > 0, self.ends[t - 1], 0)
        off = g - start
        return t, off // self.wbits[t], off % self.wbits[t]


class UpsetProcess:
    """Poisson upset arrivals in live weights, applied in place as they happen.

    The expected count over ``dt_s`` is ``rate_per_bit_day × exposed_bits × dt_s /
    86400``; each upset lands on a bit drawn uniformly over all exposed bits (so a
    tensor is hit in proportion to its size in bits). A fraction ``mbu_fraction`` of
    events are multi-bit upsets: two adjacent bits of the same word (1.2 % is the
    Alsat-1 SRAM figure, docs/sources.md). Two upsets on one bit cancel, as in real memory.
    """

    def __init__(self, weights: dict[str, np.ndarray], *, seed: int = 0,
                 mbu_fraction: float = 0.012) -> None:
        if not 0.0 <= mbu_fraction <= 1.0:
            raise ValueError(f"mbu_fraction must be in [0, 1], got {mbu_fraction}")
        self.weights = weights
        self.mbu_fraction = mbu_fraction
        self.rng = np.random.default_rng(seed)
        self._map = _BitMap(weights)
        self.exposed_bits: int = self._map.total
        self.count = 0
        self.count_mbu = 0

    def expected(self, dt_s: float, rate_per_bit_day: float) -> float:
        """Mean number of upsets over ``dt_s`` seconds at ``rate_per_bit_day``."""
        return max(rate_per_bit_day, 0.0) * self.exposed_bits * max(dt_s, 0.0) / SECONDS_PER_DAY

    def advance(self, dt_s: float, rate_per_bit_day: float) -> list[Upset]:
        """Draw the upsets of the next ``dt_s`` seconds, flip them in place, return them."""
        lam = self.expected(dt_s, rate_per_bit_day)
        n = int(self.rng.poisson(lam)) if lam > 0 and self.exposed_bits else 0
        if n == 0:
            return []
        g = self.rng.integers(0, self.exposed_bits, size=n, dtype=np.int64)
        mbu = self.rng.random(n) < self.mbu_fraction
        ts, idx, bit = self._map.locate(g)
        out: list[Upset] = []
        for k in range(n):
            t, i, b = int(ts[k]), int(idx[k]), int(bit[k])
            words = self._map.words[t]
            span = 1
            if mbu[k]:
                span = 2
                b = min(b, int(self._map.wbits[t]) - 2)  # keep both bits in the word
            words[i] = bits.flip_word(int(words[i]), b, span)
            out.append(Upset(self._map.names[t], i, b, "mbu" if span > 1 else "seu", span))
        self.count += n
        self.count_mbu += int(mbu.sum())
        return out


@dataclass(frozen=True)
class ScrubReport:
    """What one scrub pass found and fixed.

    ``errors_detected``: blocks whose CRC mismatched; ``words_repaired`` and
    ``bits_repaired``: words rewritten from the golden copy and the bits they had
    wrong; ``persistent_words``: words repaired in this pass that had been repaired in
    the previous one too (a stuck bit, or a hot spot); ``seconds``: time the pass took.
    """

    blocks_checked: int
    errors_detected: int
    words_repaired: int
    bits_repaired: int
    persistent_words: int = 0
    seconds: float = 0.0


class Scrubber:
    """Golden copy + CRC-32 per block of live weight memory; scrub detects and repairs.

    Blocks are ``block_bytes`` long and never span two tensors. The check reads every
    block and compares its CRC (``zlib.crc32``) with the one taken at set-up, which is
    what an onboard scrubber can afford: the golden copy (in the real system, in
    protected storage) is read only for blocks that fail. Totals over all passes are
    kept in ``totals``. ``period_s`` is the scrub period for :meth:`maybe_scrub`.
    """

    def __init__(self, weights: dict[str, np.ndarray], *, block_bytes: int = 4096,
                 period_s: float | None = None) -> None:
        if block_bytes <= 0 or block_bytes % 8:
            raise ValueError(f"block_bytes must be a positive multiple of 8, got {block_bytes}")
        self.weights = weights
        self.block_bytes = block_bytes
        self.period_s = period_s
        self._golden: dict[str, np.ndarray] = {}
        self._bytes: dict[str, np.ndarray] = {}
        self._blocks: list[tuple[str, int, int, int]] = []  # name, start, stop, crc
        for name, arr in weights.items():
            if arr.dtype.name not in bits.SUPPORTED or not arr.size:
                continue
            raw = arr.reshape(-1).view(np.uint8)
            self._bytes[name] = raw
            self._golden[name] = raw.copy()
            for start in range(0, raw.size, block_bytes):
                stop = min(start + block_bytes, raw.size)
                self._blocks.append((name, start, stop, zlib.crc32(raw[start:stop])))
        self._last_repaired: set[tuple[str, int]] = set()
        self._next_due: float | None = None
        self.totals = {"scrubs": 0, "errors_detected": 0, "words_repaired": 0,
                       "bits_repaired": 0, "persistent_words": 0}

    @property
    def blocks(self) -> int:
        return len(self._blocks)

    def scrub(self) -> ScrubReport:
        """Check every block's CRC; rewrite differing words of failed blocks from golden."""
        t0 = time.perf_counter()
        detected = words_fixed = bits_fixed = persistent = 0
        repaired: set[tuple[str, int]] = set()
        for name, start, stop, crc in self._blocks:
            raw = self._bytes[name]
            if zlib.crc32(raw[start:stop]) == crc:
                continue
            detected += 1
            itemsize = self.weights[name].itemsize
            cur = raw[start:stop].view(bits.word_dtype(self.weights[name].dtype))
            gold = self._golden[name][start:stop].view(cur.dtype)
            bad = np.flatnonzero(cur != gold)
            bits_fixed += bits.popcount(cur[bad] ^ gold[bad])
            words_fixed += bad.size
            for w in bad:
                key = (name, start // itemsize + int(w))
                repaired.add(key)
                persistent += key in self._last_repaired
            raw[start:stop] = self._golden[name][start:stop]
        self._last_repaired = repaired
        rep = ScrubReport(len(self._blocks), detected, words_fixed, bits_fixed, persistent,
                          time.perf_counter() - t0)
        t = self.totals
        t["scrubs"] += 1
        t["errors_detected"] += detected
        t["words_repaired"] += words_fixed
        t["bits_repaired"] += bits_fixed
        t["persistent_words"] += persistent
        return rep

    def maybe_scrub(self, now_s: float) -> ScrubReport | None:
        """Scrub if ``period_s`` has passed since the last scrub (first call: schedule)."""
        if self.period_s is None:
            return None
        if self._next_due is None:
            self._next_due = now_s + self.period_s
            return None
        if now_s < self._next_due:
            return None
        self._next_due = now_s + self.period_s
        return self.scrub()

    def refresh(self) -> None:
        """Accept the current contents as golden (after a deliberate weight update)."""
        self.__init__(self.weights, block_bytes=self.block_bytes, period_s=self.period_s)
