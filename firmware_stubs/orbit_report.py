"""The ``orbnode orbit`` figures: period, beta, analytic and numerical eclipse, a season.

The analytic eclipse (cylindrical shadow, :func:`eclipselib.eclipse_fraction`) is checked
numerically over one orbit at 1 s with both shadow models; ``days`` adds the beta
angle and the eclipse over an eclipse season, sampled four times a day.
"""

from __future__ import annotations

import math

import numpy as np

from node.errors import OrbnodeError


def orbit_report(config: dict, shadow: str = "conical", days: float = 0.0) -> dict:
    """The ``orbnode orbit`` figures for ``Envelope.from_config`` orbit keywords."""
    from firmware_stubs.eclipselib import beta_star_deg, eclipse_fraction, eclipse_intervals
    from firmware_stubs.envelope import Envelope

    env = Envelope.from_config(shadow=shadow, radiation="off", board="rpi4", **config)
    alt = env.mean_altitude_km
    period = env.period_s
    beta = env.beta_deg
    f = env.eclipse_fraction
    report: dict = {
        "geometry": "fixed-beta"
        if env.fixed_beta_deg is not None
        else ("tle" if config.get("tle") else "circular"),
        "altitude_km": alt,
        "inclination_deg": float(env.orbit.inclination_deg),
        "raan_deg": float(env.orbit.raan_deg),
        "epoch": env.epoch.isoformat().replace("+00:00", "Z"),
        "period_s": period,
        "period_min": period / 60.0,
        "beta_deg": beta,
        "beta_star_deg": beta_star_deg(max(alt, 100.0)),
        "eclipse_fraction": f,
        "eclipse_s": f * period,
        "eclipse_min": f * period / 60.0,
    }
    # numerical check over one orbit, both shadow models, 1 s sampling
    t = np.arange(0.0, period + 1.0, 1.0)
    for model in ("conical", "cylindrical"):
        env.shadow = model
        nu = env.sample(t)["illumination"]
        report[f"eclipse_{model}_s"] = _total(eclipse_intervals(t, nu, 0.5))
        if model == "conical":
            report["umbra_s"] = _total(eclipse_intervals(t, nu, 1e-9))
            report["penumbra_s"] = _total(eclipse_intervals(t, nu, 1.0 - 1e-9)) - report["umbra_s"]
    env.shadow = shadow
    if days and days > 0:
        if not math.isfinite(days) or days > 3660:
            raise OrbnodeError(f"--days must be within 0..3660, got {days:g}")
        td = np.arange(0.0, days * 86400.0 + 1.0, 86400.0 / 4.0)
        b = env.sample(td)["beta_deg"]
        fr = np.array([eclipse_fraction(max(alt, 100.0), float(x)) for x in b])
        report["days"] = days
        report["beta_min_deg"] = float(np.min(b))
        report["beta_max_deg"] = float(np.max(b))
        report["eclipse_max_min"] = float(np.max(fr) * period / 60.0)
        report["eclipse_season_days"] = float(np.sum(fr > 0) * 0.25)
        report["_series"] = {"t_days": td / 86400.0, "beta_deg": b, "eclipse_fraction": fr}
    report["_env"] = env
    return report


def _total(intervals: list[tuple[float, float]]) -> float:
    return float(sum(b - a for a, b in intervals))
