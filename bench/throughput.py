"""Throughput per watt, the MLPerf way: power from the same run and the same time
window as the throughput, and the power source named.

For each power mode the node's job loop runs at that mode's threads and duty
cycle; after a warm-up, one window of ``seconds`` is measured: inferences
counted by the loop, energy from the power source read at the window's start
and end. ``watts`` is that energy over the window's wall time.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from node.engine import Engine
from node.jobs import JobLoop
from node.power.base import PowerSource


def measure_mode(loop: JobLoop, board, mode: str, power: PowerSource, *,
                 seconds: float = 2.0, warmup_s: float = 0.3) -> dict[str, Any]:
    spec = board.modes[mode]
    loop.set_mode(spec.threads, spec.duty, spec.workers)
    time.sleep(warmup_s)
    power.read_power_w()  # opens the window: resets the source's interval
    c0, t0 = loop.counters(), time.perf_counter()
    time.sleep(seconds)
    watts = power.read_power_w()
    c1, t1 = loop.counters(), time.perf_counter()
    wall = t1 - t0
    rate = (c1.inferences - c0.inferences) / wall
    return {
        "mode": mode,
        "threads": loop.engine.threads,
        "workers": loop.workers,
        "duty": spec.duty,
        "seconds": wall,
        "busy_fraction": (c1.busy_s - c0.busy_s) / wall,
        "inferences": c1.inferences - c0.inferences,
        "inferences_per_s": rate,
        "watts": watts,
        "inferences_per_s_per_w": rate / watts if watts > 0 else None,
        "joules_per_inference": watts / rate if rate > 0 else None,
        "power_source": power.describe(),
        "power_measured": power.measured,
    }


def measure_model(engine: Engine, inputs: np.ndarray, labels: np.ndarray | None, board,
                  power: PowerSource, modes: list[str], *, seconds: float = 2.0,
                  progress=None) -> list[dict[str, Any]]:
    loop = JobLoop(engine, inputs, labels, threads=1, duty=0.0)
    loop.start()
    out = []
    try:
        for mode in modes:
            row = measure_mode(loop, board, mode, power, seconds=seconds)
            row["model"] = engine.model_path.name
            out.append(row)
            if progress is not None:
                progress.update(1)
    finally:
        loop.stop()
    if loop.error is not None:
        raise RuntimeError(f"job loop failed: {loop.error}")
    return out
