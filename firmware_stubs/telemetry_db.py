"""Ground-side telemetry archive in SQLite: one row per housekeeping packet, and
every packet's raw bytes (``packets``) so the archive can be decoded again.

Every row is committed as it arrives (WAL journal), so a killed simulator, a
crashed node or a pulled cable loses nothing already received.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Any

HK_COLUMNS: dict[str, str] = {
    "tick": "INTEGER",
    "wall_s": "REAL",            # host wall seconds since the run started
    "t_s": "REAL",               # simulated seconds at the end of the interval
    "dt_s": "REAL",              # simulated seconds the interval spans
    "wall_dt_s": "REAL",         # wall seconds the interval spans
    "illumination": "REAL",
    "in_eclipse": "INTEGER",
    "solar_power_w": "REAL",
    "node_power_w": "REAL",      # as reported by the node, from power_source
    "node_power_drawn_w": "REAL",  # what the EPS supplied: 0 while it shed the node
    "bus_power_w": "REAL",
    "battery_energy_j": "REAL",
    "soc": "REAL",
    "soc_floor": "REAL",
    "load_shed": "INTEGER",
    "temp_c": "REAL",
    "latitude_deg": "REAL",
    "longitude_deg": "REAL",
    "in_saa": "INTEGER",
    "upset_rate_per_bit_day": "REAL",
    "mode": "TEXT",
    "threads": "INTEGER",
    "duty": "REAL",
    "inferences": "INTEGER",     # cumulative on the node
    "inferences_delta": "INTEGER",
    "node_wall_dt_s": "REAL",
    "throughput_per_s": "REAL",  # inferences per wall second over the interval
    "correct": "INTEGER",
    "power_source": "TEXT",
    "cpu_util": "REAL",
    "frames_bad": "INTEGER",
    "tc_rejected": "INTEGER",
    "upsets": "INTEGER",
    "scrub_repairs": "INTEGER",
    "scrub_detected": "INTEGER",
    "tc_repeated": "INTEGER",    # ticks the node answered again without re-running them
    "stored": "INTEGER",         # packets the node stored while out of contact
    "store_overflow": "INTEGER",  # of which pushed out unsent by newer ones
}


# Housekeeping the node took itself while out of contact, dumped from its store.
STORED_HK_COLUMNS: dict[str, str] = {
    "wall_s": "REAL",            # host wall seconds when it arrived
    "node_wall_s": "REAL",       # node seconds when it was taken
    "mode": "INTEGER",
    "inferences": "INTEGER",
    "correct": "INTEGER",
    "power_w": "REAL",
    "power_source": "INTEGER",
    "upsets": "INTEGER",
    "frames_bad": "INTEGER",
    "stored": "INTEGER",
    "store_overflow": "INTEGER",
}


@dataclass(frozen=True)
class PacketRecord:
    """One packet as it crossed the link, raw bytes next to its header fields."""

    unix_s: float        # host UTC seconds when captured
    wall_s: float        # host monotonic seconds since the capture started
    direction: str       # "tm" (from the node) | "tc" (to the node)
    apid: int
    seq_count: int
    service: int | None  # PUS service type
    subtype: int | None  # PUS message subtype
    name: str | None     # the packet kind in node/packets, None if unknown
    raw: bytes


PACKET_COLUMNS = tuple(f.name for f in fields(PacketRecord))


class TelemetryDB:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        # autocommit per row; one connection shared with the capture thread, under a lock
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._lock = threading.RLock()
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        cols = ", ".join(f"{k} {v}" for k, v in HK_COLUMNS.items())
        self.conn.execute(f"CREATE TABLE IF NOT EXISTS hk (id INTEGER PRIMARY KEY, {cols})")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, wall_s REAL, t_s REAL,"
            " event_id INTEGER, text TEXT)")
        scols = ", ".join(f"{k} {v}" for k, v in STORED_HK_COLUMNS.items())
        self.conn.execute(f"CREATE TABLE IF NOT EXISTS hk_stored (id INTEGER PRIMARY KEY, "
                          f"{scols})")
        self.conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS packets (id INTEGER PRIMARY KEY, unix_s REAL,"
            " wall_s REAL, direction TEXT, apid INTEGER, seq_count INTEGER, service INTEGER,"
            " subtype INTEGER, name TEXT, raw BLOB)")
        self._insert = (f"INSERT INTO hk ({', '.join(HK_COLUMNS)}) VALUES "
                        f"({', '.join('?' * len(HK_COLUMNS))})")

    def add_hk(self, row: dict[str, Any]) -> None:
        with self._lock:
            self.conn.execute(self._insert, [row.get(k) for k in HK_COLUMNS])

    def add_stored_hk(self, wall_s: float, values: dict[str, Any]) -> None:
        row = {**values, "wall_s": wall_s}
        self.conn.execute(f"INSERT INTO hk_stored ({', '.join(STORED_HK_COLUMNS)}) VALUES "
                          f"({', '.join('?' * len(STORED_HK_COLUMNS))})",
                          [row.get(k) for k in STORED_HK_COLUMNS])

    def stored_hk_rows(self) -> list[dict[str, Any]]:
        cur = self.conn.execute(f"SELECT {', '.join(STORED_HK_COLUMNS)} FROM hk_stored "
                                "ORDER BY id")
        return [dict(zip(STORED_HK_COLUMNS, r, strict=True)) for r in cur]

    def add_event(self, wall_s: float, t_s: float, event_id: int, text: str) -> None:
        with self._lock:
            self.conn.execute("INSERT INTO events (wall_s, t_s, event_id, text) "
                              "VALUES (?,?,?,?)", (wall_s, t_s, event_id, text))

    def add_packet(self, record: PacketRecord) -> None:
        with self._lock:
            self.conn.execute(f"INSERT INTO packets ({', '.join(PACKET_COLUMNS)}) VALUES "
                              f"({', '.join('?' * len(PACKET_COLUMNS))})", astuple(record))

    def set_meta(self, key: str, value: Any) -> None:
        with self._lock:
            self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                              (key, json.dumps(value)))

    def meta(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self.conn.execute("SELECT key, value FROM meta")}

    def hk_rows(self) -> list[dict[str, Any]]:
        cur = self.conn.execute(f"SELECT {', '.join(HK_COLUMNS)} FROM hk ORDER BY id")
        return [dict(zip(HK_COLUMNS, r, strict=True)) for r in cur]

    def events(self) -> list[dict[str, Any]]:
        cur = self.conn.execute("SELECT wall_s, t_s, event_id, text FROM events ORDER BY id")
        return [dict(zip(("wall_s", "t_s", "event_id", "text"), r, strict=True)) for r in cur]

    def packets(self, direction: str | None = None) -> list[PacketRecord]:
        """Captured packets in arrival order, all or one direction's."""
        where, args = ("WHERE direction = ?", (direction,)) if direction else ("", ())
        with self._lock:
            cur = self.conn.execute(
                f"SELECT {', '.join(PACKET_COLUMNS)} FROM packets {where} ORDER BY id", args)
            rows = cur.fetchall()
        return [PacketRecord(*r[:-1], bytes(r[-1])) for r in rows]

    def close(self) -> None:
        with self._lock:
            self.conn.close()
