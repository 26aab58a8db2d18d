"""Workers on this machine: the campaign process itself, or a pool of processes.

``workers == 1`` runs the trials in the campaign process, on the engine it already
built (no start-up, the simplest thing to debug). ``workers > 1`` starts that many
*spawned* processes (not forked: onnxruntime's thread pools do not survive a fork),
each building its engine once in the pool initializer and then running chunks.

A worker ignores Ctrl-C (the campaign process handles it and stops the pool) and
exits by itself when the campaign process disappears, so a killed campaign leaves no
orphans computing results nobody will write.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from node.errors import OrbnodeError
from radiation.campaign.executors.base import Executor
from radiation.campaign.plan import PlannedFault
from radiation.campaign.runner import ChunkResult, TrialRunner, WorkSpec

_RUNNER: TrialRunner | None = None


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(0.25)
        if os.getppid() != parent:
            os._exit(1)


def _init_worker(spec: WorkSpec, parent: int) -> None:
    global _RUNNER
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    _RUNNER = TrialRunner(spec)


def _run_chunk(rows: list[PlannedFault]) -> ChunkResult:
    assert _RUNNER is not None
    return _RUNNER.run_chunk(rows)


class LocalExecutor(Executor):
    """In-process for one worker, a spawned process pool for more."""

    name = "local"
    AHEAD = 2  # chunks queued per worker beyond the one it runs

    def __init__(self, spec: WorkSpec, workers: int, *, engine=None) -> None:  # noqa: ANN001
        super().__init__(spec, workers, engine=engine)
        self._pool: ProcessPoolExecutor | None = None
        if workers > 1:
            self._pool = ProcessPoolExecutor(
                max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker, initargs=(spec, os.getpid()))
        else:
            self._runner = TrialRunner(spec, engine=engine)

    def map(self, chunks: Iterable[list[PlannedFault]]) -> Iterator[ChunkResult]:
        if self._pool is None:
            for rows in chunks:
                yield self._runner.run_chunk(rows)
            return
        it = iter(chunks)
        pending: set[Future] = set()
        limit = self.workers * (1 + self.AHEAD)
        try:
            while True:
                while len(pending) < limit:
                    rows = next(it, None)
                    if rows is None:
                        break
                    pending.add(self._pool.submit(_run_chunk, rows))
                if not pending:
                    return
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
        except BrokenProcessPool:
            raise OrbnodeError("a worker process died (out of memory or killed?); the "
                               "results so far are saved: continue with --resume") from None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
