"""The campaign's shortcuts change how soon a trial is decided, never what it decides.

For each shortcut (early stop alone, early stop with batching and grouped Conv
evaluation, intra-op threads) a few hundred records of a real campaign are replayed
one by one through ``orbnode inject`` — a fresh engine and session per record, the
whole graph or a ScatterND patch, none of the shortcuts — and must give the same
outcome, ``max_abs_diff``, top-1 change and faulty output bytes. The same campaign
with and without the shortcuts stores the same records. Models where a shortcut does
not hold (a node that cannot take a batch; fp16 graphs whose per-node runs differ
from the whole graph) fall back and say so, with the records still identical.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from campaign_records import records
from onnx import TensorProto, helper, numpy_helper

from orbnode.cli import main
from radiation import testmodels
from radiation.campaign.driver import default_threads
from radiation.campaign.replay import inject_argv, write_inputs
from radiation.campaign.store import CampaignStore
from radiation.outcome import digest


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return str(testmodels.save(testmodels.medium_cnn(), tmp_path_factory.mktemp("m") / "m.onnx"))


def campaign(capsys, db, model, *args) -> dict:
    assert main(["campaign", "--db", str(db), "--model", model, "--samples", "2", "--seed", "3",
                 "--no-progress", "--json", *map(str, args)]) == 0
    return json.loads(capsys.readouterr().out)




def replay_all(db, tmp_path, capsys) -> int:
    """Replay every record of ``db`` through ``orbnode inject``; returns how many."""
    store = CampaignStore.open_readonly(db)
    try:
        x = write_inputs(store, tmp_path / "inputs.npy")
        out = tmp_path / "y.npy"
        n = 0
        for fid, *_ in records(db):
            want = store.result(fid)
            rc = main([*inject_argv(store, fid, x), "--output", str(out), "--json"])
            rec = json.loads(capsys.readouterr().out)
            n += 1
            assert rec["outcome"] == want.outcome, (fid, rec, want)
            if rc == 1:  # onnxruntime failed on the faulty values: a DUE with no output
                assert want.max_abs_diff is None
                continue
            assert rec["max_abs_diff"] == want.max_abs_diff, (fid, rec, want)
            assert rec["top1_changed"] == want.top1_changed, (fid, rec, want)
            if want.outcome == "masked":
                assert want.output_digest is None
            else:
                assert digest([np.load(out)]) == want.output_digest, (fid, rec, want)
        return n
    finally:
        store.close()


SHORTCUTS = {
    "early-stop": ["--shortcuts", "--no-batch", "--threads", "1"],
    "batching": ["--shortcuts", "--batch", "--threads", "1"],
    "threads": ["--shortcuts", "--batch", "--threads", "2"],
}


@pytest.mark.parametrize("shortcut", list(SHORTCUTS))
def test_records_replay_through_inject(tmp_path, capsys, model, shortcut):
    replayed = 0
    for target, faults in (("weights", 130), ("activations", 110)):
        db = tmp_path / f"{target}.db"
        s = campaign(capsys, db, model, "--target", target, "--faults", faults,
                     "--bits", "18-31", *SHORTCUTS[shortcut])
        d = s["shortcuts"]["decided"]
        assert d["trials"] == faults and d["whole_graph"] == 0
        assert d["masked_at_fault"] + d["masked_downstream"] > 0 and d["reached_output"] > 0
        assert s["outcomes"]["sdc"] + s["outcomes"]["due"] > 0  # the replay covers errors
        if shortcut == "early-stop":
            assert d["batched"] == 0 and d["grouped"] == 0
        else:
            assert d["batched"] > 0
            assert d["grouped"] > 0 or target == "activations"
        assert s["shortcuts"]["threads"] == (2 if shortcut == "threads" else 1)
        replayed += replay_all(db, tmp_path, capsys)
    assert replayed == 240


@pytest.mark.parametrize("target,level", [("weights", "file"), ("activations", "file"),
                                          ("weights", "runtime")])
def test_same_records_with_and_without_shortcuts(tmp_path, capsys, model, target, level):
    args = ["--target", target, "--level", level, "--faults", 300]
    plain = campaign(capsys, tmp_path / "plain.db", model, *args, "--no-shortcuts",
                     "--threads", "1")
    fast = campaign(capsys, tmp_path / "fast.db", model, *args, "--shortcuts", "--threads", "2")
    auto = campaign(capsys, tmp_path / "auto.db", model, *args, "--threads", "1")
    assert plain["shortcuts"]["decided"]["trials"] == 0 and plain["shortcuts"]["mode"] == "off"
    assert fast["shortcuts"]["decided"]["trials"] == 300 and fast["shortcuts"]["mode"] == "on"
    # The default measures both paths on each tensor's first faults and keeps the faster.
    sc = auto["shortcuts"]
    assert sc["mode"] == "auto"
    assert sc["paths"] or target == "activations"  # 300 faults over many tensors: none timed
    assert {c["path"] for c in sc["paths"].values()} <= {"node", "tail"}
    d = sc["decided"]
    assert d["trials"] + d["whole_graph"] + d["tail_chosen"] == 300
    assert records(tmp_path / "plain.db") == records(tmp_path / "fast.db")
    assert records(tmp_path / "plain.db") == records(tmp_path / "auto.db")
    assert plain["outcomes"] == fast["outcomes"] == auto["outcomes"]


def _fixed_reshape_model() -> onnx.ModelProto:
    """Conv-Relu, then a Reshape to the fixed shape [1, -1]: a batch cannot go through."""
    rng = np.random.default_rng(1)
    inits = [numpy_helper.from_array((rng.standard_normal((4, 1, 3, 3)) * 0.5)
                                     .astype(np.float32), "w"),
             numpy_helper.from_array(np.array([1, -1], np.int64), "shape"),
             numpy_helper.from_array((rng.standard_normal((5, 144)) * 0.2).astype(np.float32),
                                     "fc")]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Reshape", ["r", "shape"], ["flat"], name="fixed_reshape"),
             helper.make_node("Gemm", ["flat", "fc"], ["y"], transB=1)]
    graph = helper.make_graph(
        nodes, "fixed", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def test_batch_that_cannot_hold_falls_back_and_says_so(tmp_path, capsys):
    path = str(testmodels.save(_fixed_reshape_model(), tmp_path / "fixed.onnx"))
    args = ["--target", "activations", "--faults", 200, "--threads", "1"]
    fast = campaign(capsys, tmp_path / "fast.db", path, *args, "--shortcuts")
    plain = campaign(capsys, tmp_path / "plain.db", path, *args, "--no-shortcuts")
    assert plain["outcomes"] == fast["outcomes"]
    assert "fixed_reshape" in fast["shortcuts"]["batch_fallbacks"]
    assert records(tmp_path / "fast.db") == records(tmp_path / "plain.db")
    assert main(["campaign", "--db", str(tmp_path / "fast.db"), "--resume", "--no-progress"]) == 0
    assert "batching not bit-exact" in capsys.readouterr().out


def test_inexact_per_node_runs_fall_back_exactly(tmp_path, capsys):
    path = str(testmodels.save(testmodels.fp16_mlp(), tmp_path / "fp16.onnx"))
    args = ["--target", "activations", "--faults", 200, "--threads", "1"]
    fast = campaign(capsys, tmp_path / "fast.db", path, *args, "--shortcuts")
    plain = campaign(capsys, tmp_path / "plain.db", path, *args, "--no-shortcuts")
    assert plain["outcomes"] == fast["outcomes"]
    assert fast["shortcuts"]["decided"]["whole_graph"] > 0
    assert records(tmp_path / "fast.db") == records(tmp_path / "plain.db")


def test_threads_default_and_bad_value(tmp_path, capsys, model):
    s = campaign(capsys, tmp_path / "c.db", model, "--faults", 20, "--workers", 1)
    assert s["shortcuts"]["threads"] == default_threads(1) >= 1
    assert main(["campaign", "--db", str(tmp_path / "d.db"), "--model", model,
                 "--threads", "0"]) == 2
    err = capsys.readouterr().err
    assert "--threads must be at least 1" in err and "Traceback" not in err
    assert not (tmp_path / "d.db").exists()
