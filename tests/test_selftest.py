"""`orbnode node --selftest`: passes here, fails with a clear report when the installed
model is not the flashed one, and gives one-line exit-2 errors for bad arguments."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import onnx
import pytest

from node.auth import write_key
from node.models import DEFAULT_MODEL
from orbnode.cli import main

ROOT = Path(__file__).resolve().parent.parent
REQUIRED_HERE = {
    "python", "package:onnxruntime", "package:numpy", "package:pyserial",
    "package:spacepackets", "orbnode", "onnxruntime_providers", "board_profile", "model_load",
    "inference", "weights_live", "power_source", "packet_codec", "pty_loopback",
}


def orbnode(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "orbnode", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


def selftest(capsys, *args) -> tuple[int, dict, str]:
    code = main(["node", "--selftest", *map(str, args)])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def checks(report: dict) -> dict[str, dict]:
    return {c["name"]: c for c in report["checks"]}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("selftest") / "bundle-x86"
    res = orbnode("flash", "--board", "x86-workstation", "--out", out, "--no-tar", timeout=300)
    assert res.returncode == 0, res.stderr
    return out


def test_selftest_passes_here(capsys):
    code, report, err = selftest(capsys, "--board", "x86-workstation")
    assert code == 0, report
    assert report["ok"] and report["failed"] == []
    by_name = checks(report)
    assert REQUIRED_HERE <= set(by_name)
    for name in REQUIRED_HERE:
        assert by_name[name]["ok"] and by_name[name]["required"], by_name[name]
    for c in report["checks"]:
        assert set(c) == {"name", "ok", "detail", "required"} and c["detail"]
    assert "model_sha256" not in by_name  # only with --bundle
    assert "CPUExecutionProvider" in by_name["onnxruntime_providers"]["detail"]
    assert "(modelled)" in by_name["power_source"]["detail"] or \
        "(measured)" in by_name["power_source"]["detail"]
    assert "all" in err and "required checks passed" in err


def test_selftest_with_bundle_checks_model_and_profile(capsys, bundle):
    code, report, _ = selftest(capsys, "--bundle", bundle)
    assert code == 0, report
    by_name = checks(report)
    assert by_name["model_sha256"]["ok"] and by_name["model_sha256"]["required"]
    assert "sha256 matches the bundle" in by_name["board_profile"]["detail"]
    assert report["model"] == str(bundle / "models" / "digits_cnn.onnx")
    assert report["board"] == "x86-workstation"


def test_sha_mismatch_fails_with_a_clear_report(capsys, bundle, tmp_path):
    """A model that loads and runs but is not the flashed one: exit 1, named in the report."""
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    model = onnx.load(str(DEFAULT_MODEL))
    model.doc_string = "retrained on the ground, not the flashed model"
    onnx.save(model, copy / "models" / "digits_cnn.onnx")
    code, report, err = selftest(capsys, "--bundle", copy)
    assert code == 1
    assert report["ok"] is False and report["failed"] == ["model_sha256"]
    detail = checks(report)["model_sha256"]["detail"]
    manifest = json.loads((copy / "manifest.json").read_text())
    assert manifest["model"]["sha256"] in detail and "bundle manifest says" in detail
    assert checks(report)["inference"]["ok"]  # everything else still ran and passed
    assert "FAILED model_sha256" in err


def test_other_model_or_board_than_the_bundles_fails(capsys, bundle, tmp_path):
    other = tmp_path / "other.onnx"
    model = onnx.load(str(DEFAULT_MODEL))
    model.producer_name = "someone else"
    onnx.save(model, other)
    code, report, _ = selftest(capsys, "--bundle", bundle, "--model", other)
    assert code == 1 and report["failed"] == ["model_sha256"]
    code, report, _ = selftest(capsys, "--bundle", bundle, "--board", "rpi5")
    assert code == 1 and report["failed"] == ["board_profile"]
    assert "is not the bundle's profile" in checks(report)["board_profile"]["detail"]


def test_serial_port_key_file_and_custom_bundle_model(capsys, tmp_path):
    key = write_key(tmp_path / "tc.key")
    code, report, _ = selftest(capsys, "--board", "rpi4", "--port", "loop://",
                               "--key-file", key)
    assert code == 0, report
    by_name = checks(report)
    assert by_name["serial_port"]["ok"] and "loop://" in by_name["serial_port"]["detail"]
    assert by_name["telecommand_auth"]["ok"]
    assert "replay replay" in by_name["telecommand_auth"]["detail"]

    code, report, _ = selftest(capsys, "--board", "rpi4", "--port", tmp_path / "no-such-tty")
    assert code == 1 and report["failed"] == ["serial_port"]
    assert "cannot open serial port" in checks(report)["serial_port"]["detail"]


def test_broken_onnxruntime_is_a_failed_check_not_a_traceback(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import raises ImportError
    code, report, _ = selftest(capsys, "--board", "rpi4")
    assert code == 1
    by_name = checks(report)
    assert not by_name["package:onnxruntime"]["ok"]
    assert by_name["model_load"]["detail"].startswith("not run")
    assert by_name["packet_codec"]["ok"] and by_name["pty_loopback"]["ok"]  # the rest ran
    assert {"package:onnxruntime", "model_load", "inference"} <= set(report["failed"])


@pytest.mark.parametrize("args, words", [
    (["--selftest", "--model", "/nonexistent/m.onnx"], ["model file not found"]),
    (["--selftest", "--board", "nosuch"], ["unknown board"]),
    (["--selftest", "--bundle", "/nonexistent-bundle"], ["bundle directory not found"]),
    (["--selftest", "--bundle", str(ROOT / "tests")], ["no manifest.json"]),
    (["--bundle", str(ROOT)], ["only used with --selftest"]),
])
def test_bad_arguments_are_one_line_exit_2(args, words):
    res = orbnode("node", *args)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "Traceback" not in res.stderr and res.stdout == ""
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert all(w in lines[0] for w in words)


def test_selftest_cli_exit_status_and_json_on_stdout():
    res = orbnode("node", "--selftest", "--board", "rpi4", "--radiation", "off")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["ok"] and not checks(report)["weights_live"]["required"]


def test_external_data_model_is_checked_file_by_file(capsys, bundle, tmp_path):
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.arange(16, dtype=np.float32).reshape(4, 4), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
                              [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
              tmp_path / "tiny.onnx", save_as_external_data=True, location="tiny.bin",
              size_threshold=0)
    wheel = next((bundle / "wheels").glob("orbnode-*.whl"))
    out = tmp_path / "b"
    res = orbnode("flash", "--board", "rpi4", "--out", out, "--model", tmp_path / "tiny.onnx",
                  "--wheel", wheel, "--no-tar")
    assert res.returncode == 0, res.stderr
    code, report, _ = selftest(capsys, "--bundle", out)
    assert code == 0, report
    assert "1 external-data file(s)" in checks(report)["model_sha256"]["detail"]
    assert checks(report)["weights_live"]["detail"].startswith("1 of 1")
    data = out / "models" / "tiny.bin"
    data.write_bytes(data.read_bytes()[::-1])  # same size, other weights
    code, report, _ = selftest(capsys, "--bundle", out)
    assert code == 1 and report["failed"] == ["model_sha256"]
    assert "tiny.bin" in checks(report)["model_sha256"]["detail"]
