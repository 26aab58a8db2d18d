"""``orbnode tensors``: list a model's fault sites (weights and activations)."""

from __future__ import annotations

import argparse
import json

from orbnode.options import add_model_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tensors", help="list a model's weights and activations: the names "
        "inject and campaign accept, with dtype, shape and bits exposed",
        description="Load the model as the node runs it (--level) and list its fault sites: "
                    "every weight, with whether the session really reads it (a weight "
                    "onnxruntime folded away is not live, and says why), and every "
                    "activation one clean inference produces, with its dtype, shape and the "
                    "bits a fault can hit. The names are the ones orbnode inject --tensor and "
                    "orbnode campaign --tensors accept.")
    add_model_args(p)
    p.add_argument("--kind", choices=["all", "weight", "activation"], default="all",
                   help="which tensors to list")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(func=cmd_tensors)


def cmd_tensors(args: argparse.Namespace) -> int:
    import numpy as np

    from node.engine import Engine, parse_shape
    from node.inputs import load_inputs
    from node.models import DEFAULT_MODEL
    from radiation.tensors import list_tensors

    shape = parse_shape(args.input_shape) if args.input_shape else None
    engine = Engine(args.model or str(DEFAULT_MODEL), threads=1, input_shape=shape,
                    level=args.level)
    xs, _ = load_inputs(engine, args.input, np.random.default_rng(0))
    x = np.ascontiguousarray(xs[:engine.input_shape[0]])
    engine.check_inference(x)  # a model that cannot run says so in one line
    rows = [t for t in list_tensors(engine, x) if args.kind in ("all", t.kind)]
    if args.json:
        print(json.dumps([t.as_json() for t in rows], indent=2))
        return 0
    width = max((len(t.name) for t in rows), default=4)
    print(f"{'name':{width}s}  {'kind':10s}  {'dtype':8s}  {'shape':18s}  {'bits':>9s}  live")
    for t in rows:
        live = "yes" if t.live else f"no ({t.note})" if t.note else "no"
        print(f"{t.name:{width}s}  {t.kind:10s}  {t.dtype:8s}  {str(list(t.shape)):18s}  "
              f"{t.bits:9d}  {live}")
    return 0
