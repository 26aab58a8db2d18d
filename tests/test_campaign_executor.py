"""When the local executor starts worker processes (issue 12: scaling).

A process is started only when its share of the work left outlasts its start-up, and
the work left is judged from worker 0's steady chunks: its first chunk builds and
checks sessions, which a new process would pay again, and says nothing about the
rest. A fake runner on a fake clock stands in for the trials: nothing is timed.
"""

from __future__ import annotations

import pytest
from fakeclock import FakeClock

from radiation.campaign.executors.local import LocalExecutor, helpers


def test_a_helper_starts_only_when_its_share_outlasts_its_start_up():
    # h helpers: each works (left - startup) / (h + 1); at least startup.
    assert helpers(2.9, 1.0, 1) == 0
    assert helpers(3.0, 1.0, 1) == 1
    assert helpers(5.0, 1.0, 7) == 3
    assert helpers(100.0, 1.0, 7) == 7
    assert helpers(0.5, 0.0, 1) == 1


def test_helpers_go_only_to_cores_left_idle():
    # Another program keeps the second core busy: a helper would share it, and make
    # the campaign slower (measured); half a core idle still pays for long work.
    assert helpers(20.0, 1.0, 1, idle=0.0) == 0
    assert helpers(20.0, 1.0, 1, idle=1.0) == 1
    assert helpers(4.0, 1.0, 1, idle=0.5) == 0 and helpers(40.0, 1.0, 1, idle=0.5) == 1
    # Two idle cores: two helpers finish sooner than seven sharing them.
    assert helpers(20.0, 1.0, 7, idle=2.0) == 2


class _Runner:
    """Each chunk advances the clock: ``first_s`` for the first, ``per_fault_s`` after."""

    def __init__(self, clock: FakeClock, first_s: float, per_fault_s: float) -> None:
        self.clock, self.first_s, self.per_fault_s, self.chunks = clock, first_s, per_fault_s, 0

    def run_chunk(self, rows: list) -> list:
        self.clock.t += self.first_s if self.chunks == 0 else self.per_fault_s * len(rows)
        self.chunks += 1
        return rows


def _started(monkeypatch, *, first_s: float, per_fault_s: float, faults: int = 20_000,
             chunk: int = 256, workers: int = 2) -> tuple[list[int], int]:
    clock = FakeClock()
    ex = object.__new__(LocalExecutor)  # no engine, no processes: only the decision
    ex.spec, ex.workers, ex.engine, ex._procs, ex._runner_s, ex.started = (
        None, workers, None, [], 0.0, 0)
    ex.clock = clock
    ex.cpu_times = lambda: None  # idle cores unknown: as if every core were free
    ex._runner = _Runner(clock, first_s, per_fault_s)
    starts: list[int] = []

    def start(n: int) -> None:
        starts.append(n)
        ex._procs = ["started"]

    monkeypatch.setattr(ex, "_start", start)
    monkeypatch.setattr(ex, "_stream", lambda it: iter(()))
    chunks = [list(range(k, min(k + chunk, faults))) for k in range(0, faults, chunk)]
    ran = sum(1 for _ in ex.map(chunks, remaining=faults))
    return starts, ran


def test_a_slow_first_chunk_starts_no_process_for_fast_steady_work(monkeypatch):
    # 20,000 faults: a first chunk of 2 s (sessions), then 10 µs a fault (0.2 s in all).
    # Judged by the first chunk, the work left would look like 150 s.
    starts, ran = _started(monkeypatch, first_s=2.0, per_fault_s=1e-5)
    assert starts == [] and ran == 79  # worker 0 ran every chunk itself


@pytest.mark.parametrize("per_fault_s,want", [(1e-3, [1]), (2e-4, [])])
def test_steady_work_longer_than_three_start_ups_starts_one(monkeypatch, per_fault_s, want):
    # 1 ms a fault: 20 s left, worth a process; 0.2 ms: 4 s left against a start-up of
    # 1 s plus the first chunk's 2 s of session building: not worth it.
    starts, _ = _started(monkeypatch, first_s=2.0, per_fault_s=per_fault_s)
    assert starts == want


def test_more_workers_start_only_as_many_as_pay_off(monkeypatch):
    # 0.5 ms a fault, 40,000 faults: about 20 s left against a start-up of 1 s plus the
    # first chunk's 1.9 s excess: 4 processes get a share longer than that, 7 would not.
    starts, _ = _started(monkeypatch, first_s=2.0, per_fault_s=5e-4, faults=40_000, workers=8)
    assert starts == [4]
