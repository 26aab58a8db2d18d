"""Single-event-upset rate per bit along an orbit, from the particle environment.

Three terms, each per bit of the memory that holds the weights (:mod:`devicelib`)::

    r = r_trapped + r_GCR + r_SPE            [upsets / bit / day]

    r_trapped = sum_E sigma_p(E) dF_AP8,shielded(>E)   AP8 protons (trappedlib) behind
                                                       the aluminium shield (shieldlib)
    r_GCR     = C sigma_L / L_0.25^2 T(R_c)            heavy ions, geomagnetic share (cosmiclib)
    r_SPE     = sum_E sigma_p(E) dF_SPE,shielded(>E)   only during a solar particle event,
                                                       cut at the local cutoff (cosmiclib)

AP8 needs the McIlwain coordinates of each position (a field-line trace, ~0.3 ms a
point), so an envelope does not call it per step: :meth:`RadiationEnvironment.rate_map`
evaluates all terms once on a latitude/longitude grid (2.5 x 5 degrees) at the
orbit's altitude(s), and positions are interpolated bilinearly in it. The anomaly
(``in_saa``) is where the inner belt (L < ``saa_max_l``) carries more than
``saa_min_flux_10mev`` protons/cm^2/s above 10 MeV: it emerges from the model and
grows with altitude, as the real one does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from firmware_stubs import cosmiclib, trappedlib
from firmware_stubs.devicelib import Device, proton_rate_per_bit_s
from firmware_stubs.shieldlib import RangeTable, shielded_integral_flux

SECONDS_PER_DAY = 86400.0
MIN_TRAPPED_ALTITUDE_KM = 100.0
MAX_TRAPPED_ALTITUDE_KM = 3000.0  # beyond it the orbit is in the belts' heart, not LEO
LAT_STEP_DEG = 2.5
LON_STEP_DEG = 5.0
FIELDS = ("trapped", "gcr", "spe", "flux_10mev", "flux_30mev", "in_saa")


@dataclass(frozen=True)
class RadiationParams:
    """Parameters of the GCR and SPE terms and of the anomaly's edge (data/radiation.toml)."""

    spe_fluence_30mev_cm2: float = 7.9e9
    spe_efold_mev: float = 26.5
    spe_duration_days: float = 1.0
    gcr_orbit_coefficient: float = 200.0
    gcr_modulation_gv: float = 1.0
    saa_max_l: float = 3.0
    saa_min_flux_10mev: float = 1.0

    def __post_init__(self) -> None:
        if not all(math.isfinite(v) and v > 0 for v in vars(self).values()):
            raise ValueError("radiation model parameters must be finite and > 0")


@dataclass(frozen=True)
class RateTerms:
    """All terms at a set of positions (per bit per day; fluxes in cm^-2 s^-1, unshielded)."""

    trapped: np.ndarray
    gcr: np.ndarray
    spe: np.ndarray
    flux_10mev: np.ndarray
    flux_30mev: np.ndarray
    in_saa: np.ndarray


