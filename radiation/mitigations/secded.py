"""SECDED ECC emulated per 64-bit word: Hamming(72,64), as in ECC DRAM and SRAM.

Each 64-bit word of weight memory gets 8 check bits (7 Hamming bits + overall
parity), computed when the weights are loaded. A check recomputes them from the
current data and decodes the syndrome exactly as the hardware would:

* syndrome 0, parity even  -> no error;
* parity odd               -> single error: corrected (data bit flipped back, or the
                              error was in a check bit and the data is fine);
* syndrome != 0, parity even -> double error: detected, not correctable.

Three or more errors in one word can be *miscorrected*, as in real hardware; the
emulation does not hide that. Check bits are kept outside the exposed memory (only
data bits receive upsets here). The storage cost is 8/64 = 12.5 %; a hardware check
costs no inference time, but this emulation's full scan does and is measured.
Tensors whose size is not a multiple of 8 bytes are padded with zeros, as a memory
controller would pad the last word.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from radiation import bits

# Codeword positions 1..71: powers of two hold check bits, the rest hold data bits 0..63.
_DATA_POS = np.array([p for p in range(1, 72) if p & (p - 1)][:64], dtype=np.uint64)
_MASKS = np.array([int(sum(1 << d for d in range(64) if int(_DATA_POS[d]) >> j & 1))
                   for j in range(7)], dtype=np.uint64)
_POS_TO_DATA = {int(p): d for d, p in enumerate(_DATA_POS)}


def _parity(x: np.ndarray) -> np.ndarray:
    return (np.bitwise_count(x) & 1).astype(np.uint8)


def encode(words: np.ndarray) -> np.ndarray:
    """Check bytes for 64-bit ``words``: bits 0-6 Hamming, bit 7 overall parity."""
    words = words.astype(np.uint64, copy=False)
    check = np.zeros(words.shape, np.uint8)
    for j in range(7):
        check |= _parity(words & _MASKS[j]) << np.uint8(j)
    overall = _parity(words) ^ _parity(check & np.uint8(0x7F))
    return check | (overall << np.uint8(7))


@dataclass(frozen=True)
class EccReport:
    """One check pass: words checked, single errors corrected, double errors detected."""

    words_checked: int
    corrected: int
    uncorrectable: int


def _padded_words(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    raw = arr.reshape(-1).view(np.uint8)
    full = raw.size // 8
    return raw, raw[: full * 8].view(np.uint64), full


class Secded:
    """Check bits for every 64-bit word of ``weights``; :meth:`check` decodes them all."""

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self.weights = {n: a for n, a in weights.items() if a.dtype.name in bits.SUPPORTED}
        self._check = {n: encode(self._words(n)) for n in self.weights}
        self.data_bits = sum(8 * (-(-a.nbytes // 8)) * 8 for a in self.weights.values())
        self.check_bits = sum(c.size * 8 for c in self._check.values())
        self.totals = {"checks": 0, "corrected": 0, "uncorrectable": 0}

    @property
    def overhead(self) -> float:
        """Check bits per data bit (0.125)."""
        return self.check_bits / self.data_bits if self.data_bits else 0.0

    def _words(self, name: str) -> np.ndarray:
        raw, full_words, full = _padded_words(self.weights[name])
        if raw.size == full * 8:
            return full_words
        tail = np.zeros(8, np.uint8)
        tail[: raw.size - full * 8] = raw[full * 8:]
        return np.concatenate([full_words, tail.view(np.uint64)])

    def _write_word(self, name: str, i: int, value: int) -> None:
        raw, full_words, full = _padded_words(self.weights[name])
        if i < full:
            full_words[i] = value
        else:
            tail = np.array([value], np.uint64).view(np.uint8)
            raw[full * 8:] = tail[: raw.size - full * 8]

    def check(self, *, correct: bool = True) -> EccReport:
        """Decode every word; with ``correct`` write single-error corrections back."""
        words_checked = corrected = uncorrectable = 0
        for name in self.weights:
            words = self._words(name)
            stored = self._check[name]
            words_checked += words.size
            fresh = encode(words)
            bad = np.flatnonzero(fresh != stored)
            for i in bad:
                status, fixed = self.decode(int(words[i]), int(stored[i]))
                if status == "corrected":
                    corrected += 1
                    if correct and fixed != int(words[i]):
                        self._write_word(name, int(i), fixed)
                elif status == "uncorrectable":
                    uncorrectable += 1
        self.totals["checks"] += 1
        self.totals["corrected"] += corrected
        self.totals["uncorrectable"] += uncorrectable
        return EccReport(words_checked, corrected, uncorrectable)

    def correct_bytes(self, name: str, start: int, stop: int) -> str:
        """Decode the 64-bit words covering bytes ``start:stop`` of ``name`` and write
        single-error corrections back, as a memory controller does on a read.

        Returns the worst status seen: ``"ok"``, ``"corrected"`` or ``"uncorrectable"``
        (a double error, detected and left as it is). Words outside the range are
        untouched, so after a fault in this range this equals a full :meth:`check`.
        """
        words, stored = self._words(name), self._check[name]
        worst = "ok"
        for w in range(start // 8, (stop - 1) // 8 + 1):
            word = int(words[w])
            status, fixed = self.decode(word, int(stored[w]))
            if status == "corrected" and fixed != word:
                self._write_word(name, w, fixed)
            if status == "uncorrectable" or (status == "corrected" and worst == "ok"):
                worst = status
        return worst

    @staticmethod
    def decode(word: int, stored: int) -> tuple[str, int]:
        """Decode one word against its stored check byte: (status, corrected word)."""
        fresh = int(encode(np.array([word], np.uint64))[0])
        syndrome = (fresh ^ stored) & 0x7F
        # Overall parity over data + stored check bits + stored parity: odd = odd errors.
        odd = (bin(word).count("1") + bin(stored).count("1")) & 1
        if syndrome == 0 and not odd:
            return "ok", word
        if odd:
            if syndrome == 0 or syndrome & (syndrome - 1) == 0:
                return "corrected", word  # the error was in a check bit or the parity bit
            d = _POS_TO_DATA.get(syndrome)
            if d is None:
                return "uncorrectable", word
            return "corrected", word ^ (1 << d)
        return "uncorrectable", word
