"""Typed packet definitions shared by both ends of the link.

Packets are defined once, as data, in ``definitions.toml``. :class:`PacketDef`
turns a dict of named values into a PUS-C Space Packet (via ``spacepackets``,
which appends the CRC-16/CCITT-FALSE) and back. Function-management
telecommands (service 8) carry their function id as the first app-data byte and
housekeeping reports (service 3) their structure id, so several packet kinds can
share one PUS service/subtype pair.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import tomllib
from spacepackets.ccsds.spacepacket import PacketType, SpacePacketHeader
from spacepackets.ccsds.time import CdsShortTimestamp
from spacepackets.ecss import PusTc, PusTm

TIMESTAMP_LEN = 7  # CDS short


class PacketError(ValueError):
    """A frame that is not a valid packet of ours (bad CRC, unknown kind, short data)."""


@dataclass(frozen=True)
class PacketDef:
    """One packet kind: PUS service/subtype, an optional discriminator byte, fields."""

    name: str
    direction: str  # "tc" | "tm"
    service: int
    subtype: int
    discriminator: int | None  # function id (service 8) or structure id (service 3)
    fields: tuple[tuple[str, str], ...]
    description: str = ""
    _fixed: struct.Struct = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        codes = "".join(code for _, code in self.fields if code != "text")
        object.__setattr__(self, "_fixed", struct.Struct(">" + codes))

    @property
    def field_names(self) -> list[str]:
        return [name for name, _ in self.fields]

    def encode(self, values: dict[str, Any]) -> bytes:
        """Application data for ``values`` (every field required)."""
        try:
            fixed = [values[n] for n, c in self.fields if c != "text"]
            out = self._fixed.pack(*fixed)
        except KeyError as exc:
            raise PacketError(f"{self.name}: missing field {exc.args[0]!r}") from None
        except struct.error as exc:
            raise PacketError(f"{self.name}: {exc}") from None
        for n, c in self.fields:
            if c == "text":  # a trailing free-text field
                out += str(values[n]).encode("utf-8")[:200]
        head = bytes([self.discriminator]) if self.discriminator is not None else b""
        return head + out

    def decode(self, data: bytes) -> dict[str, Any]:
        if self.discriminator is not None:
            data = data[1:]
        size = self._fixed.size
        if len(data) < size:
            raise PacketError(f"{self.name}: {len(data)} bytes of data, need {size}")
        names = [n for n, c in self.fields if c != "text"]
        values = dict(zip(names, self._fixed.unpack_from(data), strict=True))
        for n, c in self.fields:
            if c == "text":
                values[n] = bytes(data[size:]).decode("utf-8", errors="replace")
        return values


@dataclass(frozen=True)
class Packet:
    """A decoded packet."""

    name: str
    values: dict[str, Any]
    seq_count: int
    apid: int
    raw: bytes


class PacketSet:
    """All packet definitions, with the apids and enums they use."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.apids: dict[str, int] = dict(doc["apids"])
        self.enums: dict[str, dict[str, int]] = {k: dict(v) for k, v in doc["enums"].items()}
        self.defs: dict[str, PacketDef] = {}
        for direction in ("tc", "tm"):
            for name, d in doc.get(direction, {}).items():
                disc = d.get("function_id", d.get("sid"))
                self.defs[name] = PacketDef(
                    name=name,
                    direction=direction,
                    service=int(d["service"]),
                    subtype=int(d["subtype"]),
                    discriminator=None if disc is None else int(disc),
                    fields=tuple((str(f[0]), str(f[1])) for f in d["fields"]),
                    description=d.get("description", ""),
                )
        self._by_key = {
            (p.direction, p.service, p.subtype, p.discriminator): p for p in self.defs.values()
        }

    def enum_name(self, enum: str, value: int) -> str:
        for k, v in self.enums[enum].items():
            if v == value:
                return k
        return f"?{value}"

    def build(self, name: str, values: dict[str, Any] | None = None, *, seq_count: int = 0,
              apid: int | None = None) -> bytes:
        """Pack one packet by name into raw Space Packet bytes (with CRC)."""
        p = self.defs[name]
        data = p.encode(values or {})
        seq = seq_count % 16384
        if p.direction == "tc":
            apid = self.apids["node"] if apid is None else apid
            pkt = PusTc(service=p.service, message_subtype=p.subtype, apid=apid,
                        app_data=data, seq_count=seq)
        else:
            apid = self.apids["node"] if apid is None else apid
            pkt = PusTm(service=p.service, message_subtype=p.subtype, apid=apid,
                        timestamp=CdsShortTimestamp.now().pack(), source_data=data,
                        seq_count=seq)
        return bytes(pkt.pack())

    def parse(self, raw: bytes) -> Packet:
        """Decode raw bytes; :class:`PacketError` on anything that is not ours and intact."""
        try:
            header = SpacePacketHeader.unpack(raw)
            if header.packet_type == PacketType.TC:
                tc = PusTc.unpack(raw)
                direction, service, subtype = "tc", tc.service, tc.message_subtype
                data = tc.app_data
            else:
                tm = PusTm.unpack(raw, TIMESTAMP_LEN)
                direction, service, subtype = "tm", tm.service, tm.message_subtype
                data = tm.source_data
        except Exception as exc:  # spacepackets raises several types for bad bytes
            raise PacketError(f"bad packet ({type(exc).__name__})") from None
        data = bytes(data)
        disc = data[0] if data else None
        p = self._by_key.get((direction, service, subtype, disc)) or self._by_key.get(
            (direction, service, subtype, None))
        if p is None:
            raise PacketError(f"unknown {direction.upper()}[{service},{subtype}] id {disc}")
        return Packet(p.name, p.decode(data), header.seq_count, header.apid, bytes(raw))


def load_packets() -> PacketSet:
    text = resources.files("node.packets").joinpath("definitions.toml").read_text("utf-8")
    return PacketSet(tomllib.loads(text))


PACKETS = load_packets()
