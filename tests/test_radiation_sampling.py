"""Fault sites are drawn in proportion to bit count, or inside the stratum asked for."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from node.errors import OrbnodeError
from radiation.bits import FLOAT_LAYOUT
from radiation.sampling import population_bits, sample_faults


def _arrays():
    return {"big": np.zeros(3000, np.float32), "half": np.zeros(1000, np.float16),
            "q": np.zeros(2000, np.int8), "bf": np.zeros(10, ml_dtypes.bfloat16)}


def test_proportional_to_bits():
    arrays = _arrays()
    total = population_bits(arrays)
    assert total == 3000 * 32 + 1000 * 16 + 2000 * 8 + 10 * 16
    faults = sample_faults(arrays, 40_000, np.random.default_rng(0))
    for name, arr in arrays.items():
        share = sum(f.tensor == name for f in faults) / len(faults)
        assert share == pytest.approx(arr.nbytes * 8 / total, abs=0.01)
    bits_big = np.bincount([f.bit for f in faults if f.tensor == "big"], minlength=32)
    assert bits_big.min() > 0.7 * bits_big.mean()
    idx = [f.index for f in faults if f.tensor == "q"]
    assert min(idx) >= 0 and max(idx) < 2000 and np.std(idx) == pytest.approx(2000 / 12**0.5,
                                                                             rel=0.1)


def test_strata():
    arrays = _arrays()
    rng = np.random.default_rng(1)
    exp = sample_faults(arrays, 2000, rng, field="exponent")
    for f in exp:
        layout = FLOAT_LAYOUT[arrays[f.tensor].dtype.name]
        assert f.bit in layout[1]
    assert {f.tensor for f in exp} == {"big", "half", "bf"}  # int8 has no exponent
    only = sample_faults(arrays, 200, rng, tensors=["q"], bit=[0, 7])
    assert {f.tensor for f in only} == {"q"} and {f.bit for f in only} == {0, 7}
    mbu = sample_faults(arrays, 500, rng, kind="mbu", span=3, tensors=["half"])
    assert max(f.bit for f in mbu) == 13
    mcu = sample_faults(arrays, 500, rng, kind="mcu", span=4, tensors=["bf"])
    assert max(f.index for f in mcu) <= 6
    rand = sample_faults(arrays, 5, rng, kind="random", tensors=["q"])
    assert all(f.word is not None and 0 <= f.word < 256 for f in rand)


def test_bad_strata_are_errors():
    with pytest.raises(OrbnodeError, match="no tensor named"):
        sample_faults(_arrays(), 1, np.random.default_rng(), tensors=["nope"])
    with pytest.raises(OrbnodeError, match="no bits"):
        sample_faults(_arrays(), 1, np.random.default_rng(), tensors=["q"], field="exponent")
