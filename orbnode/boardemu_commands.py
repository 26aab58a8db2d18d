"""``orbnode board-emu``: a board's bundle installed, self-tested and flown on an
emulated board (see :mod:`orbnode.boardemu`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from orbnode.options import non_negative, positive

SUMMARY_KEYS = ("ticks", "sim_seconds", "wall_seconds", "inferences",
                "throughput_sunlit_per_s", "energy_env_j", "power_source", "stopped_because",
                "step_wall_s")


def register(sub: argparse._SubParsersAction) -> None:
    from firmware_stubs.profiles import RADIATION_ENVIRONMENTS

    p = sub.add_parser(
        "board-emu", help="install, self-test and fly a board's bundle on an emulated board "
                          "(arm64 root under QEMU; root, Linux)",
        description="Flash the board's bundle (or take --bundle), build or reuse an arm64 "
                    "root of the board's OS, install the bundle there with its install.sh, "
                    "run the selftest, then fly the installed node against the simulator "
                    "over a pty. Figures are from an emulated CPU; power is modelled.")
    p.add_argument("--board", required=True, help="rpi4, rpi5 or jetson-orin-nano")
    p.add_argument("--out", default=None, help="run folder (default out/board-emu/BOARD)")
    p.add_argument("--bundle", default=None,
                   help="fly this flashed bundle instead of flashing one")
    p.add_argument("--cache", default="out/board-emu/roots",
                   help="where built arm64 roots are kept and reused")
    p.add_argument("--mirror", default=None,
                   help="archive mirror to build the root from (default per board: "
                        "orbnode/data/board_roots.toml)")
    p.add_argument("--orbits", type=positive(), default=0.1, help="how long the run lasts")
    p.add_argument("--speedup", type=positive(), default=30.0,
                   help="environment seconds per wall second")
    p.add_argument("--tick-s", type=positive(), default=1.0, help="wall seconds per env tick")
    p.add_argument("--radiation", choices=RADIATION_ENVIRONMENTS, default="leo",
                   help="radiation environment")
    p.add_argument("--seed", type=non_negative(int), default=0,
                   help="seed of the node's upset process")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_board_emu)


def cmd_board_emu(args: argparse.Namespace) -> int:
    from orbnode.boardemu import EmuConfig, run_board_emu

    out = Path(args.out or f"out/board-emu/{args.board}")
    cfg = EmuConfig(board=args.board, out=out, cache=Path(args.cache),
                    bundle=Path(args.bundle) if args.bundle else None, mirror=args.mirror,
                    orbits=args.orbits,
                    speedup=args.speedup, tick_wall_s=args.tick_s, radiation=args.radiation,
                    seed=args.seed)
    summary = run_board_emu(cfg)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0 if summary.get("complete") else 1
    print(f"orbnode board-emu: {summary['board']} EMULATED ({summary['emulated_cpu']}, "
          f"{summary['emulator']}) — results in {out}")
    for key in SUMMARY_KEYS:
        if summary.get(key) is not None:
            tag = "  [MODELLED power]" if key == "energy_env_j" else \
                "  [emulated]" if key in ("wall_seconds", "inferences",
                                          "throughput_sunlit_per_s", "step_wall_s") else ""
            print(f"  {key:26s} {summary[key]}{tag}")
    return 0 if summary.get("complete") else 1
