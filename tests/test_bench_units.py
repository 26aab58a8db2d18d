"""The bench's parts: spread and significance, the default model, latency recording."""

from __future__ import annotations

import math
import time

import numpy as np
import onnxruntime as ort
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.mobilenet import build_mobilenet_v1, ensure_model, parameters
from bench.stats import Spread, compare
from node.engine import Engine
from node.jobs import JobLoop
from node.models import DEFAULT_MODEL, DEFAULT_SAMPLE

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@given(st.lists(finite, min_size=1, max_size=30))
def test_spread_is_ordered(values):
    s = Spread.of(values)
    assert s.n == len(values)
    assert s.min <= s.q1 <= s.median <= s.q3 <= s.max
    assert s.median == pytest.approx(float(np.median(values)))


@given(st.lists(finite, min_size=3, max_size=8), st.lists(finite, min_size=3, max_size=8))
def test_significance_needs_separation(old, new):
    c = compare(old, new)
    separated = max(old) < min(new) or max(new) < min(old)
    assert c.separated == separated
    if separated:
        assert c.p_value == pytest.approx(2 / math.comb(len(old) + len(new), len(old)))
        assert c.verdict in ("higher", "lower")
    else:
        assert c.verdict == "within the spread" and math.isnan(c.p_value)


def test_three_against_three_is_p_one_tenth():
    c = compare([10, 11, 12], [20, 21, 22])
    assert c.separated and c.p_value == pytest.approx(0.1) and c.ratio == pytest.approx(21 / 11)
    assert compare([10, 11, 12], [11.5, 12.5, 13]).verdict == "within the spread"


def test_default_model_is_mobilenet_v1_and_reproducible(tmp_path):
    model = build_mobilenet_v1()
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    depthwise = [n for n in convs if next(a.i for a in n.attribute if a.name == "group") > 1]
    assert len(convs) == 27 and len(depthwise) == 13  # 1 + 13 x (dw + pw), Table 1
    # MobileNet-0.5-128 has 1.3 M parameters (arXiv:1704.04861, Table 7); ours adds BN.
    assert 1.30e6 < parameters(model) < 1.40e6
    assert build_mobilenet_v1().SerializeToString() == model.SerializeToString()
    path = ensure_model(tmp_path)
    mtime = path.stat().st_mtime_ns
    assert ensure_model(tmp_path).stat().st_mtime_ns == mtime  # same bytes: not rewritten
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((1, 3, 128, 128)).astype(np.float32)
    (p,) = sess.run(None, {"input": x})
    assert p.shape == (1, 1000) and np.isfinite(p).all() and p.sum() == pytest.approx(1, 1e-4)


def test_job_loop_records_latencies_only_when_asked():
    data = np.load(DEFAULT_SAMPLE)
    loop = JobLoop(Engine(DEFAULT_MODEL, threads=1), data["x"], data["y"], duty=1.0)
    loop.start()
    try:
        time.sleep(0.2)
        assert loop.take_latencies() == []
        loop.record_latencies(True)
        time.sleep(0.3)
        got = loop.take_latencies()
        assert len(got) > 10 and all(0 < t < 5 for t in got)
        loop.record_latencies(False)
        time.sleep(0.05)
        loop.take_latencies()
        time.sleep(0.2)
        assert loop.take_latencies() == []
    finally:
        loop.stop()


def test_live_weights_start_on_a_cache_line(tmp_path):
    from node.engine import ALIGN_BYTES

    for level in ("file", "runtime"):
        engine = Engine(ensure_model(tmp_path), threads=1, level=level)
        assert engine.weights and all(a.ctypes.data % ALIGN_BYTES == 0 and a.flags.writeable
                                      and a.flags.c_contiguous for a in engine.weights.values())
        assert all(engine.live.values())  # still the memory the session reads
