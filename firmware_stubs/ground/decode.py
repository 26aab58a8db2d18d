"""Read a capture (``tm.bin``, ``tc.bin``, or any concatenation of our packets) back.

Each packet is split off by its primary header (:mod:`.ccsds`), checked by its
CRC and decoded by ``node.packets``; telemetry also gets its CDS time stamp as
UTC. Anything else — an empty file, a cut-off last packet, bytes that are not
our packets — is a :class:`~firmware_stubs.ground.ccsds.StreamError` naming where.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spacepackets.ccsds.time import CdsShortTimestamp

from firmware_stubs.ground.ccsds import Header, StreamError, split_packets
from firmware_stubs.ground.layout import PRIMARY_HEADER_BYTES, TM_SECONDARY_HEADER_BYTES
from node.packets import PACKETS, TIMESTAMP_LEN, PacketError, PacketSet

BASE_COLUMNS = ("index", "offset", "direction", "apid", "seq_count", "service", "subtype",
                "name", "time_utc")


@dataclass(frozen=True)
class DecodedPacket:
    index: int      # 0-based position in the capture
    offset: int     # byte offset in the capture
    direction: str
    apid: int
    seq_count: int
    service: int
    subtype: int
    name: str
    time_utc: str | None  # telemetry time stamp, ISO 8601
    values: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {**{k: getattr(self, k) for k in BASE_COLUMNS}, "values": self.values}


def _time_utc(raw: bytes) -> str | None:
    start = PRIMARY_HEADER_BYTES + TM_SECONDARY_HEADER_BYTES - TIMESTAMP_LEN
    try:
        stamp = CdsShortTimestamp.unpack(raw[start:start + TIMESTAMP_LEN])
        return stamp.as_datetime().isoformat()
    except Exception:  # noqa: BLE001 - spacepackets raises several types for a bad stamp
        return None


def decode_capture(data: bytes, packets: PacketSet = PACKETS) -> list[DecodedPacket]:
    """Every packet in ``data``; :class:`StreamError` at the first that is not ours."""
    out: list[DecodedPacket] = []
    offset = 0
    for i, raw in enumerate(split_packets(data)):
        h = Header.of(raw)
        try:
            pkt = packets.parse(raw)
        except PacketError as exc:
            raise StreamError(f"packet {i + 1} at byte {offset}: {exc}") from None
        values = dict(pkt.values)
        if h.direction == "tc" and pkt.trailer:
            values["auth_trailer"] = pkt.trailer.hex()
        out.append(DecodedPacket(i, offset, h.direction, h.apid, h.seq_count, pkt.service,
                                 pkt.subtype, pkt.name,
                                 _time_utc(raw) if h.direction == "tm" else None, values))
        offset += len(raw)
    return out


def read_capture(path: str | Path, packets: PacketSet = PACKETS) -> list[DecodedPacket]:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise StreamError(f"cannot read {p}: {exc.strerror or exc}") from None
    try:
        return decode_capture(data, packets)
    except StreamError as exc:
        raise StreamError(f"{p}: {exc}") from None


def to_json_lines(decoded: list[DecodedPacket]) -> str:
    """One JSON object per packet and line."""
    return "".join(json.dumps(d.as_dict()) + "\n" for d in decoded)


def to_csv(decoded: list[DecodedPacket]) -> str:
    """One row per packet: header columns, then every field name met, in order."""
    names: dict[str, None] = {}
    for d in decoded:
        names.update(dict.fromkeys(d.values))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*BASE_COLUMNS, *names])
    for d in decoded:
        w.writerow([getattr(d, k) for k in BASE_COLUMNS] + [d.values.get(n, "") for n in names])
    return buf.getvalue()


def summary_lines(decoded: list[DecodedPacket], packets: PacketSet = PACKETS) -> list[str]:
    """A short human listing: one line per packet."""
    lines = []
    for d in decoded:
        shown = []
        for k, v in d.values.items():
            enum = packets.field_info(d.name, k).enum
            if enum is not None and isinstance(v, int):
                v = packets.enum_name(enum, v)
            elif isinstance(v, float):
                v = f"{v:.6g}"
            shown.append(f"{k}={v}")
        when = d.time_utc or ""
        lines.append(f"{d.index:6d} {d.direction.upper()} apid={d.apid:#05x} "
                     f"seq={d.seq_count:5d} [{d.service},{d.subtype}] {d.name:18s} {when} "
                     + " ".join(shown))
    return lines
