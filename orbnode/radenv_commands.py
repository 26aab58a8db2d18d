"""``orbnode radiation``: the orbit-averaged single-event-upset rate of a memory device.

``orbnode radiation --altitude-km 686 --inclination-deg 98.2 --device SRAM --json``
flies the orbit for a day through the same environment model as ``orbnode run`` and
``orbnode envelope`` (AP8 trapped protons behind the aluminium shield, galactic
cosmic rays and, with ``--radiation solar-event``, the worst-day solar event, each
cut by the geomagnetic field) and prints the orbit-averaged rate per bit, the share
of upsets inside the South Atlantic Anomaly, where the rate peaks, and the AP8
proton flux above 10 and 30 MeV. ``--plot FILE.png`` draws the world map.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from firmware_stubs.profiles import RADIATION_ENVIRONMENTS, list_devices
from node.errors import OrbnodeError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "radiation",
        help="orbit-averaged upset rate per bit (AP8 protons, shielding, device, GCR, SPE)",
        description=__doc__.split("\n\n")[1],
    )
    p.add_argument("--altitude-km", type=float, default=550.0, help="circular orbit altitude")
    p.add_argument("--inclination-deg", type=float, default=51.6, help="orbit inclination")
    p.add_argument("--tle-file", default=None, help="real orbit from a two-line element file")
    p.add_argument("--shielding-mm-al", type=float, default=None,
                   help="aluminium around the memory (default: the spacecraft profile's)")
    p.add_argument("--device", default=None,
                   help="memory technology: " + ", ".join(list_devices())
                   + " (default: the board's weight memory)")
    p.add_argument("--board", default="rpi4", help="board whose weight memory is the default")
    p.add_argument("--solar", choices=("min", "max"), default=None,
                   help="AP8 solar-cycle phase (default: the environment's)")
    p.add_argument("--radiation", choices=RADIATION_ENVIRONMENTS, default="leo",
                   help="radiation environment")
    p.add_argument("--days", type=float, default=1.0, help="averaging span (default 1 day)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--plot", default=None, metavar="FILE.png", help="world map of the rate")
    p.set_defaults(func=cmd_radiation)


def cmd_radiation(args: argparse.Namespace) -> int:
    from firmware_stubs.envelope import Envelope
    from firmware_stubs.orbitlib import parse_tle
    from firmware_stubs.radenvlib import check_trapped_altitude_km
    from firmware_stubs.radiation_report import orbit_radiation, plot_rate_map

    if not (math.isfinite(args.days) and 0.0 < args.days <= 30.0):
        raise OrbnodeError(f"--days must be within (0, 30], got {args.days:g}")
    if args.plot and not args.plot.lower().endswith(".png"):
        raise OrbnodeError(f"--plot needs a .png file name, got {args.plot!r}")
    config: dict = {"board": args.board, "radiation": args.radiation, "device": args.device,
                    "shielding_mm_al": args.shielding_mm_al, "solar": args.solar}
    if args.tle_file:
        try:
            text = Path(args.tle_file).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise OrbnodeError(f"cannot read TLE file {args.tle_file}: {exc.strerror}") from None
        config.update(tle=parse_tle(text), beta_deg=None)
    else:
        try:
            check_trapped_altitude_km(args.altitude_km)
        except ValueError as exc:
            raise OrbnodeError(str(exc)) from None
        config.update(altitude_km=args.altitude_km, inclination_deg=args.inclination_deg,
                      beta_deg=None)
    if args.radiation == "off":
        raise OrbnodeError("--radiation off has no upsets to report; choose leo, saa-heavy "
                           "or solar-event")
    env = Envelope.from_config(**config)
    result, track = orbit_radiation(env, days=args.days)
    out = result.as_dict()
    if args.plot:
        plot_rate_map(env, result, track, args.plot)
        out["plot"] = args.plot
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"{result.device} behind {result.shielding_mm_al:g} mm Al at "
              f"{result.altitude_km:.0f} km, {result.inclination_deg:.1f} deg, "
              f"AP8{result.solar.upper()}{' + solar event' if result.solar_event else ''}:")
        print(f"  {result.upsets_per_bit_day:.3g} upsets/bit/day "
              f"(trapped {result.trapped_per_bit_day:.3g}, GCR {result.gcr_per_bit_day:.3g}, "
              f"SPE {result.spe_per_bit_day:.3g}); {100 * result.saa_share:.1f} % in the SAA "
              f"({100 * result.saa_time_share:.1f} % of the time)")
        print(f"  peak {result.peak_upsets_per_bit_day:.3g} at lat "
              f"{result.peak_latitude_deg:.1f}, lon {result.peak_longitude_deg:.1f}; AP8 flux "
              f">10 MeV {result.proton_flux_gt10mev_cm2_s:.3g}, >30 MeV "
              f"{result.proton_flux_gt30mev_cm2_s:.3g} /cm2/s")
    return 0
