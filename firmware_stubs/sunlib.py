"""Analytic Sun position: the Astronomical Almanac low-precision formula.

Source: *The Astronomical Almanac* (US Naval Observatory / HM Nautical Almanac
Office), section C, "Low-precision formulas for the Sun's coordinates", quoted in
Vallado 4th ed. algorithm 29 and Montenbruck & Gill §3.3.2. Accuracy about 0.01
degree in direction between 1950 and 2050; nothing is downloaded (no ephemeris).

With n = JD - 2451545.0 (days from J2000.0)::

    L = 280.460 + 0.9856474 n                 mean longitude, deg
    g = 357.528 + 0.9856003 n                 mean anomaly, deg
    lambda = L + 1.915 sin g + 0.020 sin 2g   ecliptic longitude, deg
    epsilon = 23.439 - 0.0000004 n            obliquity of the ecliptic, deg
    R = 1.00014 - 0.01671 cos g - 0.00014 cos 2g   distance, AU

    r_sun = R [cos lambda, cos epsilon sin lambda, sin epsilon sin lambda]  (equatorial, of date)
"""

from __future__ import annotations

import numpy as np

from firmware_stubs.constants import AU_KM, JD_J2000


def sun_position_eci_km(jd: np.ndarray | float) -> np.ndarray:
    """(N, 3) geocentric Sun position in km (mean equator and equinox of date)."""
    n = np.atleast_1d(np.asarray(jd, dtype=float)) - JD_J2000
    mean_lon = np.deg2rad(280.460 + 0.9856474 * n)
    g = np.deg2rad(357.528 + 0.9856003 * n)
    lam = mean_lon + np.deg2rad(1.915 * np.sin(g) + 0.020 * np.sin(2.0 * g))
    eps = np.deg2rad(23.439 - 0.0000004 * n)
    dist_km = (1.00014 - 0.01671 * np.cos(g) - 0.00014 * np.cos(2.0 * g)) * AU_KM
    return dist_km[:, None] * np.stack(
        [np.cos(lam), np.cos(eps) * np.sin(lam), np.sin(eps) * np.sin(lam)], axis=-1
    )


def sun_distance_au(jd: np.ndarray | float) -> np.ndarray:
    """Earth-Sun distance in AU (same formula)."""
    g = np.deg2rad(357.528 + 0.9856003 * (np.asarray(jd, dtype=float) - JD_J2000))
    return 1.00014 - 0.01671 * np.cos(g) - 0.00014 * np.cos(2.0 * g)


def sun_right_ascension_deg(jd: float) -> float:
    """Right ascension of the Sun in degrees, 0..360 (for local time of the node)."""
    r = sun_position_eci_km(jd)[0]
    return float(np.rad2deg(np.arctan2(r[1], r[0])) % 360.0)
