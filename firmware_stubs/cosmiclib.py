"""Galactic cosmic rays and solar energetic protons behind the geomagnetic field. Pure.

Geomagnetic cutoff. A charged particle reaches a point only above the vertical cutoff
rigidity, which Shea, Smart & Gentile (Phys. Earth Planet. Inter. 48 (1987) 200) fit
to the McIlwain L of the point::

    R_c = 16.0 L^-2.66  GV

A proton of rigidity R (GV) has kinetic energy E = sqrt(R^2 + m_p^2) - m_p with
m_p = 0.938272 GeV (CODATA 2018).

Solar particle event: the integral fluence of the August 1972 event as fitted by King
(J. Spacecraft Rockets 11 (1974) 401), the classic design worst case::

    Phi(>E) = 7.9e9 exp((30 - E) / 26.5)  protons/cm^2  (E in MeV)

spread evenly over ``spe_duration_days`` (the worst day: the bulk of the event's
fluence above 30 MeV arrived within about a day), cut at the local cutoff energy:
F(>E) = Phi(>max(E, E_c)) / duration, isotropic outside the Earth's shadow cone
(half the sky is the Earth: a factor 1/2 for low orbits, the solid-angle factor of
Stassinopoulos & King 1974). The event flux is shielded like the trapped spectrum.

Galactic cosmic rays: the heavy-ion rate outside the magnetosphere (Petersen's
figure of merit, :mod:`devicelib`) times the share of the GCR integral flux above
the cutoff. The rigidity spectrum above a few GV falls as R^-2.7 (differential;
Particle Data Group, *Review of Particle Physics*, "Cosmic rays"), i.e. the integral
as R^-1.7; below that solar modulation flattens it, which we take as
F(>R) ~ (R + R_m)^-1.7 with R_m = ``gcr_modulation_gv`` (a force-field-like
modelling choice, documented in docs/sources.md), so the transmitted share is::

    T(R_c) = ((R_c + R_m) / R_m)^-1.7

times the same Earth-shadow factor 1/2.
"""

from __future__ import annotations

import numpy as np

PROTON_MASS_GEV = 0.93827208816  # CODATA 2018
EARTH_SHADOW_FACTOR = 0.5  # half the sky is the Earth, low orbit


def cutoff_rigidity_gv(l_shell: np.ndarray) -> np.ndarray:
    """Vertical cutoff rigidity R_c = 16.0 L^-2.66 GV (0 on open or invalid field lines)."""
    big_l = np.asarray(l_shell, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rc = 16.0 * np.power(big_l, -2.66)
    return np.where(np.isfinite(rc) & (big_l >= 1.0), rc, 0.0)


def proton_energy_mev(rigidity_gv: np.ndarray) -> np.ndarray:
    """Kinetic energy (MeV) of a proton of rigidity R (GV)."""
    r = np.asarray(rigidity_gv, dtype=float)
    return 1000.0 * (np.sqrt(r * r + PROTON_MASS_GEV**2) - PROTON_MASS_GEV)


def spe_integral_flux(
    energy_mev: np.ndarray,
    cutoff_gv: np.ndarray,
    fluence_30mev_cm2: float,
    efold_mev: float,
    duration_days: float,
) -> np.ndarray:
    """Solar-event F(>E) in cm^-2 s^-1 at positions with cutoff ``cutoff_gv`` (module doc)."""
    e = np.asarray(energy_mev, dtype=float)
    ec = proton_energy_mev(cutoff_gv)[..., None]
    eff = np.maximum(e, ec)
    fluence = fluence_30mev_cm2 * np.exp((30.0 - eff) / efold_mev)
    return EARTH_SHADOW_FACTOR * fluence / (duration_days * 86400.0)


def gcr_transmission(cutoff_gv: np.ndarray, modulation_gv: float) -> np.ndarray:
    """Share of the free-space GCR flux that reaches a point of cutoff R_c (module doc)."""
    rc = np.asarray(cutoff_gv, dtype=float)
    return EARTH_SHADOW_FACTOR * ((rc + modulation_gv) / modulation_gv) ** -1.7
