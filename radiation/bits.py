"""Exact, dtype-aware bit manipulation of the words that hold tensor elements.

A radiation upset flips a bit of a *stored word*, not of a number: so every operation
here works on an unsigned-integer view of the very memory the tensor occupies
(float32 -> uint32, float16 and bfloat16 -> uint16, int8 -> uint8, ...). That keeps
every IEEE pattern exact, NaN payloads and signalling NaNs included, and makes any
change undoable by writing the saved word back.

Conventions (``orbnode inject``): ``index`` is the flat C-order element
index; ``bit`` 0 is the least significant bit of the element's stored word.
"""

from __future__ import annotations

import numpy as np

from node.errors import OrbnodeError

_UINT = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}

# (sign bit, exponent bits, mantissa bits) of the floating formats we know.
FLOAT_LAYOUT = {
    "float16": (15, range(10, 15), range(0, 10)),
    "bfloat16": (15, range(7, 15), range(0, 7)),
    "float32": (31, range(23, 31), range(0, 23)),
    "float64": (63, range(52, 63), range(0, 52)),
}

SUPPORTED = ("float16", "bfloat16", "float32", "float64",
             "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64")


class FaultSiteError(OrbnodeError, IndexError):
    """A fault asked for a tensor, index or bit that does not exist (nothing was changed)."""


def word_dtype(dtype: np.dtype) -> np.dtype:
    """The unsigned integer dtype of the stored word for elements of ``dtype``."""
    dtype = np.dtype(dtype)
    if dtype.name not in SUPPORTED:
        raise FaultSiteError(f"cannot inject into dtype {dtype.name}; supported: "
                             + ", ".join(SUPPORTED))
    return np.dtype(_UINT[dtype.itemsize])


def word_bits(dtype: np.dtype) -> int:
    """Bits in one stored word of ``dtype``."""
    return np.dtype(dtype).itemsize * 8


def word_view(arr: np.ndarray) -> np.ndarray:
    """Flat unsigned view sharing ``arr``'s memory: writing it writes the tensor.

    ``arr`` must be C-contiguous (engine buffers are), so the view is in C order and
    ``word_view(arr)[i]`` is the stored word of element ``i``.
    """
    if not arr.flags.c_contiguous:
        raise ValueError("word_view needs a C-contiguous array (a copy would not be live)")
    return arr.reshape(-1).view(word_dtype(arr.dtype))


def check_site(arr: np.ndarray, index: int, bit: int, *, name: str = "tensor",
               span_words: int = 1, span_bits: int = 1) -> None:
    """Raise :class:`FaultSiteError` unless ``index``/``bit`` (and spans) exist in ``arr``."""
    nbits = word_bits(arr.dtype)
    word_dtype(arr.dtype)
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise FaultSiteError(f"index must be an integer, got {index!r}")
    if isinstance(bit, bool) or not isinstance(bit, (int, np.integer)):
        raise FaultSiteError(f"bit must be an integer, got {bit!r}")
    if not 0 <= index or index + span_words > arr.size:
        last = arr.size - span_words
        raise FaultSiteError(
            f"index {index} out of range for {name!r}: {arr.size} elements, shape "
            f"{list(arr.shape)}, so the index must be 0..{last}"
            + (f" for a {span_words}-word fault" if span_words > 1 else "")
        )
    if span_bits > nbits:
        raise FaultSiteError(f"a {span_bits}-bit upset does not fit in one {nbits}-bit "
                             f"{arr.dtype.name} word of {name!r}")
    if span_words > arr.size:
        raise FaultSiteError(f"a {span_words}-word fault does not fit in {name!r}, "
                             f"which has {arr.size} elements")
    if not 0 <= bit or bit + span_bits > nbits:
        raise FaultSiteError(
            f"bit {bit} out of range for {name!r} of dtype {arr.dtype.name}: words are "
            f"{nbits} bits, bit 0 is the least significant"
            + (f"; a {span_bits}-bit upset must start at 0..{nbits - span_bits}"
               if span_bits > 1 else f", so the bit must be 0..{nbits - 1}")
        )


def mask_of(dtype: np.dtype, bit: int, span: int = 1) -> np.integer:
    """A word mask with bits ``bit .. bit+span-1`` set, typed as the stored word."""
    return word_dtype(dtype).type(((1 << span) - 1) << bit)


def flip(arr: np.ndarray, index: int, bit: int) -> int:
    """XOR bit ``bit`` of element ``index`` in place; returns the word as it was."""
    check_site(arr, index, bit)
    words = word_view(arr)
    old = int(words[index])
    words[index] = old ^ (1 << bit)
    return old


def read_word(arr: np.ndarray, index: int) -> int:
    """The stored word of element ``index`` as a Python int."""
    return int(word_view(arr)[index])


def write_word(arr: np.ndarray, index: int, word: int) -> None:
    """Overwrite the stored word of element ``index`` (used to undo exactly)."""
    word_view(arr)[index] = word


def flip_word(word: int, bit: int, span: int = 1) -> int:
    """``word`` with bits ``bit .. bit+span-1`` inverted."""
    return word ^ (((1 << span) - 1) << bit)


def stuck_word(word: int, bit: int, value: int, span: int = 1) -> int:
    """``word`` with bits ``bit .. bit+span-1`` forced to ``value`` (0 or 1)."""
    mask = ((1 << span) - 1) << bit
    return (word | mask) if value else (word & ~mask)


def flipped_value(value: np.generic | np.ndarray, bit: int, span: int = 1) -> np.ndarray:
    """A 0-d array holding ``value`` with bits flipped, same dtype (for activations)."""
    a = np.array(value)  # 0-d copy, keeps the dtype (bfloat16 included)
    w = a.reshape(1).view(word_dtype(a.dtype))
    w[0] = flip_word(int(w[0]), bit, span)
    return a


def bit_field(dtype: np.dtype, bit: int) -> str:
    """Which field a bit belongs to: sign / exponent / mantissa, or sign / magnitude."""
    dtype = np.dtype(dtype)
    layout = FLOAT_LAYOUT.get(dtype.name)
    if layout is not None:
        sign, exponent, _ = layout
        return "sign" if bit == sign else ("exponent" if bit in exponent else "mantissa")
    if dtype.kind == "i" and bit == word_bits(dtype) - 1:
        return "sign"
    return "magnitude"


def field_bits(dtype: np.dtype, field: str) -> list[int]:
    """The bit positions of ``field`` (as named by :func:`bit_field`) in ``dtype``."""
    return [b for b in range(word_bits(dtype)) if bit_field(dtype, b) == field]


def popcount(words: np.ndarray) -> int:
    """Total number of set bits in an array of unsigned words."""
    return int(np.bitwise_count(words).sum())
