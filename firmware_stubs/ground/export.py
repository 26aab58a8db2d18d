"""The archive as plain tables: CSV always, Parquet when pyarrow is installed.

``hk`` (one row per housekeeping report, the archive's columns), ``events``
(with the event's name from ``enums.event``) and ``packets`` (header fields and
the raw bytes as hex) are written one file each, so a spreadsheet, pandas or a
ground archive can take a run without orbnode.
"""

from __future__ import annotations

import contextlib
import csv
import sqlite3
from dataclasses import asdict
from pathlib import Path
from typing import Any

from firmware_stubs.telemetry_db import HK_COLUMNS, PACKET_COLUMNS, TelemetryDB
from node.errors import OrbnodeError
from node.packets import PACKETS, PacketSet

TABLES = ("hk", "events", "packets")
EVENT_COLUMNS = ("wall_s", "t_s", "event_id", "event", "text")


def open_archive(path: str | Path) -> TelemetryDB:
    """An existing archive, or :class:`OrbnodeError` (never a new empty one)."""
    p = Path(path)
    if not p.is_file():
        raise OrbnodeError(f"no archive at {p}")
    try:  # closed here, not left to the collector: an open reader of a WAL archive
        # keeps its -wal and -shm files beside it (``with connect()`` only commits)
        with contextlib.closing(sqlite3.connect(f"file:{p}?mode=ro", uri=True)) as c:
            tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError as exc:
        raise OrbnodeError(f"{p} is not an orbnode archive: {exc}") from None
    if "hk" not in tables:
        raise OrbnodeError(f"{p} is not an orbnode archive (no hk table)")
    return TelemetryDB(p)


def archive_tables(db: TelemetryDB, packets: PacketSet = PACKETS
                   ) -> dict[str, tuple[tuple[str, ...], list[dict[str, Any]]]]:
    """Each table's columns and rows, ready to write."""
    events = [{**e, "event": packets.enum_name("event", e["event_id"])} for e in db.events()]
    rows = []
    for r in db.packets():
        row = asdict(r)
        row["raw"] = r.raw.hex()
        rows.append(row)
    return {"hk": (tuple(HK_COLUMNS), db.hk_rows()), "events": (EVENT_COLUMNS, events),
            "packets": (PACKET_COLUMNS, rows)}


def export_csv(db: TelemetryDB, out_dir: str | Path) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (columns, rows) in archive_tables(db).items():
        path = out / f"{name}.csv"
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
        written.append(path)
    return written


def export_parquet(db: TelemetryDB, out_dir: str | Path) -> list[Path]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise OrbnodeError("Parquet needs pyarrow: pip install pyarrow") from None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (columns, rows) in archive_tables(db).items():
        if name == "packets":  # bytes, not hex, in a binary column
            rows = [{**r, "raw": bytes.fromhex(r["raw"])} for r in rows]
        table = pa.Table.from_pylist(rows) if rows else pa.table(
            {c: pa.array([], pa.null()) for c in columns})
        path = out / f"{name}.parquet"
        pq.write_table(table.select(list(columns)), path)
        written.append(path)
    return written