@dataclass(frozen=True)
class RateMap:
    """:class:`RateTerms` on a grid: altitude (k) x latitude (n) x longitude (m, periodic)."""

    altitude_km: np.ndarray
    lat_deg: np.ndarray
    lon_deg: np.ndarray  # -180 .. 180 - step
    terms: dict[str, np.ndarray]  # FIELDS -> (k, n, m)

    def sample(
        self, field: str, lat_deg: np.ndarray, lon_deg: np.ndarray,
        altitude_km: np.ndarray | float,
    ) -> np.ndarray:
        """Interpolate ``field`` at positions: bilinear in lat/lon, linear in altitude."""
        return self.sample_grids([self.terms[field]], lat_deg, lon_deg, altitude_km)[0]

    def sample_grids(
        self, grids: list[np.ndarray], lat_deg: np.ndarray, lon_deg: np.ndarray,
        altitude_km: np.ndarray | float,
    ) -> list[np.ndarray]:
        """:meth:`sample` for several (k, n, m) grids on this map's axes, weights shared."""
        lat = np.clip(np.asarray(lat_deg, dtype=float), self.lat_deg[0], self.lat_deg[-1])
        lon = (np.asarray(lon_deg, dtype=float) + 180.0) % 360.0 - 180.0
        n_lat, n_lon = self.lat_deg.size, self.lon_deg.size
        fi = (lat - self.lat_deg[0]) / LAT_STEP_DEG
        i0 = np.clip(np.floor(fi).astype(np.intp), 0, max(n_lat - 2, 0))
        wi = np.clip(fi - i0, 0.0, 1.0) if n_lat > 1 else np.zeros_like(fi)
        i1 = np.minimum(i0 + 1, n_lat - 1)
        fj = (lon - self.lon_deg[0]) / LON_STEP_DEG
        fl = np.floor(fj)
        wj = fj - fl
        j0 = fl.astype(np.intp) % n_lon
        j1 = (j0 + 1) % n_lon
        # flat indices and weights of the four corners, once for every grid
        corners = ((i0 * n_lon + j0, (1 - wi) * (1 - wj)), (i0 * n_lon + j1, (1 - wi) * wj),
                   (i1 * n_lon + j0, wi * (1 - wj)), (i1 * n_lon + j1, wi * wj))

        def plane(g: np.ndarray) -> np.ndarray:
            flat = g.reshape(-1)
            out = flat[corners[0][0]] * corners[0][1]
            for idx, w in corners[1:]:
                out += flat[idx] * w
            return out

        if self.altitude_km.size == 1:
            return [plane(g[0]) for g in grids]
        alt = np.broadcast_to(np.asarray(altitude_km, dtype=float), lat.shape)
        fk = np.interp(alt, self.altitude_km, np.arange(self.altitude_km.size))
        k0 = np.minimum(np.floor(fk).astype(np.intp), self.altitude_km.size - 2)
        wk = fk - k0
        results = []
        for g in grids:
            out = np.empty(lat.shape)
            for k in range(self.altitude_km.size - 1):
                sel = k0 == k
                if np.any(sel):
                    lo, hi = plane(g[k])[sel], plane(g[k + 1])[sel]
                    out[sel] = lo * (1 - wk[sel]) + hi * wk[sel]
            results.append(out)
        return results


@lru_cache(maxsize=16)
def _lb_grid(solar: str, altitude_km: float, lat_max_deg: float) -> tuple[np.ndarray, ...]:
    """(lat, lon, L, B/B0) on the map grid at one altitude; the expensive, cached part."""
    n_lat = int(round(2 * lat_max_deg / LAT_STEP_DEG)) + 1
    lat = np.linspace(-lat_max_deg, lat_max_deg, n_lat)
    lon = np.arange(-180.0, 180.0, LON_STEP_DEG)
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    big_l, b_b0 = trappedlib.geomagnetic_coordinates(la, lo, altitude_km, solar)
    return lat, lon, big_l, b_b0


def _at_energy(energy_mev: np.ndarray, integral_flux: np.ndarray, at_mev: float) -> np.ndarray:
    """F(>at_mev) from spectra on the grid (energy axis last), linear in ln E."""
    x = np.log(energy_mev)
    i = int(np.clip(np.searchsorted(x, np.log(at_mev)) - 1, 0, x.size - 2))
    w = (np.log(at_mev) - x[i]) / (x[i + 1] - x[i])
    return integral_flux[..., i] * (1.0 - w) + integral_flux[..., i + 1] * w


def check_trapped_altitude_km(altitude_km: float) -> float:
    """The trapped-belt model's altitude range, 100..3000 km; ValueError outside it."""
    alt = float(altitude_km)
    if not (math.isfinite(alt) and MIN_TRAPPED_ALTITUDE_KM <= alt <= MAX_TRAPPED_ALTITUDE_KM):
        # to the metre: an orbit's computed altitude carries float noise (3499.999999999999)
        shown = f"{alt:.3f}".rstrip("0").rstrip(".")
        raise ValueError(
            f"altitude {shown} km is outside the trapped-belt model's "
            f"{MIN_TRAPPED_ALTITUDE_KM:g}..{MAX_TRAPPED_ALTITUDE_KM:g} km"
        )
    return alt


