"""Aluminium shielding of a proton spectrum by the CSDA range-energy method. Pure, numpy.

The continuous-slowing-down range of a proton of energy E is (ICRU Report 49, 1993)::

    R(E) = R(E_0) + integral_{E_0}^{E} dE' / S(E')        [g/cm^2]

with S the total mass stopping power of aluminium from NIST PSTAR (shipped in
``data/pstar_aluminium.csv``; R(E_0) at E_0 = 0.1 MeV taken as E_0 / S(E_0), under
2e-4 g/cm^2 and so immaterial for shields of 0.1 mm and more). A proton that crosses
t g/cm^2 of aluminium leaves with the energy E_out given by R(E_out) = R(E_in) - t
(straight-ahead approximation, no nuclear attenuation: the usual first-order
shielding method, e.g. ECSS-E-ST-10-04C annex on shielding, and SPENVIS' slab
option). Protons are neither created nor lost above the cut, so the integral flux
behind the shield is the incident integral flux at the entry energy::

    F_out(>E) = F_in(>E_in(E)),    E_in(E) = R^{-1}(R(E) + t)

Thickness t is taken along the normal of a slab: the omnidirectional flux reaches the
device through more material at oblique incidence, so this slightly overestimates the
flux behind a shield (a conservative choice).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ALUMINIUM_DENSITY_G_CM3 = 2.699  # PSTAR's density for aluminium


@dataclass(frozen=True)
class RangeTable:
    """Stopping power and CSDA range of protons in one material (MeV, g/cm^2)."""

    energy_mev: np.ndarray
    stopping_mev_cm2_g: np.ndarray
    density_g_cm3: float = ALUMINIUM_DENSITY_G_CM3

    def __post_init__(self) -> None:
        e, s = np.asarray(self.energy_mev, float), np.asarray(self.stopping_mev_cm2_g, float)
        if e.ndim != 1 or e.shape != s.shape or e.size < 2:
            raise ValueError("range table needs matching 1-D energy and stopping-power columns")
        if np.any(np.diff(e) <= 0) or np.any(s <= 0) or e[0] <= 0:
            raise ValueError("range table energies must increase and stopping powers be > 0")
        object.__setattr__(self, "energy_mev", e)
        object.__setattr__(self, "stopping_mev_cm2_g", s)

    @property
    def range_g_cm2(self) -> np.ndarray:
        """CSDA range at each table energy (trapezoid rule on 1/S in ln E)."""
        e, s = self.energy_mev, self.stopping_mev_cm2_g
        # integrate (E / S) d ln E: smooth in ln E, so the trapezoid is accurate on this grid
        f = e / s
        steps = 0.5 * (f[1:] + f[:-1]) * np.diff(np.log(e))
        return np.concatenate(([e[0] / s[0]], e[0] / s[0] + np.cumsum(steps)))

    def csda_range_g_cm2(self, energy_mev: np.ndarray | float) -> np.ndarray:
        """R(E), log-log interpolation in the table."""
        e = np.asarray(energy_mev, dtype=float)
        return np.exp(np.interp(np.log(e), np.log(self.energy_mev), np.log(self.range_g_cm2)))

    def energy_for_range_mev(self, range_g_cm2: np.ndarray | float) -> np.ndarray:
        """R^{-1}: the energy whose CSDA range is ``range_g_cm2``."""
        r = np.asarray(range_g_cm2, dtype=float)
        return np.exp(np.interp(np.log(r), np.log(self.range_g_cm2), np.log(self.energy_mev)))

    def entry_energy_mev(self, exit_energy_mev: np.ndarray, thickness_mm: float) -> np.ndarray:
        """E_in that leaves ``thickness_mm`` of this material with ``exit_energy_mev``."""
        t = thickness_mm * 0.1 * self.density_g_cm3
        return self.energy_for_range_mev(self.csda_range_g_cm2(exit_energy_mev) + t)


def shielded_integral_flux(
    energy_mev: np.ndarray,
    integral_flux: np.ndarray,
    thickness_mm: float,
    table: RangeTable,
) -> np.ndarray:
    """F_out(>E) behind ``thickness_mm`` of aluminium (module doc), same energy grid.

    ``integral_flux`` has the energy axis last; it is interpolated log-log between grid
    points and taken as zero above the grid's last energy (the AP8 proton grid ends at
    400 MeV, where the trapped flux is negligible).
    """
    e = np.asarray(energy_mev, dtype=float)
    f = np.asarray(integral_flux, dtype=float)
    if thickness_mm <= 0.0:
        return f.copy()
    e_in = table.entry_energy_mev(e, thickness_mm)
    # interpolate each spectrum in ln F vs ln E; zero flux stays zero
    log_e = np.log(e)
    with np.errstate(divide="ignore"):
        log_f = np.log(np.maximum(f, 0.0))
    x = np.log(e_in)
    idx = np.clip(np.searchsorted(log_e, x) - 1, 0, e.size - 2)
    w = (x - log_e[idx]) / (log_e[idx + 1] - log_e[idx])
    lo, hi = log_f[..., idx], log_f[..., idx + 1]
    with np.errstate(invalid="ignore"):
        val = np.where(np.isfinite(lo) & np.isfinite(hi), lo + w * (hi - lo), -np.inf)
    out = np.exp(val)
    out[..., e_in > e[-1]] = 0.0
    return out
