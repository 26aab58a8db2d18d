"""``orbnode inject``: one fault, one inference, the output saved; clear errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from node.models import DEFAULT_MODEL, DEFAULT_SAMPLE
from orbnode.cli import main


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.add_session_config_entry("session.disable_prepacking", "1")
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def x_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("inject") / "x.npy"
    np.save(p, np.load(DEFAULT_SAMPLE)["x"][5:6])
    return p


def test_weight_fault_output_matches_a_modified_model_file(x_file, tmp_path, capsys):
    out = tmp_path / "y.npy"
    rc = main(["inject", "--tensor", "conv2.weight", "--index", "77", "--bit", "29",
               "--input", str(x_file), "--output", str(out), "--json"])
    assert rc == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["target"] == "weight" and rec["level"] == "file" and rec["live"] is True
    assert rec["outcome"] in ("masked", "tolerable", "sdc", "due")
    assert int(rec["old_word"], 16) ^ int(rec["new_word"], 16) == 1 << 29
    model = onnx.load(str(DEFAULT_MODEL))
    init = next(i for i in model.graph.initializer if i.name == "conv2.weight")
    arr = numpy_helper.to_array(init).copy()
    arr.reshape(-1).view(np.uint32)[77] ^= 1 << 29
    init.CopyFrom(numpy_helper.from_array(arr, "conv2.weight"))
    ref = _session(model).run(None, {"input": np.load(x_file)})[0]
    assert np.load(out).tobytes() == ref.tobytes()


def test_output_and_input_faults(x_file, tmp_path, capsys):
    x = np.load(x_file)
    golden = _session(onnx.load(str(DEFAULT_MODEL))).run(None, {"input": x})[0]
    out = tmp_path / "logits.npy"
    assert main(["inject", "--tensor", "logits", "--index", "4", "--bit", "31",
                 "--input", str(x_file), "--output", str(out)]) == 0
    expected = golden.copy()
    expected.reshape(-1).view(np.uint32)[4] ^= 1 << 31
    assert np.load(out).tobytes() == expected.tobytes()
    assert "outcome" in capsys.readouterr().out
    assert main(["inject", "--tensor", "input", "--index", "9", "--bit", "30",
                 "--input", str(x_file), "--output", str(out)]) == 0
    flipped = x.copy()
    flipped.reshape(-1).view(np.uint32)[9] ^= 1 << 30
    ref = _session(onnx.load(str(DEFAULT_MODEL))).run(None, {"input": flipped})[0]
    assert np.load(out).tobytes() == ref.tobytes()


@pytest.mark.parametrize("method", ["patch", "tail"])
def test_activation_fault_methods_agree(x_file, tmp_path, capsys, method):
    out = tmp_path / f"{method}.npy"
    assert main(["inject", "--tensor", "relu2_out", "--index", "300", "--bit", "27",
                 "--method", method, "--input", str(x_file), "--output", str(out),
                 "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["target"] == "activation"
    assert rec["method"] == {"patch": "scatternd", "tail": "tail"}[method]
    other = tmp_path / ("tail.npy" if method == "patch" else "patch.npy")
    if other.exists():
        assert np.load(other).tobytes() == np.load(out).tobytes()


def test_runtime_level_and_fault_kinds(x_file, tmp_path, capsys):
    out = tmp_path / "y.npy"
    assert main(["inject", "--level", "runtime", "--tensor", "fc1.weight", "--index", "3",
                 "--bit", "2", "--fault", "mbu", "--span", "3", "--input", str(x_file),
                 "--output", str(out), "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["level"] == "runtime" and rec["fault"]["kind"] == "mbu"
    assert int(rec["old_word"], 16) ^ int(rec["new_word"], 16) == 0b111 << 2
    assert main(["inject", "--tensor", "fc1.bias", "--index", "0", "--bit", "0",
                 "--fault", "random", "--word", "0x7fc00000", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["new_word"] == "0x7fc00000" and rec["new_value"] == "nan"


@pytest.mark.parametrize(("args", "message"), [
    (["--tensor", "fc9.weight", "--index", "0", "--bit", "0"], "no tensor named 'fc9.weight'"),
    (["--tensor", "fc1.weight", "--index", "8192", "--bit", "0"], "index 8192 out of range"),
    (["--tensor", "fc1.weight", "--index", "0", "--bit", "32"], "bit 32 out of range"),
    (["--tensor", "relu1_out", "--index", "512", "--bit", "0"], "index 512 out of range"),
    (["--tensor", "conv1.weight", "--index", "0", "--bit", "0", "--level", "runtime"],
     "optimised graph"),
    (["--tensor", "fc1.weight", "--index", "0", "--bit", "0", "--model", "missing.onnx"],
     "not found"),
    (["--tensor", "fc1.weight", "--index", "0", "--bit", "0", "--output", "y.txt"], ".npy"),
    (["--tensor", "fc1.weight", "--index", "0", "--bit", "0", "--word", "12"], "random only"),
])
def test_user_errors_are_one_line_exit_2(args, message, capsys):
    assert main(["inject", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def test_console_entry_point(x_file, tmp_path):
    out = tmp_path / "y.npy"
    proc = subprocess.run([sys.executable, "-m", "orbnode", "inject", "--tensor", "fc2.bias",
                           "--index", "1", "--bit", "30", "--input", str(x_file),
                           "--output", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert np.load(out).shape == (1, 10)


def _dynamic_conv(path) -> onnx.ModelProto:
    """Conv over an input whose height and width are symbolic: [N, 1, H, W]."""
    from onnx import TensorProto, helper

    w = np.random.default_rng(3).standard_normal((2, 1, 3, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])], "dyn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.save(model, str(path))
    return model


def test_dynamic_shape_model_takes_its_shape_from_the_input_file(tmp_path, capfd):
    model = _dynamic_conv(tmp_path / "dyn.onnx")
    x = np.random.default_rng(4).standard_normal((1, 1, 6, 7)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "y.npy"
    assert main(["inject", "--model", str(tmp_path / "dyn.onnx"), "--tensor", "w",
                 "--index", "5", "--bit", "30", "--input", str(tmp_path / "x.npy"),
                 "--output", str(out)]) == 0
    init = model.graph.initializer[0]
    w = numpy_helper.to_array(init).copy()
    w.reshape(-1).view(np.uint32)[5] ^= 1 << 30
    init.CopyFrom(numpy_helper.from_array(w, "w"))
    ref = _session(model).run(None, {"x": x})[0]
    assert np.load(out).shape == (1, 2, 6, 7)
    assert np.load(out).tobytes() == ref.tobytes()
    assert capfd.readouterr().err == ""


def test_a_file_of_another_rank_still_needs_input_shape(tmp_path, capsys):
    _dynamic_conv(tmp_path / "dyn.onnx")
    np.save(tmp_path / "x.npy", np.zeros((6, 7), np.float32))
    assert main(["inject", "--model", str(tmp_path / "dyn.onnx"), "--tensor", "w",
                 "--index", "0", "--bit", "1", "--input", str(tmp_path / "x.npy")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--input-shape" in err


def test_a_faulty_inference_keeps_onnxruntime_quiet(tmp_path, capfd):
    """A fault in the float tensor a Reshape's shape is cast from makes the inference
    fail (a DUE): reported in the record, nothing from onnxruntime's own log on stderr."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Cast", ["shape_f"], ["shape"], to=TensorProto.INT64),
         helper.make_node("Reshape", ["x", "shape"], ["y"])], "rs",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.array([2, 4], np.float32), "shape_f")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.save(model, str(tmp_path / "rs.onnx"))
    # Bit 22 of 2.0f is the mantissa's top bit: 2 -> 3, and 3 x 4 != 8 elements.
    rc = main(["inject", "--model", str(tmp_path / "rs.onnx"), "--tensor", "shape_f",
               "--index", "0", "--bit", "22", "--json"])
    got = capfd.readouterr()
    assert rc == 1  # no output to save
    rec = json.loads(got.out)
    assert rec["outcome"] == "due" and rec["new_value"] == 3.0
    assert got.err == ""
