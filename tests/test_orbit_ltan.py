"""RAAN from the local time of the ascending node (orbitlib.raan_deg_from_ltan_h).

Checked against an independent computation of the local solar time at the node:
the satellite's longitude from GMST, local mean time = UTC + longitude / 15 deg/h,
and apparent time = mean time + the equation of time from the NOAA solar
calculator's series (Spencer 1971), which does not use the Sun's right ascension.
``orbit_report.orbit_config`` resolves the commands' ``--sso --ltan-h`` with it.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

import numpy as np
import pytest

from firmware_stubs.orbit_report import orbit_config
from firmware_stubs.orbitlib import (
    CircularOrbit,
    julian_date,
    raan_deg_from_ltan_h,
    subpoint_deg,
    sun_synchronous_inclination_deg,
)
from firmware_stubs.sunlib import sun_position_eci_km, sun_right_ascension_deg
from node.errors import OrbnodeError

EPOCHS = [datetime(2025, 3, 20, 12, tzinfo=timezone.utc),
          datetime(2025, 6, 21, 3, 30, tzinfo=timezone.utc),
          datetime(2025, 11, 3, 17, 45, tzinfo=timezone.utc),   # equation of time ~ +16 min
          datetime(2026, 2, 11, 23, 10, tzinfo=timezone.utc)]   # equation of time ~ -14 min


def equation_of_time_min(epoch: datetime) -> float:
    """Apparent minus mean solar time, minutes (NOAA General Solar Position Calculations)."""
    doy = epoch.timetuple().tm_yday
    hours = epoch.hour + epoch.minute / 60 + epoch.second / 3600
    g = 2 * math.pi / 365 * (doy - 1 + (hours - 12) / 24)
    return 229.18 * (0.000075 + 0.001868 * math.cos(g) - 0.032077 * math.sin(g)
                     - 0.014615 * math.cos(2 * g) - 0.040849 * math.sin(2 * g))


def local_time_at_node_h(raan_deg: float, epoch: datetime) -> float:
    """Apparent solar time (hours) under a satellite at the ascending node at ``epoch``."""
    orbit = CircularOrbit(550.0, sun_synchronous_inclination_deg(550.0), raan_deg, 0.0, epoch,
                          j2=False)
    jd = sum(julian_date(epoch))
    _, lon_deg = subpoint_deg(orbit.position_eci_km(0.0), np.array([jd]))
    utc_h = epoch.hour + epoch.minute / 60 + epoch.second / 3600
    return (utc_h + float(lon_deg[0]) / 15.0 + equation_of_time_min(epoch) / 60.0) % 24.0


def hours_apart(a: float, b: float) -> float:
    return abs((a - b + 12.0) % 24.0 - 12.0)


@pytest.mark.parametrize("epoch", EPOCHS)
@pytest.mark.parametrize("ltan_h", [0.0, 6.0, 10.5, 13.75, 18.0, 22.5])
def test_node_is_crossed_at_the_asked_local_time(epoch, ltan_h):
    raan = raan_deg_from_ltan_h(ltan_h, sun_right_ascension_deg(sum(julian_date(epoch))))
    assert 0.0 <= raan < 360.0
    # 2 minutes: the series' and the low-precision Sun's errors, far below 15 minutes
    # that would show a sign or equation-of-time mistake.
    assert hours_apart(local_time_at_node_h(raan, epoch), ltan_h) < 2.0 / 60.0


@pytest.mark.parametrize("epoch", EPOCHS)
def test_dawn_dusk_node_is_90_degrees_from_the_sun(epoch):
    ra_sun = sun_right_ascension_deg(sum(julian_date(epoch)))
    for ltan_h, offset in ((6.0, -90.0), (18.0, 90.0), (12.0, 0.0), (0.0, 180.0)):
        diff = (raan_deg_from_ltan_h(ltan_h, ra_sun) - (ra_sun + offset)) % 360.0
        assert min(diff, 360.0 - diff) == pytest.approx(0.0, abs=1e-9)


def test_dawn_dusk_orbit_faces_the_sun_and_noon_orbit_contains_it():
    """Geometry at the March equinox: beta near +-(180 - i) for 06:00, near 0 for 12:00."""
    epoch = EPOCHS[0]
    jd = sum(julian_date(epoch))
    sun = sun_position_eci_km(jd)[0]
    sun /= np.linalg.norm(sun)
    inc = sun_synchronous_inclination_deg(550.0)

    def beta_deg(ltan_h: float) -> float:
        raan = raan_deg_from_ltan_h(ltan_h, sun_right_ascension_deg(jd))
        normal = CircularOrbit(550.0, inc, raan, 0.0, epoch).normal_eci(0.0)[0]
        return math.degrees(math.asin(float(normal @ sun)))

    assert abs(beta_deg(6.0)) == pytest.approx(180.0 - inc, abs=1.0)
    assert abs(beta_deg(12.0)) < 1.0


def test_orbit_config_resolves_sso_and_ltan():
    """``--sso --ltan-h``: inclination from the altitude, RAAN from the Sun at the epoch;
    beta then follows from the orbit. No options: a fixed beta of 0 at 51.6 deg."""
    cfg = orbit_config(altitude_km=550.0, sso=True, ltan_h=18.0, epoch="2025-06-21T03:30Z")
    epoch = EPOCHS[1]
    assert cfg["epoch"] == epoch and cfg["beta_deg"] is None
    assert cfg["inclination_deg"] == sun_synchronous_inclination_deg(550.0)
    ra_sun = sun_right_ascension_deg(sum(julian_date(epoch)))
    assert cfg["raan_deg"] == raan_deg_from_ltan_h(18.0, ra_sun)
    assert orbit_config() == {"altitude_km": 550.0, "beta_deg": 0.0, "inclination_deg": 51.6,
                              "raan_deg": 0.0, "epoch": None}


@pytest.mark.parametrize("options, words", [
    ({"ltan_h": 6.0}, "--ltan-h needs --sso"),
    ({"sso": True, "ltan_h": 25.0}, "--ltan-h must be within 0..24 hours, got 25"),
    ({"sso": True, "inclination_deg": 97.0}, "--sso sets the inclination"),
    ({"beta_deg": 10.0, "sso": True}, "--beta-deg fixes the geometry"),
    ({"tle_file": "x.tle", "raan_deg": 5.0}, "--tle-file fixes the orbit"),
])
def test_orbit_config_refuses_contradictions(options, words):
    with pytest.raises(OrbnodeError, match=words):
        orbit_config(**options)
