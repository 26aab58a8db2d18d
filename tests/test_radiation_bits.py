"""Property tests: bit manipulation is exact on every stored dtype."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radiation import bits
from radiation.faults import Fault, Injector

DTYPES = [np.float32, np.float16, ml_dtypes.bfloat16, np.float64, np.int8, np.uint8, np.int32]


@st.composite
def tensors(draw):
    """A small array of any dtype filled with *arbitrary* words (NaN payloads, infs...)."""
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    n = draw(st.integers(1, 16))
    raw = draw(st.binary(min_size=n * dtype.itemsize, max_size=n * dtype.itemsize))
    return np.frombuffer(raw, dtype=dtype).copy()


@st.composite
def sites(draw):
    arr = draw(tensors())
    index = draw(st.integers(0, arr.size - 1))
    bit = draw(st.integers(0, arr.itemsize * 8 - 1))
    return arr, index, bit


@settings(max_examples=300, deadline=None)
@given(sites())
def test_flip_twice_is_identity(site):
    arr, index, bit = site
    before = arr.tobytes()
    bits.flip(arr, index, bit)
    after_one = arr.tobytes()
    assert after_one != before
    # exactly one bit of the whole buffer changed, the requested one
    diff = np.frombuffer(after_one, np.uint8) ^ np.frombuffer(before, np.uint8)
    assert int(np.bitwise_count(diff).sum()) == 1
    assert bits.read_word(arr, index) >> bit & 1 != int.from_bytes(
        before[index * arr.itemsize:(index + 1) * arr.itemsize], "little") >> bit & 1
    bits.flip(arr, index, bit)
    assert arr.tobytes() == before


@settings(max_examples=300, deadline=None)
@given(sites(), st.sampled_from(["seu", "mbu", "mcu", "stuck-at-0", "stuck-at-1", "random"]),
       st.integers(1, 4), st.integers(0, 2**64 - 1))
def test_undo_is_exact_for_every_kind_and_pattern(site, kind, span, word):
    arr, index, bit = site
    width = arr.itemsize * 8
    if kind in ("mbu", "stuck-at-0", "stuck-at-1"):
        bit = min(bit, width - span)
    if kind == "mcu":
        span = min(span, arr.size - index)
    fault = Fault("t", index, bit, kind, span, word & ((1 << width) - 1) if kind == "random"
                  else None)
    before = arr.tobytes()
    inj = Injector({"t": arr})
    applied = inj.apply(fault)
    applied2 = inj.apply(Fault("t", index, 0))  # a stacked fault on the same word
    inj.undo(applied2)
    inj.undo(applied)
    assert arr.tobytes() == before
    assert inj.active_permanent == []


@settings(max_examples=200, deadline=None)
@given(sites(), st.sampled_from([0, 1]), st.integers(1, 3))
def test_stuck_at_is_idempotent(site, value, span):
    arr, index, bit = site
    bit = min(bit, arr.itemsize * 8 - span)
    inj = Injector({"t": arr})
    fault = Fault("t", index, bit, f"stuck-at-{value}", span)
    inj.apply(fault)
    once = arr.tobytes()
    inj.apply(fault)
    assert arr.tobytes() == once
    assert inj.reassert() == 0
    word = bits.read_word(arr, index)
    mask = ((1 << span) - 1) << bit
    assert (word & mask) == (mask if value else 0)


@settings(max_examples=200, deadline=None)
@given(sites())
def test_flipped_value_matches_in_place_flip(site):
    arr, index, bit = site
    expected = arr.copy()
    bits.flip(expected, index, bit)
    got = bits.flipped_value(arr[index], bit)
    assert got.tobytes() == expected[index:index + 1].tobytes()


def test_nan_payload_survives_flip_and_undo():
    arr = np.array([0, 0], np.uint32).view(np.float32)
    bits.word_view(arr)[0] = 0x7FA12345  # a signalling NaN with a payload
    before = arr.tobytes()
    inj = Injector({"w": arr})
    a = inj.apply(Fault("w", 0, 22))  # quiet it
    assert bits.read_word(arr, 0) == 0x7FE12345
    inj.undo(a)
    assert arr.tobytes() == before


def test_fields():
    assert bits.bit_field(np.float32, 31) == "sign"
    assert bits.bit_field(np.float32, 23) == "exponent"
    assert bits.bit_field(np.float32, 22) == "mantissa"
    assert bits.field_bits(ml_dtypes.bfloat16, "exponent") == list(range(7, 15))
    assert bits.field_bits(np.float16, "exponent") == list(range(10, 15))
    assert bits.bit_field(np.int8, 7) == "sign" and bits.bit_field(np.uint8, 7) == "magnitude"


def test_word_view_requires_contiguous_memory():
    a = np.zeros((4, 4), np.float32)
    with pytest.raises(ValueError, match="C-contiguous"):
        bits.word_view(a[:, 1])
    with pytest.raises(bits.FaultSiteError, match="cannot inject"):
        bits.word_view(np.zeros(3, np.complex64))
