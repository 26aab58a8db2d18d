"""Lumped-parameter thermal model: the compute board and the spacecraft structure.

Two nodes (Gilmore, *Spacecraft Thermal Control Handbook* vol. 1 (2002) ch. 2 and 5;
Karam, *Satellite Thermal Control for Systems Engineers* (1998) ch. 4)::

    C_b dT_b/dt = P_node - G (T_b - T_s)
    C_s dT_s/dt = Q_env + P_bus + P_loss + G (T_b - T_s) - eps sigma A_rad T_s^4

Environment heat absorbed by the structure::

    Q_sun    = alpha S0/d^2 A_sun nu                       direct sunlight
    Q_albedo = alpha a S0/d^2 A_earth F max(0, cos theta_ss)  Earth albedo
    Q_ir     = eps q_IR A_earth F                          Earth infrared
    F        = (R / (R + h))^2                             view factor of a nadir-facing
                                                           plate to the Earth (Gilmore eq. 2.15)

theta_ss is the solar zenith angle at the sub-satellite point. Electrical power is
dissipated where it is used: the node's in the board, the bus loads and battery
losses in the structure. The strap conductance G (W/K) is the only path from the
board (no convection in vacuum). Integration: explicit Euler, sub-stepped so that
each sub-step is at most a fifth of the shortest time constant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from firmware_stubs.constants import (
    EARTH_ALBEDO,
    EARTH_IR_W_M2,
    R_EARTH_KM,
    SOLAR_CONSTANT_W_M2,
    STEFAN_BOLTZMANN_W_M2_K4,
    ZERO_C_K,
)


def earth_view_factor(altitude_km: np.ndarray | float) -> np.ndarray:
    """F = (R/(R+h))^2, nadir-facing flat plate to a spherical Earth."""
    return (R_EARTH_KM / (R_EARTH_KM + np.asarray(altitude_km, dtype=float))) ** 2


@dataclass(frozen=True)
class ThermalModel:
    """Structure (radiator) node plus the board node coupled through a strap."""

    structure_heat_capacity_j_per_k: float
    radiator_area_m2: float
    sun_area_m2: float  # projected area seen by the Sun (orbit average)
    earth_area_m2: float  # area facing nadir
    absorptivity: float = 0.30  # solar absorptance of the outer surfaces
    emissivity: float = 0.88  # infrared emittance of the radiator (docs/sources.md)
    board_heat_capacity_j_per_k: float = 90.0
    strap_conductance_w_per_k: float = 0.25
    albedo: float = EARTH_ALBEDO
    earth_ir_w_m2: float = EARTH_IR_W_M2

    def __post_init__(self) -> None:
        positive = (
            self.structure_heat_capacity_j_per_k,
            self.radiator_area_m2,
            self.board_heat_capacity_j_per_k,
            self.strap_conductance_w_per_k,
        )
        if not all(v > 0 for v in positive):
            raise ValueError("heat capacities, radiator area and conductance must be > 0")
        if not (0 <= self.absorptivity <= 1 and 0 < self.emissivity <= 1):
            raise ValueError("absorptivity and emissivity must be within 0..1")

    @property
    def radiation_coeff_w_per_k4(self) -> float:
        """eps sigma A_rad."""
        return self.emissivity * STEFAN_BOLTZMANN_W_M2_K4 * self.radiator_area_m2

    def environment_heat_w(
        self,
        illumination: np.ndarray,
        cos_subsolar: np.ndarray,
        altitude_km: np.ndarray | float,
        sun_distance_au: np.ndarray | float = 1.0,
    ) -> np.ndarray:
        """Q_sun + Q_albedo + Q_ir absorbed by the structure (module doc)."""
        flux = SOLAR_CONSTANT_W_M2 / np.asarray(sun_distance_au, dtype=float) ** 2
        f = earth_view_factor(altitude_km)
        q_sun = self.absorptivity * flux * self.sun_area_m2 * np.asarray(illumination, dtype=float)
        q_alb = (
            self.absorptivity
            * self.albedo
            * flux
            * self.earth_area_m2
            * f
            * np.maximum(np.asarray(cos_subsolar, dtype=float), 0.0)
        )
        q_ir = self.emissivity * self.earth_ir_w_m2 * self.earth_area_m2 * f
        return q_sun + q_alb + q_ir

    def substeps(self, dt_s: float) -> int:
        """Sub-steps per ``dt_s`` so each is <= 1/5 of the shortest time constant (at 400 K)."""
        tau_board = self.board_heat_capacity_j_per_k / self.strap_conductance_w_per_k
        g_struct = self.strap_conductance_w_per_k + 4.0 * self.radiation_coeff_w_per_k4 * 400.0**3
        tau_struct = self.structure_heat_capacity_j_per_k / g_struct
        return max(1, math.ceil(dt_s / (0.2 * min(tau_board, tau_struct))))

    def radiator_temp_c(self, heat_w: float) -> float:
        """Structure temperature that radiates ``heat_w``: (Q / (eps sigma A))^(1/4)."""
        return (max(heat_w, 0.0) / self.radiation_coeff_w_per_k4) ** 0.25 - ZERO_C_K

    def steady_state_c(self, q_env_w: float, bus_w: float, node_w: float) -> tuple[float, float]:
        """(board, structure) equilibrium temperatures for constant heat loads.

        All heat leaves through the radiator: eps sigma A T_s^4 = Q_env + P_bus + P_node,
        and the board sits P_node / G above the structure.
        """
        t_s = self.radiator_temp_c(q_env_w + bus_w + node_w)
        return t_s + node_w / self.strap_conductance_w_per_k, t_s


def two_node_step(
    board_k: float, structure_k: float, board_heat_w: float, structure_heat_w: float,
    conductance_w_per_k: float, radiation_coeff_w_per_k4: float,
    h_board_k_per_j: float, h_structure_k_per_j: float, n_sub: int,
) -> tuple[float, float]:
    """Advance the two nodes (module doc) by ``n_sub`` explicit Euler sub-steps.

    ``h_*`` = sub-step / heat capacity. Scalar and call-free, so the envelope can
    compile it (numba) and still run the same equations as this module documents.
    """
    tb, ts = board_k, structure_k
    for _ in range(n_sub):
        q = conductance_w_per_k * (tb - ts)
        t2 = ts * ts
        tb += (board_heat_w - q) * h_board_k_per_j
        ts += (structure_heat_w + q - radiation_coeff_w_per_k4 * t2 * t2) * h_structure_k_per_j
    return tb, ts
