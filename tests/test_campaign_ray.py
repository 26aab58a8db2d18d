"""``--executor ray`` on a local Ray instance gives the local pool's records (issue 12).

Ray is an extra (``pip install .[ray]``); without it this test is skipped.
"""

from __future__ import annotations

import sqlite3

import pytest

from orbnode.cli import main

ray = pytest.importorskip("ray")


def _records(db) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT f.id, f.tensor, f.idx, f.bit, f.input_id, r.mitigation, "
                           "r.outcome, r.max_abs_diff, r.top1_changed, r.output_digest, "
                           "r.detail FROM faults f JOIN results r ON r.fault_id = f.id "
                           "ORDER BY f.id, r.mitigation").fetchall()
    finally:
        con.close()


def test_ray_records_equal_the_local_pool(tmp_path, capsys):
    common = ["--faults", "300", "--seed", "6", "--samples", "2", "--chunk", "50",
              "--mitigations", "none,secded", "--workers", "2", "--no-progress", "--json"]
    assert main(["campaign", "--db", str(tmp_path / "local.db"), *common]) == 0
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert main(["campaign", "--db", str(tmp_path / "ray.db"), "--executor", "ray",
                     *common]) == 0
    finally:
        ray.shutdown()
    capsys.readouterr()
    local, remote = _records(tmp_path / "local.db"), _records(tmp_path / "ray.db")
    assert len(local) == 600 and local == remote
