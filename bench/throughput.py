"""Throughput, latency and energy per power mode, following MLPerf Power where it applies.

MLPerf Inference Power rules (MLCommons, "Power measurement" in the inference rules):
power is sampled over the same interval as the performance run, the warm-up is not
part of the measured window, and the run is long enough to be stable (MLPerf asks
for 60 s; here ``duration_s``, 10 s by default, is the minimum per point, with at
least three repetitions whose spread is reported instead of one long run).

For each power mode the node's own job loop runs at that mode's intra-op threads,
workers and duty cycle (exactly what the service would run). After ``warmup_s`` (not
measured), each repetition is one window of ``duration_s``:

* inferences: counted by the loop; ``inferences_per_s`` = count / window wall time;
* latency: each inference's duration as the worker timed it (duty-cycle rests
  excluded), p50 and p99 over the window;
* power: the source is read at the window's start (which opens its interval) and
  every ``power_sample_s`` until its end; ``watts`` is the time-weighted mean of the
  interval readings, i.e. the energy over the window divided by its duration;
* derived per repetition: ``inferences_per_s_per_w`` = rate / watts and
  ``joules_per_inference`` = watts / rate.

The power source is named in every record, and ``power_measured`` says whether it
is a sensor (RAPL, hwmon) or the board profile's model.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from bench.stats import Spread
from node.engine import Engine
from node.errors import OrbnodeError, first_line
from node.jobs import JobLoop
from node.power.base import PowerSource

FIGURES = ("inferences_per_s", "latency_p50_ms", "latency_p99_ms", "watts",
           "inferences_per_s_per_w", "joules_per_inference")


@dataclass(frozen=True)
class Settings:
    """How each point is measured (recorded with the results)."""

    duration_s: float = 10.0  # minimum measured window per repetition
    repetitions: int = 3
    warmup_s: float = 2.0  # per mode, before its first repetition, not measured
    power_sample_s: float = 1.0


@dataclass(frozen=True)
class Repetition:
    """One measured window of one mode."""

    seconds: float
    inferences: int
    inferences_per_s: float
    latency_p50_ms: float
    latency_p99_ms: float
    watts: float
    power_samples: int
    busy_fraction: float

    @property
    def inferences_per_s_per_w(self) -> float:
        return self.inferences_per_s / self.watts if self.watts > 0 else float("nan")

    @property
    def joules_per_inference(self) -> float:
        return self.watts / self.inferences_per_s if self.inferences_per_s > 0 else float("nan")

    def to_dict(self) -> dict:
        return {**asdict(self), "inferences_per_s_per_w": self.inferences_per_s_per_w,
                "joules_per_inference": self.joules_per_inference}


@dataclass
class ModePoint:
    """All repetitions of one (model, provider, mode)."""

    model: str
    provider: str
    mode: str
    threads: int
    workers: int
    duty: float
    power_source: str
    power_measured: bool
    repetitions: list[Repetition] = field(default_factory=list)

    def values(self, figure: str) -> list[float]:
        return [getattr(r, figure) for r in self.repetitions]

    def spread(self, figure: str) -> Spread:
        return Spread.of(self.values(figure))

    def to_dict(self) -> dict:
        return {
            "model": self.model, "provider": self.provider, "mode": self.mode,
            "threads": self.threads, "workers": self.workers, "duty": self.duty,
            "power_source": self.power_source, "power_measured": self.power_measured,
            "repetitions": [r.to_dict() for r in self.repetitions],
            **{f: self.spread(f).to_dict() for f in FIGURES},
        }


def _window(loop: JobLoop, power: PowerSource, settings: Settings) -> Repetition:
    loop.take_latencies()  # drop what the warm-up or the previous window left
    power.read_power_w()  # opens the window: the source's interval starts now
    c0, t0 = loop.counters(), time.perf_counter()
    energy_j, last, samples = 0.0, t0, 0
    end = t0 + settings.duration_s
    while True:
        now = time.perf_counter()
        if now >= end:
            break
        time.sleep(min(settings.power_sample_s, end - now))
        watts = power.read_power_w()
        now = time.perf_counter()
        energy_j += watts * (now - last)
        last, samples = now, samples + 1
    c1, t1 = loop.counters(), time.perf_counter()
    lat_ms = np.asarray(loop.take_latencies()) * 1e3
    wall = t1 - t0
    n = c1.inferences - c0.inferences
    p50, p99 = (np.percentile(lat_ms, [50, 99]) if lat_ms.size else (float("nan"),) * 2)
    return Repetition(seconds=wall, inferences=n, inferences_per_s=n / wall,
                      latency_p50_ms=float(p50), latency_p99_ms=float(p99),
                      watts=energy_j / (last - t0), power_samples=samples,
                      busy_fraction=(c1.busy_s - c0.busy_s) / wall)


def measure_modes(engine: Engine, inputs: np.ndarray, labels: np.ndarray | None, board,
                  power: PowerSource, modes: list[str], settings: Settings, *,
                  provider: str = "CPUExecutionProvider", progress=None) -> list[ModePoint]:
    """Every mode of ``modes`` on one running job loop, warm-up first, then the windows."""
    loop = JobLoop(engine, inputs, labels, threads=1, duty=0.0)
    loop.start()
    points = []
    try:
        for mode in modes:
            spec = board.modes[mode]
            loop.set_mode(spec.threads, spec.duty, spec.workers)
            time.sleep(settings.warmup_s)
            loop.record_latencies(True)
            point = ModePoint(engine.model_path.name, provider, mode, engine.threads,
                              loop.workers, spec.duty, power.describe(), power.measured)
            for _ in range(settings.repetitions):
                point.repetitions.append(_window(loop, power, settings))
                if progress is not None:
                    progress(f"{point.model} {provider} {mode}: "
                             f"{point.repetitions[-1].inferences_per_s:,.0f} inf/s")
            loop.record_latencies(False)
            points.append(point)
            if loop.error is not None:
                break
    finally:
        loop.stop()
    if loop.error is not None:
        # The model cannot run on this input: the user's model, said in one line.
        raise OrbnodeError(f"{loop.engine.model_path.name} fails at inference: "
                           f"{first_line(loop.error)}")
    return points
