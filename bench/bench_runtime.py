"""Node runtime inference rate against a bare onnxruntime loop (issue 2).

Both run the same model, the same input and one intra-op thread, interleaved
round by round in one process so machine noise hits both alike. Two ratios:

* ``runtime_vs_bare_same_config``: the job loop (its thread, locks, counters,
  live-weight session) against a bare ``session.run`` loop with the same session
  options. This is the runtime's own overhead; target >= 0.95.
* ``runtime_vs_bare_enable_all``: against a bare session at ``ORT_ENABLE_ALL``,
  i.e. what keeping the weights live (no rewriting optimisations) costs.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import onnxruntime as ort

from node.engine import Engine
from node.jobs import JobLoop
from node.models import DEFAULT_MODEL, DEFAULT_SAMPLE

N_PER_ROUND = 5000
ROUNDS = 7


def _bare_session(level: ort.GraphOptimizationLevel) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.graph_optimization_level = level
    return ort.InferenceSession(str(DEFAULT_MODEL), so, providers=["CPUExecutionProvider"])


def _bare_rate(sess: ort.InferenceSession, xs: np.ndarray, n: int) -> float:
    name = sess.get_inputs()[0].name
    t0 = time.perf_counter()
    for i in range(n):
        sess.run(None, {name: xs[i % len(xs)][None]})
    return n / (time.perf_counter() - t0)


def _node_rate(loop: JobLoop, n: int) -> float:
    start = loop.counters().inferences
    t0 = time.perf_counter()
    loop.set_mode(1, 1.0)
    while loop.counters().inferences - start < n:
        time.sleep(0.005)
    rate = (loop.counters().inferences - start) / (time.perf_counter() - t0)
    loop.set_mode(1, 0.0)  # park between rounds so the bare loop has the core
    time.sleep(0.01)
    return rate


def measure(rounds: int = ROUNDS, n: int = N_PER_ROUND) -> dict[str, float]:
    data = np.load(DEFAULT_SAMPLE)
    xs, ys = data["x"], data["y"]
    engine = Engine(DEFAULT_MODEL, threads=1)
    loop = JobLoop(engine, xs, ys, threads=1, duty=0.0)
    loop.start()
    same = _bare_session(ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    full = _bare_session(ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
    r_node, r_same, r_full = [], [], []
    try:
        for _ in range(rounds):
            r_same.append(_bare_rate(same, xs, n))
            r_node.append(_node_rate(loop, n))
            r_full.append(_bare_rate(full, xs, n))
    finally:
        loop.stop()
    node, bare_same, bare_full = (statistics.median(r) for r in (r_node, r_same, r_full))
    # Ratios per round (neighbours in time share the machine's state), then the median.
    return {
        "node_inferences_per_s": node,
        "bare_same_config_inferences_per_s": bare_same,
        "bare_enable_all_inferences_per_s": bare_full,
        "runtime_vs_bare_same_config": statistics.median(
            a / b for a, b in zip(r_node, r_same, strict=True)),
        "runtime_vs_bare_enable_all": statistics.median(
            a / b for a, b in zip(r_node, r_full, strict=True)),
    }


def test_runtime_vs_bare(benchmark):
    result = benchmark.pedantic(measure, kwargs={"rounds": ROUNDS}, rounds=1, iterations=1)
    benchmark.extra_info.update(result)
    print("\n" + "\n".join(f"  {k:36s} {v:10.3f}" for k, v in result.items()))
    target = "meets" if result["runtime_vs_bare_same_config"] >= 0.95 else "MISSES"
    print(f"  runtime_vs_bare_same_config {target} the 0.95 target")
    assert result["node_inferences_per_s"] > 0 and result["bare_same_config_inferences_per_s"] > 0
