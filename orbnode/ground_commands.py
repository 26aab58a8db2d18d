"""Ground-system sub-commands: ``orbnode export`` and ``orbnode decode``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from node.errors import OrbnodeError


def register(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("export", help="ground definitions (XTCE, COSMOS) or archive tables "
                                      "(CSV, Parquet)")
    what = e.add_subparsers(dest="what", metavar="WHAT",
                            help="xtce, cosmos, csv or parquet")
    what.required = True
    x = what.add_parser("xtce", help="XTCE 1.2 document of every packet (Yamcs mission database)")
    x.add_argument("--out", required=True, help="file to write, e.g. orbnode.xml")
    x.set_defaults(func=cmd_export_xtce)
    c = what.add_parser("cosmos", help="OpenC3 COSMOS plugin: target ORBNODE with cmd_tlm files")
    c.add_argument("--out", required=True, help="folder to write the plugin into")
    c.set_defaults(func=cmd_export_cosmos)
    for fmt in ("csv", "parquet"):
        t = what.add_parser(fmt, help=f"archive tables hk, events, packets as {fmt.upper()}"
                            + (" (needs pyarrow)" if fmt == "parquet" else ""))
        t.add_argument("--db", required=True, help="telemetry.sqlite of a run")
        t.add_argument("--out", required=True, help="folder to write the tables into")
        t.set_defaults(func=cmd_export_tables, fmt=fmt)

    d = sub.add_parser("decode", help="list or export the packets of a capture (tm.bin, tc.bin)")
    d.add_argument("file", help="raw capture: CCSDS Space Packets back to back")
    form = d.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="one JSON object per packet and line")
    form.add_argument("--csv", action="store_true", help="one CSV row per packet")
    d.add_argument("--out", default=None, help="write to this file instead of standard output")
    d.set_defaults(func=cmd_decode)


def cmd_export_xtce(args: argparse.Namespace) -> int:
    from firmware_stubs.ground.xtce import xtce_document

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(xtce_document())
    print(f"orbnode export xtce: wrote {out}")
    return 0


def cmd_export_cosmos(args: argparse.Namespace) -> int:
    from firmware_stubs.ground.cosmos import write_target

    paths = write_target(args.out)
    print(f"orbnode export cosmos: wrote {len(paths)} files under {args.out}")
    return 0


def cmd_export_tables(args: argparse.Namespace) -> int:
    from firmware_stubs.ground.export import export_csv, export_parquet, open_archive

    write = export_parquet if args.fmt == "parquet" else export_csv
    if args.fmt == "parquet":
        try:
            import pyarrow  # noqa: F401  (checked before anything is written)
        except ImportError:
            raise OrbnodeError("Parquet needs pyarrow: pip install pyarrow") from None
    db = open_archive(args.db)
    try:
        paths = write(db, args.out)
    finally:
        db.close()
    print(f"orbnode export {args.fmt}: wrote {', '.join(p.name for p in paths)} in {args.out}")
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    from firmware_stubs.ground.decode import read_capture, summary_lines, to_csv, to_json_lines

    decoded = read_capture(args.file)  # a StreamError is an OrbnodeError: one line, exit 2
    if args.json:
        text = to_json_lines(decoded)
    elif args.csv:
        text = to_csv(decoded)
    else:
        text = "\n".join(summary_lines(decoded)) + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
