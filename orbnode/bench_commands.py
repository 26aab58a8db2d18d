"""``orbnode bench``: throughput per watt per model and power mode, and the runtime's
rate against bare onnxruntime, measured in one run."""

from __future__ import annotations

import argparse
import json
import sys

from node.errors import OrbnodeError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="throughput per watt per model and power mode")
    p.add_argument("--model", action="append", default=None,
                   help="ONNX model (repeatable; default: bundled digits CNN)")
    p.add_argument("--input-shape", default=None, help="for models with dynamic dims")
    p.add_argument("--input", default=None, help="real inputs, .npy or .npz")
    p.add_argument("--level", choices=["runtime", "file"], default="runtime",
                   help="engine level (see orbnode node --help)")
    p.add_argument("--board", default="auto")
    p.add_argument("--power-source", default="auto", help="auto, rapl, hwmon or model")
    p.add_argument("--modes", default="FULL,ECO,SAFE")
    p.add_argument("--seconds", type=float, default=2.0, help="measured window per mode")
    p.add_argument("--rounds", type=int, default=7, help="rounds of the runtime-vs-bare test")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from bench.runtime import runtime_vs_bare
    from bench.throughput import measure_model
    from node.boards import detect_board, load_board
    from node.engine import Engine, parse_shape
    from node.inputs import load_inputs
    from node.models import DEFAULT_MODEL
    from node.power import open_power_source

    if args.seconds <= 0 or args.rounds <= 0:
        raise OrbnodeError("--seconds and --rounds must be positive")
    board = load_board(detect_board() if args.board == "auto" else args.board)
    modes = [m.strip().upper() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in board.modes]
    if bad or not modes:
        raise OrbnodeError(f"unknown power mode(s) {', '.join(bad) or '(none)'}; "
                           f"board {board.name} has {', '.join(board.modes)}")
    power = open_power_source(args.power_source, board)
    shape = parse_shape(args.input_shape) if args.input_shape else None
    # Load every model and its inputs first: a bad one fails before any measuring.
    loaded = []
    for model in args.model or [str(DEFAULT_MODEL)]:
        engine = Engine(model, threads=1, input_shape=shape, level=args.level)
        loaded.append((engine, *load_inputs(engine, args.input)))
    results = []
    ratios = {}
    with tqdm(total=len(loaded) * (len(modes) + 1), desc="orbnode bench", file=sys.stderr,
              disable=args.json and not sys.stderr.isatty()) as bar:
        for engine, x, y in loaded:
            ratios[engine.model_path.name] = runtime_vs_bare(engine, x, y, rounds=args.rounds)
            bar.update(1)
            results += measure_model(engine, x, y, board, power, modes,
                                     seconds=args.seconds, progress=bar)
    report = {
        "board": board.name,
        "level": args.level,
        "power_source": power.describe(),
        "power_measured": power.measured,
        "results": results,
        "runtime_vs_bare": {k: v["runtime_vs_bare"] for k, v in ratios.items()},
        "runtime_vs_bare_detail": ratios,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    src = f"{power.describe()} ({'measured' if power.measured else 'MODELLED, not measured'})"
    print(f"orbnode bench on {board.name}; power: {src}")
    print(f"  {'model':18s} {'mode':5s} {'thr':>3s} {'wrk':>3s} {'inf/s':>10s} {'W':>7s} "
          f"{'inf/s/W':>9s} {'mJ/inf':>8s}")
    for r in results:
        mj = 1e3 * (r["joules_per_inference"] or 0)
        print(f"  {r['model'][:18]:18s} {r['mode']:5s} {r['threads']:3d} {r['workers']:3d} "
              f"{r['inferences_per_s']:10.1f} {r['watts']:7.2f} "
              f"{r['inferences_per_s_per_w'] or 0:9.1f} {mj:8.3f}")
    for name, r in ratios.items():
        print(f"  {name}: runtime_vs_bare {r['runtime_vs_bare']:.3f} (same graph, "
              f"optimisations off: {r['runtime_vs_bare_same_graph']:.3f})")
    return 0
