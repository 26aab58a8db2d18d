"""What the node needs from an in-flight upset process, as an interface.

The node applies upsets to its live weights and scrubs them, but it does not
know the fault models: those live in the ``radiation`` package, which the
command line hands to the node through these protocols. Anything that has the
same shape (a replayed upset list, a hardware fault injector) fits too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol


class UpsetEvent(Protocol):
    """One event applied to live memory (``span`` adjacent bits from ``bit``)."""

    tensor: str
    index: int
    bit: int
    kind: str


class UpsetSource(Protocol):
    """Draws and applies the upsets of an interval to the node's live weights."""

    mbu_fraction: float
    exposed_bits: int

    def advance(self, dt_s: float, rate_per_bit_day: float) -> Iterable[UpsetEvent]: ...


class ScrubResult(Protocol):
    errors_detected: int
    words_repaired: int


class WeightScrubber(Protocol):
    """Checks live weights against a golden copy and repairs them."""

    def scrub(self) -> ScrubResult: ...


@dataclass
class RadiationHooks:
    """Optional in-node radiation: an upset process and a scrubber over live weights."""

    process: UpsetSource | None = None
    scrubber: WeightScrubber | None = None
    scrub_period_s: float = 600.0   # environment seconds between scrubs
    upsets: int = 0
    scrub_repairs: int = 0
    scrub_detected: int = 0
    _since_scrub_s: float = field(default=0.0, repr=False)

    def scrub_due(self, dt_s: float) -> bool:
        """Count ``dt_s`` more environment seconds since the last scrub; whether one is due."""
        self._since_scrub_s += dt_s
        return self.scrubber is not None and self._since_scrub_s >= self.scrub_period_s

    def scrub(self) -> ScrubResult:
        """Scrub now (the period starts again) and add what was found to the counts."""
        if self.scrubber is None:
            raise ValueError("no scrubber")
        self._since_scrub_s = 0.0
        rep = self.scrubber.scrub()
        self.scrub_detected += rep.errors_detected
        self.scrub_repairs += rep.words_repaired
        return rep
