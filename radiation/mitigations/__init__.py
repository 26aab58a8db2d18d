"""Mitigations, each with a cost that the benchmarks measure.

* :mod:`.scrub`   — periodic scrubbing against a CRC per block, repair from golden;
* :mod:`.secded`  — SECDED ECC (Hamming 72,64) emulated per 64-bit word;
* :mod:`.ranges`  — activation range restriction with bounds profiled on clean data;
* :mod:`.voting`  — duplicated / triplicated inference with voting.
"""

from radiation.mitigations.ranges import RangeRestriction, profile_bounds
from radiation.mitigations.scrub import Scrubber, ScrubReport
from radiation.mitigations.secded import EccReport, Secded
from radiation.mitigations.voting import Redundant, VoteResult, vote

__all__ = ["EccReport", "RangeRestriction", "Redundant", "ScrubReport", "Scrubber", "Secded",
           "VoteResult", "profile_bounds", "vote"]
