"""Skip what cannot change: run a fault node by node and stop where it vanishes.

A single-bit upset enters the graph at one tensor: a flipped activation word, or the
output of the node that reads a flipped weight. Each node downstream is run alone, in
its own onnxruntime session on the engine's live weights, fed the faulty tensors where
they differ and the clean activations (captured once per input) elsewhere. After each
node its outputs are compared bit for bit with the clean ones; an output equal to the
clean one is clean again, and that branch ends there (a ReLU or a max-pool often
erases a small flip). When no differing tensor has a consumer left to run, the
outputs are known: the golden ones (masked, decided early) or the faulty outputs
computed so far. Exact by construction: every value is what the same kernel computes
from the same inputs, and every per-node session is first checked on the clean
activations (its outputs must equal the captured ones bit for bit, as a graph tail
must); a node that does not reproduce them sends that input's faults back to the
whole-graph path (:class:`FastPath.fallback_tensors`).

Batching. Faults that reach the same node run through it as one batch, stacked on the
batch axis, where a check shows that the batched results equal single runs bit for
bit: the first batch of each size through each node runs both ways and the results
are compared; a node that fails the check (or cannot take a batch, e.g. a Reshape to
a fixed shape) runs once per fault from then on and is listed in
:attr:`FastPath.batch_fallbacks`. A weight fault in a Conv (group 1) is evaluated
grouped: the faulty filters of up to ``GROUP`` faults form one Conv with ``GROUP``
output channels on the clean input, whose channel ``i`` is fault ``i``'s faulty output
channel (a flipped filter weight changes one output channel only) — used where the
same Conv on the clean filters reproduces every channel of the full Conv bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields

import numpy as np
import onnx
from onnx import helper

from radiation import bits
from radiation.activations import ActivationInjector, GraphInfo, elem_type
from radiation.outcome import Verdict

Outputs = list[np.ndarray]
State = dict[str, np.ndarray]  # the tensors of one fault that differ from the clean run

GROUP = 16   # faulty filters per grouped Conv evaluation
BATCH = 16   # faults per batch through a node
_CONV_DOMAINS = {("Conv", ""), ("Conv", "ai.onnx"), ("FusedConv", "com.microsoft")}


@dataclass
class ShortcutCounts:
    """How the fast path decided its trials (summed over chunks and workers).

    ``masked_at_fault``: the faulted node's output (or, for an activation fault, its
    consumers' outputs) equal the clean ones, nothing else ran; ``masked_downstream``:
    the difference vanished further down; ``reached_output``: a graph output differs;
    ``failed``: a run failed (a DUE); ``whole_graph``: trials the fast path left to
    the whole-graph / graph-tail path; ``tail_chosen``: trials the campaign's per-tensor
    choice (:mod:`radiation.campaign.choice`) ran on that path instead, because it
    measured faster there (or the fast path cannot take the tensor). ``grouped``:
    weight faults whose faulted Conv ran grouped; ``batched``: node evaluations done
    inside a batch; ``node_runs``: onnxruntime runs of single nodes (batched or not).
    """

    trials: int = 0
    masked_at_fault: int = 0
    masked_downstream: int = 0
    reached_output: int = 0
    failed: int = 0
    whole_graph: int = 0
    tail_chosen: int = 0
    grouped: int = 0
    batched: int = 0
    node_runs: int = 0

    def add(self, other: ShortcutCounts | dict) -> None:
        o = other if isinstance(other, dict) else asdict(other)
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + int(o.get(f.name, 0)))

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class _Inexact(Exception):
    """A per-node session does not reproduce the clean activations bit for bit."""


def _raw(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a).tobytes()


def _same(a: np.ndarray, raw: bytes) -> bool:
    """Bit-for-bit equality (-0.0 differs from 0.0, a NaN equals the same NaN)."""
    return a.tobytes() == raw


def _stack(arrays: list[np.ndarray]) -> np.ndarray:
    """``np.concatenate(arrays)``, without the copy when they are consecutive rows of one
    buffer (the split outputs of the previous batched node usually are)."""
    a0 = arrays[0]
    if a0.shape[0] == 1 and a0.flags.c_contiguous:
        p0, step = a0.__array_interface__["data"][0], a0.nbytes
        if all(a.shape == a0.shape and a.dtype == a0.dtype and a.flags.c_contiguous
               and a.__array_interface__["data"][0] == p0 + i * step
               for i, a in enumerate(arrays)):
            # One buffer, kept alive by the arrays' bases while the batch runs.
            return np.lib.stride_tricks.as_strided(
                a0, (len(arrays), *a0.shape[1:]), (step, *a0.strides[1:]), writeable=False)
    return np.concatenate(arrays)


def _label(node: onnx.NodeProto) -> str:
    return node.name or f"{node.op_type} -> {node.output[0]}"


def _value_info(name: str, arr: np.ndarray, batch: bool) -> onnx.ValueInfoProto:
    shape: list = list(arr.shape)
    if batch:
        shape[0] = "B"
    return helper.make_tensor_value_info(name, elem_type(arr), shape)


class NodeRuns:
    """One input's graph as per-node sessions on the live weights, checked and batched."""

    def __init__(self, engine, acts: ActivationInjector,  # noqa: ANN001
                 golden: dict[str, np.ndarray], *, batch: bool = True,
                 sessions: dict | None = None) -> None:
        self.engine = engine
        # Sessions depend on the graph only, so inputs share them (``sessions``); the
        # bit-for-bit checks are made again for each input's clean activations.
        self.sessions = {} if sessions is None else sessions
        self.info: GraphInfo = acts.info
        self.golden = golden
        self.batch = batch and engine.input_shape[0] == 1
        self.counts = ShortcutCounts()
        self.batch_fallbacks: set[str] = set()
        n_nodes = len(self.info.nodes)
        self.feeds: list[list[str]] = []
        self.outs: list[list[str]] = []
        for node in self.info.nodes:
            seen: list[str] = []
            for x in node.input:
                if x and x not in self.info.initializers and x not in seen:
                    seen.append(x)
            self.feeds.append(seen)
            self.outs.append([y for y in node.output if y])
        outputs = set(self.info.outputs)
        # A differing tensor matters while a node that reads it is still to run.
        self.last_use = {t: (n_nodes if t in outputs else max(c)) for t, c in
                         self.info.consumers.items()}
        for t in outputs:
            self.last_use[t] = n_nodes
        self._g8: dict[str, bytes] = {}
        self._single: dict[int, object] = {}
        self._batched: dict[int, object | None] = {}
        self._checked_sizes: dict[int, set[int]] = {}

    # -- sessions ---------------------------------------------------------------
    def g8(self, name: str) -> bytes:
        """The clean value of ``name`` as bytes (what a faulty value is compared with)."""
        got = self._g8.get(name)
        if got is None:
            got = self._g8[name] = _raw(self.golden[name])
        return got

    def _model(self, k: int, batch: bool) -> onnx.ModelProto:
        node = self.info.nodes[k]
        src = self.info.model.graph
        inits = [i for i in src.initializer if i.name in set(node.input)]
        graph = helper.make_graph(
            [node], f"node{k}", [_value_info(f, self.golden[f], batch) for f in self.feeds[k]],
            [onnx.ValueInfoProto(name=y) for y in self.outs[k]], inits)
        m = helper.make_model(graph, opset_imports=list(self.info.model.opset_import))
        m.ir_version = self.info.model.ir_version
        return m

    def usable(self, k: int) -> bool:
        """Whether node ``k`` can run alone: no subgraphs, every value captured."""
        node = self.info.nodes[k]
        if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
               for a in node.attribute):
            return False
        return all(f in self.golden for f in self.feeds[k]) and all(
            y in self.golden for y in self.outs[k])

    def single(self, k: int):  # noqa: ANN201
        """The checked single session of node ``k`` (raises :class:`_Inexact`)."""
        sess = self._single.get(k)
        if sess is None:
            if not self.usable(k):
                raise _Inexact(_label(self.info.nodes[k]))
            sess = self.sessions.get(("single", k))
            if sess is None:
                sess = self.sessions[("single", k)] = self.engine.build_session(
                    self._model(k, False))
            got = sess.run(self.outs[k], {f: self.golden[f] for f in self.feeds[k]})
            if not all(_same(o, self.g8(y)) for o, y in zip(got, self.outs[k], strict=True)):
                raise _Inexact(_label(self.info.nodes[k]))
            self._single[k] = sess
        return sess

    def _batched_session(self, k: int):  # noqa: ANN202
        if k not in self._batched:
            sess = None
            vals = [self.golden[t] for t in self.feeds[k] + self.outs[k]]
            if self.batch and all(v.ndim >= 1 and v.shape[0] == 1 for v in vals):
                key = ("batched", k)
                if key not in self.sessions:
                    try:
                        self.sessions[key] = self.engine.build_session(self._model(k, True))
                    except Exception:  # noqa: BLE001 - a node that cannot take a batch
                        self.sessions[key] = None
                sess = self.sessions[key]
            if sess is None:
                self.batch_fallbacks.add(_label(self.info.nodes[k]))
            self._batched[k] = sess
        return self._batched[k]

    # -- running ------------------------------------------------------------------
    def run_single(self, k: int, state: State) -> Outputs | None:
        golden, c = self.golden, self.counts
        c.node_runs += 1
        try:
            return self.single(k).run(self.outs[k], {f: state.get(f, golden[f])
                                                     for f in self.feeds[k]})
        except _Inexact:
            raise
        except Exception:  # noqa: BLE001 - a failed run is a DUE, not a crash
            return None

    def run_node(self, k: int, states: list[State]) -> list[Outputs | None]:
        """Node ``k`` for each fault state: one batch where checked equal, else singly."""
        self.single(k)  # checked on the clean activations first
        if len(states) < 2 or not self.batch:
            return [self.run_single(k, s) for s in states]
        sess = self._batched_session(k)
        if sess is None:
            return [self.run_single(k, s) for s in states]
        out: list[Outputs | None] = []
        for s0 in range(0, len(states), BATCH):
            part = states[s0:s0 + BATCH]
            if len(part) < 2:
                out.extend(self.run_single(k, s) for s in part)
                continue
            got = self._run_batch(k, sess, part)
            if got is None:  # failed or unequal: this node runs singly from now on
                sess = None
                out.extend(self.run_single(k, s) for s in states[s0:])
                break
            out.extend(got)
        return out

    def _run_batch(self, k: int, sess, part: list[State]) -> list[Outputs | None] | None:  # noqa: ANN001
        golden = self.golden
        feeds = {f: _stack([s.get(f, golden[f]) for s in part]) for f in self.feeds[k]}
        self.counts.node_runs += 1
        try:
            res = sess.run(self.outs[k], feeds)
        except Exception:  # noqa: BLE001
            res = None
        if res is not None and any(r.ndim < 1 or r.shape[0] != len(part) for r in res):
            res = None
        split = None if res is None else [[r[i:i + 1] for r in res] for i in range(len(part))]
        sizes = self._checked_sizes.setdefault(k, set())
        if split is not None and len(part) in sizes:
            self.counts.batched += len(part)
            return split
        singles = [self.run_single(k, s) for s in part]
        ok = split is not None and all(
            one is not None and all(_same(a, _raw(b)) for a, b in zip(one, many, strict=True))
            for one, many in zip(singles, split, strict=True))
        if not ok:
            self._batched[k] = None
            self.batch_fallbacks.add(_label(self.info.nodes[k]))
            return None
        sizes.add(len(part))
        return singles

    def propagate(self, states: list[State], entry: list[int],
                  done: list[bool] | None = None) -> list[tuple[Outputs | None, bool, bool]]:
        """Carry each fault state through the nodes downstream of ``entry``.

        Returns per fault the outputs (``None``: a run failed), whether the fault was
        masked, and whether it ended at the entry nodes. A state ends as soon as none
        of its differing tensors has a consumer left to run.
        """
        info = self.info
        n_out = len(info.nodes)
        entry_set = set(entry)
        order = info.downstream(sorted(entry_set)) if entry else []
        alive = [i for i in range(len(states)) if not (done and done[i])]
        failed: set[int] = set()
        ended_at_entry = [True] * len(states)
        for k in order:
            if not alive:
                break
            reads = self.feeds[k]
            active = [i for i in alive if any(r in states[i] for r in reads)]
            if active:
                if k not in entry_set:
                    for i in active:
                        ended_at_entry[i] = False
                results = self.run_node(k, [states[i] for i in active])
                for i, res in zip(active, results, strict=True):
                    if res is None:
                        failed.add(i)
                        continue
                    for y, o in zip(self.outs[k], res, strict=True):
                        if not _same(o, self.g8(y)):
                            states[i][y] = o
            still = []
            for i in alive:
                if i in failed:
                    continue
                s = states[i]
                for t in [t for t in s if self.last_use.get(t, -1) <= k]:
                    del s[t]
                if s and any(self.last_use.get(t, -1) < n_out for t in s):
                    still.append(i)
            alive = still
        golden, names = self.golden, self.engine.output_names
        result = []
        for i, s in enumerate(states):
            if i in failed:
                result.append((None, False, False))
                continue
            masked = not any(o in s for o in names)
            result.append(([s.get(o, golden[o]) for o in names], masked,
                           masked and ended_at_entry[i]))
        return result


