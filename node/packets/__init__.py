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

from spacepackets.ccsds.spacepacket import PacketType, SpacePacketHeader
from spacepackets.ccsds.time import CdsShortTimestamp
from spacepackets.ecss import PusTc, PusTm

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10 (Jetson's Ubuntu 22.04)
    import tomli as tomllib  # type: ignore[no-redef]

TIMESTAMP_LEN = 7  # CDS short
MAX_TEXT_BYTES = 1000  # event text; a sensor path list can be long, a frame stays < 1.1 kB


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
    def payload_len(self) -> int:
        """Bytes of app data the fields take (discriminator included, text excluded)."""
        return (0 if self.discriminator is None else 1) + self._fixed.size

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
                out += str(values[n]).encode("utf-8")[:MAX_TEXT_BYTES]
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
    """A decoded packet. For telecommands, ``data`` is the app data the fields came
    from and ``trailer`` whatever follows them (the authentication trailer)."""

    name: str
    values: dict[str, Any]
    seq_count: int
    apid: int
    raw: bytes
    service: int = 0
    subtype: int = 0
    ack_flags: int = 0
    source_id: int = 0
    data: bytes = b""
    trailer: bytes = b""

    @property
    def request_id(self) -> int:
        """PUS request id: packet id and sequence control, the first 4 bytes."""
        return int.from_bytes(self.raw[:4], "big")


@dataclass(frozen=True)
class FieldInfo:
    """What a ground system shows of a field: unit, description, enumeration name."""

    unit: str = ""
    description: str = ""
    enum: str | None = None  # a key of PacketSet.enums


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
        self._meta: dict[str, dict[str, dict[str, Any]]] = dict(doc.get("meta", {}))
        self._by_key = {
            (p.direction, p.service, p.subtype, p.discriminator): p for p in self.defs.values()
        }

    def field_info(self, packet: str, field_name: str) -> FieldInfo:
        """Unit, description and enumeration of one field (``[meta]`` in the definitions)."""
        m = self._meta.get(packet, {}).get(field_name, {})
        return FieldInfo(unit=str(m.get("unit", "")), description=str(m.get("description", "")),
                         enum=m.get("enum"))

    def enum_name(self, enum: str, value: int) -> str:
        for k, v in self.enums[enum].items():
            if v == value:
                return k
        return f"?{value}"

    def build(self, name: str, values: dict[str, Any] | None = None, *, seq_count: int = 0,
              apid: int | None = None, ack_flags: int = 0, source_id: int = 0,
              signer=None) -> bytes:
        """Pack one packet by name into raw Space Packet bytes (with CRC).

        Telecommands: ``ack_flags`` asks for PUS-1 verification reports (bit 0
        acceptance, bit 3 completion); a ``signer`` (:class:`node.auth.Signer`)
        appends the authentication trailer and sets the source id.
        """
        p = self.defs[name]
        data = p.encode(values or {})
        seq = seq_count % 16384
        if p.direction == "tc":
            apid = self.apids["node"] if apid is None else apid
            if signer is not None:
                source_id = signer.source_id
                data += signer.trailer(apid, p.service, p.subtype, data)
            pkt = PusTc(service=p.service, message_subtype=p.subtype, apid=apid,
                        app_data=data, seq_count=seq, ack_flags=ack_flags,
                        source_id=source_id)
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
            ack, source = 0, 0
            if header.packet_type == PacketType.TC:
                tc = PusTc.unpack(raw)
                direction, service, subtype = "tc", tc.service, tc.message_subtype
                data = tc.app_data
                ack, source = tc.pus_tc_sec_header.ack_flags, tc.pus_tc_sec_header.source_id
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
        values = p.decode(data)
        cut = p.payload_len if direction == "tc" else len(data)
        return Packet(p.name, values, header.seq_count, header.apid, bytes(raw), service,
                      subtype, ack, source, data[:cut], data[cut:])


def load_packets() -> PacketSet:
    text = resources.files("node.packets").joinpath("definitions.toml").read_text("utf-8")
    return PacketSet(tomllib.loads(text))


PACKETS = load_packets()
