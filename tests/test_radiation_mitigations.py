"""Mitigations work, on real sessions: SECDED, range restriction, voting (scrub: upsets)."""

from __future__ import annotations

import numpy as np
import pytest

from node.engine import Engine
from node.models import DEFAULT_MODEL, DEFAULT_SAMPLE
from radiation import bits
from radiation.activations import ActivationInjector
from radiation.faults import Fault, Injector
from radiation.mitigations import (
    RangeRestriction,
    Redundant,
    Scrubber,
    Secded,
    profile_bounds,
    vote,
)
from radiation.mitigations.secded import encode
from radiation.sampling import sample_faults
from radiation.trials import Golden


@pytest.fixture(scope="module")
def xs():
    return np.load(DEFAULT_SAMPLE)["x"]


def test_secded_corrects_singles_detects_doubles_exactly():
    rng = np.random.default_rng(0)
    w = {"a": rng.standard_normal(1000).astype(np.float32),   # 4000 bytes: 500 words
         "b": rng.integers(-128, 128, 13).astype(np.int8)}     # 13 bytes: padded tail word
    golden = {n: a.copy() for n, a in w.items()}
    ecc = Secded(w)
    assert ecc.overhead == pytest.approx(0.125)
    assert ecc.check().corrected == 0
    inj = Injector(w)
    inj.apply(Fault("a", 0, 31))           # word 0: single
    inj.apply(Fault("a", 10, 3))           # word 5: two bits in one 64-bit word ...
    inj.apply(Fault("a", 11, 17))          # ... (elements 10 and 11 share it)
    inj.apply(Fault("a", 40, 0, "mbu", 2))  # word 20: adjacent double
    inj.apply(Fault("b", 12, 7))           # the padded tail word: single
    rep = ecc.check()
    assert (rep.corrected, rep.uncorrectable) == (2, 2)
    assert rep.words_checked == 500 + 2
    assert w["a"][0] == golden["a"][0] and w["b"].tobytes() == golden["b"].tobytes()
    assert w["a"][10] != golden["a"][10]   # a double error is detected, not repaired
    assert ecc.check(correct=False).uncorrectable == 2


def test_secded_decoder_exhaustive_single_and_double():
    word = 0x0123_4567_89AB_CDEF
    stored = int(encode(np.array([word], np.uint64))[0])
    for b in range(64):
        status, fixed = Secded.decode(word ^ (1 << b), stored)
        assert status == "corrected" and fixed == word
    for b1 in range(0, 64, 7):
        for b2 in range(b1 + 1, 64, 5):
            assert Secded.decode(word ^ (1 << b1) ^ (1 << b2), stored)[0] == "uncorrectable"


def test_scrub_undoes_accumulated_weight_faults_on_the_engine(xs):
    e = Engine(DEFAULT_MODEL)
    x = xs[:4]
    y0 = e.run(x)[0]
    scrub = Scrubber(e.live_weights, block_bytes=256)
    inj = Injector.from_engine(e)
    for f in sample_faults(e.live_weights, 50, np.random.default_rng(1), field="exponent"):
        inj.apply(f)
    assert not np.array_equal(e.run(x)[0], y0)
    rep = scrub.scrub()
    assert rep.words_repaired == rep.bits_repaired <= 50 and rep.errors_detected >= 1
    np.testing.assert_array_equal(e.run(x)[0], y0)


def test_range_restriction_is_transparent_clean_and_cuts_sdc(xs):
    e = Engine(DEFAULT_MODEL)
    bounds = profile_bounds(e, xs, margin=0.05)
    assert "relu1_out" in bounds and "logits" not in bounds
    lo, hi = bounds["relu1_out"]
    assert lo <= 0.0 < hi
    rr = RangeRestriction(e, bounds)
    for k in range(0, 64, 4):  # clean inputs inside the profile pass bit for bit
        x = xs[k:k + 1]
        assert rr.run(x)[0].tobytes() == e.run(x)[0].tobytes()
    # Exponent flips in activations: restriction turns most SDC/DUE into masked/tolerable.
    x = xs[60:61]
    acts = ActivationInjector(e)
    golden = acts.golden(x)
    g = Golden([golden["logits"]])
    targets = {t: golden[t] for t in bounds}
    faults = sample_faults(targets, 60, np.random.default_rng(3), bit=30)
    plain = restricted = 0
    sessions = {}
    for f in faults:
        plain += g.classify(acts.run_patched(x, f, golden)) in ("sdc", "due")
        if f.tensor not in sessions:
            sessions[f.tensor] = rr.patched_session(f.tensor, golden[f.tensor])
        idx, val = acts.faulty_words(f, golden[f.tensor])
        pos = np.stack(np.unravel_index(idx, golden[f.tensor].shape), -1).astype(np.int64)
        out = sessions[f.tensor].run(None, {"input": x, f.tensor + "__orbnode_idx": pos,
                                            f.tensor + "__orbnode_upd": val})
        restricted += g.classify(out) in ("sdc", "due")
    assert plain > 10 and restricted < plain / 3


def test_voting_masks_a_weight_fault_in_one_replica(xs):
    x = xs[:1]
    tmr = Redundant(DEFAULT_MODEL, copies=3)
    clean = tmr.run(x)
    assert clean.status == "agree"
    bits.flip(tmr.replicas[1].weights["fc2.bias"], 3, 30)
    res = tmr.run(x)
    assert res.status == "corrected" and res.dissenters == [1]
    assert res.outputs[0].tobytes() == clean.outputs[0].tobytes()
    dmr = Redundant(DEFAULT_MODEL, copies=2)
    bits.flip(dmr.replicas[0].weights["fc2.bias"], 3, 30)
    assert dmr.run(x).status == "detected" and dmr.totals["detected"] == 1
    a = [np.ones(3, np.float32)]
    b = [np.zeros(3, np.float32)]
    c = [np.full(3, 2, np.float32)]
    assert vote([a, b, c]).status == "detected"
