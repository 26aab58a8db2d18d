"""Electrical power system: solar array, battery, bus loads. Pure functions, SI units.

Solar array output (Patel, *Spacecraft Power Systems* (2005) §4; SMAD 3rd ed. §11.4)::

    P = S0 / d_AU^2 * eta_BOL * f_EOL * (1 + gamma (T_a - T_ref))
        * sum_k A_k max(0, n_k . s_hat) * nu
    f_EOL = (1 - d_yr)^age                       life degradation (SMAD eq. 11-5)
    T_a^4 = (alpha - eta) S0 / d_AU^2 cos nu / (sigma (eps_f + eps_b))

The array temperature T_a is the quasi-static radiative balance of a thin panel lit on
its front and radiating from both faces (Patel §4.7; Earth infrared on the back is
neglected, which puts a sun-tracking wing some 10-20 K cool), gamma the cells' power
temperature coefficient about T_ref = 28 C (cell data sheets are specified at 28 C).

with S0 = 1361 W/m^2, nu the shadow illumination factor, and the area-weighted
cosine from the array's pointing: a two-axis sun-tracking array has cos = 1, an
array rotating about the orbit normal (one-axis) has cos = cos(beta), and body-
mounted panels of a nadir-pointing spacecraft see the Sun through their face
normals in the local-vertical/local-horizontal frame.

Battery (energy book-keeping in joules; Patel §6)::

    charging:     dE = eta_c * P_net * dt          (P_net > 0)
    discharging:  dE = P_net / eta_d * dt          (P_net < 0)
    capacity      C = C_BOL * (1 - fade_per_year * age_years)
    SoC floor     soc_min = 1 - DoD_max
    voltage       V = n_series * OCV(SoC) - I * R_internal,  I = P / V

The OCV(SoC) table is the usual shape of a Li-ion NMC (18650) cell at 25 C, rounded,
not read from one document (docs/sources.md, "Battery open-circuit voltage"); it sets
only the reported pack voltage, not the energy book-keeping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from firmware_stubs.constants import (
    SOLAR_CONSTANT_W_M2,
    STEFAN_BOLTZMANN_W_M2_K4,
    ZERO_C_K,
)
from node.scheduler import MODES

ARRAY_POINTING = ("sun-tracking", "1-axis", "body")
# Face normals of a nadir-pointing spacecraft, in LVLH terms.
BODY_FACES = ("zenith", "nadir", "ram", "wake", "north", "south")

NMC_OCV_SOC = (0.0, 0.05, 0.10, 0.20, 0.30, 0.40, 0.50, 0.60, 0.70, 0.80, 0.90, 1.00)
NMC_OCV_V = (3.00, 3.30, 3.45, 3.55, 3.62, 3.67, 3.72, 3.79, 3.87, 3.95, 4.05, 4.18)


def lvlh_sun_cosines(
    sun_unit: np.ndarray, r_km: np.ndarray, v_km_s: np.ndarray
) -> dict[str, np.ndarray]:
    """Cosine between the Sun direction and each body face normal of a nadir-pointing craft.

    zenith = r/|r|, north = h/|h| (orbit normal), ram = north x zenith (along-track).
    """
    s = np.atleast_2d(sun_unit)
    r = np.atleast_2d(r_km)
    zen = r / np.linalg.norm(r, axis=-1, keepdims=True)
    h = np.cross(r, np.atleast_2d(v_km_s))
    north = h / np.linalg.norm(h, axis=-1, keepdims=True)
    ram = np.cross(north, zen)
    cz, cn, cr = (np.sum(s * zen, -1), np.sum(s * north, -1), np.sum(s * ram, -1))
    return {"zenith": cz, "nadir": -cz, "north": cn, "south": -cn, "ram": cr, "wake": -cr}


@dataclass(frozen=True)
class SolarArray:
    """A solar array: cell area, efficiency, life degradation, temperature, pointing."""

    area_m2: float
    efficiency_bol: float = 0.30
    degradation_per_year: float = 0.0275  # relative power loss per year in orbit
    age_years: float = 4.0  # the sizing point: end of a four-year mission
    pointing: str = "sun-tracking"
    body_faces_m2: dict[str, float] = field(default_factory=dict)  # pointing == "body"
    temp_coeff_per_k: float = -0.0022  # relative power change per kelvin
    ref_temp_c: float = 28.0
    absorptance: float = 0.91
    emittance_front: float = 0.85
    emittance_back: float = 0.80

    def __post_init__(self) -> None:
        if self.pointing not in ARRAY_POINTING:
            raise ValueError(
                f"array pointing must be one of {ARRAY_POINTING}, got {self.pointing!r}"
            )
        if self.pointing == "body":
            unknown = set(self.body_faces_m2) - set(BODY_FACES)
            if unknown or not self.body_faces_m2:
                raise ValueError(f"body-mounted array needs face areas for {BODY_FACES}")
            object.__setattr__(self, "area_m2", float(sum(self.body_faces_m2.values())))
        if not (self.area_m2 >= 0 and 0 < self.efficiency_bol <= 1):
            raise ValueError("array area must be >= 0 and efficiency within (0, 1]")
        if not (0 <= self.degradation_per_year < 1 and self.age_years >= 0):
            raise ValueError("array degradation must be within [0, 1) per year and age >= 0")
        if not (0 < self.absorptance <= 1 and 0 < self.emittance_front <= 1
                and 0 <= self.emittance_back <= 1 and -0.05 < self.temp_coeff_per_k <= 0):
            raise ValueError("array optics must be within (0, 1] and the temperature "
                             "coefficient within (-0.05, 0] per K")

    @property
    def eol_factor(self) -> float:
        """Life degradation (1 - d_yr)^age (SMAD 3rd ed. eq. 11-5)."""
        return (1.0 - self.degradation_per_year) ** self.age_years

    @property
    def peak_power_w(self) -> float:
        """Output at normal incidence, 1 AU, full sun, at the reference temperature."""
        return SOLAR_CONSTANT_W_M2 * self.area_m2 * self.efficiency_bol * self.eol_factor

    def operating_temp_c(
        self, illumination: np.ndarray, cos_incidence: np.ndarray | float,
        sun_distance_au: np.ndarray | float = 1.0,
    ) -> np.ndarray:
        """Quasi-static panel temperature (module doc), floored at -150 C in shadow."""
        flux = SOLAR_CONSTANT_W_M2 / np.asarray(sun_distance_au, dtype=float) ** 2
        eta = self.efficiency_bol * self.eol_factor
        absorbed = ((self.absorptance - eta) * flux * np.asarray(cos_incidence, dtype=float)
                    * np.asarray(illumination, dtype=float))
        t4 = np.maximum(absorbed, 0.0) / (
            STEFAN_BOLTZMANN_W_M2_K4 * (self.emittance_front + self.emittance_back))
        return np.maximum(t4**0.25 - ZERO_C_K, -150.0)

    def temperature_factor(self, temp_c: np.ndarray | float) -> np.ndarray:
        """1 + gamma (T - T_ref)."""
        return 1.0 + self.temp_coeff_per_k * (np.asarray(temp_c, dtype=float) - self.ref_temp_c)

    def effective_area_m2(
        self, sun_unit: np.ndarray, r_km: np.ndarray, v_km_s: np.ndarray
    ) -> np.ndarray:
        """Area-weighted incidence cosine times area, sum_k A_k max(0, cos theta_k)."""
        s = np.atleast_2d(sun_unit)
        if self.pointing == "sun-tracking":
            return np.full(s.shape[0], self.area_m2)
        r = np.atleast_2d(r_km)
        h = np.cross(r, np.atleast_2d(v_km_s))
        h /= np.linalg.norm(h, axis=-1, keepdims=True)
        if self.pointing == "1-axis":
            sin_beta = np.sum(s * h, axis=-1)
            return self.area_m2 * np.sqrt(np.clip(1.0 - sin_beta**2, 0.0, 1.0))
        cosines = lvlh_sun_cosines(s, r, v_km_s)
        total = np.zeros(s.shape[0])
        for face, area in self.body_faces_m2.items():
            total += area * np.maximum(cosines[face], 0.0)
        return total

    def power_w(
        self,
        illumination: np.ndarray,
        effective_area_m2: np.ndarray | float,
        sun_distance_au: np.ndarray | float = 1.0,
        temp_c: np.ndarray | float | None = None,
    ) -> np.ndarray:
        """P = S0/d^2 * eta_BOL * f_EOL * (1 + gamma (T - T_ref)) * A_eff * nu (module doc);
        ``temp_c`` None: at the reference temperature."""
        flux = SOLAR_CONSTANT_W_M2 / np.asarray(sun_distance_au, dtype=float) ** 2
        factor = 1.0 if temp_c is None else self.temperature_factor(temp_c)
        return (
            flux
            * self.efficiency_bol
            * self.eol_factor
            * factor
            * np.asarray(effective_area_m2, dtype=float)
            * np.asarray(illumination, dtype=float)
        )


@dataclass(frozen=True)
class Battery:
    """A Li-ion battery: capacity, efficiencies, depth-of-discharge limit, fade, OCV curve."""

    capacity_wh: float  # beginning of life
    charge_efficiency: float = 0.95
    discharge_efficiency: float = 0.95
    depth_of_discharge: float = 0.30
    fade_per_year: float = 0.03  # capacity lost per year of LEO cycling, fraction of BOL
    age_years: float = 0.0
    cells_series: int = 2
    internal_resistance_ohm: float = 0.05
    max_charge_c_rate: float = 0.5  # 1/h: constant-current charge limit
    taper_start_soc: float = 0.90  # constant-voltage taper from here to full
    ocv_soc: tuple[float, ...] = NMC_OCV_SOC
    ocv_v: tuple[float, ...] = NMC_OCV_V

    def __post_init__(self) -> None:
        if not self.capacity_wh > 0:
            raise ValueError(f"battery capacity must be > 0 Wh, got {self.capacity_wh}")
        if not (0 < self.charge_efficiency <= 1 and 0 < self.discharge_efficiency <= 1):
            raise ValueError("battery efficiencies must be within (0, 1]")
        if not 0 < self.depth_of_discharge <= 1:
            raise ValueError(
                f"depth of discharge must be within (0, 1], got {self.depth_of_discharge}"
            )
        if not (self.fade_per_year >= 0 and self.age_years >= 0):
            raise ValueError("fade and age must be >= 0")
        if self.capacity_fraction <= 0:
            raise ValueError("the battery has faded to nothing at this age")
        if not (self.max_charge_c_rate > 0 and 0 < self.taper_start_soc < 1):
            raise ValueError("charge C-rate must be > 0 and taper start within (0, 1)")
        if len(self.ocv_soc) != len(self.ocv_v) or list(self.ocv_soc) != sorted(self.ocv_soc):
            raise ValueError("OCV table must have increasing SoC and as many voltages")

    @property
    def capacity_fraction(self) -> float:
        """Remaining capacity as a fraction of BOL: 1 - fade_per_year * age_years."""
        return 1.0 - self.fade_per_year * self.age_years

    @property
    def capacity_j(self) -> float:
        """Faded capacity in joules."""
        return self.capacity_wh * 3600.0 * self.capacity_fraction

    @property
    def max_charge_w(self) -> float:
        """Constant-current charge limit at the terminals, c_max * C_Wh (faded capacity)."""
        return self.max_charge_c_rate * self.capacity_j / 3600.0

    @property
    def soc_floor(self) -> float:
        """Lowest SoC the node may use: 1 - allowed depth of discharge."""
        return 1.0 - self.depth_of_discharge

    def open_circuit_v(self, soc: np.ndarray | float) -> np.ndarray:
        """Pack open-circuit voltage, n_series * OCV(SoC), linear in the table."""
        return self.cells_series * np.interp(np.clip(soc, 0.0, 1.0), self.ocv_soc, self.ocv_v)

    def voltage_v(self, soc: np.ndarray | float, power_w: np.ndarray | float = 0.0) -> np.ndarray:
        """Terminal voltage at ``power_w`` drawn (negative: charging): V = OCV - I R.

        Solves V = OCV - (P / V) R for the physical root V = (OCV + sqrt(OCV^2 - 4 P R)) / 2.
        """
        ocv = self.open_circuit_v(soc)
        disc = np.maximum(
            ocv**2 - 4.0 * np.asarray(power_w, dtype=float) * self.internal_resistance_ohm, 0.0
        )
        return 0.5 * (ocv + np.sqrt(disc))



@dataclass(frozen=True)
class BusLoads:
    """Spacecraft loads other than the compute node, per node power mode (W)."""

    modes_w: dict[str, float]
    eclipse_heater_w: float = 0.0  # survival heaters on in eclipse

    def __post_init__(self) -> None:
        for key in MODES:
            if key not in self.modes_w:
                raise ValueError(f"bus loads need a value for power mode {key}")
        if any((not math.isfinite(v)) or v < 0 for v in self.modes_w.values()):
            raise ValueError("bus loads must be >= 0 W")

    def power_w(self, mode: str, illumination: np.ndarray | float) -> np.ndarray:
        """Bus power in ``mode``, plus the eclipse heaters weighted by (1 - nu)."""
        return self.modes_w[mode] + self.eclipse_heater_w * (
            1.0 - np.asarray(illumination, dtype=float)
        )


def battery_step(
    energy_j: float, net_w: float, dt_s: float, eta_c: float, inv_eta_d: float, cap_j: float,
    max_charge_w: float, taper_j: float,
) -> tuple[float, float, float, float]:
    """One step of the battery book-keeping (module doc), scalar and call-free.

    ``net_w`` = solar - loads at the terminals. The charge accepted is limited to
    ``max_charge_w``, falling linearly to 0 over the last ``taper_j`` below ``cap_j``.
    Returns (E_new, shunt_w, unserved_w, loss_w): power the battery cannot take is
    shunted at the array, a demand an empty battery cannot meet is unserved, and the
    conversion loss is charged only on power that passed through the battery, so
    (solar - shunt) - loads + unserved - loss = dE/dt.
    """
    shunt = 0.0
    unserved = 0.0
    if net_w > 0.0:
        limit = max_charge_w
        if taper_j > 0.0 and cap_j - energy_j < taper_j:
            limit = max_charge_w * max(cap_j - energy_j, 0.0) / taper_j
        accepted = net_w if net_w < limit else limit
        shunt = net_w - accepted
        e_new = energy_j + accepted * eta_c * dt_s
        if e_new > cap_j:
            shunt += (e_new - cap_j) / (eta_c * dt_s)
            e_new = cap_j
        loss = (net_w - shunt) * (1.0 - eta_c)
    else:
        e_new = energy_j + net_w * inv_eta_d * dt_s
        if e_new < 0.0:
            unserved = -e_new / (inv_eta_d * dt_s)
            e_new = 0.0
        loss = (-net_w - unserved) * (inv_eta_d - 1.0)
    return e_new, shunt, unserved, loss
