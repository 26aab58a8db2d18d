"""Workers on this machine: the campaign process itself, plus streaming worker processes.

The campaign process is always worker 0: it runs chunks in-process, on the engine it
already built, from the first second. ``workers > 1`` adds ``workers - 1`` *spawned*
processes (not forked: onnxruntime's thread pools do not survive a fork), each
building its engine once and then streaming chunks from a shared task queue until it
is told to stop. A process costs seconds of start-up on a busy machine (importing
numpy and onnxruntime, loading the model), CPU time the campaign process would
otherwise spend on trials; so they are started only once worker 0 has timed its
first chunk and the work left would take it longer than ``STARTUP_S``. While they
start, worker 0 keeps working, and once the fault list is exhausted it takes back
chunks no process has picked up yet: start-up is amortised, never waited for, and a
short campaign simply runs in the campaign process.

A worker ignores Ctrl-C (the campaign process handles it and stops the workers) and
exits by itself when the campaign process disappears, so a killed campaign leaves no
orphans computing results nobody will write.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import threading
import time
from collections.abc import Iterable, Iterator

from node.errors import OrbnodeError
from radiation.campaign.executors.base import Executor
from radiation.campaign.plan import PlannedFault
from radiation.campaign.runner import ChunkResult, TrialRunner, WorkSpec


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(0.25)
        if os.getppid() != parent:
            os._exit(1)


def _worker_main(spec: WorkSpec, parent: int, tasks, results) -> None:  # noqa: ANN001
    """A worker process: build the runner once, then run chunks until the sentinel."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    try:
        runner = TrialRunner(spec)
    except BaseException as exc:  # noqa: BLE001 - reported to the campaign process
        results.put(("error", None, exc))
        return
    while True:
        item = tasks.get()
        if item is None:
            return
        seq, rows = item
        try:
            results.put(("ok", seq, runner.run_chunk(rows)))
        except BaseException as exc:  # noqa: BLE001
            results.put(("error", seq, exc))
            return


class LocalExecutor(Executor):
    """Worker 0 in-process; ``workers - 1`` streaming processes beside it."""

    name = "local"
    AHEAD = 2  # chunks queued per worker process beyond the one it runs
    STARTUP_S = 3.0  # start processes only if worker 0 alone needs longer than this
    STEAL = True  # worker 0 takes back queued chunks at the end (tests turn it off)

    def __init__(self, spec: WorkSpec, workers: int, *, engine=None) -> None:  # noqa: ANN001
        super().__init__(spec, workers, engine=engine)
        self._procs: list = []
        self._runner = TrialRunner(spec, engine=engine)

    def _start(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._tasks, self._results = ctx.Queue(), ctx.Queue()
        for _ in range(self.workers - 1):
            p = ctx.Process(target=_worker_main, daemon=True,
                            args=(self.spec, os.getpid(), self._tasks, self._results))
            p.start()
            self._procs.append(p)  # only started ones: close() joins them

    def map(self, chunks: Iterable[list[PlannedFault]], *,
            remaining: int | None = None) -> Iterator[ChunkResult]:
        it = iter(chunks)
        if self.workers > 1 and remaining is None:
            self._start()
        # Worker 0 alone until the work left is known to outlast a process's start-up.
        faults, busy_s = 0, 0.0
        while not self._procs:
            rows = next(it, None)
            if rows is None:
                return
            t0 = time.perf_counter()
            yield self._runner.run_chunk(rows)
            busy_s += time.perf_counter() - t0
            faults += len(rows)
            if (self.workers > 1 and busy_s > 0
                    and (remaining - faults) * busy_s / faults > self.STARTUP_S):
                self._start()
        yield from self._stream(it)

    def _stream(self, it: Iterator[list[PlannedFault]]) -> Iterator[ChunkResult]:
        outstanding: set[int] = set()
        seq = 0
        exhausted = False
        limit = len(self._procs) * (1 + self.AHEAD)
        while True:
            while not exhausted and len(outstanding) < limit:
                rows = next(it, None)
                if rows is None:
                    exhausted = True
                    break
                self._tasks.put((seq, rows))
                outstanding.add(seq)
                seq += 1
            yield from self._collect(outstanding, block=False)
            rows = None if exhausted else next(it, None)
            if rows is None:
                exhausted = True
                rows = self._steal(outstanding) if self.STEAL else None
            if rows is not None:  # worker 0: a chunk in this process
                yield self._runner.run_chunk(rows)
                continue
            if not outstanding:
                return
            yield from self._collect(outstanding, block=True)

    def _steal(self, outstanding: set[int]) -> list[PlannedFault] | None:
        """A queued chunk no worker process has taken yet (None if there is none)."""
        try:
            seq, rows = self._tasks.get(timeout=0.01)
        except queue.Empty:
            return None
        outstanding.discard(seq)
        return rows

    def _collect(self, outstanding: set[int], *, block: bool) -> Iterator[ChunkResult]:
        """Results that have arrived (``block``: wait for at least one)."""
        while True:
            try:
                kind, seq, payload = (self._results.get(timeout=0.2) if block
                                      else self._results.get_nowait())
            except queue.Empty:
                if not block:
                    return
                # A worker process only ends on the sentinel, sent by close(): any end
                # before that is a crash (killed, out of memory).
                if any(p.exitcode is not None for p in self._procs):
                    raise OrbnodeError("a worker process died (out of memory or killed?); the "
                                       "results so far are saved: continue with --resume"
                                       ) from None
                continue
            if kind == "error":
                raise payload
            outstanding.discard(seq)
            yield payload
            if block:
                return

    def close(self) -> None:
        if not self._procs:
            return
        for _ in self._procs:
            self._tasks.put(None)
        deadline = time.monotonic() + 0.05  # idle workers exit on the sentinel at once
        for p in self._procs:
            p.join(timeout=max(0.0, deadline - time.monotonic()))
            if p.is_alive():  # still starting up: there is nothing left for it to do
                p.terminate()
                p.join()
        for q in (self._tasks, self._results):
            q.cancel_join_thread()
            q.close()
        self._procs = []
