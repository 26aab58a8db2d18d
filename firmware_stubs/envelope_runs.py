"""Long envelope runs in day-long chunks: a streaming summary and a decimated series.

Memory stays bounded (one day of steps at a time) whatever the span; the series keeps
about ``keep_points`` evenly spaced samples for plots.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from node.errors import OrbnodeError

PLOT_POINTS = 20000
SERIES_KEYS = (
    "t_s", "illumination", "solar_power_w", "node_power_drawn_w", "bus_power_w", "soc",
    "soc_floor", "temp_c", "structure_temp_c", "upset_rate_per_bit_day", "mode", "beta_deg",
)


def run_envelope(
    config: dict,
    hours: float,
    step_s: float,
    mode: str,
    node_power_w: float | None,
    keep_points: int = PLOT_POINTS,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict, dict[str, np.ndarray]]:
    """Run the envelope in day-long chunks; return (summary, decimated series for plots).

    ``progress(steps_done, steps_total)`` is called after each chunk of a run longer
    than two chunks (the command line draws it)."""
    from firmware_stubs.envelope import MAX_STEPS, Envelope, RunSummary

    env = Envelope.from_config(mode="ECO" if mode == "auto" else mode, **config)
    try:
        h, dt = float(hours), float(step_s)
    except (TypeError, ValueError):
        raise OrbnodeError("--hours and --step-s must be numbers") from None
    if not (math.isfinite(h) and h > 0):
        raise OrbnodeError(f"--hours must be > 0, got {hours!r}")
    if not (math.isfinite(dt) and dt > 0):
        raise OrbnodeError(f"--step-s must be > 0, got {step_s!r}")
    total = int(round(h * 3600.0 / dt))
    if total < 1:
        raise OrbnodeError(f"--hours {h:g} is shorter than one --step-s {dt:g} step")
    if total > 20 * MAX_STEPS:
        raise OrbnodeError(f"{total} steps is too many; use a larger --step-s")
    if node_power_w is not None and not (math.isfinite(node_power_w) and node_power_w >= 0):
        raise OrbnodeError(f"--node-power-w must be >= 0, got {node_power_w:g}")
    chunk = max(1, min(total, int(86400.0 / dt)))
    every = max(1, total // keep_points)
    acc = RunSummary(env, dt)
    keep: dict[str, list[np.ndarray]] = {}
    done = 0
    report = progress if total > 2 * chunk else None
    while done < total:
        n = min(chunk, total - done)
        out = env.simulate(n * dt / 3600.0, dt, node_power_w, mode)
        acc.update(out)
        offset = (-done) % every
        for key in SERIES_KEYS:
            keep.setdefault(key, []).append(out[key][offset::every])
        done += n
        if report is not None:
            report(done, total)
    series = {k: np.concatenate(v) for k, v in keep.items()}
    summary = acc.result()
    return summary, series
