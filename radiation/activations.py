"""Exact faults in activations, and graph tails that reuse clean activations.

Two exact ways to flip a bit in a value the graph computes, both on real sessions:

*Patch.* After the target tensor insert ``ScatterND(tensor, idx, upd)`` whose ``idx``
and ``upd`` are extra graph inputs (empty for a clean run). The faulty word is
computed from the golden value of that very element (captured once per input), so
the graph runs once, whole, with exactly one word changed. Needs opset >= 11.

*Tail.* Cut the graph at the fault: the nodes downstream of the target (or of the
consumers of a faulty weight) form a tail model whose inputs are the clean
activations it needs, captured once per input. A trial runs only the tail, so
campaigns skip the clean part of every inference. The tail reads the same live
weight buffers as the engine, so weight faults reach it too.

Activations are transient: a fault lives for one inference. Graph inputs can be
targeted (the flip is applied to a copy of the input) and graph outputs too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from radiation import bits
from radiation.faults import Fault

CLEAN_SUFFIX = "__orbnode_clean"
IDX_SUFFIX = "__orbnode_idx"
UPD_SUFFIX = "__orbnode_upd"


def _subgraph_refs(node: onnx.NodeProto) -> set[str]:
    """Names a node's subgraphs (If/Loop/Scan bodies) read from the outer scope."""
    refs: set[str] = set()
    for attr in node.attribute:
        graphs = list(attr.graphs) + ([attr.g] if attr.HasField("g") else [])
        for g in graphs:
            local = {i.name for i in g.input} | {i.name for i in g.initializer}
            for n in g.node:
                local.update(n.output)
            for n in g.node:
                refs.update(x for x in n.input if x and x not in local)
                refs.update(r for r in _subgraph_refs(n) if r not in local)
    return refs


class GraphInfo:
    """Producer/consumer maps of a model's main graph (subgraph outer refs included)."""

    def __init__(self, model: onnx.ModelProto) -> None:
        g = model.graph
        self.model = model
        self.nodes = list(g.node)
        self.initializers = {i.name for i in g.initializer}
        self.inputs = [i.name for i in g.input if i.name not in self.initializers]
        self.outputs = [o.name for o in g.output]
        self.producer: dict[str, int] = {}
        self.consumers: dict[str, list[int]] = {}
        self.node_reads: list[set[str]] = []
        for k, n in enumerate(self.nodes):
            reads = {x for x in n.input if x} | _subgraph_refs(n)
            self.node_reads.append(reads)
            for x in reads:
                self.consumers.setdefault(x, []).append(k)
            for y in n.output:
                if y:
                    self.producer[y] = k

    def activations(self) -> list[str]:
        """Every tensor the graph computes at run time, plus its feed input, in order."""
        names = list(self.inputs)
        for n in self.nodes:
            names.extend(y for y in n.output if y and y not in self.initializers)
        return names

    def downstream(self, seeds: list[int]) -> list[int]:
        """``seeds`` and every node that (transitively) reads what they compute, in order."""
        marked = set(seeds)
        for k in (range(min(seeds), len(self.nodes)) if seeds else ()):
            if k in marked:
                continue
            if any(self.producer.get(x, -1) in marked for x in self.node_reads[k]):
                marked.add(k)
        return sorted(marked)

    def seeds_for(self, tensor: str) -> list[int]:
        """The nodes a fault in ``tensor`` (weight or activation) enters the graph through."""
        return sorted(set(self.consumers.get(tensor, [])))


