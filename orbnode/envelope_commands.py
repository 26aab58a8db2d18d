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

from firmware_stubs.profiles import RADIATION_ENVIRONMENTS
from node.errors import OrbnodeError
from node.scheduler import MODES


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
    g.add_argument("--shadow", choices=("conical", "cylindrical"), default="conical",
                   help="Earth shadow model (conical: with penumbra)")


def _orbit_config(args: argparse.Namespace) -> dict:
    """from_config keywords for the orbit options (firmware_stubs.orbit_report.orbit_config)."""
    from firmware_stubs.orbit_report import orbit_config

    return orbit_config(altitude_km=args.altitude_km, beta_deg=args.beta_deg,
                        inclination_deg=args.inclination_deg, raan_deg=args.raan_deg,
                        epoch=args.epoch, sso=args.sso, ltan_h=args.ltan_h,
                        tle_file=args.tle_file)


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
    e.add_argument("--hours", type=float, default=24.0, help="simulated duration")
    e.add_argument("--step-s", type=float, default=10.0, help="integration step")
    _add_orbit_args(e)
    e.add_argument("--board", default="auto", help="board profile name or .toml path")
    e.add_argument("--spacecraft", default=None, help="spacecraft profile (default: board's)")
    e.add_argument("--radiation", choices=RADIATION_ENVIRONMENTS, default="leo",
                   help="radiation environment")
    e.add_argument("--device", default=None,
                   help="memory holding the weights (default: the board's; orbnode radiation)")
    e.add_argument("--shielding-mm-al", type=float, default=None,
                   help="aluminium around the memory (default: the spacecraft's)")
    e.add_argument("--solar", choices=("min", "max"), default=None,
                   help="AP8 solar-cycle phase (default: the environment's)")
    e.add_argument(
        "--mode",
        choices=("auto", *MODES),
        default="auto",
        help="node power mode; auto = reference scheduler (eclipse, SoC, temperature)",
    )
    e.add_argument("--node-power-w", type=float, default=None, help="constant node power")
    e.add_argument("--initial-soc", type=float, default=1.0,
                   help="battery state of charge at the start, 0..1")
    e.add_argument("--age-years", type=float, default=None, help="battery age (capacity fade)")
    e.add_argument("--json", action="store_true", help="print JSON")
    e.add_argument("--plot", default=None, metavar="FILE.png", help="draw the run")
    e.set_defaults(func=cmd_envelope)


# ---------------------------------------------------------------------------- orbit
def _public(report: dict) -> dict:
    return {k: v for k, v in report.items() if not k.startswith("_")}


def cmd_orbit(args: argparse.Namespace) -> int:
    if args.plot and not str(args.plot).lower().endswith(".png"):
        raise OrbnodeError("--plot needs a .png file name")
    from firmware_stubs.envelope_plots import plot_orbit
    from firmware_stubs.orbit_report import orbit_report

    report = orbit_report(_orbit_config(args), args.shadow, args.days)
    if args.plot:
        plot_orbit(report, args.plot)
    pub = _public(report)
    if args.json:
        print(json.dumps(pub, indent=2))
    else:
        for key, value in pub.items():
            print(f"{key:22s} {value:.4f}" if isinstance(value, float) else f"{key:22s} {value}")
    return 0


# ---------------------------------------------------------------------------- envelope
def cmd_envelope(args: argparse.Namespace) -> int:
    from firmware_stubs.envelope_plots import plot_envelope
    from firmware_stubs.envelope_runs import run_envelope
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
        device=args.device,
        shielding_mm_al=args.shielding_mm_al,
        solar=args.solar,
    )
    from orbnode.progress import Progress

    bar: list[Progress] = []

    def progress(done: int, total: int) -> None:
        if not bar:
            bar.append(Progress(total, "orbnode envelope", "step"))
        bar[0].update(done - bar[0].done)

    try:
        summary, series = run_envelope(config, args.hours, args.step_s, args.mode,
                                       args.node_power_w, progress=progress)
    finally:
        for b in bar:
            b.close()
    if args.plot:
        plot_envelope(summary, series, args.plot)
        summary["plot"] = str(args.plot)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for key, value in summary.items():
            print(f"{key:28s} {value:.4g}" if isinstance(value, float) else f"{key:28s} {value}")
    return 0
