"""Everything the envelope needs that depends only on where and when: vectorised, stateless.

At times t (s after the epoch): the orbit position and velocity (:mod:`orbitlib`), the
Sun (:mod:`sunlib`, or a Sun held at a fixed beta), the illumination (:mod:`eclipselib`),
the array output (:mod:`epslib`), the environment heat on the structure
(:mod:`thermallib`), the sub-satellite point, the beta angle, and the upset rate and
anomaly flag from the radiation rate map (:mod:`radenvlib`), built once per orbit.
"""

from __future__ import annotations

import math

import numpy as np

from firmware_stubs.constants import AU_KM, R_EARTH_KM, SECONDS_PER_DAY
from firmware_stubs.eclipselib import SHADOW_MODELS, illumination
from firmware_stubs.epslib import SolarArray
from firmware_stubs.orbitlib import (
    CircularOrbit,
    FixedBetaGeometry,
    TLEOrbit,
    julian_date,
    subpoint_deg,
)
from firmware_stubs.radenvlib import RadiationEnvironment, RateMap
from firmware_stubs.sunlib import sun_distance_au, sun_position_eci_km
from firmware_stubs.thermallib import ThermalModel
from node.errors import OrbnodeError

SUN_KNOT_S = 600.0


def _norm(v: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("ij,ij->i", v, v))


class Geometry:
    """The geometry-driven quantities of one orbit, array and structure (no state)."""

    def __init__(
        self,
        orbit: CircularOrbit | TLEOrbit,
        array: SolarArray,
        thermal: ThermalModel,
        radiation: RadiationEnvironment,
        shadow: str = "conical",
        fixed_beta_deg: float | None = None,
    ) -> None:
        if shadow not in SHADOW_MODELS:
            raise OrbnodeError(f"unknown shadow model {shadow!r}; choose conical or cylindrical")
        self.orbit = orbit
        self.array = array
        self.thermal = thermal
        self.radiation = radiation
        self.shadow = shadow
        self.fixed_beta_deg = fixed_beta_deg
        self.period_s = float(orbit.period_s)
        self._jd0 = sum(julian_date(orbit.epoch))
        self._sun_unit = (
            None
            if fixed_beta_deg is None
            else FixedBetaGeometry(orbit, fixed_beta_deg).sun_unit_eci()  # type: ignore[arg-type]
        )
        self._rate_map: RateMap | None = None

    def sample(self, t_s: np.ndarray) -> dict[str, np.ndarray]:
        """illumination, solar_power_w, q_env_w, latitude_deg, longitude_deg, in_saa,
        upset_rate_per_bit_day, beta_deg, altitude_km, array_temp_c at times ``t_s``."""
        t = np.atleast_1d(np.asarray(t_s, dtype=float))
        r = self.orbit.position_eci_km(t)
        v = self.orbit.velocity_eci_km_s(t)
        jd = self._jd0 + t / SECONDS_PER_DAY
        if self._sun_unit is None:
            sun = self._sun_km(t)
            dist = _norm(sun)
            s_hat = sun / dist[:, None]
            dist_au = dist / AU_KM
        else:  # the Sun held at a beta angle, at the date's distance (+-1.7 %, +-3.3 % flux)
            s_hat = np.broadcast_to(self._sun_unit, r.shape)
            dist_au = sun_distance_au(jd)
            sun = s_hat * (dist_au * AU_KM)[:, None]
        nu = illumination(r, sun, self.shadow)
        rn = _norm(r)
        alt = rn - R_EARTH_KM
        a_eff = self.array.effective_area_m2(s_hat, r, v)
        cos_eff = a_eff / self.array.area_m2 if self.array.area_m2 > 0 else np.zeros(t.shape)
        array_temp = self.array.operating_temp_c(nu, cos_eff, dist_au)
        solar = self.array.power_w(nu, a_eff, dist_au, array_temp)
        cos_ss = np.einsum("ij,ij->i", r, s_hat) / rn
        q_env = self.thermal.environment_heat_w(nu, cos_ss, alt, dist_au)
        lat, lon = subpoint_deg(r, jd)
        normal = np.cross(r, v)
        normal /= _norm(normal)[:, None]
        beta = np.rad2deg(np.arcsin(np.clip(np.einsum("ij,ij->i", s_hat, normal), -1.0, 1.0)))
        if self.radiation.enabled:
            rmap = self.rate_map()
            total = self.radiation.rate_per_bit_day(rmap.terms)  # the grid, then interpolate
            rate, saa = rmap.sample_grids([total, rmap.terms["in_saa"]], lat, lon, alt)
            in_saa = saa >= 0.5
        else:
            rate = np.zeros(t.shape)
            in_saa = np.zeros(t.shape, dtype=bool)
        return {
            "illumination": nu,
            "solar_power_w": solar,
            "q_env_w": q_env,
            "latitude_deg": lat,
            "longitude_deg": lon,
            "in_saa": in_saa,
            "upset_rate_per_bit_day": rate,
            "beta_deg": beta,
            "altitude_km": alt,
            "array_temp_c": array_temp,
        }

    def _sun_km(self, t: np.ndarray) -> np.ndarray:
        """The Sun (ECI, km) at ``t``: exact at knots every ``SUN_KNOT_S`` seconds of the
        epoch, linear between (the Sun moves 0.04 deg an hour; the chord's error is
        below 1e-8 rad), so a long run does not evaluate the series at every step."""
        k0, k1 = math.floor(t.min() / SUN_KNOT_S), math.ceil(t.max() / SUN_KNOT_S)
        knots = np.arange(k0, max(k1, k0 + 1) + 1) * SUN_KNOT_S
        at = sun_position_eci_km(self._jd0 + knots / SECONDS_PER_DAY)
        idx = np.clip(((t - knots[0]) // SUN_KNOT_S).astype(np.intp), 0, knots.size - 2)
        w = ((t - knots[idx]) / SUN_KNOT_S)[:, None]
        return at[idx] * (1.0 - w) + at[idx + 1] * w

    def rate_map(self) -> RateMap:
        """The upset-rate map over this orbit's altitudes and latitudes (built once)."""
        if self._rate_map is None:
            t = np.linspace(0.0, self.period_s, 241)
            r = self.orbit.position_eci_km(t)
            rn = _norm(r)
            alt = rn - R_EARTH_KM
            lat_max = float(np.max(np.abs(np.degrees(np.arcsin(r[:, 2] / rn)))))
            lo, hi = float(alt.min()), float(alt.max())
            n = 1 if hi - lo < 10.0 else min(6, int(math.ceil((hi - lo) / 50.0)) + 1)
            levels = (0.5 * (lo + hi),) if n == 1 else tuple(np.linspace(lo, hi, n))
            try:
                self._rate_map = self.radiation.rate_map(levels, lat_max + 1.0)
            except ValueError as exc:
                raise OrbnodeError(f"radiation model: {exc}") from None
        return self._rate_map

    def with_radiation(self, radiation: RadiationEnvironment) -> None:
        """Swap the environment (e.g. a solar event starts); the map is kept when only the
        event switch changed, since the map holds every term separately."""
        same = (radiation.device, radiation.shielding_mm_al, radiation.solar) == (
            self.radiation.device, self.radiation.shielding_mm_al, self.radiation.solar)
        self.radiation = radiation
        if not same:
            self._rate_map = None
