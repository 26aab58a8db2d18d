"""The node's runtime against a bare onnxruntime loop: what the node costs.

Bare: the loop a user would write, a default ``InferenceSession`` on the model file
(``ORT_ENABLE_ALL``, prepacking on, one intra-op thread) and ``session.run`` on the
same inputs. Node: the node's job loop (its worker thread, counters, IOBinding, live
weights of the offline-optimised graph, one thread, duty 1).

Both take turns on the same core in slices of ``slice_s`` in an ABBA order (bare,
node, node, bare, ...), so drift in the machine's speed (other tenants, clocks) hits
both alike; a repetition is ``duration_s`` of each. Its ratio is the median, over
its adjacent (node, bare) slice pairs, of node rate over bare rate: a burst from
another tenant spoils a pair, not the repetition. The figure is the median of the
repetitions' ratios, with their spread; the rates are whole-repetition means.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from bench.stats import Spread
from node.engine import Engine
from node.errors import OrbnodeError, first_line
from node.jobs import JobLoop


def bare_session(model: str, provider: str, threads: int = 1) -> ort.InferenceSession:
    """The loop a user would write: default optimisations, the model file as it is."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    providers = [provider] if provider == "CPUExecutionProvider" else \
        [provider, "CPUExecutionProvider"]
    return ort.InferenceSession(model, so, providers=providers)


def _bare_slice(sess: ort.InferenceSession, name: str, batches: list[np.ndarray],
                batch: int, seconds: float) -> tuple[int, float]:
    """(inferences, seconds) of ``session.run`` back to back for about ``seconds``."""
    clock = time.perf_counter
    nb, i, n = len(batches), 0, 0
    t0 = clock()
    end = t0 + seconds
    t = t0
    while t < end:
        sess.run(None, {name: batches[i]})
        i = i + 1 if i + 1 < nb else 0
        n += batch
        t = clock()
    return n, t - t0


def _node_slice(loop: JobLoop, seconds: float) -> tuple[int, float]:
    """(inferences, seconds) of the running job loop at duty 1 for ``seconds``.

    The window opens once the woken worker has finished an inference (steady state),
    so the thread's wake-up is not billed to the node; at both ends one inference is
    in flight, counted at the start and not at the end, which cancels on average.
    """
    start = loop.counters().inferences
    loop.set_mode(1, 1.0)
    while loop.counters().inferences == start and loop.error is None:
        time.sleep(0.0005)
    c0, t0 = loop.counters().inferences, time.perf_counter()
    time.sleep(seconds)
    c1, t1 = loop.counters().inferences, time.perf_counter()
    loop.set_mode(1, 0.0)  # park, so the bare loop has the core to itself
    return c1 - c0, t1 - t0


@dataclass(frozen=True)
class RuntimeVsBare:
    """Per repetition: node and bare inferences per second and their ratio."""

    provider: str
    node_inferences_per_s: list[float]
    bare_inferences_per_s: list[float]
    ratios: list[float]  # per repetition: median over its adjacent (node, bare) slice pairs
    slice_s: float
    duration_s: float

    def to_dict(self) -> dict:
        return {
            "provider": self.provider, "slice_s": self.slice_s, "duration_s": self.duration_s,
            "repetitions": [{"node_inferences_per_s": n, "bare_inferences_per_s": b,
                             "runtime_vs_bare": r}
                            for n, b, r in zip(self.node_inferences_per_s,
                                               self.bare_inferences_per_s, self.ratios,
                                               strict=True)],
            "runtime_vs_bare": Spread.of(self.ratios).to_dict(),
            "node_inferences_per_s": Spread.of(self.node_inferences_per_s).to_dict(),
            "bare_inferences_per_s": Spread.of(self.bare_inferences_per_s).to_dict(),
        }


def runtime_vs_bare(engine: Engine, inputs: np.ndarray, labels: np.ndarray | None = None, *,
                    provider: str = "CPUExecutionProvider", repetitions: int = 3,
                    duration_s: float = 10.0, warmup_s: float = 1.0,
                    slice_s: float = 0.25) -> RuntimeVsBare:
    """Node against bare, ``repetitions`` times ``duration_s`` of each, warm-up excluded."""
    loop = JobLoop(engine, inputs, labels, threads=1, duty=0.0)
    batches = loop.batch_inputs
    batch = engine.input_shape[0]
    sess = bare_session(str(engine.model_path), provider)
    name = sess.get_inputs()[0].name
    slice_s = min(slice_s, duration_s / 2)
    slices = max(2, 2 * math.ceil(duration_s / (2 * slice_s)))  # even: ABBA balanced
    per_slice = duration_s / slices
    loop.start()
    node_rates, bare_rates, pair_ratios = [], [], []
    try:
        _bare_slice(sess, name, batches, batch, warmup_s / 2)  # warm-up, not counted
        _node_slice(loop, warmup_s / 2)
        for _ in range(repetitions):
            nn = nt = bn = bt = 0.0
            pairs = []
            for k in range(slices):
                order = ("bare", "node") if k % 2 == 0 else ("node", "bare")
                rate = {}
                for which in order:
                    if which == "bare":
                        n, t = _bare_slice(sess, name, batches, batch, per_slice)
                        bn, bt = bn + n, bt + t
                    else:
                        n, t = _node_slice(loop, per_slice)
                        nn, nt = nn + n, nt + t
                    rate[which] = n / t
                pairs.append(rate["node"] / rate["bare"])
            node_rates.append(nn / nt)
            bare_rates.append(bn / bt)
            pair_ratios.append(statistics.median(pairs))
    finally:
        loop.stop()
    if loop.error is not None:
        # The model cannot run on this input: the user's model, said in one line.
        raise OrbnodeError(f"{loop.engine.model_path.name} fails at inference: "
                           f"{first_line(loop.error)}")
    return RuntimeVsBare(provider, node_rates, bare_rates, pair_ratios, per_slice, duration_s)
