"""Reproduce one campaign record with ``orbnode inject``.

A record is (tensor, index, bit, kind, span, word, level, input): the same arguments
to ``orbnode inject`` give the same faulty outputs, bit for bit, so the same outcome,
``max_abs_diff`` and output digest. The inputs are the ones stored in the database
(written out by :func:`write_inputs`); ``input_id`` k is ``inject --sample k``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from radiation.campaign.store import CampaignStore


def write_inputs(store: CampaignStore, path: str | Path) -> Path:
    """Save the campaign's inputs as ``.npy`` for ``orbnode inject --input``."""
    p = Path(path)
    np.save(p, store.inputs())
    return p


def inject_argv(store: CampaignStore, fault_id: int, input_file: str | Path,
                mitigation: str = "none") -> list[str]:
    """``orbnode inject`` arguments (without the program name) for record ``fault_id``
    under ``mitigation``."""
    cfg = store.config
    f = store.fault(fault_id)
    argv = ["inject", "--model", cfg["model"], "--level", cfg["level"],
            "--tensor", f.tensor, "--index", str(f.index), "--bit", str(f.bit),
            "--fault", f.kind, "--span", str(f.span),
            "--input", str(input_file), "--sample", str(f.input_id)]
    if f.word is not None:
        argv += ["--word", hex(f.word)]
    if mitigation != "none":
        argv += ["--mitigation", mitigation]
    if cfg.get("tolerance"):
        argv += ["--tolerance", cfg["tolerance"]]
    if cfg.get("input_shape"):
        argv += ["--input-shape", ",".join(map(str, cfg["input_shape"]))]
    return argv
