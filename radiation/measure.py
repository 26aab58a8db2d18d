"""Side-by-side timing for ratios on a shared, noisy machine.

A ratio of two rates measured minutes apart mostly measures the neighbours' load.
:func:`interleaved` runs the blocks alternately, several rounds, and keeps each
block's best round, so both sides of a ratio see the same machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def interleaved(blocks: dict[str, tuple[Callable[[], object], int]], *,
                rounds: int = 7) -> dict[str, float]:
    """Seconds per operation of each ``name: (block, ops_in_block)``, best of ``rounds``."""
    names = list(blocks)
    best = {k: float("inf") for k in names}
    for r in range(rounds):
        for k in names if r % 2 == 0 else names[::-1]:
            fn, ops = blocks[k]
            t0 = time.perf_counter()
            fn()
            best[k] = min(best[k], (time.perf_counter() - t0) / ops)
    return best
