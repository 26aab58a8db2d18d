"""Trapped protons from the NASA AP8 model (via the ``aep8`` package, which wraps IRBEM).

AP8 (Sawyer & Vette, NSSDC/WDC-A-R&S 76-06, 1976) gives the omnidirectional integral
flux F(>E, L, B/B0) of trapped protons for solar minimum (AP8MIN) and maximum
(AP8MAX) in cm^-2 s^-1, 0.1-400 MeV. The McIlwain L and B/B0 of a position come from
the geomagnetic field model each AP8 version was built with (IRBEM's recommended
pairing, a fixed field: so the South Atlantic Anomaly sits where it was in the 1960s,
some 6-8 degrees east of today's; the model's known limitation, left as it is).

Everything is computed locally by the compiled IRBEM code inside ``aep8``: nothing
is downloaded. ``aep8`` and ``astropy`` are imported on first use (astropy takes a
second or two to import).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

SOLAR_PHASES = ("min", "max")
AP8_MAX_ENERGY_MEV = 400.0
# Energy grid of the spectra (MeV): log-spaced over AP8's proton range above the
# energies any shield of interest stops (1 MeV has a range of 0.015 mm of aluminium).
ENERGY_GRID_MEV = np.geomspace(1.0, AP8_MAX_ENERGY_MEV, 48)


@lru_cache(maxsize=2)
def _model(solar: str):  # -> aep8.Model
    import aep8  # heavy (astropy): on first use only

    return aep8.model("p", solar)


def geomagnetic_coordinates(
    lat_deg: np.ndarray, lon_deg: np.ndarray, altitude_km: np.ndarray | float, solar: str
) -> tuple[np.ndarray, np.ndarray]:
    """(L, B/B0) of geodetic positions in AP8's field model for ``solar``."""
    from astropy import units as u
    from astropy.coordinates import EarthLocation
    from astropy.time import Time

    lat = np.asarray(lat_deg, dtype=float)
    lon = np.asarray(lon_deg, dtype=float)
    alt = np.broadcast_to(np.asarray(altitude_km, dtype=float), lat.shape)
    loc = EarthLocation.from_geodetic(lon * u.deg, lat * u.deg, alt * u.km)
    # the field model is fixed (see module doc): the time is a required argument only
    big_l, b_b0 = _model(_check_solar(solar)).geomagnetic_coordinates(loc, Time("2000-01-01"))
    return np.asarray(big_l, dtype=float), np.asarray(b_b0, dtype=float)


def integral_flux_lb(
    l_shell: np.ndarray, b_b0: np.ndarray, energy_mev: np.ndarray, solar: str
) -> np.ndarray:
    """F(>E) in cm^-2 s^-1 at (L, B/B0), energy axis last; 0 where AP8 has no flux."""
    from astropy import units as u

    e = np.asarray(energy_mev, dtype=float)
    lv = np.asarray(l_shell, dtype=float)[..., None]
    bv = np.asarray(b_b0, dtype=float)[..., None]
    with np.errstate(invalid="ignore"):
        flux = _model(_check_solar(solar)).integral_flux_for_geomagnetic_coordinates(
            lv, bv, e * u.MeV
        )
    out = np.asarray(flux.to_value(u.cm**-2 * u.s**-1), dtype=float)
    return np.where(np.isfinite(out) & (out > 0.0), out, 0.0)


def proton_integral_flux(
    lat_deg: np.ndarray,
    lon_deg: np.ndarray,
    altitude_km: np.ndarray | float,
    energy_mev: np.ndarray = ENERGY_GRID_MEV,
    solar: str = "max",
) -> np.ndarray:
    """Omnidirectional integral flux F(>E) (cm^-2 s^-1) of trapped protons, shape (..., nE)."""
    big_l, b_b0 = geomagnetic_coordinates(lat_deg, lon_deg, altitude_km, solar)
    return integral_flux_lb(big_l, b_b0, energy_mev, solar)


def _check_solar(solar: str) -> str:
    if solar not in SOLAR_PHASES:
        raise ValueError(f"solar phase must be 'min' or 'max', got {solar!r}")
    return solar
