"""Activation range restriction with bounds profiled on clean data (Ranger-style).

Bit flips in high exponent bits turn activations into huge values or NaN that then
swamp the output. Each restricted activation gets ``Clip(x, lo, hi)`` with the
[min, max] seen on clean inputs, and NaN is replaced by 0 (``Clip`` alone lets NaN
through), so a corrupted value is pulled back into the range the network was trained
to produce. The cost is three extra nodes per restricted tensor; the benchmarks
measure it as a clean-rate ratio.

The restriction goes *after* any fault patch of the same tensor, so an activation
fault is injected where the producer writes it and the check sees it, as on a board.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from radiation.activations import ActivationInjector, GraphInfo

RAW_SUFFIX = "__orbnode_raw"


def profile_bounds(engine, xs: np.ndarray, *, targets: list[str] | None = None,  # noqa: ANN001
                   batch: int | None = None, margin: float = 0.0) -> dict[str, tuple[float, float]]:
    """[min, max] of each float activation over clean inferences on ``xs``.

    Default targets: every float tensor a node computes that is not a graph output.
    ``margin`` widens each range by that fraction of its width.
    """
    acts = ActivationInjector(engine)
    info = acts.info
    names = targets or [t for t in acts.targets
                        if t not in info.inputs and t not in info.outputs]
    n = batch or engine.input_shape[0]
    lo: dict[str, float] = {}
    hi: dict[str, float] = {}
    for start in range(0, len(xs) - n + 1, n):
        golden = acts.golden(np.ascontiguousarray(xs[start:start + n]))
        for t in names:
            a = golden[t]
            if a.dtype.kind != "f" or not a.size:
                continue
            lo[t] = min(lo.get(t, np.inf), float(a.min()))
            hi[t] = max(hi.get(t, -np.inf), float(a.max()))
    out = {}
    for t in lo:
        pad = (hi[t] - lo[t]) * margin
        out[t] = (lo[t] - pad, hi[t] + pad)
    return out


def restrict_model(model: onnx.ModelProto,
                   bounds: dict[str, tuple[float, float]]) -> onnx.ModelProto:
    """``model`` with ``Clip`` + NaN-to-zero after every tensor in ``bounds``."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    opset = next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < 11:
        raise ValueError(f"range restriction needs opset 11+ (Clip with inputs); model has {opset}")
    info = GraphInfo(m)
    nodes = list(m.graph.node)
    inserted: dict[int, list[onnx.NodeProto]] = {}
    inits = []
    for t, (lo, hi) in bounds.items():
        k = info.producer.get(t)
        if k is None:
            continue
        raw, clipped, isnan = t + RAW_SUFFIX, t + "__orbnode_clip", t + "__orbnode_isnan"
        node = nodes[k]
        for j, y in enumerate(node.output):
            if y == t:
                node.output[j] = raw
        lo_name, hi_name, zero = t + "__orbnode_lo", t + "__orbnode_hi", t + "__orbnode_zero"
        inits += [numpy_helper.from_array(np.array(lo, np.float32), lo_name),
                  numpy_helper.from_array(np.array(hi, np.float32), hi_name),
                  numpy_helper.from_array(np.array(0, np.float32), zero)]
        inserted[k] = [
            helper.make_node("Clip", [raw, lo_name, hi_name], [clipped]),
            helper.make_node("IsNaN", [raw], [isnan]),
            helper.make_node("Where", [isnan, zero, clipped], [t]),
        ]
    out = []
    for k, n in enumerate(nodes):
        out.append(n)
        out.extend(inserted.get(k, []))
    del m.graph.node[:]
    m.graph.node.extend(out)
    m.graph.initializer.extend(inits)
    return m


class RangeRestriction:
    """An engine's graph with restricted activations, on the same live weights."""

    def __init__(self, engine, bounds: dict[str, tuple[float, float]]) -> None:  # noqa: ANN001
        self.engine = engine
        self.bounds = bounds
        self.model = restrict_model(engine.model, bounds)
        self.session = engine.build_session(self.model)

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        return self.session.run(self.engine.output_names, {self.engine.input_name: x})

    def patched_session(self, target: str, golden: np.ndarray):  # noqa: ANN201
        """A session with a ScatterND fault patch on ``target`` *before* its restriction."""
        from radiation.activations import patch_model

        patched = patch_model(self.engine.model, target, golden)
        return self.engine.build_session(restrict_model(patched, self.bounds))
