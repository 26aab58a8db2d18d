"""Orbit and Sun models against published figures and second methods."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sgp4.propagation import gstime

from firmware_stubs.constants import MU_EARTH_KM3_S2, R_EARTH_KM
from firmware_stubs.orbitlib import (
    CircularOrbit,
    TLEOrbit,
    check_altitude_km,
    gmst_rad,
    julian_date,
    parse_tle,
    period_s,
    raan_rate_rad_s,
    sun_synchronous_inclination_deg,
)
from firmware_stubs.sunlib import sun_distance_au, sun_position_eci_km
from node.errors import OrbnodeError

# The ISS element set quoted on Wikipedia's "Two-line element set" page (valid checksums).
ISS_L1 = "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927"
ISS_L2 = "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537"


def test_period_550_km_is_95_65_min():
    assert period_s(550.0) / 60.0 == pytest.approx(95.65, abs=0.005)


def test_geostationary_period_is_one_sidereal_day():
    # independent figure: GEO altitude 35 786 km, sidereal day 86 164.1 s
    assert period_s(35786.0) == pytest.approx(86164.1, abs=5.0)


@settings(max_examples=40, deadline=None)
@given(
    alt=st.floats(160.0, 40000.0),
    inc=st.floats(0.0, 180.0),
    raan=st.floats(0.0, 360.0),
    t=st.floats(0.0, 1e6),
)
def test_circular_orbit_geometry(alt, inc, raan, t):
    o = CircularOrbit(alt, inc, raan, j2=False)
    r = o.position_eci_km(t)[0]
    v = o.velocity_eci_km_s(t)[0]
    a = R_EARTH_KM + alt
    assert np.linalg.norm(r) == pytest.approx(a, rel=1e-12)
    assert np.linalg.norm(v) == pytest.approx(math.sqrt(MU_EARTH_KM3_S2 / a), rel=1e-12)
    assert abs(np.dot(r, v)) < 1e-6 * a
    h = np.cross(r, v)
    assert np.allclose(h / np.linalg.norm(h), o.normal_eci(t)[0], atol=1e-9)
    assert math.degrees(math.acos(np.clip(h[2] / np.linalg.norm(h), -1, 1))) == pytest.approx(
        inc, abs=1e-6
    )


def test_velocity_is_derivative_of_position():
    o = CircularOrbit(550.0, 51.6, 40.0, j2=False)
    t, dt = 1234.0, 1e-3
    num = (o.position_eci_km(t + dt)[0] - o.position_eci_km(t - dt)[0]) / (2 * dt)
    assert np.allclose(num, o.velocity_eci_km_s(t)[0], rtol=1e-6)


def test_sun_synchronous_inclination_published():
    # SMAD / Vallado tables: 97.6 deg at 550 km, 98.6 deg at 800 km
    assert sun_synchronous_inclination_deg(550.0) == pytest.approx(97.59, abs=0.03)
    assert sun_synchronous_inclination_deg(800.0) == pytest.approx(98.60, abs=0.03)
    inc = sun_synchronous_inclination_deg(700.0)
    one_year = 365.2422 * 86400.0
    assert math.degrees(raan_rate_rad_s(700.0, inc) * one_year) == pytest.approx(360.0, rel=1e-9)


def test_gmst_matches_sgp4_gstime():
    jd = 2451545.0 + np.array([0.0, 1234.567, 9131.25, -3000.1])
    ours = gmst_rad(jd)
    ref = np.array([gstime(x) for x in jd])
    assert np.allclose(ours, ref, atol=1e-10)


def test_sun_at_2025_equinox_and_solstice():
    # published: March equinox 2025-03-20 09:01 UTC, June solstice 2025-06-21 02:42 UTC
    for when, dec_ref in (
        (datetime(2025, 3, 20, 9, 1, tzinfo=timezone.utc), 0.0),
        (datetime(2025, 6, 21, 2, 42, tzinfo=timezone.utc), 23.436),
    ):
        s = sun_position_eci_km(sum(julian_date(when)))[0]
        dec = math.degrees(math.asin(s[2] / np.linalg.norm(s)))
        assert dec == pytest.approx(dec_ref, abs=0.02)


def test_sun_distance_at_perihelion_and_aphelion():
    # published: perihelion 2025-01-04 13:28 UTC at 0.983 33 AU, aphelion 2025-07-03 at 1.016 64 AU
    peri = sun_distance_au(sum(julian_date(datetime(2025, 1, 4, 13, 28, tzinfo=timezone.utc))))
    aph = sun_distance_au(sum(julian_date(datetime(2025, 7, 3, 20, 0, tzinfo=timezone.utc))))
    assert float(peri) == pytest.approx(0.98333, abs=2e-4)
    assert float(aph) == pytest.approx(1.01664, abs=2e-4)


def test_sgp4_against_kepler_for_near_circular_tle():
    sat = TLEOrbit(ISS_L1, ISS_L2)
    t = np.arange(0.0, 2 * 86400.0, 30.0)
    r = sat.position_eci_km(t)
    radius = np.linalg.norm(r, axis=1)
    # a from the mean motion, Kepler's third law: 15.72125391 rev/day
    n = 15.72125391 * 2 * math.pi / 86400.0
    a_kepler = (MU_EARTH_KM3_S2 / n**2) ** (1 / 3)
    assert np.mean(radius) == pytest.approx(a_kepler, abs=15.0)  # J2 short-period terms ~10 km
    assert sat.period_s == pytest.approx(2 * math.pi / n, rel=2e-3)
    # a circular Kepler orbit with the TLE's plane: normals agree, RAAN drifts alike (J2)
    circ = CircularOrbit(
        np.mean(radius) - R_EARTH_KM, sat.inclination_deg, sat.raan_deg, epoch=sat.epoch
    )
    ang = np.degrees(np.arccos(np.clip(np.sum(sat.normal_eci(t) * circ.normal_eci(t), 1), -1, 1)))
    assert np.max(ang) < 0.1
    # and the radius stays near circular (e = 0.00067 -> +-4.6 km, plus J2 terms)
    assert np.ptp(radius) < 40.0


def test_tle_errors_are_one_line():
    bad_checksum = ISS_L1[:-1] + str((int(ISS_L1[-1]) + 1) % 10)
    for text in (
        "garbage",
        f"{bad_checksum}\n{ISS_L2}",
        f"{ISS_L1}\n{ISS_L2[:40]}",
        f"{ISS_L1}\n{ISS_L2.replace('25544', '25545', 1)}",
    ):
        with pytest.raises(OrbnodeError) as exc:
            parse_tle(text)
        assert "\n" not in str(exc.value) and "TLE" in str(exc.value)
    assert parse_tle(f"ISS (ZARYA)\n{ISS_L1}\n{ISS_L2}\n") == (ISS_L1, ISS_L2)


def test_decayed_tle_propagation_error():
    # the ISS elements with a huge drag term (B* = 0.116): sgp4 reports decay within a month
    draggy = "1 25544U 98067A   08264.51782528 -.00002182  00000-0  11606-1 0  2923"
    sat = TLEOrbit(draggy, ISS_L2)
    assert sat.position_eci_km(np.array([0.0, 86400.0])).shape == (2, 3)
    with pytest.raises(OrbnodeError) as exc:
        sat.position_eci_km(np.array([0.0, 60 * 86400.0]))
    assert "decayed" in str(exc.value)


@pytest.mark.parametrize("alt", [-10.0, -7000.0, 0.0, 50.0, float("nan"), 1e9, "abc"])
def test_nonsense_altitude(alt):
    with pytest.raises(OrbnodeError) as exc:
        check_altitude_km(alt)
    assert "\n" not in str(exc.value)
