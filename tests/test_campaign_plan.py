"""The campaign planner and statistics: determinism, ranges, proportionality, sizes."""

from __future__ import annotations

import math
from collections import Counter

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.errors import OrbnodeError
from radiation import bits
from radiation.campaign import stats
from radiation.campaign.plan import allocate, build_strata, make_plan, parse_bits
from radiation.outcome import Golden, max_abs_diff, top1

DTYPES = ["float32", "float16", "bfloat16", "int8", "uint8", "int32", "float64"]


def _dt(name: str) -> np.dtype:
    return np.dtype(ml_dtypes.bfloat16) if name == "bfloat16" else np.dtype(name)


arrays_st = st.dictionaries(
    st.text("abcdef", min_size=1, max_size=4),
    st.tuples(st.sampled_from(DTYPES), st.integers(1, 40)),
    min_size=1, max_size=4,
).map(lambda d: {k: np.zeros(n, _dt(t)) for k, (t, n) in d.items()})


@settings(max_examples=40, deadline=None)
@given(arrays=arrays_st, by=st.sampled_from(["none", "tensor", "bit", "field"]))
def test_locate_is_a_bijection_onto_the_sites(arrays, by):
    """Every offset maps to one distinct site: a uniform offset is a uniform bit."""
    strata = build_strata(arrays, by)
    seen = Counter()
    for s in strata:
        sites = s.locate(np.arange(s.population))
        assert len(set(sites)) == len(sites) == s.population
        seen.update(sites)
    # Strata partition the population: every bit of every tensor exactly once.
    assert sum(seen.values()) == sum(a.size * bits.word_bits(a.dtype) for a in arrays.values())
    assert max(seen.values()) == 1
    # Hence a tensor's share of the sites is its share of the bits.
    per_tensor = Counter(t for t, _, _ in seen)
    for name, arr in arrays.items():
        assert per_tensor[name] == arr.size * bits.word_bits(arr.dtype)


@settings(max_examples=40, deadline=None)
@given(arrays=arrays_st, seed=st.integers(0, 2**32 - 1), n=st.integers(1, 300),
       kind=st.sampled_from(["seu", "mbu", "mcu", "stuck-at-0", "random"]),
       span=st.integers(1, 3), samples=st.integers(1, 5))
def test_plan_is_deterministic_and_in_range(arrays, seed, n, kind, span, samples):
    try:
        strata = build_strata(arrays, "none", kind=kind, span=span)
    except OrbnodeError:
        return  # e.g. an mcu span longer than every tensor: nothing to plan
    alloc = allocate([s.population for s in strata], n, margin=0.01, confidence=0.99)
    plan = make_plan(strata, alloc, seed=seed, kind=kind, span=span, samples=samples)
    again = make_plan(strata, alloc, seed=seed, kind=kind, span=span, samples=samples)
    assert plan == again
    assert len(plan) == min(n, strata[0].population) == sum(alloc)
    assert [f.id for f in plan] == list(range(len(plan)))
    assert len({(f.tensor, f.index, f.bit) for f in plan}) == len(plan)  # no repeats
    for f in plan:
        arr = arrays[f.tensor]
        width = bits.word_bits(arr.dtype)
        sb = span if kind in ("mbu", "stuck-at-0") else 1
        sw = span if kind == "mcu" else 1
        bits.check_site(arr, f.index, f.bit, span_words=sw, span_bits=sb)
        assert 0 <= f.input_id < samples
        if kind == "random":
            assert f.bit == 0 and 0 <= f.word < 1 << width
        else:
            assert f.word is None


def test_sampling_is_proportional_to_bit_count():
    arrays = {"big": np.zeros(3000, np.float32), "half": np.zeros(1000, np.float16),
              "q": np.zeros(2000, np.int8)}
    strata = build_strata(arrays)
    plan = make_plan(strata, [20_000], seed=3)
    total = 3000 * 32 + 1000 * 16 + 2000 * 8
    got = Counter(f.tensor for f in plan)
    for name, arr in arrays.items():
        share = arr.size * bits.word_bits(arr.dtype) / total
        sd = math.sqrt(share * (1 - share) / 20_000)
        assert abs(got[name] / 20_000 - share) < 5 * sd
    per_bit = np.bincount([f.bit for f in plan if f.tensor == "big"], minlength=32)
    assert per_bit.min() > 0.7 * per_bit.mean()


def test_other_seed_other_plan_and_order_groups_inputs_and_tensors():
    arrays = {"a": np.zeros(500, np.float32), "b": np.zeros(500, np.float32)}
    strata = build_strata(arrays)
    p1 = make_plan(strata, [400], seed=1, samples=3)
    p2 = make_plan(strata, [400], seed=2, samples=3)
    assert p1 != p2
    keys = [(f.input_id, f.tensor, f.index, f.bit) for f in p1]
    assert keys == sorted(keys)


