"""What a run's ground station does with the link: capture it, and serve it to tools."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from firmware_stubs.ground.capture import PacketCapture
from firmware_stubs.ground.tcp import GroundServer
from firmware_stubs.telemetry_db import TelemetryDB
from node.link import Link


class GroundStation:
    """Raw capture into ``out_dir`` and the archive; a TCP feed on ``listener`` (a
    socket from :func:`firmware_stubs.ground.tcp.listen`, bound before any output file
    is written, so a port that cannot be had leaves nothing behind) when given."""

    def __init__(self, link: Link, db: TelemetryDB, out_dir: str | Path, *,
                 listener: socket.socket | None = None,
                 announce: str | None = None) -> None:
        self.db = db
        self.capture = PacketCapture(out_dir, db, link.packets)
        link.taps.append(self.capture)
        self.server = None
        if listener is not None:
            self.server = GroundServer(link, sock=listener)
            db.set_meta("ground_link", f"{self.server.host}:{self.server.port}")
            if announce:
                print(f"{announce}: ground link on tcp://{self.server.host}:{self.server.port}",
                      file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.db.set_meta("ground_link_stats", self.server.stats.as_dict())
        self.capture.close()
        self.db.set_meta("captured_packets", dict(self.capture.counts))
