"""A killed campaign resumes to exactly its plan; a mismatched resume changes nothing."""

from __future__ import annotations

import hashlib
import json
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import onnx
import psutil
import pytest
from campaign_records import records
from onnx import numpy_helper

from node.models import DEFAULT_MODEL
from orbnode.cli import main

FAULTS = 30_000  # enough that a kill lands mid-way (about half a second of trials)




def result_count(db) -> int:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:  # not created yet, or the plan is still being written
        return 0


def test_killed_campaign_resumes_to_the_uninterrupted_result(tmp_path, capsys):
    db = tmp_path / "killed.db"
    args = ["campaign", "--db", str(db), "--faults", str(FAULTS), "--seed", "11", "--json"]
    proc = subprocess.Popen([sys.executable, "-m", "orbnode", *args, "--workers", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        children: list[psutil.Process] = []
        while result_count(db) == 0:
            assert proc.poll() is None, "the campaign ended before any result was seen"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        children = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    done = result_count(db)
    assert 0 < done < FAULTS, "the kill did not land mid-way"
    # The workers notice that the campaign process is gone and exit by themselves.
    _, alive = psutil.wait_procs(children, timeout=10)
    assert not alive

    assert main(["campaign", "--db", str(db), "--resume", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["faults_planned"] == s["faults_done"] == FAULTS
    assert s["session"]["resumed"] and s["session"]["faults_run"] == FAULTS - done
    rows = records(db)
    assert [r[0] for r in rows] == list(range(FAULTS))  # every fault once, none twice

    ref = tmp_path / "ref.db"
    assert main(["campaign", "--db", str(ref), "--faults", str(FAULTS), "--seed", "11",
                 "--json"]) == 0
    capsys.readouterr()
    assert rows == records(ref)


@pytest.fixture(scope="module")
def small_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("resume") / "small.db"
    assert main(["campaign", "--db", str(db), "--faults", "300", "--json",
                 "--no-progress"]) == 0
    return db


@pytest.fixture(scope="module")
def other_model(tmp_path_factory):
    m = onnx.load(str(DEFAULT_MODEL))
    init = next(i for i in m.graph.initializer if i.name == "fc2.bias")
    arr = numpy_helper.to_array(init).copy()
    arr[0] += np.float32(1.0)
    init.CopyFrom(numpy_helper.from_array(arr, "fc2.bias"))
    p = tmp_path_factory.mktemp("other") / "other.onnx"
    onnx.save(m, str(p))
    return p


def _snapshot(db) -> tuple[str, list[str]]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        dump = list(con.iterdump())
    finally:
        con.close()
    return hashlib.sha256(db.read_bytes()).hexdigest(), dump


@pytest.mark.parametrize("extra,words", [
    (["--model", "OTHER"], ["another model", "nothing changed"]),
    (["--faults", "500"], ["--faults 500", "300"]),
    (["--seed", "1"], ["--seed 1"]),
    (["--target", "activations"], ["--target activations"]),
    (["--level", "runtime"], ["--level runtime"]),
])
def test_mismatched_resume_is_refused_and_changes_nothing(small_db, other_model, capsys,
                                                          extra, words):
    before = _snapshot(small_db)
    extra = [str(other_model) if a == "OTHER" else a for a in extra]
    assert main(["campaign", "--db", str(small_db), "--resume", "--json", *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and all(w in err[0] for w in words), err
    assert _snapshot(small_db) == before


def test_resuming_a_complete_campaign_reports_it(small_db, capsys):
    assert main(["campaign", "--db", str(small_db), "--resume", "--json", "--faults",
                 "300"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["faults_done"] == 300 and s["session"]["faults_run"] == 0
    assert s["faults_per_s"] > 0 and s["rates_from_session"] == 1  # the session that ran
