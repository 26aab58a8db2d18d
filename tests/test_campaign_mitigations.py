"""Mitigations compared on one stored fault list (issue 12).

Every planned fault runs under each mitigation. On single-bit weight upsets, SECDED
corrects every flip and TMR out-votes the faulty replica, so each SDC (and DUE) of
the unmitigated run disappears; scrubbing does not prevent the inference that sees
the fault but repairs it at the next scrub. Mitigated records replay through
``orbnode inject --mitigation``.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from orbnode.cli import main
from radiation.campaign.replay import inject_argv, write_inputs
from radiation.campaign.store import CampaignStore

ALL = "none,scrub,secded,ranges,tmr"


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mit")
    db = tmp / "m.db"
    # High exponent bits: most flips there are SDCs or DUEs without protection.
    assert main(["campaign", "--db", str(db), "--faults", "150", "--bits", "26-30", "--seed",
                 "2", "--samples", "3", "--mitigations", ALL, "--json", "--no-progress"]) == 0
    return tmp, db


def _by_mitigation(db) -> dict[str, dict[int, tuple]]:
    con = sqlite3.connect(db)
    try:
        out: dict[str, dict[int, tuple]] = {}
        for fid, m, outcome, detail in con.execute(
                "SELECT fault_id, mitigation, outcome, detail FROM results"):
            out.setdefault(m, {})[fid] = (outcome, detail)
        return out
    finally:
        con.close()


def test_secded_and_tmr_remove_every_weight_sdc_and_scrub_repairs(campaign, capsys):
    _, db = campaign
    r = _by_mitigation(db)
    assert set(r) == set(ALL.split(",")) and all(len(v) == 150 for v in r.values())
    bad = [fid for fid, (o, _) in r["none"].items() if o in ("sdc", "due")]
    assert len(bad) >= 10  # the unmitigated run shows real SDCs and DUEs
    assert any(r["none"][fid][0] == "sdc" for fid in bad)
    for fid in bad:
        assert r["secded"][fid] == ("masked", "corrected"), fid
        assert r["tmr"][fid] == ("masked", "corrected"), fid
        # Scrubbing: the inference in the window sees the fault; the scrub repairs it.
        assert r["scrub"][fid] == (r["none"][fid][0], "repaired"), fid
    # Faults the unmitigated run masked stay masked under SECDED and TMR.
    assert all(r["secded"][f][0] == "masked" and r["tmr"][f][0] == "masked" for f in r["none"])


def test_summary_compares_mitigations_with_rates_and_costs(campaign, capsys):
    _, db = campaign
    assert main(["campaign", "--db", str(db), "--resume", "--json", "--no-progress"]) == 0
    s = json.loads(capsys.readouterr().out)
    m = s["mitigations"]
    assert list(m) == ALL.split(",")
    for g in m.values():
        assert sum(g["outcomes"].values()) == 150
        for k in ("sdc", "due"):
            rate = g["rates"][k]
            assert rate["ci_low"] <= rate["rate"] <= rate["ci_high"] and rate["ci_high"] > 0
        cost = g["cost"]
        assert cost["seconds_per_inference"] > 0 and cost["time_ratio"] > 0
    assert m["none"]["cost"]["time_ratio"] == 1.0 and m["none"]["cost"]["overhead_bytes"] == 0
    assert m["secded"]["outcomes"]["sdc"] == m["tmr"]["outcomes"]["sdc"] == 0
    assert m["none"]["outcomes"] == s["outcomes"]
    weight_bytes = m["tmr"]["cost"]["overhead_bytes"] // 2  # two more replicas' weights
    assert m["scrub"]["cost"]["overhead_bytes"] > weight_bytes  # golden copy + CRCs
    assert m["secded"]["cost"]["overhead_bytes"] == pytest.approx(weight_bytes / 8, rel=0.05)
    assert m["scrub"]["details"].get("repaired", 0) >= 1
    assert main(["campaign", "--db", str(db), "--resume", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "mitigation" in text and "secded" in text and "tmr" in text


@pytest.mark.parametrize("mitigation", ["secded", "tmr", "ranges", "scrub"])
def test_mitigated_records_replay_through_inject(campaign, capsys, mitigation):
    tmp, db = campaign
    store = CampaignStore.open_readonly(db)
    try:
        x = write_inputs(store, tmp / "inputs.npy")
        con = sqlite3.connect(db)
        ids = [r[0] for r in con.execute(
            "SELECT fault_id FROM results WHERE mitigation = 'none' AND outcome != 'masked' "
            "ORDER BY fault_id LIMIT 4")]
        con.close()
        assert ids
        for fid in ids:
            want = store.result(fid, mitigation)
            main([*inject_argv(store, fid, x, mitigation), "--json"])
            rec = json.loads(capsys.readouterr().out)
            assert rec["mitigation"] == mitigation
            assert (rec["outcome"], rec["max_abs_diff"], rec["output_digest"],
                    rec["mitigation_detail"]) == (want.outcome, want.max_abs_diff,
                                                  want.output_digest, want.detail), fid
    finally:
        store.close()


def test_activation_faults_under_mitigations_replay(tmp_path, capsys):
    db = tmp_path / "a.db"
    assert main(["campaign", "--db", str(db), "--target", "activations", "--faults", "80",
                 "--bits", "27-30", "--seed", "3", "--mitigations", "none,secded,ranges,tmr",
                 "--json", "--no-progress"]) == 0
    capsys.readouterr()
    r = _by_mitigation(db)
    bad = [fid for fid, (o, _) in r["none"].items() if o in ("sdc", "due")]
    assert bad
    for fid in r["none"]:
        # ECC protects weight memory only; a transient activation fault is untouched.
        assert r["secded"][fid] == (r["none"][fid][0], "not applicable")
        assert r["tmr"][fid][0] == "masked"  # the two clean replicas out-vote it
    # Range restriction turns some of the activation SDCs/DUEs into benign outcomes.
    assert sum(r["ranges"][f][0] in ("sdc", "due") for f in bad) < len(bad)
    store = CampaignStore.open_readonly(db)
    try:
        x = write_inputs(store, tmp_path / "inputs.npy")
        for fid in bad[:3]:
            for m in ("ranges", "tmr"):
                want = store.result(fid, m)
                main([*inject_argv(store, fid, x, m), "--json"])
                rec = json.loads(capsys.readouterr().out)
                assert (rec["outcome"], rec["output_digest"]) == (want.outcome,
                                                                  want.output_digest)
    finally:
        store.close()


def test_headline_is_the_unprotected_model_and_says_so(tmp_path, capsys):
    """``--mitigations tmr,none``: the top-level outcomes and SDC rate are ``none``'s,
    not those of the first listed mitigation, and the text names the mitigation."""
    db = tmp_path / "h.db"
    args = ["campaign", "--db", str(db), "--faults", "60", "--bits", "26-30", "--seed", "2",
            "--mitigations", "tmr,none", "--no-progress"]
    assert main([*args, "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["headline_mitigation"] == "none"
    assert s["outcomes"] == s["mitigations"]["none"]["outcomes"] != s["mitigations"]["tmr"][
        "outcomes"]
    assert sum(g["outcomes"]["sdc"] for g in s["by_tensor"].values()) == s["outcomes"]["sdc"]
    assert main(["campaign", "--db", str(db), "--resume", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert f"outcomes under none: masked {s['outcomes']['masked']} " in text


def test_the_store_returns_typed_records(campaign):
    from radiation.campaign.store import SessionRow, StoredResult
    from radiation.mitigations.protect import Cost

    _, db = campaign
    store = CampaignStore.open_readonly(db)
    try:
        costs = store.costs()
        assert set(costs) == set(ALL.split(","))
        assert all(isinstance(c, Cost) and c.name == n for n, c in costs.items())
        assert costs["none"].time_ratio == 1.0
        (se, *_) = store.sessions()
        assert isinstance(se, SessionRow) and se.faults_run == 150 and se.reuse is True
        assert se.as_dict()["faults_per_s"] == se.stats["faults_per_s"] > 0
        r = store.result(0, "tmr")
        assert isinstance(r, StoredResult) and r.outcome == "masked"
        assert r.top1_changed in (None, False)
    finally:
        store.close()
