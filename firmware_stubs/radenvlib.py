"""Radiation environment hook: single-event-upset rate per bit as a function of position.

A two-region model calibrated on orbit-average figures (DESIGN.md table): the
orbit-average SRAM upset rate R (Alsat-1, 686 km SSO: 4e-7 upsets/bit/day), the share
of upsets that happen in the South Atlantic Anomaly (~85 %) and the share of orbit
time spent there (~10 %) give the rates inside and outside a latitude/longitude box::

    r_SAA     = R * share_SAA / time_SAA
    r_outside = R * (1 - share_SAA) / (1 - time_SAA)

so that time_SAA * r_SAA + (1 - time_SAA) * r_outside = R. A solar particle event
multiplies the whole rate by ``solar_event_multiplier`` (x10..x100, DESIGN.md).
The box (lat -50..0, lon -90..+40 deg) is the customary LEO SAA box at 500-700 km;
its real edge is soft and moves west ~0.3 deg/yr, which this heuristic ignores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SAABox:
    """The South Atlantic Anomaly as a latitude/longitude box (degrees, east positive)."""

    lat_min_deg: float = -50.0
    lat_max_deg: float = 0.0
    lon_min_deg: float = -90.0
    lon_max_deg: float = 40.0

    def contains(self, lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
        lat = np.asarray(lat_deg, dtype=float)
        lon = (np.asarray(lon_deg, dtype=float) + 180.0) % 360.0 - 180.0
        return (
            (lat >= self.lat_min_deg)
            & (lat <= self.lat_max_deg)
            & (lon >= self.lon_min_deg)
            & (lon <= self.lon_max_deg)
        )


@dataclass(frozen=True)
class RadiationEnvironment:
    """Upset rates of one named environment (``off``, ``leo``, ``saa-heavy``, ``solar-event``)."""

    name: str
    orbit_average_rate_per_bit_day: float = 4e-7
    saa_share: float = 0.85
    saa_time_fraction: float = 0.10
    solar_event: bool = False
    solar_event_multiplier: float = 30.0
    multi_bit_share: float = 0.012
    saa: SAABox = SAABox()

    def __post_init__(self) -> None:
        vals = (self.orbit_average_rate_per_bit_day, self.solar_event_multiplier)
        if not all(math.isfinite(v) and v >= 0 for v in vals):
            raise ValueError("rates and multipliers must be finite and >= 0")
        if not (0 <= self.saa_share <= 1 and 0 < self.saa_time_fraction < 1):
            raise ValueError("saa_share must be within 0..1 and saa_time_fraction within (0, 1)")
        if not 0 <= self.multi_bit_share <= 1:
            raise ValueError("multi_bit_share must be within 0..1")

    @property
    def rate_in_saa_per_bit_day(self) -> float:
        return self.orbit_average_rate_per_bit_day * self.saa_share / self.saa_time_fraction

    @property
    def rate_outside_per_bit_day(self) -> float:
        return (
            self.orbit_average_rate_per_bit_day
            * (1.0 - self.saa_share)
            / (1.0 - self.saa_time_fraction)
        )

    def in_saa(self, lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
        return self.saa.contains(lat_deg, lon_deg)

    def upset_rate_per_bit_day(
        self, lat_deg: np.ndarray, lon_deg: np.ndarray, solar_event: bool | None = None
    ) -> np.ndarray:
        """Upsets per bit per day at these positions (0 everywhere for ``off``)."""
        inside = self.in_saa(lat_deg, lon_deg)
        rate = np.where(inside, self.rate_in_saa_per_bit_day, self.rate_outside_per_bit_day)
        event = self.solar_event if solar_event is None else solar_event
        return rate * (self.solar_event_multiplier if event else 1.0)

    def with_solar_event(self, on: bool) -> RadiationEnvironment:
        """The same environment with the solar-event switch set."""
        return RadiationEnvironment(
            self.name,
            self.orbit_average_rate_per_bit_day,
            self.saa_share,
            self.saa_time_fraction,
            bool(on),
            self.solar_event_multiplier,
            self.multi_bit_share,
            self.saa,
        )
