"""Workers on a Ray cluster (optional: needs ``pip install ray``; not a dependency).

One Ray actor per worker holds a :class:`~radiation.campaign.runner.TrialRunner`
(engine built once) and runs chunks; two chunks are kept in flight per actor. The
campaign process stays the only writer of the database. ``ray.init()`` joins the
cluster named by ``RAY_ADDRESS`` or starts a local one. Every node must be able to
read the model (and the inputs travel with the work spec), so on a cluster give
``--model`` a path on a shared file system.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import ray

from radiation.campaign.executors.base import Executor
from radiation.campaign.plan import PlannedFault
from radiation.campaign.runner import ChunkResult, TrialRunner, WorkSpec


class _Worker:
    def __init__(self, spec: WorkSpec) -> None:
        self.runner = TrialRunner(spec)

    def run(self, rows: list[PlannedFault]) -> ChunkResult:
        return self.runner.run_chunk(rows)


class RayExecutor(Executor):
    """``workers`` Ray actors, one CPU each."""

    name = "ray"
    AHEAD = 2

    def __init__(self, spec: WorkSpec, workers: int, *, engine=None) -> None:  # noqa: ANN001
        super().__init__(spec, workers, engine=engine)
        if not ray.is_initialized():
            ray.init(ignore_reinit_error=True, include_dashboard=False, log_to_driver=False)
        actor = ray.remote(num_cpus=1)(_Worker)
        spec_ref = ray.put(spec)
        self._actors = [actor.remote(spec_ref) for _ in range(workers)]

    def map(self, chunks: Iterable[list[PlannedFault]], *,
            remaining: int | None = None) -> Iterator[ChunkResult]:
        it = iter(chunks)
        pending: dict = {}

        def submit(a) -> bool:  # noqa: ANN001
            rows = next(it, None)
            if rows is None:
                return False
            pending[a.run.remote(rows)] = a
            return True

        for a in self._actors:
            for _ in range(self.AHEAD):
                submit(a)
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            a = pending.pop(done[0])
            result = ray.get(done[0])
            submit(a)
            yield result

    def close(self) -> None:
        for a in getattr(self, "_actors", []):
            ray.kill(a)
        self._actors = []
