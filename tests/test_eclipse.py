"""Beta angle, eclipse fraction and shadow models against published figures and second methods."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_stubs.constants import AU_KM, R_EARTH_KM, R_SUN_KM
from firmware_stubs.eclipselib import (
    beta_angle_deg,
    beta_star_deg,
    eclipse_fraction,
    eclipse_intervals,
    illumination,
    illumination_conical,
    illumination_cylindrical,
)
from firmware_stubs.envelope import Envelope
from firmware_stubs.orbitlib import (
    CircularOrbit,
    FixedBetaGeometry,
    julian_date,
    sun_synchronous_inclination_deg,
)
from firmware_stubs.sunlib import sun_position_eci_km, sun_right_ascension_deg
from node.errors import OrbnodeError


def _one_orbit(alt: float, beta: float, step: float = 0.5):
    orbit = CircularOrbit(alt, 51.6, 30.0, j2=False)
    s_hat = FixedBetaGeometry(orbit, beta).sun_unit_eci()
    t = np.arange(0.0, orbit.period_s, step)
    return orbit, t, orbit.position_eci_km(t), s_hat


def test_published_550_km_beta_0():
    # SMAD eq. 5-21: 35.6 min eclipse, f = 0.372, beta* = 67.0 deg
    f = eclipse_fraction(550.0, 0.0)
    assert f == pytest.approx(0.372, abs=5e-4)
    assert f * CircularOrbit(550.0).period_s / 60.0 == pytest.approx(35.6, abs=0.05)
    assert beta_star_deg(550.0) == pytest.approx(67.0, abs=0.05)


def test_no_eclipse_above_beta_star():
    b = beta_star_deg(550.0)
    assert eclipse_fraction(550.0, b + 0.01) == 0.0
    assert eclipse_fraction(550.0, -(b + 0.01)) == 0.0
    assert eclipse_fraction(550.0, 80.0) == 0.0
    assert eclipse_fraction(550.0, b - 0.5) > 0.0
    _, t, r, s = _one_orbit(550.0, 67.5, step=5.0)
    assert np.all(illumination_conical(r, s * AU_KM) > 0.5)


@pytest.mark.parametrize(
    "alt,beta", [(550.0, 0.0), (550.0, 40.0), (550.0, 65.0), (400.0, -30.0), (1200.0, 20.0)]
)
def test_analytic_fraction_matches_sampled_positions(alt, beta):
    """Second method: sample positions and test the cylinder directly."""
    orbit, t, r, s = _one_orbit(alt, beta)
    along = r @ s
    perp = np.linalg.norm(r - along[:, None] * s, axis=1)
    dark = (along < 0) & (perp < R_EARTH_KM)
    sampled = dark.mean()
    assert sampled == pytest.approx(
        eclipse_fraction(alt, beta), abs=2 * 0.5 / orbit.period_s + 1e-4
    )
    assert np.array_equal(illumination_cylindrical(r, s * AU_KM) == 0.0, dark)


@pytest.mark.parametrize("beta", [0.0, 30.0, 60.0])
def test_conical_and_cylindrical_agree_within_penumbra(beta):
    _, t, r, s = _one_orbit(550.0, beta, step=0.25)
    sun = s * AU_KM
    nu_con = illumination_conical(r, sun)
    nu_cyl = illumination_cylindrical(r, sun)
    cyl = sum(b - a for a, b in eclipse_intervals(t, nu_cyl))
    con = sum(b - a for a, b in eclipse_intervals(t, nu_con))
    umbra = sum(b - a for a, b in eclipse_intervals(t, nu_con, 1e-12))
    penumbra = sum(b - a for a, b in eclipse_intervals(t, nu_con, 1 - 1e-12)) - umbra
    assert 0.0 < penumbra < 120.0
    assert umbra < cyl + 0.5
    assert abs(con - cyl) < penumbra


def _overlap_fraction_monte_carlo(a: float, b: float, c: float, n: int = 400_000) -> float:
    """Share of the Sun disc (radius a, centre c) hidden by the Earth disc (radius b, at 0)."""
    rng = np.random.default_rng(1)
    rho = a * np.sqrt(rng.random(n))
    phi = 2 * np.pi * rng.random(n)
    x, y = c + rho * np.cos(phi), rho * np.sin(phi)
    return float(np.mean(x**2 + y**2 < b**2))


@pytest.mark.parametrize("frac", [0.1, 0.5, 0.9])
def test_penumbra_factor_against_monte_carlo(frac):
    """Place a satellite so the Sun and Earth discs partly overlap; compare with sampling."""
    r_mag = R_EARTH_KM + 550.0
    sun = np.array([AU_KM, 0.0, 0.0])
    a = math.asin(R_SUN_KM / AU_KM)  # ~ apparent radius (satellite offset is negligible)
    b = math.asin(R_EARTH_KM / r_mag)
    # separation between full shadow (b - a) and full light (b + a)
    c = (b - a) + (1 - frac) * 2 * a
    ang = math.pi - c  # satellite direction measured from the Sun direction
    r = r_mag * np.array([math.cos(ang), math.sin(ang), 0.0])
    nu = illumination_conical(r, sun)[0]
    d = np.linalg.norm(sun - r)
    a_true = math.asin(R_SUN_KM / d)
    c_true = math.acos(-(r @ (sun - r)) / (r_mag * d))
    hidden = _overlap_fraction_monte_carlo(a_true, b, c_true)
    assert nu == pytest.approx(1.0 - hidden, abs=5e-3)


@settings(max_examples=60, deadline=None)
@given(
    alt=st.floats(150.0, 50000.0),
    lon=st.floats(-math.pi, math.pi),
    lat=st.floats(-math.pi / 2, math.pi / 2),
    day=st.floats(0.0, 3650.0),
)
def test_illumination_in_unit_interval(alt, lon, lat, day):
    r = (R_EARTH_KM + alt) * np.array(
        [math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat)]
    )
    sun = sun_position_eci_km(2451545.0 + day)
    for model in ("conical", "cylindrical"):
        nu = illumination(r, sun, model)
        assert nu.shape == (1,) and 0.0 <= nu[0] <= 1.0
    assert illumination_conical(r, sun)[0] <= 1.0


def test_beta_follows_orbit_and_date():
    # equatorial orbit: beta = -declination of the Sun (orbit normal +z): 0 at the equinox
    eq = datetime(2025, 3, 20, 9, 1, tzinfo=timezone.utc)
    sol = datetime(2025, 6, 21, 2, 42, tzinfo=timezone.utc)
    for when, ref in ((eq, 0.0), (sol, 23.436)):
        o = CircularOrbit(550.0, 0.0, 0.0, epoch=when)
        b = beta_angle_deg(sun_position_eci_km(sum(julian_date(when))), o.normal_eci(0.0))[0]
        assert b == pytest.approx(ref, abs=0.03)
    env = Envelope.from_config(beta_deg=None, inclination_deg=0.0, epoch=sol, radiation="off")
    assert env.beta_deg == pytest.approx(23.436, abs=0.05)
    fixed = Envelope.from_config(beta_deg=42.0, radiation="off")
    assert fixed.beta_deg == pytest.approx(42.0, abs=1e-9)
    assert fixed.eclipse_fraction == pytest.approx(eclipse_fraction(550.0, 42.0))


def test_dawn_dusk_sso_near_zero_eclipse_and_short_season():
    """Sun-synchronous 6 pm LTAN at 700 km: eclipses only around the June solstice."""
    alt = 700.0
    epoch = datetime(2025, 1, 1, tzinfo=timezone.utc)
    ra_sun = sun_right_ascension_deg(sum(julian_date(epoch)))
    orbit = CircularOrbit(
        alt, sun_synchronous_inclination_deg(alt), (ra_sun + 90.0) % 360.0, epoch=epoch
    )
    days = np.arange(0.0, 365.0, 1.0)
    jd = sum(julian_date(epoch)) + days
    beta = beta_angle_deg(sun_position_eci_km(jd), orbit.normal_eci(days * 86400.0))
    f = np.array([eclipse_fraction(alt, x) for x in beta])
    season = days[f > 0]
    assert np.mean(f == 0) > 0.7  # no eclipse at all for most of the year
    assert 40 < season.size < 110  # published: ~3 months, around the June solstice
    assert 100 < season.min() and season.max() < 240
    assert np.max(f) * orbit.period_s / 60.0 < 22.0  # Sentinel-1 class: <= ~20 min
    assert np.min(np.abs(beta)) > 55.0


@pytest.mark.parametrize(
    "alt,beta", [(-1.0, 0.0), (30.0, 0.0), (550.0, 91.0), (550.0, -95.0), (550.0, float("nan"))]
)
def test_nonsense_input(alt, beta):
    with pytest.raises(OrbnodeError) as exc:
        eclipse_fraction(alt, beta)
    assert "\n" not in str(exc.value)