def test_strata_and_allocation():
    arrays = {"w": np.zeros(100, np.float32), "q": np.zeros(10, np.int8)}
    by_field = {s.name: s.population for s in build_strata(arrays, "field")}
    assert by_field == {"sign": 110, "exponent": 800, "mantissa": 2300, "magnitude": 70}
    by_bit = build_strata(arrays, "bit")
    assert len(by_bit) == 32 and by_bit[0].population == 110 and by_bit[31].population == 100
    assert [s.name for s in build_strata(arrays, "tensor", tensors=["q"])] == ["q"]
    assert build_strata(arrays, bits=parse_bits("30"))[0].population == 100
    # Equal shares, capped by what a stratum holds; the rest goes elsewhere.
    assert allocate([5, 100, 100], 60, margin=0.01, confidence=0.99) == [5, 28, 27]
    assert allocate([5, 10], 100, margin=0.01, confidence=0.99) == [5, 10]
    # Without --faults: Leveugle's size of each stratum.
    assert allocate([10**9, 100], None, margin=0.01, confidence=0.99) == [16587, 100]
    with pytest.raises(OrbnodeError):
        build_strata(arrays, "bit", kind="random")
    with pytest.raises(OrbnodeError):
        build_strata(arrays, tensors=["nope"])
    with pytest.raises(OrbnodeError):
        parse_bits("3-1")


def test_leveugle_sample_size_and_intervals():
    # Leveugle et al. (DATE 2009): 16,641 per stratum for 99 % / 1 % (t = 2.58, N -> inf).
    assert stats.leveugle_sample_size(None, 0.01, 0.99, t=2.58) == 16641
    assert stats.leveugle_sample_size(None, 0.01, 0.99) == 16588  # exact t = 2.5758
    assert stats.leveugle_sample_size(None, 0.05, 0.95, t=1.96) == 385
    # A finite population needs fewer; a tiny one is done exhaustively.
    assert stats.leveugle_sample_size(315_968, 0.01, 0.99) == 15760
    assert stats.leveugle_sample_size(50, 0.01, 0.99) == 50
    n = stats.leveugle_sample_size(315_968, 0.01, 0.99)
    assert stats.achieved_margin(n, 315_968, 0.99) == pytest.approx(0.01, rel=1e-3)
    lo, hi = stats.wilson(45, 3000, 0.99)
    assert lo < 45 / 3000 < hi and (lo, hi) == pytest.approx((0.01027, 0.02186), abs=5e-5)
    assert stats.wilson(0, 100, 0.99)[0] == 0.0 and stats.wilson(0, 0, 0.99) is None
    rate, lo, hi = stats.stratified([(10, 100, 1000), (0, 100, 3000)], 0.99)
    assert rate == pytest.approx(0.025) and lo < rate < hi


@pytest.mark.parametrize("shape", [(1, 10), (3, 4), (10,)])
def test_compare_fast_path_matches_the_numpy_definitions(shape):
    rng = np.random.default_rng(0)
    golden = [rng.standard_normal(shape).astype(np.float32)]
    cmp_ = Golden(golden)
    assert cmp_.fast == (len(shape) >= 2)
    cases = [golden[0].copy()]
    for _ in range(300):
        out = golden[0].copy()
        flat = out.reshape(-1).view(np.uint32)
        flat[rng.integers(flat.size)] ^= np.uint32(1 << int(rng.integers(32)))
        cases.append(out)
    cases.append(np.full_like(golden[0], np.nan))
    inf = golden[0].copy()
    inf.reshape(-1)[3] = np.inf
    cases.append(inf)
    seen = Counter()
    for out in cases:
        outcome, diff, changed, digest = cmp_.verdict([out])
        seen[outcome] += 1
        assert outcome == Golden(golden).classify([out])
        if outcome == "masked":
            assert (diff, changed, digest) == (0.0, 0, None)
            continue
        ref = max_abs_diff(out, golden[0].astype(np.float64))
        assert diff == ref or (diff is None and ref is None)
        assert changed == int(top1(out) != top1(golden[0]))
    assert seen["masked"] and seen["tolerable"] and seen["due"]
    assert cmp_.verdict(None) == ("due", None, None, None)


def test_product_strata_cells_partition_the_population():
    rng = np.random.default_rng(0)
    arrays = {"a": rng.standard_normal(6).astype(np.float32),
              "b": rng.standard_normal(4).astype(np.float16)}
    whole = build_strata(arrays, "none")[0].population
    for by in ("tensor,field", "tensor,bit", "field,tensor"):
        strata = build_strata(arrays, by)
        assert sum(s.population for s in strata) == whole
        sites = [site for s in strata for site in s.locate(np.arange(s.population))]
        assert len(sites) == len(set(sites)) == whole  # every site in exactly one cell
    names = [s.name for s in build_strata(arrays, "tensor,field")]
    assert names == ["a × sign", "a × exponent", "a × mantissa",
                     "b × sign", "b × exponent", "b × mantissa"]
    cells = build_strata(arrays, "tensor,bit")
    assert len(cells) == 32 + 16 and cells[0].name == "a × bit 0"
    pops = [s.population for s in build_strata(arrays, "tensor,field")]
    assert pops == [6, 6 * 8, 6 * 23, 4, 4 * 5, 4 * 10]
    alloc = allocate(pops, None, margin=0.05, confidence=0.99)
    assert alloc == [stats.leveugle_sample_size(p, 0.05, 0.99) for p in pops]
