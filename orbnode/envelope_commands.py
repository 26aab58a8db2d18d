"""``orbnode orbit`` and ``orbnode envelope``: the environment models from the command line.

``orbnode orbit --altitude-km 550 --beta-deg 0 --json`` prints the period, the
analytic eclipse (cylindrical shadow), beta*, and the eclipse measured numerically
over one orbit with both shadow models. Without ``--beta-deg`` the beta angle
follows from the orbit (``--inclination-deg``, ``--raan-deg``, ``--sso --ltan-h``,
or ``--tle-file``) and the date (``--epoch``); ``--days D`` adds the beta angle and
eclipse over D days (an eclipse season).

``orbnode envelope --hours H --step-s S --json`` runs the power and thermal
simulation alone and prints its summary; ``--plot FILE.png`` draws it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from firmware_stubs.profiles import RADIATION_ENVIRONMENTS
from node.errors import OrbnodeError

PLOT_POINTS = 20000


# ---------------------------------------------------------------------------- arguments
def _add_orbit_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("orbit")
    g.add_argument("--altitude-km", type=float, default=550.0, help="circular orbit altitude")
    g.add_argument(
        "--beta-deg",
        type=float,
        default=None,
        help="hold the Sun at this beta angle (-90..90); default: 0 unless the orbit and "
        "date are given (--raan-deg, --epoch, --sso, --tle-file), then beta follows from them",
    )
    g.add_argument("--inclination-deg", type=float, default=None, help="default 51.6")
    g.add_argument("--raan-deg", type=float, default=None, help="right ascension of the node")
    g.add_argument("--epoch", default=None, help="ISO-8601 UTC start, e.g. 2025-06-21T00:00Z")
    g.add_argument(
        "--sso", action="store_true", help="sun-synchronous orbit (inclination from altitude)"
    )
    g.add_argument(
        "--ltan-h",
        type=float,
        default=None,
        help="local time of the ascending node for --sso (18 = dawn-dusk); sets the RAAN",
    )
    g.add_argument("--tle-file", default=None, help="real orbit from a two-line element file")
    g.add_argument("--shadow", choices=("conical", "cylindrical"), default="conical")


def _orbit_config(args: argparse.Namespace) -> dict:
    """from_config keywords for the orbit options (validated by from_config/orbitlib)."""
    from firmware_stubs.orbitlib import (
        as_utc,
        check_altitude_km,
        julian_date,
        parse_epoch,
        parse_tle,
        sun_synchronous_inclination_deg,
    )
    from firmware_stubs.sunlib import sun_right_ascension_deg

    epoch = parse_epoch(args.epoch) if args.epoch else None
    if args.ltan_h is not None and not args.sso:
        raise OrbnodeError("--ltan-h needs --sso")
    if args.tle_file:
        if args.beta_deg is not None or args.sso or args.raan_deg is not None:
            raise OrbnodeError("--tle-file fixes the orbit: drop --beta-deg/--sso/--raan-deg")
        try:
            text = Path(args.tle_file).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise OrbnodeError(f"cannot read TLE file {args.tle_file}: {exc.strerror}") from None
        return {"tle": parse_tle(text), "beta_deg": None, "epoch": epoch}
    alt = check_altitude_km(args.altitude_km)
    free = args.sso or args.raan_deg is not None or epoch is not None
    if args.beta_deg is not None and free:
        raise OrbnodeError("--beta-deg fixes the geometry: drop --raan-deg/--epoch/--sso")
    inc = args.inclination_deg
    raan = args.raan_deg if args.raan_deg is not None else 0.0
    if args.sso:
        if inc is not None:
            raise OrbnodeError("--sso sets the inclination: drop --inclination-deg")
        inc = sun_synchronous_inclination_deg(alt)
        if args.ltan_h is not None:
            if not (math.isfinite(args.ltan_h) and 0.0 <= args.ltan_h <= 24.0):
                raise OrbnodeError(f"--ltan-h must be within 0..24 hours, got {args.ltan_h:g}")
            ra_sun = sun_right_ascension_deg(sum(julian_date(as_utc(epoch))))
            raan = (ra_sun + 15.0 * (args.ltan_h - 12.0)) % 360.0
    beta = args.beta_deg if args.beta_deg is not None else (None if free else 0.0)
    return {
        "altitude_km": alt,
        "beta_deg": beta,
        "inclination_deg": 51.6 if inc is None else inc,
        "raan_deg": raan,
        "epoch": epoch,
    }


def register(sub: argparse._SubParsersAction) -> None:
    o = sub.add_parser(
        "orbit",
        help="orbit period, beta angle and eclipse (analytic and numerical)",
        description=__doc__.split("\n\n")[1],
    )
    _add_orbit_args(o)
    o.add_argument("--days", type=float, default=0.0, help="also report beta/eclipse over D days")
    o.add_argument("--json", action="store_true", help="print JSON")
    o.add_argument("--plot", default=None, metavar="FILE.png", help="draw illumination / beta")
    o.set_defaults(func=cmd_orbit)

    e = sub.add_parser(
        "envelope",
        help="power and thermal simulation of the node's environment alone",
        description=__doc__.split("\n\n")[2],
    )
    e.add_argument("--hours", type=float, default=24.0)
    e.add_argument("--step-s", type=float, default=10.0)
    _add_orbit_args(e)
    e.add_argument("--board", default="auto", help="board profile name or .toml path")
    e.add_argument("--spacecraft", default=None, help="spacecraft profile (default: board's)")
    e.add_argument("--radiation", choices=RADIATION_ENVIRONMENTS, default="leo")
    e.add_argument(
        "--mode",
        choices=("auto", "FULL", "ECO", "SAFE"),
        default="auto",
        help="node power mode; auto = reference scheduler (eclipse, SoC, temperature)",
    )
    e.add_argument("--node-power-w", type=float, default=None, help="constant node power")
    e.add_argument("--initial-soc", type=float, default=1.0)
    e.add_argument("--age-years", type=float, default=None, help="battery age (capacity fade)")
    e.add_argument("--json", action="store_true", help="print JSON")
    e.add_argument("--plot", default=None, metavar="FILE.png", help="draw the run")
    e.set_defaults(func=cmd_envelope)


# ---------------------------------------------------------------------------- orbit
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


def _plot_orbit(report: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    env = report["_env"]
    period = report["period_s"]
    t = np.arange(0.0, period, 1.0)
    series = report.get("_series")
    fig, ax = plt.subplots(2 if series else 1, 1, figsize=(9, 6 if series else 3.5), squeeze=False)
    for model, style in (("cylindrical", "--"), ("conical", "-")):
        env.shadow = model
        ax[0, 0].plot(t / 60.0, env.sample(t)["illumination"], style, label=model)
    ax[0, 0].set_xlabel("time [min]")
    ax[0, 0].set_ylabel("illumination")
    ax[0, 0].legend()
    ax[0, 0].set_title(
        f"{report['altitude_km']:.0f} km, beta {report['beta_deg']:.1f} deg, "
        f"eclipse {report['eclipse_min']:.1f} min"
    )
    if series:
        ax[1, 0].plot(series["t_days"], series["beta_deg"], label="beta [deg]")
        ax[1, 0].plot(
            series["t_days"], series["eclipse_fraction"] * period / 60.0, label="eclipse [min]"
        )
        ax[1, 0].axhline(report["beta_star_deg"], ls=":", color="grey", label="beta*")
        ax[1, 0].set_xlabel("days from epoch")
        ax[1, 0].legend()
    fig.tight_layout()
    _save(fig, path)


def _save(fig: object, path: str) -> None:
    import matplotlib.pyplot as plt

    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    except OSError as exc:
        raise OrbnodeError(f"cannot write plot {path}: {exc.strerror}") from None
    finally:
        plt.close(fig)


def _public(report: dict) -> dict:
    return {k: v for k, v in report.items() if not k.startswith("_")}


def cmd_orbit(args: argparse.Namespace) -> int:
    if args.plot and not str(args.plot).lower().endswith(".png"):
        raise OrbnodeError("--plot needs a .png file name")
    report = orbit_report(_orbit_config(args), args.shadow, args.days)
    if args.plot:
        _plot_orbit(report, args.plot)
    pub = _public(report)
    if args.json:
        print(json.dumps(pub, indent=2))
    else:
        for key, value in pub.items():
            print(f"{key:22s} {value:.4f}" if isinstance(value, float) else f"{key:22s} {value}")
    return 0


# ---------------------------------------------------------------------------- envelope
def run_envelope(
    config: dict,
    hours: float,
    step_s: float,
    mode: str,
    node_power_w: float | None,
    keep_points: int = PLOT_POINTS,
    progress: bool = False,
) -> tuple[dict, dict[str, np.ndarray]]:
    """Run the envelope in day-long chunks; return (summary, decimated series for plots)."""
    from firmware_stubs.envelope import MAX_STEPS, Envelope, RunSummary

    env = Envelope.from_config(mode="ECO" if mode == "auto" else mode, **config)
    try:
        h, dt = float(hours), float(step_s)
    except (TypeError, ValueError):
        raise OrbnodeError("--hours and --step-s must be numbers") from None
    if not (math.isfinite(h) and h > 0):
        raise OrbnodeError(f"--hours must be > 0, got {hours!r}")
    if not (math.isfinite(dt) and dt > 0):
        raise OrbnodeError(f"--step-s must be > 0, got {step_s!r}")
    total = int(round(h * 3600.0 / dt))
    if total < 1:
        raise OrbnodeError(f"--hours {h:g} is shorter than one --step-s {dt:g} step")
    if total > 20 * MAX_STEPS:
        raise OrbnodeError(f"{total} steps is too many; use a larger --step-s")
    if node_power_w is not None and not (math.isfinite(node_power_w) and node_power_w >= 0):
        raise OrbnodeError(f"--node-power-w must be >= 0, got {node_power_w:g}")
    chunk = max(1, min(total, int(86400.0 / dt)))
    every = max(1, total // keep_points)
    acc = RunSummary(env, dt)
    keep: dict[str, list[np.ndarray]] = {}
    done = 0
    bar = None
    if progress and total > 2 * chunk:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="step", desc="orbnode envelope", file=sys.stderr)
    while done < total:
        n = min(chunk, total - done)
        out = env.simulate(n * dt / 3600.0, dt, node_power_w, mode)
        acc.update(out)
        offset = (-done) % every
        for key in (
            "t_s",
            "illumination",
            "solar_power_w",
            "node_power_drawn_w",
            "bus_power_w",
            "soc",
            "soc_floor",
            "temp_c",
            "structure_temp_c",
            "upset_rate_per_bit_day",
            "mode",
            "beta_deg",
        ):
            keep.setdefault(key, []).append(out[key][offset::every])
        done += n
        if bar is not None:
            bar.update(n)
    if bar is not None:
        bar.close()
    series = {k: np.concatenate(v) for k, v in keep.items()}
    summary = acc.result()
    return summary, series


def _plot_envelope(summary: dict, series: dict[str, np.ndarray], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    th = series["t_s"] / 3600.0
    fig, ax = plt.subplots(5, 1, figsize=(11, 11), sharex=True)
    ax[0].plot(th, series["solar_power_w"], color="goldenrod", label="solar array")
    ax[0].plot(th, series["node_power_drawn_w"], color="tab:blue", label="node")
    ax[0].plot(th, series["bus_power_w"], color="tab:gray", label="bus")
    ax[0].set_ylabel("power [W]")
    ax[0].legend(loc="upper right", fontsize=8)
    ax[1].plot(th, series["soc"] * 100.0, color="tab:green", label="state of charge")
    ax[1].plot(th, series["soc_floor"] * 100.0, "--", color="tab:red", label="DoD floor")
    ax[1].set_ylabel("SoC [%]")
    ax[1].legend(loc="lower left", fontsize=8)
    ax[2].plot(th, series["temp_c"], color="tab:orange", label="board")
    ax[2].plot(th, series["structure_temp_c"], color="tab:brown", label="structure")
    ax[2].axhline(summary["board_temp_limit_c"], ls=":", color="tab:red", label="board limit")
    ax[2].set_ylabel("temp [°C]")
    ax[2].legend(loc="upper right", fontsize=8)
    ax[3].step(th, 2 - series["mode"], where="post", color="tab:purple")
    ax[3].set_yticks([0, 1, 2], ["SAFE", "ECO", "FULL"])
    ax[3].set_ylabel("mode")
    ax[4].semilogy(th, np.maximum(series["upset_rate_per_bit_day"], 1e-12), color="tab:red")
    ax[4].set_ylabel("upsets/bit/day")
    ax[4].set_xlabel("time [h]")
    fig.suptitle(
        f"orbnode envelope — {summary['board']} on {summary['spacecraft']}, "
        f"{summary['altitude_km']:.0f} km, beta {summary['beta_deg_start']:.1f}°"
    )
    fig.tight_layout()
    _save(fig, path)


def cmd_envelope(args: argparse.Namespace) -> int:
    from node.boards import detect_board

    if args.plot and not str(args.plot).lower().endswith(".png"):
        raise OrbnodeError("--plot needs a .png file name")
    config = _orbit_config(args)
    config.update(
        board=detect_board() if args.board == "auto" else args.board,
        spacecraft=args.spacecraft or "<default>",
        radiation=args.radiation,
        shadow=args.shadow,
        initial_soc=args.initial_soc,
        age_years=args.age_years,
    )
    summary, series = run_envelope(
        config,
        args.hours,
        args.step_s,
        args.mode,
        args.node_power_w,
        progress=sys.stderr.isatty(),
    )
    if args.plot:
        _plot_envelope(summary, series, args.plot)
        summary["plot"] = str(args.plot)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for key, value in summary.items():
            print(f"{key:28s} {value:.4g}" if isinstance(value, float) else f"{key:28s} {value}")
    return 0
