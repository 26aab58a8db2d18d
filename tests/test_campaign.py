"""``orbnode campaign`` on the default model: counts add up, outcomes are plausible,
and neither the number of workers nor the reuse of clean activations changes a record."""

from __future__ import annotations

import json
import sqlite3

import pytest
from campaign_records import records

from orbnode.cli import main
from radiation.outcome import OUTCOMES


def campaign(capsys, db, *args) -> dict:
    assert main(["campaign", "--db", str(db), "--json", *map(str, args)]) == 0
    return json.loads(capsys.readouterr().out)




@pytest.mark.parametrize("target", ["weights", "activations"])
def test_counts_add_up(tmp_path, capsys, target):
    db = tmp_path / "c.db"
    s = campaign(capsys, db, "--target", target, "--faults", 400, "--seed", 7)
    assert s["faults_planned"] == s["faults_done"] == 400 and s["complete"]
    assert set(s["outcomes"]) == set(OUTCOMES) and sum(s["outcomes"].values()) == 400
    for table in ("by_tensor", "by_bit", "by_field", "strata"):
        assert sum(g["faults"] for g in s[table].values()) == 400
        for k in OUTCOMES:
            assert sum(g["outcomes"][k] for g in s[table].values()) == s["outcomes"][k]
    rows = records(db)
    assert len(rows) == 400 and len({r[1:4] for r in rows}) == 400  # no site twice
    # Rates: the worker trial rate is measured beside clean inferences on the same setup.
    assert s["faults_per_s"] > 0 and s["clean_inferences_per_s"] > 0
    assert s["fault_rate_over_clean_rate"] == pytest.approx(
        s["worker_faults_per_s"] / s["clean_inferences_per_s"])
    sdc = s["sdc_rate"]
    assert sdc["ci_low"] <= sdc["rate"] <= sdc["ci_high"]
    ss = s["sample_size"]
    assert ss["faults_needed"] < ss["faults_needed_infinite_population"] == 16588
    assert ss["achieved_margin"] > 0.01  # 400 faults are far from a 1 % margin
    # Masked records are the golden outputs: no difference, no digest.
    for r in rows:
        if r[5] == "masked":
            assert r[6] == 0.0 and r[7] == 0 and r[8] is None
        elif r[5] == "sdc":
            assert r[7] == 1


@pytest.mark.parametrize("target", ["weights", "activations"])
def test_exponent_msb_flips_are_rarely_masked_mantissa_lsb_mostly(tmp_path, capsys, target):
    msb = campaign(capsys, tmp_path / "msb.db", "--target", target, "--bits", "30",
                   "--faults", 200)
    lsb = campaign(capsys, tmp_path / "lsb.db", "--target", target, "--bits", "0-3",
                   "--faults", 200)
    assert set(msb["by_bit"]) == {"30"} and set(lsb["by_bit"]) == {"0", "1", "2", "3"}
    o, n = msb["outcomes"], msb["faults_done"]
    assert o["masked"] / n < 0.5 and (o["sdc"] + o["due"]) / n > 0.2
    o, n = lsb["outcomes"], lsb["faults_done"]
    assert o["masked"] / n > 0.6 and o["sdc"] == 0


def test_two_workers_give_the_same_records_as_one(tmp_path, capsys, monkeypatch):
    from radiation.campaign.executors import local

    one = campaign(capsys, tmp_path / "w1.db", "--faults", 600, "--seed", 3, "--chunk", 64)
    # Start the process at once and let it keep its queued chunks, so that it surely
    # runs some: its records must equal those of the in-process run.
    monkeypatch.setattr(local, "helpers", lambda left_s, startup_s, most, idle: most)
    monkeypatch.setattr(local.LocalExecutor, "STEAL", False)
    two = campaign(capsys, tmp_path / "w2.db", "--faults", 600, "--seed", 3, "--chunk", 64,
                   "--workers", 2)
    assert two["session"]["workers"] == 2 and two["session"]["workers_seen"] == 2
    assert records(tmp_path / "w1.db") == records(tmp_path / "w2.db")
    assert one["outcomes"] == two["outcomes"]


