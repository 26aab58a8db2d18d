"""User mistakes in ``orbnode campaign``: one line on stderr, exit status 2, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from orbnode.cli import main


def orbnode(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "orbnode", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)


def one_line(err: str, *words) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def test_subprocess_errors_are_one_line(tmp_path):
    res = orbnode("campaign", "--db", tmp_path / "a.db", "--model", tmp_path / "nope.onnx",
                  "--faults", 10)
    assert res.returncode == 2
    one_line(res.stderr, "not found")
    assert not (tmp_path / "a.db").exists()  # nothing is created for a refused campaign
    res = orbnode("campaign", "--db", tmp_path / "b.db", "--resume")
    assert res.returncode == 2
    one_line(res.stderr, "no campaign database", "without --resume")


@pytest.mark.parametrize("args,words", [
    (["--faults", "0"], ["--faults must be positive"]),
    (["--faults", "-5"], ["--faults must be positive"]),
    (["--target", "biases"], ["unknown --target 'biases'"]),
    (["--level", "silicon"], ["unknown --level"]),
    (["--fault", "gamma"], ["unknown --fault 'gamma'"]),
    (["--stratum", "layer"], ["unknown --stratum 'layer'"]),
    (["--tensors", "nope"], ["no target tensor named 'nope'"]),
    (["--bits", "9-3"], ["bad --bits"]),
    (["--workers", "0"], ["--workers must be at least 1"]),
    (["--threads", "0"], ["--threads must be at least 1"]),
    (["--margin", "2"], ["--margin"]),
    (["--samples", "500"], ["--samples 500", "holds 64"]),
    (["--fault", "random", "--stratum", "bit"], ["random-word fault"]),
    ([], ["--db"]),
])
def test_bad_arguments(tmp_path, capsys, args, words):
    db = [] if not args else ["--db", str(tmp_path / "c.db")]
    assert main(["campaign", *db, *args]) == 2
    one_line(capsys.readouterr().err, "orbnode campaign: error:", *words)
    assert not (tmp_path / "c.db").exists()


def test_ray_executor_without_ray(tmp_path, capsys, monkeypatch):
    # As on a fresh install without the extra, also where ray is installed.
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.delitem(sys.modules, "radiation.campaign.executors.ray_executor", raising=False)
    assert main(["campaign", "--db", str(tmp_path / "r.db"), "--executor", "ray"]) == 2
    one_line(capsys.readouterr().err, "needs the optional 'ray' package",
             "pip install '.[ray]'")
    assert not (tmp_path / "r.db").exists()
    assert main(["campaign", "--db", str(tmp_path / "r.db"), "--executor", "dask"]) == 2
    one_line(capsys.readouterr().err, "unknown --executor 'dask'")


def test_databases_that_are_not_to_be_touched(tmp_path, capsys):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    assert main(["campaign", "--db", str(junk), "--faults", "10"]) == 2
    one_line(capsys.readouterr().err, "not a campaign database")
    assert junk.read_bytes() == b"not a database at all" * 100

    import sqlite3

    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE mine (x)")
    con.commit()
    con.close()
    assert main(["campaign", "--db", str(other), "--faults", "10"]) == 2
    one_line(capsys.readouterr().err, "not an orbnode campaign")
    assert main(["campaign", "--db", str(other), "--resume"]) == 2
    one_line(capsys.readouterr().err, "not an orbnode campaign")

    done = tmp_path / "done.db"
    assert main(["campaign", "--db", str(done), "--faults", "20", "--json"]) == 0
    capsys.readouterr()
    assert main(["campaign", "--db", str(done), "--faults", "20"]) == 2
    one_line(capsys.readouterr().err, "already holds a campaign", "--resume")


@pytest.mark.parametrize("args,words", [
    (["--seed", "-1"], ["--seed must be non-negative"]),
    (["--tolerance", "abc"], ["bad --tolerance 'abc'"]),
    (["--tolerance", "rel=-1"], ["bad --tolerance"]),
    (["--mitigations", "none,prayer"], ["unknown --mitigations 'prayer'"]),
    (["--stratum", "tensor,layer"], ["unknown --stratum 'layer'"]),
    (["--stratum", "tensor,tensor"], ["unknown --stratum"]),
    (["--mitigations", "none,,tmr"], ["unknown --mitigations empty item in 'none,,tmr'"]),
    (["--mitigations", "none,"], ["unknown --mitigations empty item"]),
    (["--stratum", "field,bit"], ["redundant --stratum 'field,bit'"]),
    (["--stratum", "tensor,bit,field"], ["redundant --stratum", "tensor,bit"]),
])
def test_bad_values_of_issue_12(tmp_path, capsys, args, words):
    assert main(["campaign", "--db", str(tmp_path / "c.db"), *args]) == 2
    one_line(capsys.readouterr().err, "orbnode campaign: error:", *words)
    assert not (tmp_path / "c.db").exists()


@pytest.mark.parametrize("args,words", [
    (["--seed", "-1"], ["--seed must be non-negative"]),
    (["--tolerance", "x"], ["bad --tolerance"]),
    (["--mitigation", "prayer"], ["unknown --mitigation 'prayer'"]),
])
def test_inject_bad_values(capsys, args, words):
    assert main(["inject", "--tensor", "fc2.bias", "--index", "0", "--bit", "3", *args]) == 2
    one_line(capsys.readouterr().err, "orbnode inject: error:", *words)


def test_seed_minus_one_in_a_subprocess_is_one_line(tmp_path):
    for cmd in (["campaign", "--db", tmp_path / "s.db"],
                ["inject", "--tensor", "fc2.bias", "--index", "0", "--bit", "3"]):
        res = orbnode(*cmd, "--seed", "-1")
        assert res.returncode == 2
        one_line(res.stderr, "--seed must be non-negative")
    assert not (tmp_path / "s.db").exists()
