"""``orbnode inject``: one fault, one inference, the output saved — one campaign record.

Parses the arguments and calls :func:`radiation.inject.inject`, which builds the
record a campaign stores for the same fault; this module only loads the input and
prints or saves what comes back.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from node.errors import OrbnodeError
from orbnode.options import positive
from radiation.faults import KINDS


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``inject`` sub-command."""
    p = sub.add_parser(
        "inject", help="inject one fault into one inference and save the output",
        description="One fault, one inference: reproduces a single campaign record. "
                    "NAME is the tensor's name in the ONNX graph (weight, Constant output, "
                    "activation, input or output); INDEX is the flat C-order element index; "
                    "bit 0 is the least significant bit of the element's stored word.")
    p.add_argument("--model", default=None, help="ONNX model (default: bundled digits CNN)")
    p.add_argument("--tensor", required=True, metavar="NAME", help="tensor to hit")
    p.add_argument("--index", required=True, type=int, metavar="I", help="flat C-order index")
    p.add_argument("--bit", required=True, type=int, metavar="B",
                   help="bit, 0 = LSB (first bit of an mbu/stuck-at span; "
                        "ignored by --fault random)")
    p.add_argument("--fault", default="seu", choices=KINDS,
                   help="fault model: seu (default), mbu (SPAN adjacent bits), mcu (same bit "
                        "in SPAN neighbouring words), stuck-at-0/1, random (word := --word)")
    p.add_argument("--span", type=int, default=1, help="bits (mbu, stuck-at) or words (mcu)")
    p.add_argument("--word", default=None,
                   help="replacement word for --fault random (int or 0x hex; default: "
                        "random from --seed)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of --fault random and of a random input")
    p.add_argument("--level", choices=["file", "runtime"], default="file",
                   help="file: weights as stored; runtime: the optimised graph's fused weights")
    p.add_argument("--method", choices=["patch", "tail"], default="patch",
                   help="activation faults: ScatterND patch in the whole graph, or the graph "
                        "tail fed by clean activations (both exact)")
    p.add_argument("--input", default=None,
                   help="real input, .npy or .npz (default: the bundled sample for the "
                        "default model, else a random input from --seed)")
    p.add_argument("--sample", type=int, default=0, help="which sample of --input to feed")
    p.add_argument("--input-shape", default=None,
                   help="for dynamic dims, e.g. 1,3,48,192 (default: --input's shape when "
                        "its rank matches the model's)")
    p.add_argument("--output", default=None, metavar="Y.npy",
                   help="where to save the faulty output (.npy; .npz for several outputs)")
    p.add_argument("--mitigation", default="none",
                   help="none (default), scrub, secded, ranges or tmr (as in orbnode campaign "
                        "--mitigations; ranges profiles its bounds on every sample of --input)")
    p.add_argument("--tolerance", default=None, metavar="T",
                   help="tolerable = every output element within T: a number (absolute) or "
                        "abs=A,rel=R (|y - y0| <= A + R |y0|); default: top-1 unchanged")
    p.add_argument("--threads", type=positive(int), default=1,
                   help="onnxruntime intra-op threads")
    p.add_argument("--json", action="store_true", help="print the record as JSON")
    p.set_defaults(func=cmd_inject)


def _parse_word(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text, 0)
    except ValueError:
        raise OrbnodeError(f"bad --word {text!r}: expected an integer like 0x7f800001") from None


def _load_inputs(engine, args: argparse.Namespace) -> np.ndarray:  # noqa: ANN001
    from node.inputs import load_inputs

    xs, _ = load_inputs(engine, args.input, np.random.default_rng(args.seed))
    n = engine.input_shape[0]
    if not 0 <= args.sample or args.sample + n > len(xs):
        raise OrbnodeError(f"--sample {args.sample} out of range: the input holds {len(xs)} "
                           f"samples and the model takes {n} at a time")
    return xs


def cmd_inject(args: argparse.Namespace) -> int:
    from node.engine import Engine, parse_shape
    from node.models import DEFAULT_MODEL
    from radiation.inject import inject
    from radiation.mitigations.protect import parse_mitigations
    from radiation.outcome import Tolerance

    if args.seed < 0:
        raise OrbnodeError(f"--seed must be non-negative, got {args.seed}")
    if args.output and not args.output.endswith((".npy", ".npz")):
        raise OrbnodeError(f"--output {args.output!r} must end in .npy or .npz")
    tolerance = Tolerance.parse(args.tolerance)
    parse_mitigations(args.mitigation, "--mitigation")
    model = args.model or str(DEFAULT_MODEL)
    from node.inputs import file_shape

    shape = parse_shape(args.input_shape) if args.input_shape else None
    # Without --input-shape, the --input file's shape fixes dynamic dimensions.
    engine = Engine(model, threads=args.threads, input_shape=shape, level=args.level,
                    shape_hint=None if shape else file_shape(args.input))
    xs = _load_inputs(engine, args)
    n = engine.input_shape[0]
    x = np.ascontiguousarray(xs[args.sample:args.sample + n])
    engine.check_inference(x)  # a model that cannot run says so in one line
    record, outputs = inject(
        engine, x, tensor=args.tensor, index=args.index, bit=args.bit, kind=args.fault,
        span=args.span, word=_parse_word(args.word), seed=args.seed, method=args.method,
        mitigation=args.mitigation, tolerance=tolerance, inputs=xs)
    saved = None
    if outputs is not None and args.output:
        _save(args.output, engine.output_names, outputs)
        saved = args.output
    if args.json:
        print(json.dumps({**record.to_dict(), "output_file": saved}, indent=2))
    else:
        print(record.text() + (f"; saved {saved}" if saved else ""), file=sys.stdout)
    return 0 if outputs is not None else 1


def _save(path: str, names: list[str], outputs: list[np.ndarray]) -> None:
    p = Path(path)
    if p.suffix == ".npz":
        np.savez(p, **dict(zip(names, outputs, strict=True)))
    elif len(outputs) == 1:
        np.save(p, outputs[0])
    else:
        raise OrbnodeError(f"the model has {len(outputs)} outputs; give --output a .npz path")
