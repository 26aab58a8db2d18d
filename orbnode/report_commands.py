"""``orbnode report``: the review report of a campaign database (Markdown, HTML, PNG,
CSV and, with pyarrow, Parquet). Parses and calls :mod:`radiation.campaign.report`."""

from __future__ import annotations

import argparse
from pathlib import Path

from node.errors import OrbnodeError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``report`` sub-command."""
    p = sub.add_parser(
        "report", help="write a campaign's review report (md, html, png, csv, parquet)",
        description="Read a campaign database (orbnode campaign --db) and write report.md, "
                    "report.html, PNG figures, faults.csv and (when pyarrow is installed) "
                    "faults.parquet into --out.")
    p.add_argument("db", metavar="DB", help="campaign database")
    p.add_argument("--out", required=True, metavar="DIR", help="directory to write into")
    p.add_argument("--confidence", type=float, default=None,
                   help="confidence of the intervals (default: the campaign's)")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from radiation.campaign.report import write_report
    from radiation.campaign.store import CampaignStore, probe

    if args.confidence is not None and not 0 < args.confidence < 1:
        raise OrbnodeError(f"--confidence must be between 0 and 1, got {args.confidence}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise OrbnodeError(f"--out {out} exists and is not a directory")
    if probe(args.db) != "campaign":
        raise OrbnodeError(f"no campaign in {args.db}")
    store = CampaignStore.open_readonly(args.db)
    try:
        files = write_report(store, out, confidence=args.confidence)
    finally:
        store.close()
    written = [files.markdown, files.html, *files.figures, files.csv]
    if files.parquet is not None:
        written.append(files.parquet)
    print(f"report of {args.db}: " + ", ".join(str(p) for p in written)
          + ("" if files.parquet else " (no Parquet: pip install pyarrow)"))
    return 0