def test_a_short_campaign_does_not_wait_for_worker_start_up(tmp_path, capsys):
    # 300 faults take worker 0 a fraction of a second: no process is worth starting.
    s = campaign(capsys, tmp_path / "s.db", "--faults", 300, "--workers", 2)
    assert s["complete"] and s["session"]["workers_seen"] == 1


@pytest.mark.parametrize("target", ["weights", "activations"])
def test_reuse_of_clean_activations_changes_no_record(tmp_path, capsys, target):
    campaign(capsys, tmp_path / "r.db", "--target", target, "--faults", 300, "--reuse")
    campaign(capsys, tmp_path / "n.db", "--target", target, "--faults", 300, "--no-reuse")
    assert records(tmp_path / "r.db") == records(tmp_path / "n.db")


def test_stratified_campaign_and_other_fault_kinds(tmp_path, capsys):
    s = campaign(capsys, tmp_path / "s.db", "--stratum", "field", "--faults", 300,
                 "--fault", "mbu", "--span", 2, "--samples", 3)
    # Strata go by the upset's start bit: a 2-bit upset cannot start at the sign bit.
    assert list(s["strata"]) == ["exponent", "mantissa"]
    assert [g["faults"] for g in s["strata"].values()] == [150, 150]
    assert s["sdc_rate"]["method"].startswith("stratified")
    con = sqlite3.connect(tmp_path / "s.db")
    assert {r[0] for r in con.execute("SELECT DISTINCT input_id FROM faults")} == {0, 1, 2}
    assert {r[0] for r in con.execute("SELECT DISTINCT kind FROM faults")} == {"mbu"}
    con.close()
    # Without --faults the plan is Leveugle's size, here per tensor of a small subset.
    s = campaign(capsys, tmp_path / "l.db", "--stratum", "tensor",
                 "--tensors", "fc2.bias,bn1.var", "--margin", 0.05)
    need = s["sample_size"]["faults_needed_per_stratum"]
    assert need == {"fc2.bias": 217, "bn1.var": 185}  # 320 and 256 sites at 5 % / 99 %
    assert s["faults_planned"] == 402 and s["complete"]


def test_text_summary(tmp_path, capsys):
    assert main(["campaign", "--db", str(tmp_path / "t.db"), "--faults", "200",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "200 planned, 200 done" in out and "SDC rate" in out and "by tensor" in out


def test_layer_by_field_strata_with_leveugle_sizes_per_cell(tmp_path, capsys):
    s = campaign(capsys, tmp_path / "p.db", "--stratum", "tensor,field",
                 "--tensors", "fc2.bias,bn1.var", "--margin", 0.1)
    need = s["sample_size"]["faults_needed_per_stratum"]
    assert list(need) == ["fc2.bias × sign", "fc2.bias × exponent", "fc2.bias × mantissa",
                          "bn1.var × sign", "bn1.var × exponent", "bn1.var × mantissa"]
    assert s["faults_planned"] == s["faults_done"] == sum(need.values())
    assert all(s["strata"][k]["faults"] == n for k, n in need.items())
    assert "Kish" in s["rates"]["sdc"]["method"]
    # The heat map table: tensor × field counts add up to the outcomes.
    heat = s["by_tensor_field"]
    assert set(heat) == {"fc2.bias", "bn1.var"}
    assert sum(g["faults"] for row in heat.values() for g in row.values()) == s["faults_done"]


@pytest.mark.parametrize("target", ["weights", "activations"])
@pytest.mark.parametrize("model", ["default", "mobilenet_like"])
def test_intra_op_threads_change_no_record(tmp_path, capsys, target, model):
    from radiation import testmodels as tm

    extra = [] if model == "default" else [
        "--model", tm.save(tm.mobilenet_like(size=48), tmp_path / "m.onnx"), "--no-reuse"]
    campaign(capsys, tmp_path / "t1.db", "--target", target, "--faults", 300, "--seed", 5, *extra)
    two = campaign(capsys, tmp_path / "t2.db", "--target", target, "--faults", 300, "--seed", 5,
                   "--threads", 2, *extra)
    assert two["session"]["threads"] == 2
    assert records(tmp_path / "t1.db") == records(tmp_path / "t2.db")