def tensor_runs(sites: list[tuple[str, int, int]]
                ) -> Iterator[tuple[str, list[tuple[str, int, int]]]]:
    """``(tensor, run)`` for each maximal run of consecutive sites in one tensor, in order."""
    k = 0
    while k < len(sites):
        tensor = sites[k][0]
        end = k
        while end < len(sites) and sites[end][0] == tensor:
            end += 1
        yield tensor, sites[k:end]
        k = end


class FastPath:
    """Single-bit upsets of one input decided by :class:`NodeRuns` (see module doc).

    ``trials`` is the input's :class:`~radiation.trials.WeightTrials` or
    :class:`~radiation.trials.ActivationTrials`: its golden outputs judge every trial,
    its live weights are flipped, and whatever the fast path cannot take (a tensor
    read by several nodes, an inexact node, an out-of-range site) goes to its
    :meth:`verdicts`, the whole-graph / graph-tail loop.
    """

    def __init__(self, trials, *, batch: bool = True, group: bool = True,  # noqa: ANN001
                 sessions: dict | None = None) -> None:
        self.trials = trials
        engine = trials.engine
        self.engine = engine
        from radiation.trials import WeightTrials

        self.weights = isinstance(trials, WeightTrials)
        acts = getattr(trials, "acts", None) or ActivationInjector(engine)
        golden = getattr(trials, "golden_acts", None) or acts.golden(trials.x)
        self.acts, self.golden_acts = acts, golden
        self.runs = NodeRuns(engine, acts, golden, batch=batch, sessions=sessions)
        self.group = group
        self.fallback_tensors: set[str] = set()
        self.group_fallbacks: set[str] = set()  # Conv weights whose grouped check failed
        # The captured outputs must be the golden outputs the trials judge against.
        self.ok = all(np.ascontiguousarray(golden[o]).tobytes() == r for o, r in
                      zip(engine.output_names, trials.golden.raw, strict=True))
        self._grouped: dict[str, object | None] = {}

    @property
    def counts(self) -> ShortcutCounts:
        return self.runs.counts

    @property
    def batch_fallbacks(self) -> set[str]:
        return self.runs.batch_fallbacks

    # -- entry -----------------------------------------------------------------------
    def verdicts(self, sites: list[tuple[str, int, int]]) -> list[Verdict]:
        """Verdicts of single-bit trials ``(tensor, index, bit)``, in order."""
        out: list[Verdict] = []
        for tensor, group in tensor_runs(sites):
            got = self._tensor(tensor, group) if self.ok else None
            if got is None:
                self.counts.whole_graph += len(group)
                got = self.trials.verdicts(group)
            out.extend(got)
        return out

    def _tensor(self, tensor: str, sites: list[tuple[str, int, int]]) -> list[Verdict] | None:
        if tensor in self.fallback_tensors:
            return None
        arr = (self.engine.weights.get(tensor) if self.weights
               else self.trials.golden_acts.get(tensor))
        if arr is None or arr.dtype.name not in bits.SUPPORTED or arr.dtype.name == "bfloat16":
            return None
        if self.weights and not self.engine.live.get(tensor, False):
            return None
        width = bits.word_bits(arr.dtype)
        if not all(0 <= i < arr.size and 0 <= b < width for _, i, b in sites):
            return None  # the trials raise the clear error
        try:
            groups = (self._weight(tensor, sites) if self.weights
                      else self._activation(tensor, arr, sites))
        except _Inexact:
            groups = None
        if groups is None:
            self.fallback_tensors.add(tensor)
            return None
        judge = self.trials.golden.verdict
        c = self.counts
        verdicts = []
        # Each group is judged before the next is computed: its arrays may be reused.
        for res in groups:
            for outs, masked, at_fault in res:
                c.trials += 1
                if outs is None:
                    c.failed += 1
                elif masked:
                    if at_fault:
                        c.masked_at_fault += 1
                    else:
                        c.masked_downstream += 1
                else:
                    c.reached_output += 1
                verdicts.append(judge(outs))
        return verdicts

    def _prepare(self, entry: list[int]) -> None:
        """Build and check every node a fault entering at ``entry`` may reach (raises
        :class:`_Inexact` before any trial)."""
        for k in self.runs.info.downstream(sorted(set(entry))) if entry else ():
            self.runs.single(k)

    # -- activations ---------------------------------------------------------------
    def _activation(self, tensor: str, arr: np.ndarray, sites):  # noqa: ANN001, ANN202
        entry = self.runs.info.seeds_for(tensor)
        self._prepare(entry)
        return self._activation_groups(tensor, arr, entry, sites)

    def _activation_groups(self, tensor, arr, entry, sites) -> Iterator[list]:  # noqa: ANN001
        # The faulty copies are consecutive rows of one block (one batch without a
        # copy), each put back to the clean value once its group is judged.
        n = min(BATCH, len(sites))
        block = np.repeat(arr, n, axis=0) if arr.ndim and arr.shape[0] == 1 else None
        for s0 in range(0, len(sites), n):
            part = sites[s0:s0 + n]
            states, undo = [], []
            for j, (_, index, bit) in enumerate(part):
                faulty = (block[j:j + 1] if block is not None
                          else np.array(arr, copy=True, order="C"))
                w = bits.word_view(faulty)
                old = int(w[index])
                w[index] = old ^ (1 << bit)
                undo.append((w, index, old))
                states.append({tensor: faulty})
            yield self.runs.propagate(states, entry)
            for w, index, old in undo:
                w[index] = old

    # -- weights ------------------------------------------------------------------------
    def _weight(self, tensor: str, sites):  # noqa: ANN001, ANN202
        info = self.runs.info
        consumers = info.seeds_for(tensor)
        if len(consumers) != 1 or not self.runs.usable(consumers[0]):
            return None
        k = consumers[0]
        entry = sorted({c for y in self.runs.outs[k] for c in info.consumers.get(y, [])})
        self.runs.single(k)
        self._prepare(entry)
        grouped = self._grouped_conv(tensor, k) if self.group else None
        return self._weight_groups(tensor, k, entry, grouped, sites)

    def _weight_groups(self, tensor, k, entry, grouped, sites) -> Iterator[list]:  # noqa: ANN001
        for s0 in range(0, len(sites), GROUP):
            part = sites[s0:s0 + GROUP]
            if grouped is not None:
                states, at_fault = grouped.states(part)
                self.counts.grouped += sum(s is not None for s in states)
                redo = [j for j, s in enumerate(states) if s is None]  # a grouped run failed
                if redo:
                    again, af = self._flip_runs(tensor, k, [part[j] for j in redo])
                    for j, s, a in zip(redo, again, af, strict=True):
                        states[j], at_fault[j] = s, a
            else:
                states, at_fault = self._flip_runs(tensor, k, part)
            done = [not s for s in states]
            res = self.runs.propagate([s or {} for s in states], entry, done)
            yield [(None, False, False) if s is None else (outs, masked, masked and af)
                   for s, (outs, masked, _), af in zip(states, res, at_fault, strict=True)]
            if grouped is not None:
                grouped.restore()

    def _flip_runs(self, tensor: str, k: int, sites) -> tuple[list, list[bool]]:  # noqa: ANN001
        """Flip the live word, run the consumer node alone, restore: one state per site."""
        words = memoryview(bits.word_view(self.engine.weights[tensor]))
        runs = self.runs
        runs.single(k)
        states, at_fault = [], []
        for _, index, bit in sites:
            old = words[index]
            words[index] = old ^ (1 << bit)
            try:
                got = runs.run_single(k, {})
            finally:
                words[index] = old
            if got is None:
                states.append(None)
                at_fault.append(False)
                continue
            s = {y: o for y, o in zip(runs.outs[k], got, strict=True)
                 if not _same(o, runs.g8(y))}
            states.append(s)
            at_fault.append(not s)
        return states, at_fault

    def _grouped_conv(self, tensor: str, k: int) -> _GroupedConv | None:
        if tensor not in self._grouped:
            self._grouped[tensor] = _GroupedConv.make(self, tensor, k)
        return self._grouped[tensor]


