"""``orbnode report`` and ``orbnode campaign --report``: every section present (issue 12)."""

from __future__ import annotations

import base64
import csv
import html
import platform
import re

from orbnode.cli import main
from radiation.campaign.report import SECTIONS


def _check_report(out, faults: int, mitigations: list[str]) -> None:
    md = (out / "report.md").read_text()
    page = (out / "report.html").read_text()
    for title in SECTIONS:
        assert f"## {title}\n" in md, title
        assert f"<h2>{html.escape(title)}</h2>" in page, title
    for png in ("heatmap.png", "bits.png", "mitigations.png"):
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000
        assert f"]({png})" in md
        # report.html is one file: every figure inside it, byte for byte, none linked
        assert f"src='data:image/png;base64,{base64.b64encode(data).decode()}'" in page
    assert not re.search(r"<img src='(?!data:)", page)
    # The machine and how the campaign ran, in both (the rates mean little without it)
    for text in (md, page):
        env = text[text.index("Environment"):text.index("Plan")]
        for words in ("executor", "local", "worker(s)", "thread(s)", "logical cores",
                      "onnxruntime", "python", platform.system()):
            assert words in env, words
    for m in mitigations:
        assert f"| {m} |" in md
    with open(out / "faults.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == faults * len(mitigations)
    assert {r["mitigation"] for r in rows} == set(mitigations)
    assert {"fault_id", "tensor", "index", "bit", "field", "outcome",
            "output_digest"} <= set(rows[0])
    try:
        import pyarrow.parquet as pq
    except ModuleNotFoundError:
        assert not (out / "faults.parquet").exists()
        return
    table = pq.read_table(out / "faults.parquet")
    assert table.num_rows == len(rows) and "outcome" in table.column_names


def test_report_from_a_small_campaign(tmp_path, capsys):
    db = tmp_path / "c.db"
    assert main(["campaign", "--db", str(db), "--faults", "120", "--stratum", "tensor,field",
                 "--tensors", "fc2.weight,bn1.var", "--mitigations", "none,secded,ranges",
                 "--no-progress", "--report", str(tmp_path / "at_end")]) == 0
    capsys.readouterr()
    _check_report(tmp_path / "at_end", 120, ["none", "secded", "ranges"])
    assert main(["report", str(db), "--out", str(tmp_path / "later")]) == 0
    assert "report.md" in capsys.readouterr().out
    _check_report(tmp_path / "later", 120, ["none", "secded", "ranges"])
    md = (tmp_path / "later" / "report.md").read_text()
    assert "fc2.weight × exponent" in md and "Wilson" in md


def test_report_refuses_what_is_not_a_campaign(tmp_path, capsys):
    assert main(["report", str(tmp_path / "none.db"), "--out", str(tmp_path / "o")]) == 2
    assert "no campaign" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()

