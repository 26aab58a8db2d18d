"""The ``orbnode orbit`` figures: period, beta, analytic and numerical eclipse, a season.

The analytic eclipse (cylindrical shadow, :func:`eclipselib.eclipse_fraction`) is checked
numerically over one orbit at 1 s with both shadow models; ``days`` adds the beta
angle and the eclipse over an eclipse season, sampled four times a day.
:func:`orbit_config` turns the commands' orbit options (sun-synchronous, LTAN, TLE)
into the orbit the figures are made for.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from node.errors import OrbnodeError


def orbit_config(
    *,
    altitude_km: float = 550.0,
    beta_deg: float | None = None,
    inclination_deg: float | None = None,
    raan_deg: float | None = None,
    epoch: str | None = None,
    sso: bool = False,
    ltan_h: float | None = None,
    tle_file: str | None = None,
) -> dict:
    """``Envelope.from_config`` orbit keywords for the ``orbnode orbit``/``envelope`` options.

    A ``tle_file`` fixes the whole orbit; ``sso`` sets the inclination from the altitude
    and, with ``ltan_h``, the RAAN from the Sun's right ascension at ``epoch`` (ISO-8601,
    default :data:`orbitlib.DEFAULT_EPOCH`); ``beta_deg`` holds the Sun at a fixed beta and
    excludes a free geometry. Without any of them beta is 0. Contradictory or bad options
    raise :class:`OrbnodeError` naming the command-line flags (one line); the numbers are
    checked further by ``from_config``.
    """
    from firmware_stubs.orbitlib import (
        as_utc,
        check_altitude_km,
        julian_date,
        parse_epoch,
        parse_tle,
        raan_deg_from_ltan_h,
        sun_synchronous_inclination_deg,
    )
    from firmware_stubs.sunlib import sun_right_ascension_deg

    when = parse_epoch(epoch) if epoch else None
    if ltan_h is not None and not sso:
        raise OrbnodeError("--ltan-h needs --sso")
    if tle_file:
        if beta_deg is not None or sso or raan_deg is not None:
            raise OrbnodeError("--tle-file fixes the orbit: drop --beta-deg/--sso/--raan-deg")
        try:
            text = Path(tle_file).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise OrbnodeError(f"cannot read TLE file {tle_file}: {exc.strerror}") from None
        return {"tle": parse_tle(text), "beta_deg": None, "epoch": when}
    alt = check_altitude_km(altitude_km)
    free = sso or raan_deg is not None or when is not None
    if beta_deg is not None and free:
        raise OrbnodeError("--beta-deg fixes the geometry: drop --raan-deg/--epoch/--sso")
    inc = inclination_deg
    raan = raan_deg if raan_deg is not None else 0.0
    if sso:
        if inc is not None:
            raise OrbnodeError("--sso sets the inclination: drop --inclination-deg")
        inc = sun_synchronous_inclination_deg(alt)
        if ltan_h is not None:
            if not (math.isfinite(ltan_h) and 0.0 <= ltan_h <= 24.0):
                raise OrbnodeError(f"--ltan-h must be within 0..24 hours, got {ltan_h:g}")
            ra_sun_deg = sun_right_ascension_deg(sum(julian_date(as_utc(when))))
            raan = raan_deg_from_ltan_h(ltan_h, ra_sun_deg)
    beta = beta_deg if beta_deg is not None else (None if free else 0.0)
    return {
        "altitude_km": alt,
        "beta_deg": beta,
        "inclination_deg": 51.6 if inc is None else inc,
        "raan_deg": raan,
        "epoch": when,
    }


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