class _GroupedConv:
    """Up to ``GROUP`` faulty filters of one Conv evaluated as one Conv (see module doc)."""

    def __init__(self, fp: FastPath, tensor: str, k: int, sess, x: str, bias: str | None,  # noqa: ANN001
                 out: str) -> None:
        self.fp, self.sess, self.x, self.out = fp, sess, x, out
        w = fp.engine.weights[tensor]
        self.w = w
        self.rows = w.shape[0]
        self.row = w.size // self.rows
        self.b = fp.engine.weights.get(bias) if bias else None
        self.golden_out = fp.golden_acts[out]
        self.channel_raw = [_raw(self.golden_out[:, c]) for c in range(self.rows)]
        g = self.golden_out
        self.block = np.repeat(g, GROUP, axis=0) if g.shape[0] == 1 else None
        self._dirty: list[tuple[int, int]] = []

    @classmethod
    def make(cls, fp: FastPath, tensor: str, k: int) -> _GroupedConv | None:
        node = fp.runs.info.nodes[k]
        if (node.op_type, node.domain) not in _CONV_DOMAINS or len(node.input) < 2:
            return None
        if node.input[1] != tensor or tensor in node.input[:1] or len(
                [x for x in node.input if x]) > 3 or len(fp.runs.outs[k]) != 1:
            return None
        if any(a.name == "group" and a.i != 1 for a in node.attribute):
            return None
        w = fp.engine.weights[tensor]
        bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
        if w.ndim < 3 or (bias is not None and (bias not in fp.engine.weights
                                                or fp.engine.weights[bias].shape
                                                != (w.shape[0],))):
            return None
        x, out = node.input[0], fp.runs.outs[k][0]
        golden = fp.golden_acts
        if x not in golden or out not in golden or golden[out].ndim < 2:
            return None
        wg, bg = "w__orbnode_group", "b__orbnode_group"
        g = helper.make_node(node.op_type, [x, wg] + ([bg] if bias else []), [out],
                             domain=node.domain)
        g.attribute.extend(node.attribute)
        shape = [GROUP, *w.shape[1:]]
        inputs = [_value_info(x, golden[x], False),
                  helper.make_tensor_value_info(wg, elem_type(w), shape)]
        if bias:
            inputs.append(helper.make_tensor_value_info(bg, elem_type(w), [GROUP]))
        graph = helper.make_graph([g], "grouped", inputs, [onnx.ValueInfoProto(name=out)])
        model = helper.make_model(graph, opset_imports=list(fp.runs.info.model.opset_import))
        model.ir_version = fp.runs.info.model.ir_version
        key = ("grouped", tensor)
        if key not in fp.runs.sessions:
            try:
                fp.runs.sessions[key] = fp.engine.build_session(model)
            except Exception:  # noqa: BLE001 - not groupable here: the node runs whole
                fp.runs.sessions[key] = None
        sess = fp.runs.sessions[key]
        if sess is None:
            fp.group_fallbacks.add(tensor)
            return None
        self = cls(fp, tensor, k, sess, x, bias, out)
        if self._check():
            return self
        fp.group_fallbacks.add(tensor)
        return None

    def _run(self, rows: list[int], w_rows: np.ndarray | None = None) -> np.ndarray:
        pad = rows + [rows[0]] * (GROUP - len(rows))
        wg = np.ascontiguousarray(self.w[pad]) if w_rows is None else w_rows
        feeds = {self.x: self.fp.golden_acts[self.x], "w__orbnode_group": wg}
        if self.b is not None:
            feeds["b__orbnode_group"] = np.ascontiguousarray(self.b[pad])
        self.fp.counts.node_runs += 1
        return self.sess.run([self.out], feeds)[0]

    def _check(self) -> bool:
        """Every channel of the grouped Conv on the clean filters equals the full Conv's."""
        g = self.golden_out
        for c0 in range(0, self.rows, GROUP):
            rows = list(range(c0, min(c0 + GROUP, self.rows)))
            try:
                got = self._run(rows)
            except Exception:  # noqa: BLE001
                return False
            for j, c in enumerate(rows):
                if _raw(got[:, j]) != _raw(g[:, c]):
                    return False
        return True

    def states(self, part) -> tuple[list, list[bool]]:  # noqa: ANN001
        """Fault states of up to ``GROUP`` sites; valid until :meth:`restore`."""
        g = self.golden_out
        rows = [index // self.row for _, index, _ in part]
        pad = rows + [rows[0]] * (GROUP - len(rows))
        wg = np.ascontiguousarray(self.w[pad])
        words = bits.word_view(wg)
        for j, (_, index, bit) in enumerate(part):
            p = j * self.row + index % self.row
            words[p] = int(words[p]) ^ (1 << bit)
        try:
            got = self._run(rows, wg)
        except Exception:  # noqa: BLE001 - the caller runs these faults' node alone
            return [None] * len(part), [False] * len(part)
        states: list = []
        at_fault: list[bool] = []
        # The faulty outputs are consecutive rows of one reused block: the next node's
        # batch takes them without a copy; restore() puts the clean channels back.
        slot = 0
        for j, c in enumerate(rows):
            ch = got[:, j]
            if _raw(ch) == self.channel_raw[c]:
                states.append({})
                at_fault.append(True)
                continue
            if self.block is not None:
                faulty = self.block[slot:slot + 1]
                self._dirty.append((slot, c))
                slot += 1
            else:
                faulty = np.array(g, copy=True)
            faulty[:, c] = ch
            states.append({self.out: faulty})
            at_fault.append(False)
        return states, at_fault

    def restore(self) -> None:
        """Put the clean channels back into the reused block."""
        g = self.golden_out
        for slot, c in self._dirty:
            self.block[slot, c] = g[0, c]
        self._dirty.clear()
