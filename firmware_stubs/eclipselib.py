"""Beta angle, eclipse fraction and Earth shadow (cylindrical and conical).

Beta angle (angle between the Sun direction s and the orbit plane, h the orbit
normal)::

    beta = asin(s_hat . h_hat)

Analytic eclipse fraction of a circular orbit in a cylindrical shadow (Earth radius
R, altitude h; e.g. Wertz, *Space Mission Analysis and Design* 3rd ed. eq. 5-21)::

    beta* = asin(R / (R + h))                          no eclipse for |beta| >= beta*
    f = acos( sqrt(h^2 + 2 R h) / ((R + h) cos beta) ) / pi

Shadow models of Montenbruck & Gill, *Satellite Orbits* (2000) §3.4.2:

* cylindrical: in shadow when r . s_hat < 0 and |r - (r . s_hat) s_hat| < R;
  illumination 0 or 1;
* conical (umbra + penumbra): with the apparent radii of Sun and Earth seen from
  the satellite a = asin(R_sun/|r_sun - r|), b = asin(R/|r|), and their apparent
  separation c = acos(-r . (r_sun - r) / (|r| |r_sun - r|)), the occulted area is
  A = a^2 acos(x/a) + b^2 acos((c - x)/b) - c y, with x = (c^2 + a^2 - b^2)/(2c) and
  y = sqrt(a^2 - x^2), and the illumination factor nu = 1 - A/(pi a^2)
  (nu = 1 for c >= a + b, 0 for c <= b - a, 1 - b^2/a^2 for an annular eclipse).
"""

from __future__ import annotations

import math

import numpy as np

from firmware_stubs.constants import R_EARTH_KM, R_SUN_KM
from firmware_stubs.orbitlib import check_altitude_km, check_angle_deg

SHADOW_MODELS = ("conical", "cylindrical")


def beta_star_deg(altitude_km: float) -> float:
    """Beta angle above which a circular orbit has no eclipse: asin(R/(R+h))."""
    alt = check_altitude_km(altitude_km)
    return math.degrees(math.asin(R_EARTH_KM / (R_EARTH_KM + alt)))


def eclipse_fraction(altitude_km: float, beta_deg: float) -> float:
    """Fraction of a circular orbit in the cylindrical shadow (analytic, see module doc)."""
    alt = check_altitude_km(altitude_km)
    beta = check_angle_deg(beta_deg, "beta", -90.0, 90.0)
    if abs(beta) >= beta_star_deg(alt):
        return 0.0
    r = R_EARTH_KM + alt
    arg = math.sqrt(alt**2 + 2.0 * R_EARTH_KM * alt) / (r * math.cos(math.radians(beta)))
    return math.acos(min(arg, 1.0)) / math.pi


def beta_angle_deg(sun_eci: np.ndarray, normal_eci: np.ndarray) -> np.ndarray:
    """Beta angle in degrees from Sun vectors (any length) and orbit normals, (N, 3) each."""
    s = np.atleast_2d(sun_eci)
    s = s / np.linalg.norm(s, axis=-1, keepdims=True)
    h = np.atleast_2d(normal_eci)
    return np.rad2deg(np.arcsin(np.clip(np.sum(s * h, axis=-1), -1.0, 1.0)))


def illumination_cylindrical(r_sat_km: np.ndarray, r_sun_km: np.ndarray) -> np.ndarray:
    """0 in the cylindrical shadow of a spherical Earth, else 1 (M&G §3.4.1)."""
    r = np.atleast_2d(r_sat_km)
    s = np.atleast_2d(r_sun_km)
    s_hat = s / np.linalg.norm(s, axis=-1, keepdims=True)
    along = np.sum(r * s_hat, axis=-1)
    perp = np.linalg.norm(r - along[:, None] * s_hat, axis=-1)
    return np.where((along < 0.0) & (perp < R_EARTH_KM), 0.0, 1.0)


def illumination_conical(r_sat_km: np.ndarray, r_sun_km: np.ndarray) -> np.ndarray:
    """Illumination factor nu in [0, 1] with umbra and penumbra (M&G §3.4.2)."""
    r = np.atleast_2d(np.asarray(r_sat_km, dtype=float))
    d = np.atleast_2d(np.asarray(r_sun_km, dtype=float)) - r
    rn = np.linalg.norm(r, axis=-1)
    dn = np.linalg.norm(d, axis=-1)
    a = np.arcsin(np.clip(R_SUN_KM / dn, -1.0, 1.0))
    b = np.arcsin(np.clip(R_EARTH_KM / rn, -1.0, 1.0))
    c = np.arccos(np.clip(-np.sum(r * d, axis=-1) / (rn * dn), -1.0, 1.0))
    nu = np.ones_like(c)
    partial = (c < a + b) & (c > np.abs(a - b))
    if np.any(partial):
        ap, bp, cp = a[partial], b[partial], c[partial]
        x = (cp**2 + ap**2 - bp**2) / (2.0 * cp)
        y = np.sqrt(np.maximum(ap**2 - x**2, 0.0))
        area = (
            ap**2 * np.arccos(np.clip(x / ap, -1.0, 1.0))
            + bp**2 * np.arccos(np.clip((cp - x) / bp, -1.0, 1.0))
            - cp * y
        )
        nu[partial] = 1.0 - area / (np.pi * ap**2)
    umbra = (c <= b - a) & ~partial
    nu[umbra] = 0.0
    annular = (c <= a - b) & ~partial
    nu[annular] = 1.0 - b[annular] ** 2 / a[annular] ** 2
    return np.clip(nu, 0.0, 1.0)


def illumination(r_sat_km: np.ndarray, r_sun_km: np.ndarray, model: str = "conical") -> np.ndarray:
    """Illumination factor with the named shadow model (``conical`` or ``cylindrical``)."""
    if model == "conical":
        return illumination_conical(r_sat_km, r_sun_km)
    if model == "cylindrical":
        return illumination_cylindrical(r_sat_km, r_sun_km)
    raise ValueError(f"unknown shadow model {model!r}; choose one of {', '.join(SHADOW_MODELS)}")


def eclipse_intervals(
    t_s: np.ndarray, nu: np.ndarray, threshold: float = 0.5
) -> list[tuple[float, float]]:
    """(start, end) times where ``nu < threshold``, entries/exits interpolated linearly.

    An interval open at either end of the samples is clipped to the sample range.
    """
    t = np.asarray(t_s, dtype=float)
    dark = np.asarray(nu, dtype=float) < threshold
    if not dark.any():
        return []
    edges = np.flatnonzero(np.diff(dark.astype(np.int8)))
    out: list[tuple[float, float]] = []
    start = float(t[0]) if dark[0] else None

    def cross(i: int) -> float:
        n0, n1 = float(nu[i]), float(nu[i + 1])
        if n1 == n0:
            return float(t[i])
        return float(t[i] + (threshold - n0) / (n1 - n0) * (t[i + 1] - t[i]))

    for i in edges:
        if dark[i + 1]:
            start = cross(i)
        else:
            out.append((start if start is not None else float(t[0]), cross(i)))
            start = None
    if start is not None:
        out.append((start, float(t[-1])))
    return out
