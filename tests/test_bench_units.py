"""The bench's parts: spread and significance, the default model, latency recording."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import onnxruntime as ort
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench import suite
from bench.mobilenet import build_mobilenet_v1, ensure_model, parameters
from bench.report import (
    COLUMNS,
    FORMAT,
    KIND,
    RUNTIME_TARGET,
    comparison,
    comparison_markdown,
    load,
    target_verdicts,
)
from bench.stats import ALPHA, Spread, compare
from node.engine import Engine
from node.errors import OrbnodeError
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
    assert c.p_min == pytest.approx(2 / math.comb(len(old) + len(new), len(old)))
    if separated:
        assert c.p_value == c.p_min  # complete separation: the smallest p there is
        assert c.significant(0.05) == (c.p_min < 0.05)
        assert c.verdict().startswith(("higher", "lower") if c.p_min < 0.05
                                      else ("not significant",))
    else:
        assert c.verdict() == "within the spread" and math.isnan(c.p_value)
        assert not c.significant(0.99)


def test_three_against_three_is_p_one_tenth():
    c = compare([10, 11, 12], [20, 21, 22])
    assert c.separated and c.p_value == pytest.approx(0.1) and c.ratio == pytest.approx(21 / 11)
    assert compare([10, 11, 12], [11.5, 12.5, 13]).verdict() == "within the spread"


def _bench_file(path, rates: list[float]) -> dict:
    """A synthetic bench.json: one point whose repetitions give ``rates`` inferences/s."""
    reps = [{key: 1.0 for key, *_ in COLUMNS} | {"inferences_per_s": r} for r in rates]
    path.write_text(json.dumps({"kind": KIND, "format": FORMAT, "runtime_vs_bare": [],
                                "points": [{"model": "m.onnx", "provider": "CPU",
                                            "mode": "FULL", "repetitions": reps}]}))
    return load(path)


def _rate_row(old: dict, new: dict, alpha: float = ALPHA) -> tuple[str, str]:
    table = comparison_markdown(comparison(old, new, alpha), "old.json", alpha)
    return table, next(ln for ln in table.splitlines() if "| inferences_per_s |" in ln)


def test_three_repetitions_cannot_be_significant_and_say_so(tmp_path):
    old = _bench_file(tmp_path / "old.json", [100, 101, 102])
    new = _bench_file(tmp_path / "new.json", [300, 301, 302])  # far apart, yet only 3 each
    table, row = _rate_row(old, new)
    assert "Smallest p the repetition counts allow: 0.1 at 3 against 3" in table
    assert "p < 0.05" in table
    assert "higher" not in row and "lower" not in row
    assert ("not significant at n = 3 against 3 (p cannot go below 0.1); "
            "use --repetitions 5 or more") in row
    assert comparison(old, new)[0]["significant"] is False
    # At a level 3 against 3 can reach, the same separation is a change.
    assert "higher (p = 0.1)" in _rate_row(old, new, 0.2)[1]


def test_five_repetitions_reach_significance(tmp_path):
    old = _bench_file(tmp_path / "old.json", [100, 101, 102, 103, 104])
    new = _bench_file(tmp_path / "new.json", [90, 91, 92, 93, 94])
    table, row = _rate_row(old, new)
    assert "0.00794 at 5 against 5" in table
    assert "lower (p = 0.00794)" in row and comparison(old, new)[0]["significant"] is True
    overlapping = _bench_file(tmp_path / "o.json", [95, 99, 101, 103, 105])
    assert "within the spread" in _rate_row(old, overlapping)[1]


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


def test_run_keeps_a_generated_model_only_once_the_bench_has_run(tmp_path, monkeypatch):
    """suite.run: the generated model goes from scratch space to out/models after the
    report is written; bad input (measure fails) leaves nothing behind."""
    def fake_measure(cfg, scratch, progress=None):
        if cfg.repetitions < 3:
            raise OrbnodeError("bad input")
        (scratch / "gen.onnx").write_bytes(b"model")
        return {"settings": {"generated_models": ["gen.onnx"]}}

    def fake_write(report, out):
        out.mkdir(parents=True, exist_ok=True)
        (out / "bench.json").write_text(json.dumps(report))
        return [out / "bench.json"]

    monkeypatch.setattr(suite, "measure", fake_measure)
    monkeypatch.setattr("bench.report.write", fake_write)
    with pytest.raises(OrbnodeError):
        suite.run(suite.BenchConfig(repetitions=2), tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
    out = tmp_path / "out"
    result, written = suite.run(suite.BenchConfig(), out)
    assert written == [out / "bench.json", out / "models" / "gen.onnx"]
    assert (out / "models" / "gen.onnx").read_bytes() == b"model"
    assert result["settings"]["generated_models"] == ["gen.onnx"]


def test_target_verdicts_say_met_or_not_met():
    def row(median: float) -> dict:
        return {"model": "m.onnx", "provider": "CPUExecutionProvider",
                "runtime_vs_bare": {"median": median, "min": median - 0.01, "max": median + 0.01}}

    met, missed = target_verdicts({"runtime_vs_bare": [row(RUNTIME_TARGET), row(0.5)]})
    assert met == (f"target: node runtime >= {RUNTIME_TARGET} of bare onnxruntime on m.onnx "
                   f"(CPUExecutionProvider): median {RUNTIME_TARGET:.3f} "
                   f"[{RUNTIME_TARGET - 0.01:.3f}–{RUNTIME_TARGET + 0.01:.3f}] met")
    assert missed.endswith("median 0.500 [0.490–0.510] NOT met")
    assert target_verdicts({"runtime_vs_bare": []}) == []
