"""Duplicated and triplicated inference with voting (DMR / TMR).

Each replica is a separate :class:`~node.engine.Engine` with its *own* live weight
memory, as separate memories on a board would be: an upset in one replica's weights
does not reach the others, and a transient activation fault hits one run. Outputs are
compared bit for bit: with three replicas two agreeing outputs out-vote the third
(``corrected``); with two, a mismatch is ``detected`` (re-run or drop the result).
The cost is ``copies`` × inference time and × weight memory, measured in the benchmarks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np


@dataclass
class VoteResult:
    """The voted outputs and what the vote saw."""

    outputs: list[np.ndarray] | None
    status: str            # "agree" | "corrected" | "detected"
    dissenters: list[int]  # replicas outvoted (corrected) or all (detected)


def _key(outputs: list[np.ndarray]) -> bytes:
    return b"".join(np.ascontiguousarray(o).tobytes() for o in outputs)


def vote(replica_outputs: list[list[np.ndarray]]) -> VoteResult:
    """Majority vote over whole outputs, bit for bit."""
    keys = [_key(o) for o in replica_outputs]
    if all(k == keys[0] for k in keys):
        return VoteResult(replica_outputs[0], "agree", [])
    for i, k in enumerate(keys):
        agree = [j for j, other in enumerate(keys) if other == k]
        if len(agree) * 2 > len(keys):
            return VoteResult(replica_outputs[i], "corrected",
                              [j for j in range(len(keys)) if j not in agree])
    return VoteResult(None, "detected", list(range(len(keys))))


class Redundant:
    """``copies`` engines of one model, each with its own weights; :meth:`run` votes."""

    def __init__(self, model_path: str | os.PathLike, *, copies: int = 3, **engine_kwargs) -> None:
        from node.engine import Engine

        if copies not in (2, 3):
            raise ValueError(f"copies must be 2 (DMR) or 3 (TMR), got {copies}")
        self.replicas = [Engine(model_path, **engine_kwargs) for _ in range(copies)]
        self.totals = {"runs": 0, "corrected": 0, "detected": 0}

    @property
    def weight_bytes(self) -> int:
        return sum(a.nbytes for e in self.replicas for a in e.weights.values())

    def run(self, x: np.ndarray) -> VoteResult:
        res = vote([e.run(x) for e in self.replicas])
        self.totals["runs"] += 1
        if res.status != "agree":
            self.totals[res.status] += 1
        return res
