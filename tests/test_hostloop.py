"""orbnode.hostloop.fly: why a run stopped, and whether the node is asked to shut down."""

from __future__ import annotations

import pytest

from firmware_stubs.sim import NodeLost
from node.errors import OrbnodeError
from orbnode.hostloop import SHUT_DOWN, fly


class FakeDB:
    def __init__(self) -> None:
        self.meta: dict = {}

    def set_meta(self, key, value) -> None:
        self.meta[key] = value


class FakeSim:
    def __init__(self, raises: BaseException | None = None, stop: bool = False) -> None:
        self.raises, self.stopping, self.shut_down = raises, stop, False

    def run(self) -> int:
        if self.raises is not None:
            raise self.raises
        return 0

    def shutdown(self) -> None:
        self.shut_down = True


@pytest.mark.parametrize(("sim", "detail", "why"), [
    (FakeSim(), None, "completed"),
    (FakeSim(stop=True), None, "terminated"),
    (FakeSim(KeyboardInterrupt()), None, "interrupted"),
    (FakeSim(NodeLost("silent 30 s")), None, "node lost: silent 30 s"),
    (FakeSim(NodeLost("silent 30 s")), "node process had exited with status 1",
     "node lost: silent 30 s (node process had exited with status 1)"),
    (FakeSim(OrbnodeError("power cycle failed")), None, "stopped: power cycle failed"),
])
def test_fly_says_why_and_shuts_down_only_a_node_that_is_there(sim, detail, why):
    db = FakeDB()
    assert fly(sim, db, lost_detail=lambda: detail) == why
    assert db.meta["wall_seconds_loop"] >= 0.0
    assert sim.shut_down == (why in SHUT_DOWN)
