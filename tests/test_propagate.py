"""The fast path's verdicts equal the whole-graph trials' for any single-bit sites.

Property tests over the index and bit arithmetic of the shortcuts (which output
channel a filter weight belongs to, which word of a batched copy is flipped, where
a batch is split), on a real onnxruntime session: for any list of sites the verdicts
of :class:`radiation.propagate.FastPath` (early stop, batching, grouped Conv) equal
those of the plain flip–run–restore loop, and nothing is left changed afterwards.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.engine import Engine
from radiation import testmodels
from radiation.propagate import FastPath
from radiation.trials import ActivationTrials, WeightTrials


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    path = testmodels.save(testmodels.cnn_model(), tmp_path_factory.mktemp("p") / "cnn.onnx")
    return Engine(path, threads=1, input_shape=(1, 1, 8, 8))


@pytest.fixture(scope="module")
def weight_setup(engine):
    tr = WeightTrials(engine, engine.make_input(np.random.default_rng(2)))
    return tr, FastPath(tr)


@pytest.fixture(scope="module")
def activation_setup(engine):
    tr = ActivationTrials(engine, engine.make_input(np.random.default_rng(3)), reuse=True)
    return tr, FastPath(tr)


SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def _sites(arrays: dict[str, np.ndarray]):  # noqa: ANN202
    names = sorted(arrays)
    site = st.sampled_from(names).flatmap(lambda n: st.tuples(
        st.just(n), st.integers(0, arrays[n].size - 1), st.integers(0, 31)))
    return st.lists(site, min_size=1, max_size=40).map(lambda s: sorted(s, key=lambda x: x[0]))



@SETTINGS
@given(data=st.data())
def test_weight_sites_fast_equals_plain(weight_setup, data):
    tr, fast = weight_setup
    before = {n: w.copy() for n, w in tr.engine.weights.items()}
    sites = data.draw(_sites({n: w for n, w in tr.engine.weights.items()
                              if tr.engine.live.get(n)}))
    assert fast.verdicts(sites) == tr.verdicts(sites)
    assert fast.counts.whole_graph == 0  # every site took the fast path
    assert all(np.array_equal(before[n].view(np.uint8), w.view(np.uint8))
               for n, w in tr.engine.weights.items())


@SETTINGS
@given(data=st.data())
def test_activation_sites_fast_equals_plain(activation_setup, data):
    tr, fast = activation_setup
    before = {n: a.copy() for n, a in tr.golden_acts.items()}
    sites = data.draw(_sites({n: a for n, a in tr.golden_acts.items()
                              if a.dtype == np.float32}))
    assert fast.verdicts(sites) == tr.verdicts(sites)
    assert fast.counts.whole_graph == 0  # every site took the fast path
    assert all(np.array_equal(before[n].view(np.uint8), a.view(np.uint8))
               for n, a in tr.golden_acts.items())


def test_conv_weights_run_grouped(weight_setup):
    tr, fast = weight_setup
    n0 = fast.counts.grouped
    fast.verdicts([("conv2.weight", i, 30) for i in range(0, 1152, 37)])
    assert fast.counts.grouped > n0 and fast.counts.whole_graph == 0


@given(st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 9), st.integers(0, 31)),
                max_size=40))
def test_tensor_runs_split_sites_into_maximal_one_tensor_runs(sites):
    from radiation.propagate import tensor_runs

    runs = list(tensor_runs(sites))
    assert [s for _, run in runs for s in run] == sites
    assert all(run and all(s[0] == t for s in run) for t, run in runs)
    assert all(a[0] != b[0] for a, b in zip(runs, runs[1:], strict=False))
