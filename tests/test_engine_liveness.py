"""The engine's weights are live buffers, verified at load, at both fault levels."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from node.engine import Engine, load_model_proto, parse_shape
from node.errors import OrbnodeError
from node.models import DEFAULT_MODEL, DEFAULT_SAMPLE
from radiation import testmodels as tm
from radiation.bits import FaultSiteError
from radiation.faults import Fault, Injector


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("engine_models")
    return {
        "plain": tm.save(tm.cnn_model(), d / "plain.onnx"),
        "constants": tm.save(tm.cnn_model(constants=True), d / "constants.onnx"),
        "old": tm.save(tm.cnn_model(opset=9, ir_version=3, initializers_as_inputs=True,
                                    dynamic=False), d / "old.onnx"),
        "external": tm.save(tm.cnn_model(), d / "external.onnx", external=True),
        "bf16": tm.save(tm.cast_weights_model("bfloat16"), d / "bf16.onnx"),
        "fp16": tm.save(tm.cast_weights_model("float16"), d / "fp16.onnx"),
    }


@pytest.fixture(scope="module")
def sample():
    return np.load(DEFAULT_SAMPLE)["x"][:1]


@pytest.mark.parametrize("level", ["file", "runtime"])
def test_default_model_every_weight_live(level, sample):
    e = Engine(DEFAULT_MODEL, level=level)
    assert e.level == level
    assert e.weights and all(e.live.values()), e.liveness_notes
    assert e.liveness_notes == {}
    assert set(e.live_weights) == set(e.weights)
    if level == "file":  # the file's own names; at runtime level the optimised graph's
        assert "conv1.weight" in e.weights and "bn1.scale" in e.weights
    else:
        assert "bn1.scale" not in e.weights  # BatchNorm was folded into the conv
    # Live means an in-place change shows in the next run, no rebuild.
    y0 = e.run(sample)[0]
    name = max(e.weights, key=lambda n: e.weights[n].size)
    e.weights[name].reshape(-1)[:] *= -1
    assert not np.array_equal(e.run(sample)[0], y0)


@pytest.mark.parametrize("kind", ["constants", "old", "external", "bf16", "fp16"])
@pytest.mark.parametrize("level", ["file", "runtime"])
def test_real_model_shapes_load_live(models, kind, level):
    e = Engine(models[kind], level=level)
    assert e.weights and all(e.live.values()), e.liveness_notes
    if kind == "constants" and level == "file":
        assert set(e.constant_weights) == set(e.weights)
    if kind == "bf16":  # the optimiser folds the Cast: at runtime the node reads float32
        want = "bfloat16" if level == "file" else "float32"
        assert {a.dtype.name for a in e.weights.values()} == {want}
    out = e.run(e.make_input())
    assert np.isfinite(out[0]).all()


def test_session_time_optimisation_makes_dead_buffers_and_they_are_refused():
    # Conv+BatchNorm fusion copies conv weights at ORT_ENABLE_BASIC: the check must see
    # that, and the injector must refuse to put a fault where it would be ignored.
    e = Engine(DEFAULT_MODEL, graph_optimization="basic")
    assert e.live["conv1.weight"] is False and e.live["bn1.scale"] is False
    assert e.liveness_notes["conv1.weight"].startswith("dead")
    assert e.live["fc1.weight"] is True
    inj = Injector.from_engine(e)
    before = e.weights["conv1.weight"].copy()
    with pytest.raises(FaultSiteError, match="not live"):
        inj.apply(Fault("conv1.weight", 0, 30))
    assert np.array_equal(e.weights["conv1.weight"], before)
    inj.undo(inj.apply(Fault("fc1.weight", 0, 30)))  # a live one is fine


def test_thread_sessions_share_live_buffers(sample):
    e = Engine(DEFAULT_MODEL, threads=1)
    y1 = e.run(sample)[0]
    e.set_threads(2)
    assert e.threads == 2
    assert all(e.live.values())
    np.testing.assert_array_equal(e.run(sample)[0], y1)
    e.weights["fc2.bias"][3] += 100.0
    y2 = e.run(sample)[0]
    e.set_threads(1)
    np.testing.assert_array_equal(e.run(sample)[0], y2)
    assert y2[0, 3] > y1[0, 3] + 50


def test_model_with_weights_reproduces_live_state(sample, tmp_path):
    e = Engine(DEFAULT_MODEL, level="runtime")
    e.weights["fc1.weight"].reshape(-1)[5] = 3.0
    path = tmp_path / "m.onnx"
    onnx.save(e.model_with_weights(), str(path))
    ref = Engine(path)  # the optimised graph is a valid model on its own
    np.testing.assert_array_equal(ref.run(sample)[0], e.run(sample)[0])
    gold = e.golden_weights()["fc1.weight"]
    assert gold.reshape(-1)[5] != 3.0


def test_dynamic_dims_need_and_take_input_shape(tmp_path):
    m = tm.cnn_model()
    m.graph.input[0].type.tensor_type.shape.dim[2].dim_param = "H"
    path = tm.save(m, tmp_path / "dyn.onnx")
    with pytest.raises(OrbnodeError, match="input-shape"):
        Engine(path)
    e = Engine(path, input_shape=(2, 1, 8, 8))
    assert e.input_shape == (2, 1, 8, 8)
    assert e.run(e.make_input())[0].shape == (2, 10)
    with pytest.raises(OrbnodeError, match="does not fit"):
        Engine(path, input_shape=(1, 3, 8, 8))


def test_user_errors_are_one_line(tmp_path):
    with pytest.raises(OrbnodeError, match="not found"):
        Engine(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00\x01 this is not a protobuf")
    with pytest.raises(OrbnodeError, match="not an ONNX model"):
        load_model_proto(junk)
    with pytest.raises(OrbnodeError, match="level"):
        Engine(DEFAULT_MODEL, level="fused")
    with pytest.raises(OrbnodeError):
        parse_shape("1,a,3")
    assert parse_shape("1,3,48,192") == (1, 3, 48, 192)
    for err in ("missing.onnx",):
        try:
            Engine(tmp_path / err)
        except OrbnodeError as exc:
            assert "\n" not in str(exc)