def capture_model(model: onnx.ModelProto, names: list[str]) -> onnx.ModelProto:
    """``model`` with every tensor in ``names`` added as a graph output (types left to ORT)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    for name in names:
        if name not in have:
            m.graph.output.append(onnx.ValueInfoProto(name=name))
            have.add(name)
    return m


def elem_type(arr: np.ndarray) -> int:
    """The ONNX element type of ``arr`` (bfloat16 included, which numpy does not name)."""
    if arr.dtype.name == "bfloat16":
        return TensorProto.BFLOAT16
    return helper.np_dtype_to_tensor_dtype(arr.dtype)


def patch_model(model: onnx.ModelProto, target: str, golden: np.ndarray) -> onnx.ModelProto:
    """``model`` with ``ScatterND`` after ``target`` fed by two new inputs (see module doc)."""
    _require_scatternd(model)
    m = onnx.ModelProto()
    m.CopyFrom(model)
    clean = target + CLEAN_SUFFIX
    found = False
    for n in m.graph.node:
        for k, y in enumerate(n.output):
            if y == target:
                n.output[k] = clean
                found = True
    if not found:
        raise bits.FaultSiteError(f"{target!r} is not computed by a node of the graph")
    elem = elem_type(golden)
    idx, upd = target + IDX_SUFFIX, target + UPD_SUFFIX
    node = helper.make_node("ScatterND", [clean, idx, upd], [target], name=target + "__orbnode")
    # ONNX wants nodes in topological order: put the patch right after the producer.
    nodes = list(m.graph.node)
    pos = next(k for k, n in enumerate(nodes) if clean in n.output)
    nodes.insert(pos + 1, node)
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    m.graph.input.extend([
        helper.make_tensor_value_info(idx, TensorProto.INT64, ["k", golden.ndim]),
        helper.make_tensor_value_info(upd, elem, ["k"]),
    ])
    return m


def point_patch_model(model: onnx.ModelProto, target: str,
                      golden: np.ndarray) -> tuple[onnx.ModelProto, str, str]:
    """``model`` with a one-element ``ScatterND`` after ``target`` fed by initializers.

    The patch index (shape ``[1, rank]``) and value (``[1]``) are initializers that
    the caller makes *live* (:meth:`node.engine.Engine.build_session` ``extra``): a
    trial writes the element's index and the faulty word into them and runs, binding
    no extra inputs. A clean run writes the golden value back (an exact no-op).
    Returns (model, index initializer name, value initializer name).
    """
    _require_scatternd(model)
    m = onnx.ModelProto()
    m.CopyFrom(model)
    clean = target + CLEAN_SUFFIX
    pos = None
    for k, n in enumerate(m.graph.node):
        for j, y in enumerate(n.output):
            if y == target:
                n.output[j] = clean
                pos = k
    if pos is None:
        raise bits.FaultSiteError(f"{target!r} is not computed by a node of the graph")
    idx, upd = target + IDX_SUFFIX, target + UPD_SUFFIX
    nodes = list(m.graph.node)
    nodes.insert(pos + 1, helper.make_node("ScatterND", [clean, idx, upd], [target],
                                           name=target + "__orbnode"))
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    m.graph.initializer.extend([
        numpy_helper.from_array(np.zeros((1, golden.ndim), np.int64), idx),
        numpy_helper.from_array(np.ascontiguousarray(golden.reshape(-1)[:1]), upd),
    ])
    return m, idx, upd


def _require_scatternd(model: onnx.ModelProto) -> None:
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < 11:
        raise bits.FaultSiteError(
            f"the model's opset {opset} has no ScatterND (opset 11+); use the graph-tail "
            "method (reuse of clean activations) for activation faults in this model")


def tail_model(info: GraphInfo, seeds: list[int],
               golden: dict[str, np.ndarray]) -> tuple[onnx.ModelProto, list[str], list[str]]:
    """The nodes downstream of ``seeds`` as a model fed by the clean activations it needs.

    Returns ``(model, feeds, outputs)``: the tensors to feed (from ``golden``, one of
    them faulty) and the original graph outputs the tail recomputes (the others are
    unaffected by the fault and equal their golden values).
    """
    keep = info.downstream(seeds)
    produced = {y for k in keep for y in info.nodes[k].output if y}
    feeds: list[str] = []
    for k in keep:
        for x in sorted(info.node_reads[k]):
            if x not in produced and x not in info.initializers and x not in feeds:
                feeds.append(x)
    outputs = [o for o in info.outputs if o in produced]
    used_inits = {x for k in keep for x in info.node_reads[k] if x in info.initializers}
    src = info.model.graph
    graph = helper.make_graph(
        [info.nodes[k] for k in keep], src.name + "_tail",
        [helper.make_tensor_value_info(f, elem_type(golden[f]), list(golden[f].shape))
         for f in feeds],
        [o for o in src.output if o.name in outputs],
        [i for i in src.initializer if i.name in used_inits],
    )
    m = helper.make_model(graph, opset_imports=list(info.model.opset_import))
    m.ir_version = info.model.ir_version
    return m, feeds, outputs


@dataclass
class _Tail:
    session: object
    feeds: list[str]
    outputs: list[str]


class ActivationInjector:
    """Exact activation faults on an :class:`~node.engine.Engine`'s live session config.

    ``golden(x)`` captures every activation of a clean inference once; then
    ``run_patched`` (one whole inference with a ScatterND patch) or ``run_tail`` (only
    the part of the graph after the fault) give the faulty outputs. Sessions are
    built once per target and cached; all read the engine's live weight buffers.
    """

    def __init__(self, engine) -> None:  # noqa: ANN001 - node.engine.Engine
        self.engine = engine
        self.info = GraphInfo(engine.model)
        self.targets = self.info.activations()
        self._capture = None
        self._patched: dict[str, tuple[object, list[str]]] = {}
        self._tails: dict[str, _Tail] = {}
        self._empty: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    # -- golden values ---------------------------------------------------------
    def golden(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Every activation (input, intermediates, outputs) of a clean run on ``x``."""
        if self._capture is None:
            names = [t for t in self.targets if t not in self.info.inputs]
            self._capture = self.engine.build_session(capture_model(self.engine.model, names))
        sess = self._capture
        out_names = [o.name for o in sess.get_outputs()]
        values = sess.run(out_names, {self.engine.input_name: x})
        result = dict(zip(out_names, values, strict=True))
        result[self.engine.input_name] = np.array(x, copy=True, order="C")
        return result

    def check(self, fault: Fault, golden: dict[str, np.ndarray]) -> np.ndarray:
        """The golden tensor ``fault`` targets, or a clear error (nothing is changed)."""
        arr = golden.get(fault.tensor)
        if arr is None:
            shown = ", ".join(self.targets[:12]) + (" ..." if len(self.targets) > 12 else "")
            raise bits.FaultSiteError(
                f"no activation named {fault.tensor!r} in the graph; activations: {shown}")
        if arr.dtype.name == "bfloat16":
            raise bits.FaultSiteError(
                f"activation {fault.tensor!r} is bfloat16, which onnxruntime's Python API "
                "cannot return for a golden value; target a float32 tensor")
        bits.check_site(arr, fault.index, fault.bit, name=fault.tensor,
                        span_words=fault.span_words, span_bits=fault.span_bits)
        return arr

    @staticmethod
    def faulty_words(fault: Fault, arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flat indices and the faulty element values for ``fault`` on golden ``arr``."""
        words = bits.word_view(np.ascontiguousarray(arr))
        idx = np.arange(fault.index, fault.index + fault.span_words, dtype=np.int64)
        new = np.array([fault.new_word(int(words[i])) for i in idx], dtype=words.dtype)
        return idx, new.view(arr.dtype)

    # -- whole-graph patch -------------------------------------------------------
    def _patched_session(self, target: str, golden: np.ndarray):  # noqa: ANN202
        if target not in self._patched:
            model = patch_model(self.engine.model, target, golden)
            sess = self.engine.build_session(model)
            self._patched[target] = (sess, [o.name for o in sess.get_outputs()])
            self._empty[target] = (np.zeros((0, golden.ndim), np.int64),
                                   np.zeros((0,), golden.dtype))
        return self._patched[target]

    def run_patched(self, x: np.ndarray, fault: Fault,
                    golden: dict[str, np.ndarray] | None = None) -> list[np.ndarray]:
        """One whole inference with ``fault`` applied to its target as it is computed."""
        golden = self.golden(x) if golden is None else golden
        arr = self.check(fault, golden)
        if fault.tensor in self.info.inputs:
            return self.engine.run(self._faulty_copy(fault, arr))
        flat, values = self.faulty_words(fault, arr)
        sess, outs = self._patched_session(fault.tensor, arr)
        idx = np.stack(np.unravel_index(flat, arr.shape), axis=-1).astype(np.int64)
        return sess.run(outs, {self.engine.input_name: x, fault.tensor + IDX_SUFFIX: idx,
                               fault.tensor + UPD_SUFFIX: values})

    def run_patched_clean(self, x: np.ndarray, target: str,
                          golden: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The patched graph for ``target`` with an empty patch (must equal the clean run)."""
        arr = golden[target]
        sess, outs = self._patched_session(target, arr)
        idx, upd = self._empty[target]
        return sess.run(outs, {self.engine.input_name: x, target + IDX_SUFFIX: idx,
                               target + UPD_SUFFIX: upd})

    def _faulty_copy(self, fault: Fault, arr: np.ndarray) -> np.ndarray:
        out = np.array(arr, copy=True, order="C")
        flat, values = self.faulty_words(fault, arr)
        out.reshape(-1)[flat] = values
        return out

    # -- graph tail (reuse of clean activations) --------------------------------
    def tail(self, tensor: str, golden: dict[str, np.ndarray]) -> _Tail:
        """The cached tail session for a fault entering at ``tensor`` (weight or activation)."""
        t = self._tails.get(tensor)
        if t is None:
            seeds = self.info.seeds_for(tensor)
            model, feeds, outputs = tail_model(self.info, seeds, golden)
            sess = self.engine.build_session(model) if model.graph.node else None
            t = self._tails[tensor] = _Tail(sess, feeds, outputs)
        return t

    def run_tail(self, fault: Fault, golden: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Faulty outputs computed from the clean activations up to ``fault.tensor``.

        The faulty words are written into ``golden[fault.tensor]`` and restored after
        the run, so ``golden`` is unchanged on return.
        """
        arr = self.check(fault, golden)
        flat, values = self.faulty_words(fault, arr)
        view = arr.reshape(-1)
        saved = view[flat].copy()
        view[flat] = values
        try:
            return self.tail_outputs(fault.tensor, golden)
        finally:
            view[flat] = saved

    def tail_outputs(self, tensor: str, golden: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Graph outputs: recomputed by the tail after ``tensor``, the rest golden."""
        t = self.tail(tensor, golden)
        results: dict[str, np.ndarray] = {}
        if t.session is not None and t.outputs:
            vals = t.session.run(t.outputs, {f: golden[f] for f in t.feeds})
            results = dict(zip(t.outputs, vals, strict=True))
        return [results[o] if o in results else golden[o].copy()
                for o in self.engine.output_names]
