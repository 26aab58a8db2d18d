"""Workers on this machine: the campaign process itself, plus streaming worker processes.

The campaign process is always worker 0: it runs chunks in-process, on the engine it
already built, from the first second. ``workers > 1`` adds up to ``workers - 1`` *spawned*
processes (not forked: onnxruntime's thread pools do not survive a fork), each
building its engine once and then streaming chunks from a shared task queue until it
is told to stop. A process costs about a second of start-up (importing numpy and
onnxruntime, loading the model) plus what worker 0 paid on its first chunk (sessions
built, exactness checked), CPU time the campaign process would otherwise spend on
trials; so they are started only when each would still get a share of the work left
at least as long as its start-up (:func:`helpers`), on the cores other programs
leave idle. Worker 0 judges the work left from its steady chunks, not its first one,
which carries that start-up (measured: a 20,000-fault campaign of the default model
takes well under a second in the campaign process, while its first chunk alone
suggested several seconds). While they start, worker 0 keeps working, and once the fault list
is exhausted it takes back chunks no process has picked up yet: start-up is
amortised, never waited for, and a short campaign simply runs in the campaign
process.

A worker ignores Ctrl-C (the campaign process handles it and stops the workers) and
exits by itself when the campaign process disappears, so a killed campaign leaves no
orphans computing results nobody will write.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import statistics
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


def helpers(left_s: float, startup_s: float, most: int, idle: float | None = None) -> int:
    """How many processes to start beside worker 0 for ``left_s`` seconds of its work.

    ``idle``: cores nobody used while worker 0 ran (None: unknown, as many as needed).
    ``h`` helpers each get ``f = min(1, idle / h)`` of a core, so each starts after
    ``startup_s / f`` and then works at ``f`` times worker 0's speed; all finish
    together after ``T = (left_s + h·startup_s) / (1 + h·f)``. A helper is worth
    starting only if the work it does, ``f·T − startup_s``, is at least its start-up
    (``left_s ≥ (h + 2)·startup_s`` on idle cores); of those counts, the one with the
    shortest ``T``.
    """
    best, best_t = 0, left_s
    for h in range(1, most + 1):
        f = 1.0 if idle is None else min(1.0, idle / h)
        t = (left_s + h * startup_s) / (1 + h * f)
        if f > 0 and f * t >= 2 * startup_s and t < best_t:
            best, best_t = h, t
    return best


def cpu_times() -> tuple[int, int] | None:
    """(idle, total) CPU time of the whole machine in ticks (Linux), or None."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    return (v[3] + v[4], sum(v)) if len(v) == 8 else None


def idle_cores(since: tuple[int, int] | None, now: tuple[int, int] | None) -> float | None:
    """Cores left idle between two :func:`cpu_times` readings (None: unknown)."""
    if since is None or now is None or now[1] <= since[1]:
        return None
    return (os.cpu_count() or 1) * (now[0] - since[0]) / (now[1] - since[1])


class LocalExecutor(Executor):
    """Worker 0 in-process; up to ``workers - 1`` streaming processes beside it."""

    name = "local"
    AHEAD = 2  # chunks queued per worker process beyond the one it runs
    # A spawned process's interpreter start and imports before it builds its runner:
    # measured 0.8-1.2 s on a 2-core machine.
    PROCESS_S = 1.0
    STEAL = True  # worker 0 takes back queued chunks at the end (tests turn it off)
    clock = staticmethod(time.perf_counter)
    cpu_times = staticmethod(cpu_times)

    def __init__(self, spec: WorkSpec, workers: int, *, engine=None) -> None:  # noqa: ANN001
        super().__init__(spec, workers, engine=engine)
        self._procs: list = []
        t0 = self.clock()
        self._runner = TrialRunner(spec, engine=engine)
        self._runner_s = self.clock() - t0  # a helper pays it again (and its engine)
        self.started = 0  # processes started (read by benchmarks and tests)

    def _start(self, n: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._tasks, self._results = ctx.Queue(), ctx.Queue()
        self.started = n
        for _ in range(n):
            p = ctx.Process(target=_worker_main, daemon=True,
                            args=(self.spec, os.getpid(), self._tasks, self._results))
            p.start()
            self._procs.append(p)  # only started ones: close() joins them

    def map(self, chunks: Iterable[list[PlannedFault]], *,
            remaining: int | None = None) -> Iterator[ChunkResult]:
        it = iter(chunks)
        if self.workers > 1 and remaining is None:
            self._start(self.workers - 1)
        # Worker 0 alone until the work left is known to give a process a share of it
        # longer than its start-up. The first chunk builds and checks sessions (what a
        # new process pays again); the later ones give the steady time per fault. The
        # cores left idle meanwhile say what a process would get on a shared machine
        # (measured: a second worker beside a busy neighbour made the campaign slower).
        faults, first_s, first_n = 0, None, 0
        per: list[float] = []
        cpu0 = self.cpu_times()
        while not self._procs:
            rows = next(it, None)
            if rows is None:
                return
            t0 = self.clock()
            res = self._runner.run_chunk(rows)
            dt = self.clock() - t0
            faults += len(rows)
            if first_s is None:
                first_s, first_n = dt, len(rows)
            else:
                per.append(dt / len(rows))
            yield res
            if self.workers > 1 and per:
                steady = statistics.median(per)
                startup = self.PROCESS_S + self._runner_s + max(0.0, first_s - first_n * steady)
                n = helpers((remaining - faults) * steady, startup, self.workers - 1,
                            idle_cores(cpu0, self.cpu_times()))
                if n:
                    self._start(n)
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
