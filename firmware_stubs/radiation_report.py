"""Orbit-averaged upset rate of one orbit, device and shield, and its world map.

:func:`orbit_radiation` flies the orbit for ``days`` at ``step_s`` through the same
:class:`~firmware_stubs.envelope.Envelope` geometry and rate map that ``orbnode run``
and ``orbnode envelope`` use, and averages::

    upsets_per_bit_day = mean over the track of r(lat, lon, h)
    saa_share          = sum over in-anomaly samples of r / sum of r
    peak               = the track position of the highest r

:func:`plot_rate_map` draws the rate map at the orbit's altitude with the ground track.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from firmware_stubs.constants import R_EARTH_KM
from firmware_stubs.envelope import Envelope


@dataclass(frozen=True)
class OrbitRadiation:
    """The orbit-averaged radiation figures (JSON-ready through :meth:`as_dict`)."""

    altitude_km: float
    inclination_deg: float
    device: str
    shielding_mm_al: float
    solar: str
    solar_event: bool
    days: float
    upsets_per_bit_day: float
    trapped_per_bit_day: float
    gcr_per_bit_day: float
    spe_per_bit_day: float
    saa_share: float
    saa_time_share: float
    peak_latitude_deg: float
    peak_longitude_deg: float
    peak_upsets_per_bit_day: float
    proton_flux_gt10mev_cm2_s: float  # AP8, unshielded, orbit average
    proton_flux_gt30mev_cm2_s: float
    multi_bit_share: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def orbit_radiation(env: Envelope, days: float = 1.0, step_s: float = 20.0) -> tuple[
    OrbitRadiation, dict[str, np.ndarray]
]:
    """The figures above, and the track (t_s, latitude_deg, longitude_deg, rate)."""
    t = np.arange(0.0, days * 86400.0, step_s) + 0.5 * step_s
    geo = env.sample(t)
    lat, lon = geo["latitude_deg"], geo["longitude_deg"]
    alt = np.linalg.norm(env.orbit.position_eci_km(t), axis=1) - R_EARTH_KM
    rmap = env.rate_map()
    terms = {f: rmap.sample(f, lat, lon, alt) for f in ("trapped", "gcr", "spe")}
    rate = env.radiation.rate_per_bit_day(terms)
    total = float(np.sum(rate))
    saa = geo["in_saa"]
    i = int(np.argmax(rate))
    rad = env.radiation
    normal = env.orbit.normal_eci(t[:1])
    inc = float(np.degrees(np.arccos(np.clip(normal[0, 2] / np.linalg.norm(normal[0]), -1, 1))))
    result = OrbitRadiation(
        altitude_km=round(float(np.mean(alt)), 3),
        inclination_deg=round(inc, 3),
        device=rad.device.name,
        shielding_mm_al=rad.shielding_mm_al,
        solar=rad.solar,
        solar_event=rad.solar_event,
        days=float(days),
        upsets_per_bit_day=float(np.mean(rate)),
        trapped_per_bit_day=float(np.mean(terms["trapped"])) if rad.enabled else 0.0,
        gcr_per_bit_day=float(np.mean(terms["gcr"])) if rad.enabled else 0.0,
        spe_per_bit_day=float(np.mean(terms["spe"])) if rad.solar_event and rad.enabled else 0.0,
        saa_share=float(np.sum(rate[saa]) / total) if total > 0 else 0.0,
        saa_time_share=float(np.mean(saa)),
        peak_latitude_deg=float(lat[i]),
        peak_longitude_deg=float(lon[i]),
        peak_upsets_per_bit_day=float(rate[i]),
        proton_flux_gt10mev_cm2_s=float(np.mean(rmap.sample("flux_10mev", lat, lon, alt))),
        proton_flux_gt30mev_cm2_s=float(np.mean(rmap.sample("flux_30mev", lat, lon, alt))),
        multi_bit_share=rad.multi_bit_share,
    )
    return result, {"t_s": t, "latitude_deg": lat, "longitude_deg": lon, "rate": rate}


def plot_rate_map(
    env: Envelope, result: OrbitRadiation, track: dict[str, np.ndarray], path: str | Path
) -> None:
    """A PNG world map (plate carree): the rate map at the mean altitude, the ground track."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    rmap = env.rate_map()
    k = int(np.argmin(np.abs(rmap.altitude_km - result.altitude_km)))
    grid = {f: rmap.terms[f][k] for f in ("trapped", "gcr", "spe")}
    rate = np.maximum(env.radiation.rate_per_bit_day(grid), 1e-30)
    fig, ax = plt.subplots(figsize=(10, 5))
    vmax = float(rate.max())
    mesh = ax.pcolormesh(rmap.lon_deg, rmap.lat_deg, rate, shading="nearest",
                         norm=LogNorm(vmin=max(vmax * 1e-4, 1e-30), vmax=vmax), cmap="inferno")
    ax.plot(track["longitude_deg"], track["latitude_deg"], ",", color="cyan", alpha=0.5)
    ax.plot(result.peak_longitude_deg, result.peak_latitude_deg, "x", color="lime", ms=10)
    fig.colorbar(mesh, ax=ax, label="upsets / bit / day")
    ax.set(xlim=(-180, 180), ylim=(-90, 90), xlabel="longitude (deg E)", ylabel="latitude (deg)",
           title=f"{result.device} behind {result.shielding_mm_al:g} mm Al, "
                 f"{result.altitude_km:.0f} km, AP8{result.solar.upper()}: "
                 f"{result.upsets_per_bit_day:.3g} /bit/day, {100 * result.saa_share:.0f} % in SAA")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
