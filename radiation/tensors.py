"""Which tensors of a model faults can hit: weights (live or not) and activations.

The listing ``orbnode tensors`` prints and the names ``orbnode inject --tensor``
and ``orbnode campaign --tensors`` accept. Weights are the engine's initializers at
its level (``file``: as stored; ``runtime``: the optimised graph's fused tensors),
with the engine's own liveness verdict; activations are every tensor one clean
inference computes, with the dtype and shape that inference gave them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from radiation.activations import ActivationInjector


@dataclass(frozen=True)
class TensorInfo:
    """One fault site family: a weight or an activation of the graph."""

    name: str
    kind: str  # "weight" | "activation"
    dtype: str
    shape: tuple[int, ...]
    bits: int  # bits a fault can flip: elements x bits per stored word
    live: bool  # weights: verified read by the session; activations: always
    note: str = ""  # why a weight is not live

    def as_json(self) -> dict:
        return {"name": self.name, "kind": self.kind, "dtype": self.dtype,
                "shape": list(self.shape), "bits": self.bits, "live": self.live,
                **({"note": self.note} if self.note else {})}


def _info(name: str, kind: str, arr: np.ndarray, live: bool, note: str = "") -> TensorInfo:
    return TensorInfo(name, kind, arr.dtype.name, tuple(int(d) for d in arr.shape),
                      int(arr.size * arr.dtype.itemsize * 8), live, note)


def list_tensors(engine, x: np.ndarray) -> list[TensorInfo]:  # noqa: ANN001 - node Engine
    """Weights (in graph order) then activations (in evaluation order) of ``engine``.

    ``x`` is one input batch; the activations' shapes are those it produces.
    """
    weights = [_info(n, "weight", a, engine.live.get(n, False), engine.liveness_notes.get(n, ""))
               for n, a in engine.weights.items()]
    golden = ActivationInjector(engine).golden(x)
    acts = [_info(n, "activation", np.asarray(a), True) for n, a in golden.items()]
    order = {n: i for i, n in enumerate(ActivationInjector(engine).targets)}
    acts.sort(key=lambda t: order.get(t.name, len(order)))
    return weights + acts
