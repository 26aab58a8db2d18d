"""The committed default model: contract, provenance, accuracy and a numpy reference."""

from __future__ import annotations

import hashlib

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from node.models import DEFAULT_MODEL, DEFAULT_SAMPLE, load_digits_split, load_metadata


@pytest.fixture(scope="module")
def model() -> onnx.ModelProto:
    return onnx.load(DEFAULT_MODEL)


@pytest.fixture(scope="module")
def session() -> ort.InferenceSession:
    return ort.InferenceSession(str(DEFAULT_MODEL), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def meta() -> dict:
    return load_metadata()


@pytest.fixture(scope="module")
def split() -> tuple[np.ndarray, ...]:
    return load_digits_split()


def run(session: ort.InferenceSession, x: np.ndarray) -> np.ndarray:
    return session.run(["logits"], {"input": x})[0]


def test_file_size_and_sha256(meta: dict) -> None:
    data = DEFAULT_MODEL.read_bytes()
    assert len(data) < 1_000_000
    assert hashlib.sha256(data).hexdigest() == meta["sha256"]
    assert meta["model"] == DEFAULT_MODEL.name


def test_graph_contract(model: onnx.ModelProto) -> None:
    onnx.checker.check_model(model, full_check=True)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 17)]
    (inp,), (out,) = model.graph.input, model.graph.output
    assert inp.name == "input" and out.name == "logits"
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert out.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    in_dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    out_dims = [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim]
    assert in_dims == ["N", 1, 8, 8]
    assert out_dims == ["N", 10]
    props = {p.key: p.value for p in model.metadata_props}
    assert {"producer", "dataset", "test_accuracy"} <= props.keys()
    assert model.doc_string


def test_graph_keeps_conv_and_trained_batchnorm(model: onnx.ModelProto) -> None:
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("Conv") == 2 and ops.count("BatchNormalization") == 2
    assert "Constant" not in ops  # every weight is an initializer
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:
        assert all(name in inits for name in node.input[1:]), node.name
        if node.op_type == "BatchNormalization":
            mean, var = inits[node.input[3]], inits[node.input[4]]
            # Real running statistics, not the untrained 0 / 1 defaults.
            assert np.abs(mean).max() > 1e-3 and np.abs(var - 1).max() > 1e-3
            assert (var > 0).all()


def test_dynamic_batch(session: ort.InferenceSession) -> None:
    x = np.load(DEFAULT_SAMPLE)["x"][:7]
    assert session.get_inputs()[0].shape == ["N", 1, 8, 8]
    one, seven = run(session, x[:1]), run(session, x)
    assert one.shape == (1, 10) and seven.shape == (7, 10)
    assert one.dtype == np.float32
    np.testing.assert_allclose(seven[:1], one, atol=1e-5)


def test_accuracy_matches_record(session: ort.InferenceSession, meta: dict, split) -> None:
    _, x_test, _, y_test = split
    accuracy = float((run(session, x_test).argmax(1) == y_test).mean())
    assert meta["n_test"] == len(y_test)
    assert accuracy == pytest.approx(meta["test_accuracy"], abs=1e-9)
    assert accuracy >= 0.95


def test_sample_is_head_of_test_split(split) -> None:
    _, x_test, _, y_test = split
    with np.load(DEFAULT_SAMPLE) as sample:
        x, y = sample["x"], sample["y"]
    assert x.dtype == np.float32 and x.shape == (64, 1, 8, 8)
    assert y.dtype == np.int64 and y.shape == (64,)
    np.testing.assert_array_equal(x, x_test[:64])
    np.testing.assert_array_equal(y, y_test[:64])
    assert 0.0 <= x.min() and x.max() <= 1.0


def reference_forward(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    """Interpret the graph node by node in float64, with plain loops and einsum."""
    env = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in model.graph.initializer}
    env["input"] = x.astype(np.float64)
    for node in model.graph.node:
        a = {at.name: onnx.helper.get_attribute_value(at) for at in node.attribute}
        ins = [env[name] for name in node.input]
        if node.op_type == "Conv":
            assert a["pads"] == [1, 1, 1, 1] and a.get("strides", [1, 1]) == [1, 1]
            assert a.get("group", 1) == 1 and a.get("dilations", [1, 1]) == [1, 1]
            xin, w = ins[0], ins[1]
            h, wd = xin.shape[2:]
            xp = np.pad(xin, ((0, 0), (0, 0), (1, 1), (1, 1)))
            y = np.zeros((xin.shape[0], w.shape[0], h, wd))
            for di in range(w.shape[2]):
                for dj in range(w.shape[3]):
                    patch = xp[:, :, di:di + h, dj:dj + wd]
                    y += np.einsum("nchw,oc->nohw", patch, w[:, :, di, dj])
            if len(ins) > 2:
                y += ins[2][None, :, None, None]
        elif node.op_type == "BatchNormalization":
            xin, scale, bias, mean, var = (v if v.ndim == 4 else v[None, :, None, None]
                                           for v in ins)
            y = (xin - mean) / np.sqrt(var + a.get("epsilon", 1e-5)) * scale + bias
        elif node.op_type == "Relu":
            y = np.maximum(ins[0], 0.0)
        elif node.op_type == "MaxPool":
            assert a["kernel_shape"] == [2, 2] and a["strides"] == [2, 2] and "pads" not in a
            n, c, h, wd = ins[0].shape
            y = ins[0].reshape(n, c, h // 2, 2, wd // 2, 2).max(axis=(3, 5))
        elif node.op_type == "Flatten":
            assert a.get("axis", 1) == 1
            y = ins[0].reshape(ins[0].shape[0], -1)
        elif node.op_type == "Gemm":
            assert a.get("transB") == 1 and not a.get("transA", 0)
            assert a.get("alpha", 1.0) == 1.0 and a.get("beta", 1.0) == 1.0
            y = np.einsum("nk,ok->no", ins[0], ins[1]) + ins[2]
        else:
            raise AssertionError(f"reference has no {node.op_type}")
        env[node.output[0]] = y
    return env["logits"]


def test_numpy_reference_matches_onnxruntime(model: onnx.ModelProto,
                                             session: ort.InferenceSession) -> None:
    x = np.load(DEFAULT_SAMPLE)["x"][:8]
    expected = reference_forward(model, x)
    np.testing.assert_allclose(run(session, x), expected, atol=1e-4, rtol=0)
    assert np.abs(expected).max() > 1.0  # a dead (all-zero) network would pass trivially
