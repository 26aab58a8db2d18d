"""The stored records of a campaign database, for tests that compare campaigns."""

from __future__ import annotations

import sqlite3


def records(db) -> list[tuple]:  # noqa: ANN001 - a path
    """Every fault with its results, in fault then mitigation order: what two equal
    campaigns share."""
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT f.id, f.tensor, f.idx, f.bit, f.input_id, r.outcome, "
                           "r.max_abs_diff, r.top1_changed, r.output_digest, r.mitigation, "
                           "r.detail FROM faults f JOIN results r ON r.fault_id = f.id "
                           "ORDER BY f.id, r.mitigation").fetchall()
    finally:
        con.close()
