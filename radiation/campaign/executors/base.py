"""The executor interface: chunks of faults in, :class:`ChunkResult` out.

A small base class and backends chosen by name (like pyserial's URL handlers): the
campaign driver only ever calls :meth:`Executor.map` and :meth:`Executor.close`, so a
backend that runs workers on other machines needs nothing else from the driver.
Results come back in completion order; the driver writes them idempotently, so an
executor may also deliver a chunk twice (a retried task) without harm.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator

from radiation.campaign.plan import PlannedFault
from radiation.campaign.runner import ChunkResult, WorkSpec


class Executor(ABC):
    """Runs chunks of faults on ``workers`` workers built from ``spec``.

    ``engine``: the parent's already built engine, which an in-process backend may use
    instead of building another.
    """

    name = ""

    def __init__(self, spec: WorkSpec, workers: int, *, engine=None) -> None:  # noqa: ANN001
        self.spec = spec
        self.workers = workers
        self.engine = engine

    @abstractmethod
    def map(self, chunks: Iterable[list[PlannedFault]], *,
            remaining: int | None = None) -> Iterator[ChunkResult]:
        """Run every chunk; yield each result as it completes (any order).

        ``remaining``: how many faults the chunks hold, when known (a backend may use
        it to decide whether starting more workers pays off)."""

    def close(self) -> None:  # noqa: B027 - optional for backends with nothing to release
        """Stop the workers (called also after an error or an interrupt)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
