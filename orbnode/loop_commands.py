"""Host-side loop sub-commands: ``orbnode run`` and ``orbnode sim``."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from firmware_stubs.profiles import RADIATION_ENVIRONMENTS
from node.errors import OrbnodeError
from orbnode.options import (
    LOG_LEVELS,
    PORT_HELP,
    baud_rate,
    non_negative,
    packet_field,
    positive,
    tcp_port,
)

# What the printed summary shows, in order. Every derived line can be recomputed from
# lines above it (firmware_stubs/summary.py gives the equations); ``_wall`` and ``_env``
# name the clock an energy is integrated over.
SUMMARY_LINES = (
    ("orbits", "{:.2f}"), ("sim_seconds", "{:.0f} s"), ("wall_seconds", "{:.1f} s"),
    ("inferences", "{:d}"), ("inferences_sunlit", "{:d}"), ("inferences_eclipse", "{:d}"),
    ("inferences_windowed", "{:d}"), ("eclipse_fraction", "{:.3f}"),
    ("node_wall_sunlit_s", "{:.4f} s"), ("node_wall_eclipse_s", "{:.4f} s"),
    ("throughput_sunlit_per_s", "{:.1f} /s"), ("throughput_eclipse_per_s", "{:.1f} /s"),
    ("node_wall_s", "{:.4f} s"), ("energy_wall_j", "{:.3f} J"), ("mean_power_w", "{:.3f} W"),
    ("inferences_per_joule_wall", "{:.2f} /J"), ("energy_env_j", "{:.0f} J"),
    ("power_source", "{}"),
    ("min_soc", "{:.3f}"), ("soc_floor", "{:.3f}"), ("max_temp_c", "{:.1f} °C"),
    ("upsets", "{}"), ("upsets_expected", "{:.3g}"), ("upset_acceleration", "{:g}"),
    ("scrub_detected", "{}"),
    ("scrub_repairs", "{}"), ("tc_rejected", "{}"), ("frames_bad_node", "{}"),
    ("frames_bad_host", "{}"), ("retries", "{}"), ("gaps", "{}"), ("resets", "{}"),
    ("stored", "{}"), ("store_overflow", "{}"),
)


ENERGY_KEYS = ("energy_wall_j", "mean_power_w", "inferences_per_joule_wall", "energy_env_j")


def _add_env_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--altitude-km", type=float, default=550.0, help="circular orbit altitude")
    p.add_argument("--beta-deg", type=float, default=0.0,
                   help="sun angle to the orbit plane (0: longest eclipse)")
    p.add_argument("--board", default="auto", help="board profile name or .toml path")
    p.add_argument("--spacecraft", default=None, help="spacecraft profile (default: board's)")
    p.add_argument("--radiation", choices=RADIATION_ENVIRONMENTS, default="leo",
                   help="radiation environment (off: no upsets)")
    p.add_argument("--device", default=None,
                   help="memory technology holding the weights (default: the board's)")
    p.add_argument("--shielding-mm-al", type=float, default=None,
                   help="aluminium around the memory (default: the spacecraft's)")
    p.add_argument("--solar", choices=("min", "max"), default=None,
                   help="AP8 solar-cycle phase (default: the environment's)")
    p.add_argument("--initial-soc", type=non_negative(), default=1.0,
                   help="battery state of charge at the start, 0..1")
    p.add_argument("--orbits", type=positive(), default=3.0, help="how long the run lasts")
    p.add_argument("--speedup", type=positive(), default=150.0,
                   help="environment seconds per wall second")
    p.add_argument("--tick-s", type=positive(), default=0.1, help="wall seconds per env tick")
    p.add_argument("--baud", type=baud_rate, default=115200,
                   help="serial line rate")
    p.add_argument("--ground-port", type=tcp_port, default=None, metavar="N",
                   help="serve live telemetry to ground tools (Yamcs, COSMOS) on TCP port N "
                        "and accept authenticated telecommands there (0: any free port)")
    p.add_argument("--ground-host", default="127.0.0.1",
                   help="address the ground port binds to (default: loopback only)")
    p.add_argument("--lost-after-s", type=positive(), default=30.0,
                   help="wall seconds without housekeeping before the node is declared lost "
                        "(ticks are re-sent meanwhile)")


def _add_watchdog_args(p: argparse.ArgumentParser, default_s: float) -> None:
    p.add_argument("--watchdog-s", type=non_negative(), default=default_s,
                   help="bus watchdog: power-cycle the node after this many wall seconds "
                        "without housekeeping (0: off)")
    p.add_argument("--max-resets", type=non_negative(int), default=3,
                   help="power cycles before the node is declared lost")


def register(sub: argparse._SubParsersAction) -> None:
    from orbnode.options import add_model_args

    p = sub.add_parser("run", help="node + simulator over a pty pair: the whole loop")
    _add_env_args(p)
    add_model_args(p)
    p.add_argument("--power-source", default="auto", help="auto, rapl, hwmon or model")
    p.add_argument("--scrub-period-s", type=non_negative(), default=600.0,
                   help="environment seconds between weight scrubs (0: never)")
    p.add_argument("--upset-acceleration", type=packet_field("env_tick", "upset_acceleration"),
                   default=1.0, help="multiply the physical upset rate (test campaigns, "
                   "0..1e9 as the env_tick definition declares); reported")
    p.add_argument("--insecure", action="store_true",
                   help="run the node without a telecommand key (flagged in the summary); "
                        "by default each run makes a fresh key in --out")
    p.add_argument("--seed", type=non_negative(int), default=0,
                   help="seed of the node's upset process")
    p.add_argument("--out", default="out/run", help="folder for summary.json, "
                   "telemetry.sqlite, timeline.png")
    p.add_argument("--force", action="store_true",
                   help="write into a non-empty --out folder (its run files are replaced)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress on stderr (a bar on a terminal, a line every 10 %% "
                        "elsewhere)")
    p.add_argument("--log-level", choices=LOG_LEVELS, default="info",
                   help="the node's log level (its log is node.log in --out)")
    _add_watchdog_args(p, 10.0)
    p.set_defaults(func=cmd_run)

    s = sub.add_parser("sim", help="host side only: play the bus to a node on a serial port")
    s.add_argument("--port", required=False, help=PORT_HELP)
    _add_env_args(s)
    s.add_argument("--key-file", default=None, help="telecommand key shared with the node")
    s.add_argument("--out", default="out/sim",
                   help="folder for summary.json and telemetry.sqlite")
    s.add_argument("--json", action="store_true", help="print the summary as JSON")
    s.add_argument("--reset-command", default=None,
                   help="bench power cycle for the bus watchdog, run through the shell "
                        "(e.g. a USB relay or `uhubctl -a cycle -p 2`); without it, no watchdog")
    _add_watchdog_args(s, 10.0)
    s.set_defaults(func=cmd_sim)


def _print_summary(summary: dict, out: Path) -> None:
    if summary.get("auth") != "on":
        print(f"  {'auth':26s} {str(summary.get('auth')).upper()}: the node obeyed "
              "unauthenticated telecommands")
    # Energy figures carry their source on the line itself, not only in power_source.
    source = "measured" if summary.get("power_measured") else "MODELLED power"
    for key, fmt in SUMMARY_LINES:
        v = summary.get(key)
        if v is not None:
            tag = f"  [{source}]" if key in ENERGY_KEYS else ""
            print(f"  {key:26s} {fmt.format(v)}{tag}")
    modes = ", ".join(f"{k} {v:.0f} s" for k, v in summary.get("mode_seconds", {}).items())
    print(f"  {'mode_seconds':26s} {modes}")
    note = _radiation_note(summary)
    if note:
        print(f"  {note}")
    print(_last_line(summary, out))


CAMPAIGN_UPSETS = 100  # what the suggested --upset-acceleration aims a run at


def _radiation_note(summary: dict) -> str | None:
    """Say why a run at the physical rate shows (almost) no upsets, and what to do: the
    power of ten of --upset-acceleration that gives this run ~CAMPAIGN_UPSETS upsets."""
    expected = summary.get("upsets_expected")
    if expected is None or summary.get("radiation") == "off" or expected >= 1.0:
        return None
    factor = summary.get("upset_acceleration", 1.0)
    note = f"radiation: {expected:.3g} upsets expected in this run at {factor:g}x the physical rate"
    if expected <= 0 or factor <= 0:
        return note  # nothing to scale
    from node.packets import PACKETS

    limit = PACKETS.defs["env_tick"].ranges["upset_acceleration"].maximum
    suggested = min(10.0 ** round(math.log10(factor * CAMPAIGN_UPSETS / expected)), limit)
    if suggested <= factor:
        return f"{note}, the most allowed; more --orbits give more upsets"
    gives = expected * suggested / factor
    capped = " (the most allowed)" if suggested == limit else ""
    more = ", more with more --orbits" if gives < CAMPAIGN_UPSETS / 10 else ""
    return (f"{note}; for a test campaign raise it: --upset-acceleration {suggested:g}{capped} "
            f"gives about {gives:.3g} upsets{more}")


def _last_line(summary: dict, out: Path) -> str:
    """Why the run stopped, as the last thing it prints."""
    why = summary.get("stopped_because", "completed")
    kept = "results" if summary.get("complete") else "partial results"
    return f"orbnode run: {why} — {kept} in {out}"


def cmd_run(args: argparse.Namespace) -> int:
    from orbnode.run import RunConfig, run

    cfg = RunConfig(out=Path(args.out), orbits=args.orbits, speedup=args.speedup,
                    tick_wall_s=args.tick_s, altitude_km=args.altitude_km,
                    beta_deg=args.beta_deg, board=args.board, spacecraft=args.spacecraft,
                    radiation=args.radiation, device=args.device,
                    shielding_mm_al=args.shielding_mm_al, solar=args.solar,
                    initial_soc=args.initial_soc,
                    upset_acceleration=args.upset_acceleration, level=args.level,
                    power_source=args.power_source,
                    model=args.model, input=args.input, input_shape=args.input_shape,
                    baud=args.baud, scrub_period_s=args.scrub_period_s, seed=args.seed,
                    progress=not args.no_progress, ground_port=args.ground_port,
                    ground_host=args.ground_host, insecure=args.insecure,
                    watchdog_s=args.watchdog_s, max_resets=args.max_resets,
                    lost_after_s=args.lost_after_s, force=args.force,
                    log_level=args.log_level)
    summary = run(cfg)
    if args.json:
        print(json.dumps(summary, indent=2))
        print(_last_line(summary, cfg.out), file=sys.stderr)
    else:
        _print_summary(summary, cfg.out)
    if summary.get("stopped_because") == "interrupted":
        return 130  # as a shell reports a Ctrl-C; the partial results are kept
    return 0 if summary.get("complete") else 1


def cmd_sim(args: argparse.Namespace) -> int:
    from orbnode.hostloop import BusConfig, play_bus

    if not args.port:
        raise OrbnodeError("--port is required (the serial device the node is on)")
    cfg = BusConfig(port=args.port, out=Path(args.out), baud=args.baud, orbits=args.orbits,
                    speedup=args.speedup, tick_wall_s=args.tick_s,
                    altitude_km=args.altitude_km, beta_deg=args.beta_deg, board=args.board,
                    spacecraft=args.spacecraft, radiation=args.radiation, device=args.device,
                    shielding_mm_al=args.shielding_mm_al, solar=args.solar,
                    initial_soc=args.initial_soc, key_file=args.key_file,
                    ground_port=args.ground_port, ground_host=args.ground_host,
                    lost_after_s=args.lost_after_s, watchdog_s=args.watchdog_s,
                    max_resets=args.max_resets, reset_command=args.reset_command)
    summary = play_bus(cfg)
    stopped_because = summary.get("stopped_because", "completed")
    if stopped_because == "interrupted":  # the partial results are kept
        print("orbnode sim: interrupted", file=sys.stderr)
        return 130
    if stopped_because != "completed":
        raise OrbnodeError(f"{stopped_because} (partial results kept in {cfg.out})")
    print(json.dumps(summary, indent=2) if args.json else f"orbnode sim: results in {cfg.out}")
    return 0
