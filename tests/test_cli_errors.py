"""A user's mistake gets one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from node.models import DEFAULT_MODEL


def orbnode(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "orbnode", *args], capture_output=True,
                          text=True, timeout=timeout)


def assert_one_line_error(res, *words):
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    for w in words:
        assert w in lines[0]


@pytest.fixture
def string_input_model(tmp_path):
    g = helper.make_graph([helper.make_node("Identity", ["s"], ["o"])], "g",
                          [helper.make_tensor_value_info("s", TensorProto.STRING, [1])],
                          [helper.make_tensor_value_info("o", TensorProto.STRING, [1])])
    p = tmp_path / "strings.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), p)
    return p


@pytest.fixture
def dynamic_model(tmp_path):
    w = helper.make_tensor("w", TensorProto.FLOAT, [1], [2.0])
    g = helper.make_graph([helper.make_node("Mul", ["x", "w"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "C", 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", "C", 4])],
                          [w])
    p = tmp_path / "dyn.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), p)
    return p


def test_missing_model(tmp_path):
    assert_one_line_error(orbnode("run", "--model", str(tmp_path / "nope.onnx"),
                                  "--out", str(tmp_path / "o")), "not found")


def test_not_onnx(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not a model\x00\xff" * 10)
    assert_one_line_error(orbnode("run", "--model", str(bad), "--out", str(tmp_path / "o")),
                          "not an ONNX model")


def test_input_the_runtime_cannot_feed(string_input_model, tmp_path):
    assert_one_line_error(orbnode("run", "--model", str(string_input_model),
                                  "--out", str(tmp_path / "o")), "cannot feed")


def test_dynamic_dims_need_input_shape(dynamic_model, tmp_path):
    assert_one_line_error(orbnode("run", "--model", str(dynamic_model),
                                  "--out", str(tmp_path / "o")), "--input-shape")


def test_input_array_that_does_not_fit(tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((3, 5), np.float32))
    assert_one_line_error(orbnode("run", "--input", str(x), "--out", str(tmp_path / "o")),
                          "does not fit")


def test_bad_board_and_bad_numbers(tmp_path):
    assert_one_line_error(orbnode("run", "--board", "toaster", "--out", str(tmp_path / "o")))
    assert_one_line_error(orbnode("run", "--orbits", "-1", "--out", str(tmp_path / "o")))


def test_unwritable_output_folder_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert_one_line_error(orbnode("run", "--out", str(blocker / "sub")))


def test_empty_input_file(tmp_path):
    x = tmp_path / "empty.npy"
    np.save(x, np.zeros((0, 1, 8, 8), np.float32))
    assert_one_line_error(orbnode("run", "--input", str(x), "--out", str(tmp_path / "o")),
                          "no samples")
    assert_one_line_error(orbnode("bench", "--input", str(x), "--model", str(DEFAULT_MODEL),
                                  "--out", str(tmp_path / "b")), "no samples")


@pytest.mark.parametrize("args", [
    ("run", "--orbits", "nan"), ("run", "--speedup", "inf"), ("run", "--baud", "0"),
    ("run", "--tick-s", "-1"), ("run", "--upset-acceleration", "inf"),
    ("run", "--scrub-period-s", "-5"), ("bench", "--duration", "nan"),
    ("node", "--watchdog-s", "0"), ("run", "--power-source", "bogus"),
    ("orbit", "--altitude-km", "nan"),
])
def test_nonsense_numbers_are_one_line(args, tmp_path):
    assert_one_line_error(orbnode(*args, "--out", str(tmp_path / "o"))
                          if args[0] == "run" else orbnode(*args))
