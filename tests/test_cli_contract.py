"""The command line's contract, for every sub-command.

``--help`` works and describes every option; a bad value (not a number, NaN,
negative, huge, a missing file, a folder given as a file, a wrong shape, a file that
is not ONNX, a model that fails at inference) gives exactly one line on stderr,
exit status 2, no traceback, and writes nothing. Run in-process through
:func:`orbnode.cli.main` (fast); a few need a subprocess. ``board-emu``'s full path
needs root and minutes: only its fast argument checks are here.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from orbnode.cli import build_parser, main


def _subcommands() -> list[list[str]]:
    """Every runnable sub-command path, nested ones included (``export xtce``)."""
    found = []

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            found.append(path)
            return
        for name, child in subs[0].choices.items():
            walk(child, [*path, name])

    walk(build_parser(), [])
    return found


SUBCOMMANDS = _subcommands()


def test_every_command_is_listed():
    names = {p[0] for p in SUBCOMMANDS}
    assert {"node", "tc", "keygen", "flash", "run", "sim", "orbit", "envelope", "inject",
            "tensors", "radiation", "campaign", "report", "bench", "export", "decode",
            "board-emu"} <= names


@pytest.mark.parametrize("path", SUBCOMMANDS, ids=" ".join)
def test_help_describes_every_option(path, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*path, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: orbnode {' '.join(path)}")
    parser = build_parser()
    for name in path:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    formatter = parser._get_formatter()
    for action in parser._actions:
        if not isinstance(action, argparse._HelpAction):
            assert action.help, f"{' '.join(path)} {action.option_strings or action.dest}"
        # every option with a value to default to shows it, zero included
        if (action.option_strings and action.default is not None and action.default is not False
                and action.default is not argparse.SUPPRESS and action.nargs != 0):
            assert "default" in formatter._get_help_string(action), (
                f"{' '.join(path)} {action.option_strings[-1]} hides its default")


def test_tc_help_lists_its_commands(capsys):
    with pytest.raises(SystemExit):
        main(["tc", "--help"])
    text = capsys.readouterr().out
    for command in ("ping", "set-mode", "scrub", "shutdown"):
        assert command in text


# -- files the bad cases use ------------------------------------------------------

def _save(model: onnx.ModelProto, path: Path) -> str:
    onnx.save(model, str(path))
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Iterator[dict[str, str]]:
    d = tmp_path_factory.mktemp("contract-files")
    f = {"dir": str(d / "a-folder"), "missing": str(d / "nothing-here.onnx")}
    busy = socket.create_server(("127.0.0.1", 0))  # a ground port already taken
    f["busy_port"] = str(busy.getsockname()[1])
    Path(f["dir"]).mkdir()
    (d / "garbage.onnx").write_bytes(b"\x00not a model\xff" * 10)
    f["garbage"] = str(d / "garbage.onnx")
    (d / "text.npy").write_text("not an array")
    f["not_npy"] = str(d / "text.npy")
    np.save(d / "wrong_shape.npy", np.zeros((2, 5, 5), np.float32))
    f["wrong_shape"] = str(d / "wrong_shape.npy")
    # A Reshape whose target does not fit its input: fails at every inference.
    f["reshape_fails"] = _save(helper.make_model(helper.make_graph(
        [helper.make_node("Reshape", ["x", "shape"], ["y"])], "bad",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.array([3, 4], np.int64), "shape")]),
        opset_imports=[helper.make_opsetid("", 13)]), d / "reshape_fails.onnx")
    # An input that does not fit the weights: MatMul [1, 5] x [4, 2].
    f["input_misfit"] = _save(helper.make_model(helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "misfit",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.ones((4, 2), np.float32), "w")]),
        opset_imports=[helper.make_opsetid("", 13)]), d / "input_misfit.onnx")
    yield f
    busy.close()


# -- the bad cases -------------------------------------------------------------------
# Each is (argv, words the one line must contain). {name} is filled from `files`;
# {out} is a fresh folder under the test's own tmp_path, which must stay empty.

NUMBERS = {  # option: command prefix for it
    "--orbits": ["run"], "--speedup": ["run"], "--tick-s": ["run"], "--baud": ["run"],
    "--initial-soc": ["run"], "--seed": ["run"], "--watchdog-s": ["run"],
    "--upset-acceleration": ["run"], "--scrub-period-s": ["run"],
}

CASES: list[tuple[list[str], tuple[str, ...]]] = []
for _opt, _cmd in NUMBERS.items():
    for _bad in ("abc", "nan", "inf", "-1", "1e400"):
        CASES.append(([*_cmd, _opt, _bad, "--out", "{out}/run"], (_opt.lstrip("-"),)))
CASES += [
    # not numbers, NaN, negative, huge
    (["run", "--altitude-km", "abc", "--out", "{out}/r"], ("altitude",)),
    (["run", "--altitude-km", "-100", "--out", "{out}/r"], ("altitude",)),
    (["run", "--altitude-km", "1e12", "--out", "{out}/r"], ("altitude",)),
    (["run", "--baud", "1000000000000000", "--out", "{out}/r"], ("baud",)),
    (["run", "--upset-acceleration", "1e30", "--out", "{out}/r"], ("upset",)),
    (["run", "--initial-soc", "2", "--out", "{out}/r"], ("state of charge",)),
    (["run", "--max-resets", "-3", "--out", "{out}/r"], ("max-resets",)),
    (["run", "--shielding-mm-al", "-1", "--out", "{out}/r"], ("shielding",)),
    (["run", "--shielding-mm-al", "nan", "--out", "{out}/r"], ("shielding",)),
    (["run", "--solar", "mid", "--out", "{out}/r"], ("solar",)),
    (["sim", "--port", "loop://", "--shielding-mm-al", "-1", "--out", "{out}/s"],
     ("shielding",)),
    (["sim", "--port", "loop://", "--solar", "mid", "--out", "{out}/s"], ("solar",)),
    (["sim", "--port", "loop://", "--baud", "1000000000000000", "--out", "{out}/s"], ("baud",)),
    (["node", "--port", "loop://", "--insecure", "--baud", "1000000000000000"], ("baud",)),
    (["node", "--port", "loop://", "--insecure", "--seed", "-1"], ("seed",)),
    (["node", "--port", "loop://", "--insecure", "--watchdog-s", "nan"], ("watchdog",)),
    (["node", "--port", "loop://", "--insecure", "--store-packets", "0"], ("store-packets",)),
    (["tc", "--port", "loop://", "--key-file", "{out}/k", "--baud", "1000000000000000",
      "ping"], ("baud",)),
    (["tc", "--port", "loop://", "--key-file", "{out}/k", "--timeout-s", "-1", "ping"],
     ("timeout",)),
    (["tc", "--port", "loop://", "--key-file", "{out}/k", "reboot"], ("command",)),
    (["inject", "--tensor", "conv1.weight", "--index", "abc", "--bit", "0"], ("index",)),
    (["inject", "--tensor", "conv1.weight", "--index", "0", "--bit", "99"], ("bit",)),
    (["inject", "--tensor", "conv1.weight", "--index", "-5", "--bit", "0"], ("index",)),
    (["inject", "--tensor", "conv1.weight", "--index", "10000000000", "--bit", "0"],
     ("index",)),
    (["inject", "--tensor", "conv1.weight", "--index", "0", "--bit", "0", "--seed", "-1"],
     ("seed",)),
    (["inject", "--tensor", "conv1.weight", "--index", "0", "--bit", "0", "--threads", "0"],
     ("threads",)),
    (["inject", "--tensor", "nope", "--index", "0", "--bit", "0"], ("nope",)),
    (["envelope", "--hours", "-1"], ("hours",)),
    (["envelope", "--hours", "nan"], ("hours",)),
    (["envelope", "--step-s", "0"], ("step",)),
    (["envelope", "--hours", "1e9"], ("steps",)),
    # the orbit's computed altitude (3499.999999999999) shown as given
    (["envelope", "--altitude-km", "3500"], ("altitude 3500 km", "100..3000 km")),
    (["orbit", "--altitude-km", "-5"], ("altitude",)),
    (["orbit", "--days", "abc"], ("days",)),
    (["radiation", "--altitude-km", "nan"], ("altitude",)),
    (["radiation", "--shielding-mm-al", "-1"], ("shielding",)),
    (["campaign", "--db", "{out}/c.db", "--faults", "-5"], ("faults",)),
    (["campaign", "--db", "{out}/c.db", "--faults", "abc"], ("faults",)),
    (["campaign", "--db", "{out}/c.db", "--seed", "-1"], ("seed",)),
    (["campaign", "--db", "{out}/c.db", "--margin", "nan"], ("margin",)),
    (["campaign", "--db", "{out}/c.db", "--confidence", "2"], ("confidence",)),
    (["bench", "--duration", "-1", "--out", "{out}/b"], ("duration",)),
    (["bench", "--modes", "TURBO", "--out", "{out}/b"], ("TURBO",)),
    (["board-emu", "--board", "rpi4", "--orbits", "-1"], ("orbits",)),
    (["board-emu", "--board", "rpi4", "--seed", "-1"], ("seed",)),
    (["board-emu", "--board", "rpi4", "--speedup", "nan"], ("speedup",)),
    (["board-emu", "--board", "no-such-board", "--out", "{out}/e"], ("no-such-board",)),
    # missing files, folders as files, files of the wrong kind
    (["run", "--model", "{missing}", "--out", "{out}/r"], ("not found",)),
    (["run", "--model", "{dir}", "--out", "{out}/r"], ("a-folder", "is a directory")),
    (["run", "--model", "{garbage}", "--out", "{out}/r"], ("not an ONNX model",)),
    (["run", "--input", "{missing}", "--out", "{out}/r"], ("not found",)),
    (["run", "--input", "{not_npy}", "--out", "{out}/r"], ("text.npy",)),
    (["run", "--input", "{wrong_shape}", "--out", "{out}/r"], ("shape",)),
    (["run", "--input-shape", "1,x,3", "--out", "{out}/r"], ("input-shape",)),
    (["run", "--input-shape", "1,1,9,9", "--out", "{out}/r"], ("input-shape",)),
    (["run", "--board", "{missing}", "--out", "{out}/r"], ("nothing-here",)),
    (["node", "--port", "loop://", "--insecure", "--model", "{garbage}"],
     ("not an ONNX model",)),
    (["node", "--port", "loop://", "--key-file", "{missing}"], ("nothing-here",)),
    (["node", "--port", "loop://", "--key-file", "{dir}"], ("a-folder",)),
    (["node", "--port", "loop://", "--insecure", "--input", "{wrong_shape}"], ("shape",)),
    (["tc", "--port", "loop://", "--key-file", "{dir}", "ping"], ("a-folder",)),
    (["inject", "--model", "{garbage}", "--tensor", "w", "--index", "0", "--bit", "0"],
     ("not an ONNX model",)),
    (["inject", "--model", "{dir}", "--tensor", "w", "--index", "0", "--bit", "0"],
     ("a-folder",)),
    (["inject", "--tensor", "conv1.weight", "--index", "0", "--bit", "0",
      "--input", "{wrong_shape}"], ("shape",)),
    (["inject", "--tensor", "conv1.weight", "--index", "0", "--bit", "0",
      "--output", "{out}/y.txt"], ("output",)),
    (["tensors", "--model", "{missing}"], ("not found",)),
    (["tensors", "--model", "{dir}"], ("a-folder", "is a directory")),
    (["tensors", "--model", "{garbage}"], ("not an ONNX model",)),
    (["campaign", "--db", "{dir}"], ("a-folder",)),
    (["campaign", "--db", "{out}/c.db", "--model", "{garbage}"], ("not an ONNX model",)),
    (["campaign", "--db", "{out}/c.db", "--input", "{wrong_shape}"], ("shape",)),
    (["campaign", "--db", "{missing}", "--resume"], ("nothing-here",)),
    (["report", "{missing}", "--out", "{out}/rep"], ("nothing-here",)),
    (["report", "{garbage}", "--out", "{out}/rep"], ("garbage",)),
    (["decode", "{missing}"], ("nothing-here",)),
    (["decode", "{dir}"], ("a-folder",)),
    (["export", "csv", "--db", "{missing}", "--out", "{out}/x.csv"], ("nothing-here",)),
    (["orbit", "--tle-file", "{missing}"], ("nothing-here",)),
    (["orbit", "--tle-file", "{garbage}"], ("TLE",)),
    (["bench", "--from", "{missing}", "--out", "{out}/b"], ("nothing-here",)),
    (["bench", "--model", "{garbage}", "--out", "{out}/b"], ("not an ONNX model",)),
    (["keygen", "--out", "{dir}"], ("a-folder",)),
    (["flash", "--board", "rpi4", "--out", "{out}/f", "--model", "{garbage}"],
     ("not an ONNX model",)),
    # models that fail at inference
    (["run", "--model", "{reshape_fails}", "--out", "{out}/r"], ("reshape_fails.onnx",)),
    (["run", "--model", "{input_misfit}", "--out", "{out}/r"], ("input_misfit.onnx",)),
    (["node", "--port", "loop://", "--insecure", "--model", "{reshape_fails}"],
     ("reshape_fails.onnx",)),
    (["bench", "--model", "{reshape_fails}", "--out", "{out}/b"], ("reshape_fails.onnx",)),
    (["tensors", "--model", "{reshape_fails}"], ("reshape_fails.onnx",)),
    (["inject", "--model", "{reshape_fails}", "--tensor", "x", "--index", "0", "--bit", "0"],
     ("reshape_fails.onnx",)),
    # a ground port out of range, taken, or on a host that does not exist: refused
    # before anything is written in --out (no archive, key or capture left behind)
    (["run", "--ground-port", "70000", "--out", "{out}/r"], ("ground-port", "65535")),
    (["sim", "--port", "loop://", "--ground-port", "99999", "--out", "{out}/s"],
     ("ground-port", "65535")),
    (["run", "--ground-port", "{busy_port}", "--out", "{out}/r"], ("in use",)),
    (["sim", "--port", "loop://", "--ground-port", "{busy_port}", "--out", "{out}/s"],
     ("in use",)),
    (["run", "--ground-port", "0", "--ground-host", "999.1.1.1", "--out", "{out}/r"],
     ("999.1.1.1",)),
    (["sim", "--port", "loop://", "--ground-port", "0", "--ground-host", "999.1.1.1",
      "--out", "{out}/s"], ("999.1.1.1",)),
    (["sim", "--port", "{missing}", "--out", "{out}/s"], ("nothing-here",)),
]


def _fill(argv: list[str], files: dict[str, str], out: Path) -> list[str]:
    return [a.format(out=out, **files) for a in argv]


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize(("argv", "words"), CASES, ids=lambda v: " ".join(v)[:70]
                         if isinstance(v, list) else None)
def test_bad_value_is_one_line_exit_2_and_writes_nothing(argv, words, files, tmp_path,
                                                         capsys, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    if "{out}/k" in argv:  # a valid key, so the bad value is the only fault
        from node.auth import write_key

        write_key(out / "k")
    monkeypatch.chdir(tmp_path)
    before = _tree(tmp_path)
    try:
        rc = main(_fill(argv, files, out))
    except SystemExit as exc:
        rc = exc.code
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert rc == 2, captured.err
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"orbnode {argv[0]}"), lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    assert captured.out == ""
    assert _tree(tmp_path) == before


# -- what needs a real process ------------------------------------------------------

def _orbnode(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run([sys.executable, "-m", "orbnode", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd, env=env)


def test_no_traceback_from_a_real_serial_device_given_a_huge_baud(tmp_path):
    """pyserial's termios call overflows on a pty: checked before it is reached."""
    import pty

    master, slave = pty.openpty()
    try:
        path = os.ttyname(slave)
        for argv in (["node", "--port", path, "--insecure"],
                     ["tc", "--port", path, "--key-file", str(tmp_path / "k"), "ping"]):
            res = _orbnode(*argv, "--baud", "1000000000000000", cwd=tmp_path)
            assert res.returncode == 2 and "Traceback" not in res.stderr
            assert len(res.stderr.splitlines()) == 1 and "baud" in res.stderr
    finally:
        os.close(master)
        os.close(slave)


def test_a_node_whose_model_fails_exits_with_one_line_before_opening_the_port(files,
                                                                              tmp_path):
    res = _orbnode("node", "--port", "socket://127.0.0.1:9", "--insecure", "--model",
                   files["reshape_fails"], cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert len(res.stderr.splitlines()) == 1 and "cannot open" not in res.stderr
    assert "reshape_fails.onnx fails on an input" in res.stderr
