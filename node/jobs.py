"""The job loop: runs inference continuously at the duty cycle of the power mode.

A power mode sets three things: intra-op ``threads`` per inference, ``workers``
(parallel inference streams, each a Python thread sharing the one session, which
onnxruntime allows, with its own I/O buffers) and ``duty``: each worker is busy a
fraction d of wall time, resting t * (1/d - 1) after an inference of t seconds.
Modes change between inferences, never during one. onnxruntime releases the GIL
while it computes, so workers overlap and link handling stays responsive.

The hot loop is kept lean because small models take tens of microseconds per
inference: batches are cut once up front; each batch is pre-bound with an
``IOBinding`` whose outputs are preallocated numpy buffers, so an inference
allocates nothing and builds no feed dict (about 20 % less per-call overhead than
``session.run`` here); counters are plain attributes, one set per worker, written
by that worker only (reads are atomic under the GIL and at most one inference
stale); and the rest a duty cycle owes is paid in chunks, since a timed wait costs
about as long as a small model's whole inference.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

import numpy as np

from node.engine import Engine, ortvalue_for

MIN_REST_S = 0.002  # shortest rest the duty cycle takes at once


@dataclass(frozen=True)
class JobCounters:
    inferences: int
    correct: int
    busy_s: float


class _Worker:
    """One inference stream: its thread, its bound buffers, its counters."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.inferences = 0
        self.correct = 0
        self.busy_s = 0.0
        self.latencies: list[float] = []  # seconds per inference, while recording
        self.session = None
        self.bound: list = []
        self.thread: threading.Thread | None = None


class JobLoop:
    def __init__(self, engine: Engine, inputs: np.ndarray, labels: np.ndarray | None = None,
                 *, threads: int = 1, duty: float = 1.0, workers: int = 1) -> None:
        if tuple(inputs.shape[1:]) != tuple(engine.input_shape[1:]):
            raise ValueError(f"inputs of shape {inputs.shape[1:]} do not fit {engine.input_shape}")
        if len(inputs) == 0:
            raise ValueError("the job loop needs at least one input sample")
        self.engine = engine
        batch = engine.input_shape[0]
        n = len(inputs)
        self._batches: list[tuple[np.ndarray, np.ndarray | None]] = []
        for start in range(0, n, batch):
            idx = [(start + k) % n for k in range(batch)]
            y = None if labels is None else np.ascontiguousarray(labels[idx])
            self._batches.append((np.ascontiguousarray(inputs[idx]), y))
        self._batch = batch
        self.labelled = labels is not None  # correctness is counted only against labels
        self._workers: list[_Worker] = []
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._generation = 0
        self._started = False
        self._record = False
        self.error: BaseException | None = None
        self.set_mode(threads, duty, workers)

    @property
    def batch_inputs(self) -> list[np.ndarray]:
        """The input batches the loop cycles through (what a bare loop must feed too)."""
        return [x for x, _ in self._batches]

    # -- control (called from the service thread) --------------------------------
    @staticmethod
    def _all_cores(n: int) -> int:
        return n if n > 0 else (os.cpu_count() or 1)

    def set_mode(self, threads: int, duty: float, workers: int = 1) -> None:
        want = self._all_cores(threads)
        if want != self.engine.threads:
            self.engine.set_threads(want)
        with self._wake:
            self.duty = min(max(duty, 0.0), 1.0)
            self.active_workers = self._all_cores(workers)
            self._generation += 1
            self._wake.notify_all()  # cut rests short so the new mode applies at once
        if self._started:
            self._spawn()

    def record_latencies(self, on: bool) -> None:
        """Keep each inference's duration (for the bench's percentiles); off by default."""
        with self._wake:
            self._record = bool(on)
            self._generation += 1  # workers pick the switch up before their next inference
            self._wake.notify_all()

    def take_latencies(self) -> list[float]:
        """The durations recorded since the last call (seconds), and start afresh."""
        out: list[float] = []
        for w in list(self._workers):
            got, w.latencies = w.latencies, []
            out += got
        return out

    @property
    def workers(self) -> int:
        return self.active_workers

    def counters(self) -> JobCounters:
        ws = list(self._workers)
        return JobCounters(sum(w.inferences for w in ws), sum(w.correct for w in ws),
                           sum(w.busy_s for w in ws))

    def start(self) -> None:
        self._started = True
        self._spawn()

    def _spawn(self) -> None:
        while len(self._workers) < self.active_workers:
            w = _Worker(len(self._workers))
            w.thread = threading.Thread(target=self._run, args=(w,), daemon=True,
                                        name=f"orbnode-jobs-{w.index}")
            self._workers.append(w)
            w.thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        for w in self._workers:
            if w.thread is not None:
                w.thread.join(timeout=10)

    # -- the workers ----------------------------------------------------------------
    def _bind(self, w: _Worker) -> None:
        """One IOBinding per batch on the current session, outputs in our own buffers."""
        sess = self.engine.session
        bound = []
        for x, y in self._batches:
            outs = sess.run(self.engine.output_names, {self.engine.input_name: x})
            binding = sess.io_binding()
            binding.bind_cpu_input(self.engine.input_name, x)
            buffers = []
            for name, ref in zip(self.engine.output_names, outs, strict=True):
                buf = np.empty_like(ref)
                binding.bind_ortvalue_output(name, ortvalue_for(buf))
                buffers.append(buf)
            out = buffers[0]
            if y is not None and y.size == 1 and out.ndim == 2 and out.shape[0] == 1:
                y = int(y.reshape(-1)[0])  # batch of one: a scalar compare per inference
            bound.append((binding, out, y))
        w.bound, w.session = bound, sess

    def _rest(self, seconds: float, generation: int) -> None:
        with self._wake:
            if self._generation == generation and not self._stop.is_set():
                self._wake.wait(seconds)

    def _run(self, w: _Worker) -> None:
        try:
            self._work(w)
        except BaseException as exc:  # surfaced by the service as an event, never silent
            self.error = exc

    def _work(self, w: _Worker) -> None:
        nb = len(self._batches)
        size = self._batch
        clock = time.perf_counter
        i = (w.index * 7) % nb  # workers start at different samples
        generation = -1
        duty, active, rest_owed, run, record = 1.0, True, 0.0, None, False
        while not self._stop.is_set():
            if generation != self._generation:
                generation = self._generation
                duty = self.duty
                record = self._record
                active = w.index < self.active_workers and duty > 0.0
                rest_owed = 0.0
                if active and w.session is not self.engine.session:
                    self._bind(w)
                run = w.session.run_with_iobinding if active else None
            if not active:
                self._rest(0.5, generation)  # parked until the mode changes
                continue
            binding, out, y = w.bound[i]
            i = i + 1 if i + 1 < nb else 0
            t0 = clock()
            run(binding)
            dt = clock() - t0
            if y is not None:
                if y.__class__ is int:
                    if out.argmax() == y:
                        w.correct += 1
                else:
                    w.correct += int((out.argmax(axis=-1) == y).sum())
            w.inferences += size
            w.busy_s += dt
            if record:
                w.latencies.append(dt)
            if duty < 1.0:
                rest_owed += dt * (1.0 / duty - 1.0)
                if rest_owed >= MIN_REST_S:
                    r0 = clock()
                    self._rest(rest_owed, generation)
                    rest_owed = max(rest_owed - (clock() - r0), -MIN_REST_S)
