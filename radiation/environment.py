"""Radiation environments: the upset rate a node sees, by place and solar activity.

The rate is in upsets per bit per day (the unit SRAM upset data are published in).
The LEO baseline is the Alsat-1 SRAM figure, 4e-7 /bit/day, averaged over the orbit;
about 85 % of those upsets happen in the South Atlantic Anomaly during about 10 % of
the orbit time (DESIGN.md, "Physical defaults"). So inside the SAA the rate is
0.85/0.10 = 8.5 × the average and outside it 0.15/0.90 ≈ 0.167 ×. A solar particle
event multiplies the rate by 10…100 for hours to days (×30 here).

``saa-heavy`` is a harsher, still plausible case (an orbit whose ground track crosses
the SAA core, solar minimum): the SAA rate ×5. These are modelling heuristics, not a
substitute for a mission's CREME96/SPENVIS analysis. At these rates a 10 k-parameter
model sees about one upset a month: runs of a few orbits that want to *show* upsets
pass ``acceleration`` (reported with the results, never hidden).
"""

from __future__ import annotations

from dataclasses import dataclass

from node.errors import OrbnodeError

LEO_AVERAGE = 4e-7          # upsets/bit/day, Alsat-1 SRAM, 686 km SSO
SAA_SHARE_OF_UPSETS = 0.85
SAA_SHARE_OF_TIME = 0.10
SOLAR_EVENT_FACTOR = 30.0   # within the ×10…×100 of a solar particle event


@dataclass(frozen=True)
class Environment:
    """Upset rates outside and inside the SAA, and the multi-bit share."""

    name: str
    quiet_rate: float
    saa_rate: float
    mbu_fraction: float = 0.012
    description: str = ""

    def rate(self, *, in_saa: bool, acceleration: float = 1.0) -> float:
        """Upsets per bit per day at this place (times an explicit ``acceleration``)."""
        return (self.saa_rate if in_saa else self.quiet_rate) * acceleration

    def orbit_average(self, saa_time_fraction: float = SAA_SHARE_OF_TIME) -> float:
        return self.saa_rate * saa_time_fraction + self.quiet_rate * (1 - saa_time_fraction)


_QUIET = LEO_AVERAGE * (1 - SAA_SHARE_OF_UPSETS) / (1 - SAA_SHARE_OF_TIME)
_SAA = LEO_AVERAGE * SAA_SHARE_OF_UPSETS / SAA_SHARE_OF_TIME

ENVIRONMENTS: dict[str, Environment] = {
    "off": Environment("off", 0.0, 0.0, 0.0, "no radiation"),
    "leo": Environment("leo", _QUIET, _SAA, 0.012,
                       "LEO, quiet sun: 4e-7 /bit/day orbit average, 85 % in the SAA"),
    "saa-heavy": Environment("saa-heavy", _QUIET, _SAA * 5, 0.012,
                             "LEO with the ground track through the SAA core: SAA rate ×5"),
    "solar-event": Environment("solar-event", _QUIET * SOLAR_EVENT_FACTOR,
                               _SAA * SOLAR_EVENT_FACTOR, 0.03,
                               "solar particle event: every rate ×30, more heavy ions (MBU 3 %)"),
}


def environment(name: str) -> Environment:
    """The named environment, or a one-line error listing the choices."""
    try:
        return ENVIRONMENTS[name]
    except KeyError:
        raise OrbnodeError(
            f"unknown radiation environment {name!r}; choose one of {', '.join(ENVIRONMENTS)}"
        ) from None


# The SAA as an ellipse in geographic coordinates around its centre at LEO altitudes
# (drifting west ~0.3°/yr; 2020s position). Crude, but it puts passes where they are.
SAA_CENTER_LAT_DEG = -27.0
SAA_CENTER_LON_DEG = -50.0
SAA_HALF_LAT_DEG = 20.0
SAA_HALF_LON_DEG = 45.0


def in_saa(lat_deg: float, lon_deg: float) -> bool:
    """Whether a sub-satellite point lies in the South Atlantic Anomaly."""
    dlon = (lon_deg - SAA_CENTER_LON_DEG + 180.0) % 360.0 - 180.0
    dlat = lat_deg - SAA_CENTER_LAT_DEG
    return (dlat / SAA_HALF_LAT_DEG) ** 2 + (dlon / SAA_HALF_LON_DEG) ** 2 <= 1.0
