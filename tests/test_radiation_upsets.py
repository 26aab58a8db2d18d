"""In-node radiation: Poisson upsets in live weights, scrubbing, environments."""

from __future__ import annotations

import numpy as np
import pytest

from node.engine import Engine
from node.models import DEFAULT_MODEL, DEFAULT_SAMPLE
from radiation import bits
from radiation.faults import Fault, Injector
from radiation.upsets import Scrubber, Upset, UpsetProcess


def _weights(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "a": rng.standard_normal((64, 33)).astype(np.float32),
        "b": rng.standard_normal(100).astype(np.float16),
        "c": rng.integers(-128, 128, 1000).astype(np.int8),
        "d": rng.integers(-1000, 1000, 17).astype(np.int32),
    }


def _diff_bits(before, after):
    return sum(bits.popcount(bits.word_view(before[n]) ^ bits.word_view(after[n])) for n in before)


def test_exposed_bits_and_expected_count():
    w = _weights()
    p = UpsetProcess(w)
    assert p.exposed_bits == 64 * 33 * 32 + 100 * 16 + 1000 * 8 + 17 * 32
    assert p.expected(86_400, 1e-6) == pytest.approx(p.exposed_bits * 1e-6)
    assert p.advance(3600, 0.0) == [] and p.advance(0.0, 1.0) == []


def test_poisson_mean_and_in_place_application():
    w = _weights()
    before = {n: a.copy() for n, a in w.items()}
    p = UpsetProcess(w, seed=3, mbu_fraction=0.0)
    rate = 20.0 / p.exposed_bits  # 20 upsets per day expected
    counts = [len(p.advance(86_400, rate)) for _ in range(200)]
    assert np.mean(counts) == pytest.approx(20.0, rel=0.1)
    assert np.var(counts) == pytest.approx(20.0, rel=0.35)  # Poisson: variance = mean
    # Every reported upset is in memory (undo them all and the buffers are golden).
    w2 = _weights()
    p2 = UpsetProcess(w2, seed=5)
    ups = p2.advance(86_400, 50.0 / p2.exposed_bits)
    assert ups and all(isinstance(u, Upset) for u in ups)
    assert _diff_bits(before, w2) <= sum(u.span for u in ups)
    for u in reversed(ups):
        words = bits.word_view(w2[u.tensor])
        words[u.index] = bits.flip_word(int(words[u.index]), u.bit, u.span)
    for n in before:
        assert before[n].tobytes() == w2[n].tobytes()


def test_hits_are_proportional_to_bits():
    w = _weights()
    p = UpsetProcess(w, seed=11, mbu_fraction=0.0)
    ups = p.advance(86_400, 20_000 / p.exposed_bits)
    share_a = sum(u.tensor == "a" for u in ups) / len(ups)
    assert share_a == pytest.approx(64 * 33 * 32 / p.exposed_bits, abs=0.02)
    bits_seen = {u.bit for u in ups if u.tensor == "a"}
    assert bits_seen == set(range(32))


def test_mbu_are_two_adjacent_bits_in_one_word():
    w = _weights()
    before = {n: a.copy() for n, a in w.items()}
    p = UpsetProcess(w, seed=2, mbu_fraction=1.0)
    ups = p.advance(86_400, 30 / p.exposed_bits)
    assert ups and all(u.kind == "mbu" and u.span == 2 for u in ups)
    for u in ups:
        assert 0 <= u.bit and u.bit + 1 < w[u.tensor].itemsize * 8
    assert p.count_mbu == len(ups)
    assert _diff_bits(before, w) <= 2 * len(ups)


def test_scrub_detects_and_repairs_exactly():
    w = _weights()
    golden = {n: a.copy() for n, a in w.items()}
    s = Scrubber(w, block_bytes=512)
    assert s.blocks == sum(-(-a.nbytes // 512) for a in w.values())  # no block spans tensors
    clean = s.scrub()
    assert (clean.errors_detected, clean.words_repaired, clean.bits_repaired) == (0, 0, 0)
    inj = Injector(w)
    inj.apply(Fault("a", 0, 31))
    inj.apply(Fault("a", 1, 3, "mbu", 3))          # same block, 3 bits in one word
    inj.apply(Fault("c", 999, 7))
    inj.apply(Fault("d", 4, 0, "mcu", 2))          # two neighbouring words
    w["b"].view(np.uint16)[50] = 0x7E01             # a NaN with a payload
    rep = s.scrub()
    assert rep.blocks_checked == s.blocks
    assert rep.errors_detected == 4                 # blocks: a[0..], c[end], d, b
    assert rep.words_repaired == 6
    assert rep.bits_repaired == 1 + 3 + 1 + 2 + bits.popcount(
        np.array([0x7E01 ^ int(golden["b"].view(np.uint16)[50])], np.uint16))
    for n in w:
        assert w[n].tobytes() == golden[n].tobytes()
    assert s.totals["words_repaired"] == 6 and s.totals["scrubs"] == 2


def test_stuck_bits_come_back_and_are_counted_persistent():
    w = _weights()
    s = Scrubber(w)
    inj = Injector(w)
    inj.apply(Fault("a", 10, 30, "stuck-at-1"))
    inj.apply(Fault("a", 11, 30, "stuck-at-0"))
    first = s.scrub()
    assert inj.reassert() >= 1
    second = s.scrub()
    assert second.words_repaired == first.words_repaired
    assert second.persistent_words == second.words_repaired >= 1


def test_scrub_schedule():
    s = Scrubber(_weights(), period_s=600)
    assert s.maybe_scrub(0.0) is None
    assert s.maybe_scrub(599.0) is None
    assert s.maybe_scrub(600.0) is not None
    assert s.maybe_scrub(700.0) is None


def test_in_node_cycle_on_the_engine():
    # What the node does: upsets in the live weights change inferences; a scrub restores them.
    e = Engine(DEFAULT_MODEL)
    x = np.load(DEFAULT_SAMPLE)["x"][:8]
    y0 = e.run(x)[0]
    scrub = Scrubber(e.live_weights, block_bytes=1024)
    proc = UpsetProcess(e.live_weights, seed=7)
    ups = proc.advance(86_400, 200 / proc.exposed_bits)
    assert len(ups) > 100
    assert not np.array_equal(e.run(x)[0], y0)
    rep = scrub.scrub()
    assert rep.errors_detected > 0 and rep.words_repaired >= 1
    np.testing.assert_array_equal(e.run(x)[0], y0)
