"""Raw capture of a link: every packet's bytes, as a ground station records them.

A :class:`PacketCapture` is a :data:`node.link.PacketTap`: the link calls it with
each telecommand it sends and each intact packet it receives. It appends the
bytes to ``tm.bin`` or ``tc.bin`` (concatenated, arrival order, no framing: what
any CCSDS tool reads) and a row to the archive's ``packets`` table, so an archive
can be decoded again after the definitions change. Each packet is flushed as it
comes, so a killed run keeps everything already captured. A packet that fails
its CRC is counted by the link (``frames_bad_host``) and not captured: its length
field cannot be trusted, and one wrong length would make the rest of a file unreadable.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from firmware_stubs.ground.ccsds import Header
from firmware_stubs.telemetry_db import PacketRecord, TelemetryDB
from node.packets import PACKETS, PacketError, PacketSet

TM_FILE = "tm.bin"
TC_FILE = "tc.bin"


class PacketCapture:
    def __init__(self, out_dir: str | Path, db: TelemetryDB | None = None,
                 packets: PacketSet = PACKETS) -> None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        self.db = db
        self.packets = packets
        self.counts = {"tm": 0, "tc": 0}
        self._files = {"tm": open(out / TM_FILE, "wb"),  # noqa: SIM115 (closed in close())
                       "tc": open(out / TC_FILE, "wb")}  # noqa: SIM115
        self._t0 = time.monotonic()
        self._lock = threading.Lock()  # ground telecommands arrive on another thread

    def __call__(self, raw: bytes) -> None:
        h = Header.of(raw)
        try:
            name = self.packets.parse(raw).name
        except PacketError:
            name = None  # a ground tool's packet we do not know: kept, unnamed
        record = PacketRecord(unix_s=time.time(), wall_s=time.monotonic() - self._t0,
                              direction=h.direction, apid=h.apid, seq_count=h.seq_count,
                              service=raw[7] if len(raw) > 8 else None,
                              subtype=raw[8] if len(raw) > 8 else None, name=name, raw=raw)
        with self._lock:
            f = self._files[h.direction]
            if f.closed:
                return
            f.write(raw)
            f.flush()
            self.counts[h.direction] += 1
            if self.db is not None:
                self.db.add_packet(record)

    def close(self) -> None:
        with self._lock:
            for f in self._files.values():
                f.close()
