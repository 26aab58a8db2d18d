"""Reuse of clean activations is exact or not used (issue 12).

On a model that computes in float16, onnxruntime keeps some intermediate values in
float32 inside the whole graph; a graph tail fed with the captured (float16)
activations then computes something else. The trials must notice at start, run the
whole graph for those cuts, and say so: records with reuse equal records without.
"""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
from campaign_records import records

from node.engine import Engine
from orbnode.cli import main
from radiation import testmodels as tm
from radiation.activations import ActivationInjector
from radiation.campaign.store import CampaignStore
from radiation.faults import Fault
from radiation.trials import ActivationTrials, WeightTrials


@pytest.fixture(scope="module")
def fp16_model(tmp_path_factory):
    return tm.save(tm.fp16_mlp(), tmp_path_factory.mktemp("fp16") / "fp16.onnx")


def _records(db) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT f.id, f.tensor, f.idx, f.bit, r.outcome, r.max_abs_diff, "
                           "r.top1_changed, r.output_digest FROM faults f JOIN results r "
                           "ON r.fault_id = f.id ORDER BY f.id").fetchall()
    finally:
        con.close()


def test_the_fp16_tail_is_not_exact_and_the_trials_fall_back(fp16_model):
    engine = Engine(fp16_model)
    x = np.random.default_rng(1).standard_normal((1, 16)).astype(np.float16)
    acts = ActivationInjector(engine)
    golden = acts.golden(x)
    whole = engine.run(x)[0].tobytes()
    # The premise: some cut's tail does not reproduce the whole graph.
    inexact = [t for t in ("h1", "a1", "t1", "h2", "m2")
               if acts.tail_outputs(t, golden)[0].tobytes() != whole]
    assert inexact
    at = ActivationTrials(engine, x, reuse=True)
    for t in inexact:
        assert not at.uses_tail(t)
    assert set(inexact) <= at.reuse_fallbacks
    wt = WeightTrials(engine, x, reuse=True)
    for t in engine.live_weights:
        run = wt.runner(t)
        assert run()[0].tobytes() == whole  # whichever path: the clean output is exact
    assert wt.reuse_fallbacks


@pytest.mark.parametrize("target", ["weights", "activations"])
def test_fp16_campaign_with_reuse_equals_without_and_says_so(tmp_path, capsys, fp16_model,
                                                             target):
    common = ["--model", str(fp16_model), "--target", target, "--faults", "600", "--seed", "4",
              "--samples", "4", "--json", "--no-progress"]
    assert main(["campaign", "--db", str(tmp_path / "r.db"), "--reuse", *common]) == 0
    with_reuse = json.loads(capsys.readouterr().out)
    assert main(["campaign", "--db", str(tmp_path / "n.db"), "--no-reuse", *common]) == 0
    capsys.readouterr()
    assert _records(tmp_path / "r.db") == _records(tmp_path / "n.db")
    assert with_reuse["reuse"]["fallback_cuts"]
    assert "not bit-exact" in with_reuse["reuse"]["note"]
    assert main(["campaign", "--db", str(tmp_path / "t.db"), "--model", str(fp16_model),
                 "--target", target, "--faults", "50", "--no-progress"]) == 0
    assert "reuse: graph tail not bit-exact" in capsys.readouterr().out


@pytest.mark.parametrize("args", [["--fault", "mbu", "--span", "2"], ["--fault", "stuck-at-1"],
                                  ["--mitigations", "none,scrub,tmr"]],
                         ids=["mbu", "stuck-at-1", "scrub-tmr"])
def test_fp32_tails_are_checked_on_clean_weights(tmp_path, capsys, args):
    """The tail check runs before the fault is applied, so the fp32 default model's
    exact tails are not reported inexact (and not replaced by whole-graph runs)."""
    common = ["--faults", "150", "--seed", "2", "--threads", "1", "--json", "--no-progress",
              *args]
    assert main(["campaign", "--db", str(tmp_path / "r.db"), "--reuse", *common]) == 0
    with_reuse = json.loads(capsys.readouterr().out)
    assert main(["campaign", "--db", str(tmp_path / "n.db"), "--no-reuse", *common]) == 0
    capsys.readouterr()
    assert with_reuse["reuse"]["fallback_cuts"] == []
    assert records(tmp_path / "r.db") == records(tmp_path / "n.db")
    store = CampaignStore.open_readonly(tmp_path / "r.db")
    try:
        x = store.inputs()[:1]
    finally:
        store.close()
    wt = WeightTrials(Engine(with_reuse["model"]), x, reuse=True)
    wt.run_fault(Fault("conv1.weight", 3, 30, "stuck-at-1"))  # the cut's first use, faulted
    assert wt.reuse_fallbacks == set()
