"""pytest-benchmark: node runtime rate against bare onnxruntime (issue 2, target >= 0.95)."""

from __future__ import annotations

import numpy as np

from bench.runtime import runtime_vs_bare
from node.engine import Engine
from node.models import DEFAULT_MODEL, DEFAULT_SAMPLE


def test_runtime_vs_bare(benchmark):
    data = np.load(DEFAULT_SAMPLE)
    engine = Engine(DEFAULT_MODEL, threads=1, level="runtime")
    result = benchmark.pedantic(runtime_vs_bare, args=(engine, data["x"], data["y"]),
                                rounds=1, iterations=1)
    benchmark.extra_info.update(result)
    print("\n" + "\n".join(f"  {k:36s} {v:12.3f}" for k, v in result.items()))
    verdict = "meets" if result["runtime_vs_bare"] >= 0.95 else "MISSES"
    print(f"  runtime_vs_bare {verdict} the 0.95 target")
    assert result["node_inferences_per_s"] > 0 and result["bare_inferences_per_s"] > 0
