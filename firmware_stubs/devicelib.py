"""Memory devices: single-event-upset cross-sections and upset rates per bit. Pure, numpy.

Proton-induced upsets (nuclear reactions in silicon) follow the four-parameter
Weibull fit of the per-bit cross-section to accelerator data (Petersen, *Single
Event Effects in Aerospace*, Wiley 2011, ch. 11; ECSS-E-ST-10-12C §8.2)::

    sigma_p(E) = sigma_sat (1 - exp(-((E - E_0) / W)^s))   for E > E_0, else 0   [cm^2/bit]

and the rate per bit is the cross-section folded with the differential flux behind
the shield, written on the integral spectrum F(>E) of a grid E_0 < E_1 < ... < E_n::

    r_p = integral sigma_p(E) (-dF/dE) dE
        ~ sum_k sigma_p(sqrt(E_k E_{k+1})) (F(>E_k) - F(>E_{k+1})) + sigma_p(E_n) F(>E_n)

Heavy ions (galactic cosmic rays) upset by direct ionisation; their rate is given
by Petersen's figure of merit (Petersen et al., IEEE TNS 39 (1992) 1577)::

    r_GCR = C * sigma_L / L_0.25^2   [upsets/bit/day]

with sigma_L the heavy-ion saturation cross-section (cm^2/bit), L_0.25 the LET
(MeV cm^2/mg) where the Weibull heavy-ion curve reaches 25 % of it, and C the orbit
coefficient (about 200 outside the magnetosphere at solar minimum behind ~2.5 mm of
aluminium, Petersen 2011 ch. 13); :mod:`cosmiclib` scales it by geomagnetic shielding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

TECHNOLOGIES = ("SRAM", "DDR4", "LPDDR4", "LPDDR5", "HBM2e")


@dataclass(frozen=True)
class Device:
    """One memory technology's upset response (units in the names)."""

    name: str  # e.g. "SRAM", "LPDDR4"
    description: str
    proton_sigma_sat_cm2: float  # per bit
    proton_onset_mev: float  # E_0
    proton_width_mev: float  # W
    proton_shape: float  # s
    heavy_ion_sigma_sat_cm2: float  # per bit
    heavy_ion_onset_let: float  # MeV cm^2/mg
    heavy_ion_width_let: float
    heavy_ion_shape: float
    multi_bit_share: float  # share of upset events that flip more than one bit

    def __post_init__(self) -> None:
        vals = (
            self.proton_sigma_sat_cm2, self.proton_onset_mev, self.heavy_ion_sigma_sat_cm2,
            self.heavy_ion_onset_let,
        )
        if not all(math.isfinite(v) and v >= 0 for v in vals):
            raise ValueError(f"device {self.name}: cross-sections and onsets must be >= 0")
        if not all(v > 0 for v in (self.proton_width_mev, self.proton_shape,
                                   self.heavy_ion_width_let, self.heavy_ion_shape)):
            raise ValueError(f"device {self.name}: Weibull widths and shapes must be > 0")
        if not 0 <= self.multi_bit_share <= 1:
            raise ValueError(f"device {self.name}: multi_bit_share must be within 0..1")

    def proton_cross_section_cm2(self, energy_mev: np.ndarray | float) -> np.ndarray:
        """sigma_p(E) per bit (module doc)."""
        x = np.clip((np.asarray(energy_mev, dtype=float) - self.proton_onset_mev)
                    / self.proton_width_mev, 0.0, None)
        return self.proton_sigma_sat_cm2 * -np.expm1(-(x**self.proton_shape))

    @property
    def let_025(self) -> float:
        """LET (MeV cm^2/mg) at 25 % of the heavy-ion saturation cross-section."""
        return self.heavy_ion_onset_let + self.heavy_ion_width_let * (
            -math.log(0.75)
        ) ** (1.0 / self.heavy_ion_shape)

    def figure_of_merit(self) -> float:
        """Petersen's FOM sigma_L / L_0.25^2 (cm^2/bit per (MeV cm^2/mg)^2)."""
        return self.heavy_ion_sigma_sat_cm2 / self.let_025**2


def proton_rate_per_bit_s(
    device: Device, energy_mev: np.ndarray, integral_flux: np.ndarray
) -> np.ndarray:
    """Upsets per bit per second from an integral spectrum F(>E) (energy axis last)."""
    e = np.asarray(energy_mev, dtype=float)
    f = np.asarray(integral_flux, dtype=float)
    sigma_mid = device.proton_cross_section_cm2(np.sqrt(e[1:] * e[:-1]))
    bins = f[..., :-1] - f[..., 1:]
    return bins @ sigma_mid + f[..., -1] * device.proton_cross_section_cm2(e[-1])
