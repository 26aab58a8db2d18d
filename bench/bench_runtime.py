"""pytest-benchmark: node runtime rate against bare onnxruntime (bench/runtime.py).

Inside ``make test`` (benchmarks disabled) this is a short smoke run and prints
nothing; the figure and its target are reported by ``make bench`` (``orbnode bench``).
"""

from __future__ import annotations

import numpy as np

from bench.runtime import runtime_vs_bare
from node.engine import Engine
from node.models import DEFAULT_MODEL, DEFAULT_SAMPLE


def test_runtime_vs_bare(benchmark):
    data = np.load(DEFAULT_SAMPLE)
    engine = Engine(DEFAULT_MODEL, threads=1, level="runtime")
    seconds = 0.2 if getattr(benchmark, "disabled", False) else 2.0
    result = benchmark.pedantic(runtime_vs_bare, args=(engine, data["x"], data["y"]),
                                kwargs={"repetitions": 3, "duration_s": seconds,
                                        "warmup_s": seconds / 2, "slice_s": seconds / 4},
                                rounds=1, iterations=1)
    benchmark.extra_info.update(result.to_dict())
    assert len(result.ratios) == 3
    assert min(result.node_inferences_per_s) > 0 and min(result.bare_inferences_per_s) > 0
