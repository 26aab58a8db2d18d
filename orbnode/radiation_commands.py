"""``orbnode inject``: one fault, one inference, the output saved — one campaign record.

The tensor may be a weight (initializer or Constant node; at ``--level runtime`` a
tensor of the optimised graph), an activation (any node output), the graph input or
a graph output. Weight faults are applied in place to the live buffer and undone after
the run; activation faults are exact flips of the value the graph computed (ScatterND
patch, or the graph tail fed by clean activations with ``--method tail``).
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from pathlib import Path

import numpy as np

from node.errors import OrbnodeError
from radiation import bits
from radiation.faults import KINDS, Fault


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
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--level", choices=["file", "runtime"], default="file",
                   help="file: weights as stored; runtime: the optimised graph's fused weights")
    p.add_argument("--method", choices=["patch", "tail"], default="patch",
                   help="activation faults: ScatterND patch in the whole graph, or the graph "
                        "tail fed by clean activations (both exact)")
    p.add_argument("--input", default=None,
                   help="real input, .npy or .npz (default: the bundled sample for the "
                        "default model, else a random input from --seed)")
    p.add_argument("--sample", type=int, default=0, help="which sample of --input to feed")
    p.add_argument("--input-shape", default=None, help="for dynamic dims, e.g. 1,3,48,192")
    p.add_argument("--output", default=None, metavar="Y.npy",
                   help="where to save the faulty output (.npy; .npz for several outputs)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print the record as JSON")
    p.set_defaults(func=cmd_inject)


def _parse_word(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text, 0)
    except ValueError:
        raise OrbnodeError(f"bad --word {text!r}: expected an integer like 0x7f800001") from None


def _summary(outputs: list[np.ndarray]) -> dict:
    first = np.asarray(outputs[0])
    flat = first.reshape(first.shape[0], -1) if first.ndim > 1 else first.reshape(1, -1)
    finite = np.isfinite(first) if first.dtype.kind == "f" else np.ones(first.shape, bool)
    return {
        "shape": list(first.shape),
        "top1": flat.argmax(axis=1).tolist(),
        "finite": bool(finite.all()),
        "min": float(np.nanmin(first)) if finite.any() else None,
        "max": float(np.nanmax(first)) if finite.any() else None,
    }


def _value(arr: np.ndarray, index: int) -> float | int:
    v = arr.reshape(-1)[index]
    return float(v) if arr.dtype.kind == "f" or arr.dtype.name == "bfloat16" else int(v)


def _json_float(v: float | int) -> float | int | str:
    if isinstance(v, float) and not np.isfinite(v):
        return repr(v)
    return v


def _load_input(engine, args: argparse.Namespace) -> np.ndarray:  # noqa: ANN001
    from node.inputs import load_inputs

    xs, _ = load_inputs(engine, args.input, np.random.default_rng(args.seed))
    n = engine.input_shape[0]
    if not 0 <= args.sample or args.sample + n > len(xs):
        raise OrbnodeError(f"--sample {args.sample} out of range: the input holds {len(xs)} "
                           f"samples and the model takes {n} at a time")
    return np.ascontiguousarray(xs[args.sample:args.sample + n])


def _unknown_tensor(name: str, weights: list[str], acts: list[str], level: str) -> OrbnodeError:
    close = difflib.get_close_matches(name, weights + acts, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    where = "the optimised graph (--level runtime)" if level == "runtime" else "the model"
    return OrbnodeError(f"no tensor named {name!r} in {where}{hint} "
                        f"({len(weights)} weights, {len(acts)} activations)")


def cmd_inject(args: argparse.Namespace) -> int:
    from node.engine import Engine, parse_shape
    from node.models import DEFAULT_MODEL
    from radiation.activations import ActivationInjector
    from radiation.faults import random_fault
    from radiation.trials import Golden, WeightTrials

    model = args.model or str(DEFAULT_MODEL)
    shape = parse_shape(args.input_shape) if args.input_shape else None
    if args.output and not args.output.endswith((".npy", ".npz")):
        raise OrbnodeError(f"--output {args.output!r} must end in .npy or .npz")
    engine = Engine(model, threads=args.threads, input_shape=shape, level=args.level)
    x = _load_input(engine, args)
    acts = ActivationInjector(engine)
    name = args.tensor
    if name in engine.weights:
        target, arr = "weight", engine.weights[name]
    elif name in acts.targets:
        golden_acts = acts.golden(x)
        arr = golden_acts[name]
        target = ("input" if name == engine.input_name
                  else "output" if name in engine.output_names else "activation")
    else:
        raise _unknown_tensor(name, list(engine.weights), acts.targets, args.level)

    word = _parse_word(args.word)
    if args.fault == "random":
        bits.check_site(arr, args.index, 0, name=name)
        fault = (Fault(name, args.index, 0, "random", 1, word) if word is not None
                 else random_fault(name, arr, args.index, np.random.default_rng(args.seed)))
        if not 0 <= fault.word < 1 << bits.word_bits(arr.dtype):
            raise OrbnodeError(f"--word {args.word} does not fit a {arr.dtype.name} word")
    else:
        if word is not None:
            raise OrbnodeError("--word applies to --fault random only")
        try:
            fault = Fault(name, args.index, args.bit, args.fault, args.span)
        except bits.FaultSiteError as exc:
            raise OrbnodeError(str(exc)) from None
    old_word = (bits.read_word(arr, args.index) if 0 <= args.index < arr.size else None)
    old_value = _value(arr, args.index) if old_word is not None else None

    if target == "weight":
        trials = WeightTrials(engine, x)
        golden = trials.golden
        applied = trials.injector.apply(fault)  # checks the site and liveness first
        new_word = bits.read_word(arr, args.index)
        new_value = _value(arr, args.index)
        trials.injector.undo(applied)
        outcome, outputs = trials.run_fault(fault)
        method = "in-place"
    else:
        golden = Golden([golden_acts[o] for o in engine.output_names])
        acts.check(fault, golden_acts)
        new = np.array(arr, copy=True)
        nw = fault.new_word(old_word)
        bits.word_view(new)[args.index] = nw
        new_word, new_value = nw, _value(new, args.index)
        if args.method == "tail" or target == "input":
            outputs = acts.run_tail(fault, golden_acts)
            method = "tail"
        else:
            outputs = acts.run_patched(x, fault, golden_acts)
            method = "scatternd"
        outcome = golden.classify(outputs)

    max_diff = None
    if outputs is not None:  # None: onnxruntime failed on the faulty values (a DUE)
        if args.output:
            _save(args.output, engine.output_names, outputs)
        diff = np.abs(outputs[0].astype(np.float64) - golden.outputs[0].astype(np.float64))
        with np.errstate(invalid="ignore"):
            max_diff = float(np.nanmax(diff)) if np.isfinite(diff).any() else None
    hexw = 2 * arr.itemsize
    record = {
        "model": str(model), "level": args.level, "target": target,
        "tensor": name, "index": args.index, "bit": args.bit, "fault": fault.to_dict(),
        "dtype": arr.dtype.name, "shape": list(arr.shape),
        "old_word": f"0x{old_word:0{hexw}x}", "new_word": f"0x{new_word:0{hexw}x}",
        "old_value": _json_float(old_value), "new_value": _json_float(new_value),
        "live": bool(engine.live.get(name, True)), "method": method,
        "outcome": outcome, "golden": _summary(golden.outputs),
        "faulty": _summary(outputs) if outputs is not None else None,
        "max_abs_diff": max_diff, "output_file": args.output if outputs is not None else None,
    }
    if args.json:
        print(json.dumps(record, indent=2))
    else:
        site = f"{name}[{args.index}]" + ("" if fault.kind == "random" else f" bit {args.bit}")
        print(f"{target} {site} ({fault.kind}, {arr.dtype.name}, "
              f"level {args.level}, {method}): {old_value!r} -> {new_value!r}; outcome {outcome}; "
              + (f"top-1 {record['golden']['top1']} -> {record['faulty']['top1']}"
                 if outputs is not None else "the faulty inference failed in onnxruntime")
              + (f"; saved {args.output}" if record["output_file"] else ""), file=sys.stdout)
    return 0 if outputs is not None else 1


def _save(path: str, names: list[str], outputs: list[np.ndarray]) -> None:
    p = Path(path)
    if p.suffix == ".npz":
        np.savez(p, **dict(zip(names, outputs, strict=True)))
    elif len(outputs) == 1:
        np.save(p, outputs[0])
    else:
        raise OrbnodeError(f"the model has {len(outputs)} outputs; give --output a .npz path")
