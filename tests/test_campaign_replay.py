"""Every campaign record is reproducible with ``orbnode inject``.

Records are picked from real campaign databases (each outcome class, several inputs,
both targets, both levels, several fault kinds) and replayed through the ``inject``
command line on the inputs stored in the database: the outcome, max_abs_diff,
top-1 change and the faulty output's bytes (digest) must all be the same.
"""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from orbnode.cli import main
from radiation.campaign.replay import inject_argv, write_inputs
from radiation.campaign.store import CampaignStore
from radiation.outcome import digest


def _pick(db, per_class: int) -> list[int]:
    con = sqlite3.connect(db)
    try:
        ids = []
        for (outcome,) in con.execute("SELECT DISTINCT outcome FROM results ORDER BY outcome"):
            ids += [r[0] for r in con.execute(
                "SELECT fault_id FROM results WHERE outcome = ? ORDER BY fault_id DESC LIMIT ?",
                (outcome, per_class))]
        return ids
    finally:
        con.close()


@pytest.mark.parametrize("args", [
    ["--target", "weights", "--bits", "22-31"],
    ["--target", "activations", "--bits", "23-31"],  # campaign: graph tail; inject: ScatterND
    ["--target", "weights", "--level", "runtime", "--bits", "25-31"],
    ["--target", "activations", "--fault", "mbu", "--span", "3", "--no-reuse"],
    ["--target", "weights", "--fault", "random"],
], ids=["weights", "activations", "runtime", "mbu", "random"])
def test_records_replay_through_inject(tmp_path, capsys, args):
    db = tmp_path / "c.db"
    assert main(["campaign", "--db", str(db), "--faults", "150", "--samples", "4",
                 "--seed", "5", "--json", "--no-progress", *args]) == 0
    capsys.readouterr()
    store = CampaignStore.open_readonly(db)
    try:
        x = write_inputs(store, tmp_path / "inputs.npy")
        picked = _pick(db, per_class=2)
        assert len(picked) >= 4
        for fid in picked:
            want = store.result(fid)
            fault = store.fault(fid)
            out = tmp_path / f"y{fid}.npy"
            rc = main([*inject_argv(store, fid, x), "--output", str(out), "--json"])
            rec = json.loads(capsys.readouterr().out)
            assert rec["outcome"] == want.outcome, (fid, fault, rec, want)
            assert rec["fault"]["kind"] == fault.kind and rec["level"] == store.config["level"]
            if rc == 1:  # onnxruntime failed on the faulty values: a DUE with no output
                assert want.outcome == "due" and want.max_abs_diff is None
                continue
            assert rec["max_abs_diff"] == want.max_abs_diff
            if want.top1_changed is not None:
                changed = rec["golden"]["top1"] != rec["faulty"]["top1"]
                assert changed == want.top1_changed
            got = np.load(out)
            if want.outcome == "masked":
                assert want.output_digest is None and rec["max_abs_diff"] == 0.0
            else:
                assert digest([got]) == want.output_digest
    finally:
        store.close()
