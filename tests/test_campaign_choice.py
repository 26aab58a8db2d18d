"""Per tensor, the faster of the node-by-node and graph-tail paths (issue 15 follow-up).

On the default model the node-by-node shortcuts were several times slower than the
bound graph tail. The campaign now times both on each tensor's first faults and keeps
the faster; both give the same verdicts, so only speed changes (the records are
compared in ``test_campaign_shortcuts.py``). Here two fake paths on a fake clock
check the choosing itself: nothing is timed.
"""

from __future__ import annotations

import pytest
from fakeclock import FakeClock

from radiation.campaign.choice import PathChoice


class _Path:
    """A path costing ``cost`` clock seconds a trial (``warm`` extra on its first call)."""

    def __init__(self, clock: FakeClock, cost: float, warm: float = 0.0,
                 gives_up: bool = False, later: tuple[int, float] | None = None) -> None:
        self.clock, self.cost, self.warm, self.gives_up = clock, cost, warm, gives_up
        self.later = later  # (after n trials, cost per trial from then on)
        self.sites: list = []
        self.fallback_tensors: set[str] = set()

    def verdicts(self, sites: list) -> list:
        if self.later and len(self.sites) >= self.later[0]:
            self.cost = self.later[1]
        self.clock.t += self.cost * len(sites) + self.warm
        self.warm = 0.0
        self.sites.extend(sites)
        if self.gives_up:
            self.fallback_tensors.update(t for t, _, _ in sites)
        return [("verdict", s) for s in sites]


def _sites(tensor: str, n: int) -> list:
    return [(tensor, i, i % 32) for i in range(n)]


@pytest.mark.parametrize("node_cost,tail_cost,want", [(3.0, 1.0, "tail"), (1.0, 3.0, "node")])
def test_the_faster_path_takes_the_rest_of_the_tensor(node_cost, tail_cost, want):
    clock = FakeClock()
    # The node path's first slice pays a large warm-up: it must not count.
    node, tail = _Path(clock, node_cost, warm=1000.0), _Path(clock, tail_cost)
    choice = PathChoice(None, clock)
    sites = _sites("w", 200)
    assert choice.verdicts(node, tail, sites) == [("verdict", s) for s in sites]
    got = choice.chosen["w"]
    assert got.path == want
    assert got.node_s == pytest.approx(node_cost) and got.tail_s == pytest.approx(tail_cost)
    sample = 2 * PathChoice.SAMPLE  # one untimed and one timed slice per path
    assert len(node.sites if want == "node" else tail.sites) == 200 - sample
    assert choice.tail_trials == len(tail.sites)
    assert choice.report()["w"]["path"] == want


def test_decisions_are_per_tensor_and_kept_across_chunks():
    clock = FakeClock()
    node, tail = _Path(clock, 1.0), _Path(clock, 2.0)
    choice = PathChoice(None, clock)
    for _ in range(8):  # chunks of 10: the sampling goes on across them
        choice.verdicts(node, tail, _sites("a", 10))
    assert choice.chosen["a"].path == "node"
    tail.cost = 0.5
    choice.verdicts(node, tail, _sites("b", 100))
    assert choice.chosen["b"].path == "tail" and choice.chosen["a"].path == "node"


def test_an_early_figure_is_revisited_and_the_choice_follows():
    # The node path's first slices pay its batch checks (3 s a trial), then 0.5 s; the
    # tail costs 1 s. The tail wins the first comparison; timing the node path again
    # now and then (at most 5 % of the time) finds the change.
    clock = FakeClock()
    node, tail = _Path(clock, 3.0, later=(48, 0.5)), _Path(clock, 1.0)
    choice = PathChoice(None, clock)
    assert choice.verdicts(node, tail, _sites("w", 100)) == [("verdict", s)
                                                             for s in _sites("w", 100)]
    assert choice.chosen["w"].path == "tail"
    for _ in range(40):
        choice.verdicts(node, tail, _sites("w", 100))
    assert choice.chosen["w"].path == "node"
    assert choice.chosen["w"].node_s < choice.chosen["w"].tail_s == pytest.approx(1.0)
    assert len(node.sites) > 1000 and len(tail.sites) < 3000


def test_a_tensor_the_fast_path_cannot_take_goes_to_the_tail_at_once():
    clock = FakeClock()
    node, tail = _Path(clock, 1.0, gives_up=True), _Path(clock, 5.0)
    choice = PathChoice(None, clock)
    choice.verdicts(node, tail, _sites("w", 100))
    assert choice.chosen["w"].path == "tail" and choice.chosen["w"].node_s is None
    assert len(node.sites) == PathChoice.SAMPLE and len(tail.sites) == 100 - PathChoice.SAMPLE


@pytest.mark.parametrize("mode,node_n,tail_n", [(True, 50, 0), (False, 0, 50)])
def test_forced_modes_measure_nothing(mode, node_n, tail_n):
    clock = FakeClock()
    node, tail = _Path(clock, 1.0), _Path(clock, 1.0)
    choice = PathChoice(mode, clock)
    choice.verdicts(node, tail, _sites("w", 50))
    assert (len(node.sites), len(tail.sites)) == (node_n, tail_n) and not choice.chosen