@dataclass(frozen=True)
class RadiationEnvironment:
    """One named environment (``off``, ``leo``, ``saa-heavy``, ``solar-event``) for one
    device behind one shield."""

    name: str
    device: Device
    range_table: RangeTable
    params: RadiationParams = RadiationParams()
    shielding_mm_al: float = 2.0
    solar: str = "max"
    solar_event: bool = False
    enabled: bool = True

    def __post_init__(self) -> None:
        if not (math.isfinite(self.shielding_mm_al) and self.shielding_mm_al >= 0):
            raise ValueError(f"shielding must be >= 0 mm of aluminium, got {self.shielding_mm_al}")
        if self.solar not in trappedlib.SOLAR_PHASES:
            raise ValueError(f"solar phase must be 'min' or 'max', got {self.solar!r}")

    @property
    def multi_bit_share(self) -> float:
        return self.device.multi_bit_share

    def with_solar_event(self, on: bool) -> RadiationEnvironment:
        """The same environment with the solar-event term switched on or off."""
        return replace(self, solar_event=bool(on))

    # ------------------------------------------------------------------ the physics
    def terms_from_lb(self, l_shell: np.ndarray, b_b0: np.ndarray) -> RateTerms:
        """All terms at positions given by their McIlwain (L, B/B0)."""
        e = trappedlib.ENERGY_GRID_MEV
        f_in = trappedlib.integral_flux_lb(l_shell, b_b0, e, self.solar)
        f_sh = shielded_integral_flux(e, f_in, self.shielding_mm_al, self.range_table)
        trapped = proton_rate_per_bit_s(self.device, e, f_sh) * SECONDS_PER_DAY
        rc = cosmiclib.cutoff_rigidity_gv(l_shell)
        p = self.params
        gcr = (p.gcr_orbit_coefficient * self.device.figure_of_merit()
               * cosmiclib.gcr_transmission(rc, p.gcr_modulation_gv))
        spe_in = cosmiclib.spe_integral_flux(
            e, rc, p.spe_fluence_30mev_cm2, p.spe_efold_mev, p.spe_duration_days
        )
        spe_sh = shielded_integral_flux(e, spe_in, self.shielding_mm_al, self.range_table)
        spe = proton_rate_per_bit_s(self.device, e, spe_sh) * SECONDS_PER_DAY
        f10, f30 = (_at_energy(e, f_in, x) for x in (10.0, 30.0))
        big_l = np.asarray(l_shell, dtype=float)
        in_saa = (big_l < p.saa_max_l) & (big_l > 0) & (f10 > p.saa_min_flux_10mev)
        return RateTerms(trapped, gcr, spe, f10, f30, in_saa.astype(float))

    def terms_at(
        self, lat_deg: np.ndarray, lon_deg: np.ndarray, altitude_km: np.ndarray | float
    ) -> RateTerms:
        """All terms at positions, computed directly (AP8 per position: slow)."""
        big_l, b_b0 = trappedlib.geomagnetic_coordinates(lat_deg, lon_deg, altitude_km, self.solar)
        return self.terms_from_lb(big_l, b_b0)

    def rate_map(self, altitudes_km: tuple[float, ...], lat_max_deg: float = 90.0) -> RateMap:
        """All terms on the grid at ``altitudes_km`` and |latitude| <= ``lat_max_deg``."""
        alts = tuple(sorted(check_trapped_altitude_km(a) for a in altitudes_km))
        top = min(90.0, LAT_STEP_DEG * math.ceil(max(lat_max_deg, LAT_STEP_DEG) / LAT_STEP_DEG))
        planes: dict[str, list[np.ndarray]] = {f: [] for f in FIELDS}
        lat = lon = np.zeros(0)
        for alt in alts:
            lat, lon, big_l, b_b0 = _lb_grid(self.solar, round(alt, 1), top)
            t = self.terms_from_lb(big_l, b_b0)
            for f in FIELDS:
                planes[f].append(getattr(t, f))
        return RateMap(np.asarray(alts), lat, lon,
                       {f: np.stack(v) for f, v in planes.items()})

    def rate_per_bit_day(self, terms: dict[str, np.ndarray] | RateTerms) -> np.ndarray:
        """Total upsets/bit/day from terms (SPE only during an event; 0 when ``off``)."""
        get = terms.__getitem__ if isinstance(terms, dict) else terms.__getattribute__
        total = get("trapped") + get("gcr") + (get("spe") if self.solar_event else 0.0)
        return total if self.enabled else np.zeros_like(total)
