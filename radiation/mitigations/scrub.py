"""Scrubbing of weight memory against a CRC-32 per block, repair from a golden copy.

The implementation lives in :mod:`radiation.upsets` (the node service uses it from
there); this module is its place among the mitigations.
"""

from radiation.upsets import Scrubber, ScrubReport

__all__ = ["ScrubReport", "Scrubber"]
