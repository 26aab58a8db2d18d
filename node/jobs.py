"""The job loop: runs inference continuously at the duty cycle of the power mode.

Duty cycle d means the loop is busy a fraction d of wall time: after an inference
that took t seconds it rests t * (1/d - 1). Thread count and duty are changed
between inferences, never during one. Runs in its own thread; onnxruntime
releases the GIL while it computes, so link handling stays responsive.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

import numpy as np

from node.engine import Engine


@dataclass(frozen=True)
class JobCounters:
    inferences: int
    correct: int
    busy_s: float


class JobLoop:
    def __init__(self, engine: Engine, inputs: np.ndarray, labels: np.ndarray | None = None,
                 *, threads: int = 1, duty: float = 1.0) -> None:
        if inputs.shape[1:] != tuple(engine.input_shape[1:]):
            raise ValueError(f"inputs of shape {inputs.shape[1:]} do not fit {engine.input_shape}")
        self.engine = engine
        self.inputs = inputs
        self.labels = labels
        self._batch = engine.input_shape[0]
        self._lock = threading.Lock()
        self._threads = threads
        self._duty = duty
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.inferences = 0
        self.correct = 0
        self.busy_s = 0.0
        self.error: BaseException | None = None

    def set_mode(self, threads: int, duty: float) -> None:
        with self._lock:
            self._threads = threads
            self._duty = min(max(duty, 0.0), 1.0)
        self._wake.set()  # cut a long rest short so the new duty applies at once

    def counters(self) -> JobCounters:
        with self._lock:
            return JobCounters(self.inferences, self.correct, self.busy_s)

    def step(self, i: int) -> float:
        """Run one inference on sample ``i``; returns its duration in seconds."""
        n = len(self.inputs)
        idx = [(i + k) % n for k in range(self._batch)]
        x = self.inputs[idx]
        t0 = time.perf_counter()
        out = self.engine.run(x)[0]
        dt = time.perf_counter() - t0
        hits = 0
        if self.labels is not None and out.ndim == 2:
            hits = int((out.argmax(axis=1) == self.labels[idx]).sum())
        with self._lock:
            self.inferences += len(idx)
            self.correct += hits
            self.busy_s += dt
        return dt

    def _run(self) -> None:
        i = 0
        try:
            while not self._stop.is_set():
                with self._lock:
                    threads, duty = self._threads, self._duty
                want = threads if threads > 0 else (os.cpu_count() or 1)
                if want != self.engine.threads:
                    self.engine.set_threads(want)
                if duty <= 0.0:
                    self._wake.wait(0.05)
                    self._wake.clear()
                    continue
                dt = self.step(i)
                i += self._batch
                if duty < 1.0:
                    self._wake.wait(dt * (1.0 / duty - 1.0))
                    self._wake.clear()
        except BaseException as exc:  # surfaced by the service as an event
            self.error = exc

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="orbnode-jobs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
