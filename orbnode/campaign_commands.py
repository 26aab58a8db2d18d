"""``orbnode campaign``: a statistical fault-injection campaign in a SQLite database.

Choices are checked by the handler, not by argparse, so a wrong ``--target`` gets
the same one-line error and exit status 2 as every other user mistake.
"""

from __future__ import annotations

import argparse
import json
import sys

from node.errors import OrbnodeError
from orbnode.progress import Progress
from radiation.faults import KINDS


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``campaign`` sub-command."""
    p = sub.add_parser(
        "campaign", help="statistical fault-injection campaign (resumable, SQLite)",
        description="Plan N faults from a seed, store the plan in --db, run them on W workers "
                    "and classify every outcome (masked, tolerable, sdc, due). A killed "
                    "campaign continues with --resume. Every record is reproducible with "
                    "orbnode inject (same tensor, index, bit, level and input).")
    p.add_argument("--db", default=None, metavar="F", help="campaign database (SQLite)")
    p.add_argument("--resume", action="store_true",
                   help="continue the campaign in --db (its stored plan and settings)")
    p.add_argument("--model", default=None, help="ONNX model (default: bundled digits CNN)")
    p.add_argument("--target", default=None, help="weights (default) or activations")
    p.add_argument("--level", default=None,
                   help="file (default): weights as stored; runtime: the optimised graph")
    p.add_argument("--fault", default=None, metavar="KIND",
                   help=f"fault model: {', '.join(KINDS)} (default seu)")
    p.add_argument("--span", type=int, default=None,
                   help="bits (mbu, stuck-at) or words (mcu) per fault (default 1)")
    p.add_argument("--faults", type=int, default=None, metavar="N",
                   help="faults to plan in all (default: Leveugle's sample size for "
                        "--margin/--confidence, per stratum)")
    p.add_argument("--seed", type=int, default=None, help="plan seed (default 0)")
    p.add_argument("--stratum", default=None,
                   help="none (default: uniform over bits), tensor, bit or field, or a product "
                        "such as tensor,field or tensor,bit (one stratum per cell, each with "
                        "its own Leveugle size); --faults are shared equally between strata")
    p.add_argument("--tensors", type=_names, default=None, metavar="A,B",
                   help="restrict the population to these tensors")
    p.add_argument("--bits", default=None, metavar="SPEC",
                   help="restrict the population to these bit positions, e.g. 23-30,31")
    p.add_argument("--field", default=None,
                   help="restrict the population to sign, exponent, mantissa or magnitude bits")
    p.add_argument("--input", default=None,
                   help="real input, .npy or .npz (default: the bundled sample for the default "
                        "model, else random inputs from --seed)")
    p.add_argument("--samples", type=int, default=None, metavar="K",
                   help="spread faults over the first K samples of the input (default 1)")
    p.add_argument("--input-shape", default=None, help="for dynamic dims, e.g. 1,3,48,192")
    p.add_argument("--workers", type=int, default=1, metavar="W", help="worker processes")
    p.add_argument("--threads", type=int, default=None, metavar="T",
                   help="intra-op threads per worker (default: the cores shared out over "
                        "--workers, at least 1)")
    p.add_argument("--shortcuts", action=argparse.BooleanOptionalAction, default=None,
                   help="decide single-bit upsets node by node from the fault, stopping where "
                        "the activations equal the clean ones again (exact). Default: per "
                        "tensor, whichever of this and the graph tail measured faster on its "
                        "first faults (same records either way)")
    p.add_argument("--batch", action=argparse.BooleanOptionalAction, default=True,
                   help="batch faults through a node, and group Conv weight faults, where a "
                        "start-up check shows it bit-exact (default on)")
    p.add_argument("--executor", default="local", help="local (default) or ray (if installed)")
    p.add_argument("--reuse", action=argparse.BooleanOptionalAction, default=True,
                   help="reuse clean activations: run only the graph after the fault "
                        "(exact; default on)")
    p.add_argument("--chunk", type=int, default=256,
                   help="faults per work unit and per database commit")
    p.add_argument("--margin", type=float, default=0.01,
                   help="error margin for the sample size (default 0.01)")
    p.add_argument("--confidence", type=float, default=0.99,
                   help="confidence of the sample size and of every interval (default 0.99)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: on, off with --json unless a tty)")
    p.add_argument("--mitigations", default=None, metavar="M,M",
                   help="run every planned fault under each of these: any of none, scrub, "
                        "secded, ranges, tmr (default none); the summary compares them")
    p.add_argument("--tolerance", default=None, metavar="T",
                   help="tolerable = every output element within T: a number (absolute) or "
                        "abs=A,rel=R (|y - y0| <= A + R |y0|); default: top-1 unchanged")
    p.add_argument("--report", default=None, metavar="DIR",
                   help="write the campaign report (orbnode report) to DIR at the end")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_campaign)


def cmd_campaign(args: argparse.Namespace) -> int:
    from node.engine import parse_shape
    from radiation.campaign.driver import Options, run
    from radiation.campaign.plan import parse_bits
    from radiation.campaign.summary import render
    from radiation.mitigations.protect import parse_mitigations

    if not args.db:
        raise OrbnodeError("give the campaign database with --db FILE")
    if args.fault is not None and args.fault not in KINDS:
        raise OrbnodeError(f"unknown --fault {args.fault!r}; choose one of {', '.join(KINDS)}")
    show = args.progress
    if show is None:
        show = not args.json or sys.stderr.isatty()
    bar: list[Progress] = []  # made on the first report, when the plan's size is known

    def progress(done: int, planned: int, counts: dict[str, int]) -> None:
        if not bar:
            bar.append(Progress(planned, "orbnode campaign", "fault", initial=done))
        bar[0].update(done - bar[0].done)
        if counts:
            bar[0].set_postfix(", ".join(f"{k} {v}" for k, v in counts.items()))
    opts = Options(
        db=args.db, resume=args.resume, model=args.model, target=args.target,
        level=args.level, fault=args.fault, span=args.span, faults=args.faults,
        seed=args.seed, stratum=args.stratum, tensors=args.tensors,
        bits=parse_bits(args.bits), field=args.field, samples=args.samples,
        input=args.input,
        input_shape=parse_shape(args.input_shape) if args.input_shape else None,
        margin=args.margin, confidence=args.confidence, workers=args.workers,
        threads=args.threads, shortcuts=args.shortcuts, batch=args.batch,
        executor=args.executor, reuse=args.reuse, chunk=args.chunk,
        progress=progress if show else None,
        mitigations=(parse_mitigations(args.mitigations) if args.mitigations is not None
                     else None),
        tolerance=args.tolerance, report=args.report)
    try:
        summary = run(opts)
    finally:
        for b in bar:
            b.close()
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(render(summary))
    return 0
