"""Node runtime inference rate against a bare onnxruntime loop.

Both run the same model, the same inputs and one intra-op thread, interleaved
round by round in one process so machine noise hits both alike. Two ratios:

* ``runtime_vs_bare``: the node's job loop (its thread, counters, live-weight
  session, pre-bound I/O) against the loop a user would write: a default
  ``InferenceSession`` on the model file (``ORT_ENABLE_ALL``) and ``session.run``.
  Target >= 0.95. At ``level="runtime"`` the node runs the same optimised graph
  with its weights live; at ``level="file"`` it pays for running unoptimised.
* ``runtime_vs_bare_same_graph``: against a bare ``session.run`` loop over exactly
  the graph the engine runs, optimisations off, weights not live: the cost of the
  runtime's loop and of liveness alone.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from node.engine import Engine
from node.jobs import JobLoop


def bare_session(model: Path | str | bytes, level: ort.GraphOptimizationLevel,
                 threads: int = 1) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = level
    src = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])


def bare_rate(sess: ort.InferenceSession, batches: list[np.ndarray], n: int) -> float:
    """Inferences per second of a plain ``session.run`` loop over ``batches``."""
    name = sess.get_inputs()[0].name
    nb = len(batches)
    t0 = time.perf_counter()
    for i in range(n):
        sess.run(None, {name: batches[i % nb]})
    return n * len(batches[0]) / (time.perf_counter() - t0)


def node_rate(loop: JobLoop, n: int, threads: int = 1) -> float:
    """Inferences per second of the running job loop over ``n`` inferences."""
    start = loop.counters().inferences
    t0 = time.perf_counter()
    loop.set_mode(threads, 1.0)
    while loop.counters().inferences - start < n:
        time.sleep(0.005)
    rate = (loop.counters().inferences - start) / (time.perf_counter() - t0)
    loop.set_mode(threads, 0.0)  # park between rounds so the bare loop has the core
    time.sleep(0.01)
    return rate


def runtime_vs_bare(engine: Engine, inputs: np.ndarray, labels: np.ndarray | None = None, *,
                    rounds: int = 7, seconds_per_round: float = 0.1) -> dict[str, float]:
    """Interleaved rounds of bare (same config), node, bare (ORT_ENABLE_ALL)."""
    loop = JobLoop(engine, inputs, labels, threads=1, duty=0.0)
    batches = [x for x, _ in loop._batches]
    full = bare_session(engine.model_path, ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
    same = bare_session(engine.model_with_weights().SerializeToString(),
                        ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    # Size a round by a quick probe so every round spans about the same wall time.
    probe = bare_rate(full, batches, 50)
    n = max(50, int(probe * seconds_per_round))
    loop.start()
    r_node, r_same, r_full = [], [], []
    try:
        for _ in range(rounds):
            r_same.append(bare_rate(same, batches, n))
            r_node.append(node_rate(loop, n))
            r_full.append(bare_rate(full, batches, n))
    finally:
        loop.stop()

    def ratio(a: list[float], b: list[float]) -> float:
        # Per-round ratios (neighbours in time share the machine's state), then the median.
        return statistics.median(x / y for x, y in zip(a, b, strict=True))

    return {
        "node_inferences_per_s": statistics.median(r_node),
        "bare_inferences_per_s": statistics.median(r_full),
        "bare_same_graph_inferences_per_s": statistics.median(r_same),
        "runtime_vs_bare": ratio(r_node, r_full),
        "runtime_vs_bare_same_graph": ratio(r_node, r_same),
        "rounds": rounds,
    }
