"""The bit layout of every orbnode packet, as ground definitions describe it.

One place turns ``node.packets`` (the definitions both ends are built from) into
typed field lists: the CCSDS primary header (CCSDS 133.0-B-2 §4.1.3), the PUS-C
secondary headers (ECSS-E-ST-70-41C §7.4.3.1 telecommand, §7.4.3.2 telemetry, with
the CDS short time stamp of CCSDS 301.0-B-4 §3.3), the discriminator byte, each
packet's fields, the authentication trailers (:mod:`node.auth`: sequence and tag
of a telecommand, the tag of a verification report) and the CRC-16 of the packet
error control field. The XTCE and COSMOS writers only render these lists, so the
two cannot describe different packets.
"""

from __future__ import annotations

from dataclasses import dataclass

from node.auth import SEQ_LEN, TAG_LEN
from node.packets import TIMESTAMP_LEN, PacketDef, PacketSet

# struct code -> (kind, bits); "text" is a UTF-8 string to the end of the data.
CODES: dict[str, tuple[str, int]] = {
    "B": ("uint", 8), "H": ("uint", 16), "I": ("uint", 32), "Q": ("uint", 64),
    "b": ("int", 8), "h": ("int", 16), "i": ("int", 32), "q": ("int", 64),
    "f": ("float", 32), "d": ("float", 64), "text": ("string", 0),
}
PRIMARY_HEADER_BYTES = 6
TM_SECONDARY_HEADER_BYTES = 7 + TIMESTAMP_LEN
TC_SECONDARY_HEADER_BYTES = 5
CRC_BYTES = 2
PUS_VERSION = 2  # PUS-C
SEQ_FLAGS_UNSEGMENTED = 3


@dataclass(frozen=True)
class Field:
    """One field on the wire. ``bits`` 0: a string or binary filling the rest of the
    data, its size following from the packet length."""

    name: str
    kind: str  # "uint" | "int" | "float" | "string" | "binary"
    bits: int
    unit: str = ""
    description: str = ""
    enum: tuple[tuple[str, int], ...] = ()  # (label, value)
    fixed: int | None = None  # a value the packet kind fixes (header constants, ids)


@dataclass(frozen=True)
class PacketLayout:
    """A packet kind: where it sits in the PUS tree and its own fields."""

    name: str
    direction: str  # "tm" | "tc"
    apid: int
    service: int
    subtype: int
    discriminator: Field | None
    fields: tuple[Field, ...]      # application data after the discriminator
    trailer: tuple[Field, ...]     # authentication trailer, between the fields and the CRC
    description: str = ""

    @property
    def fixed_data_bytes(self) -> int:
        """Application data bytes of the fixed-size fields, discriminator included."""
        bits = sum(f.bits for f in (self.discriminator, *self.fields) if f is not None)
        return bits // 8

    @property
    def rest_intercept_bits(self) -> int:
        """``bits of the field filling the rest = 8 x packet_data_length + this``, for a
        telemetry packet (the CCSDS length field counts octets after the header - 1)."""
        before = PRIMARY_HEADER_BYTES + TM_SECONDARY_HEADER_BYTES + self.fixed_data_bytes
        return 8 * (PRIMARY_HEADER_BYTES + 1 - before - CRC_BYTES)


PRIMARY_HEADER = (
    Field("CCSDS_VERSION", "uint", 3, description="Packet version number (0)", fixed=0),
    Field("CCSDS_TYPE", "uint", 1, description="Packet type: 0 telemetry, 1 telecommand"),
    Field("CCSDS_SEC_HDR_FLAG", "uint", 1, description="Secondary header present (1)",
          fixed=1),
    Field("CCSDS_APID", "uint", 11, description="Application process identifier"),
    Field("CCSDS_SEQ_FLAGS", "uint", 2, description="Sequence flags (3: unsegmented)",
          fixed=SEQ_FLAGS_UNSEGMENTED),
    Field("CCSDS_SEQ_COUNT", "uint", 14, description="Packet sequence count"),
    Field("CCSDS_PACKET_LENGTH", "uint", 16, unit="byte",
          description="Packet data length: octets after the primary header minus 1"),
)

TM_SECONDARY_HEADER = (
    Field("PUS_TM_VERSION", "uint", 4, description="PUS version (2: PUS-C)", fixed=PUS_VERSION),
    Field("PUS_TM_TIME_REF_STATUS", "uint", 4, description="Spacecraft time reference status"),
    Field("PUS_TM_SERVICE", "uint", 8, description="PUS service type"),
    Field("PUS_TM_SUBTYPE", "uint", 8, description="PUS message subtype"),
    Field("PUS_TM_MSG_COUNTER", "uint", 16, description="Message type counter"),
    Field("PUS_TM_DESTINATION_ID", "uint", 16, description="Destination id"),
    Field("PUS_TM_TIME_PFIELD", "uint", 8,
          description="CDS time code P-field (0x40: CCSDS epoch 1958, 16-bit days, no sub-ms)"),
    Field("PUS_TM_TIME_DAYS", "uint", 16, unit="d", description="CDS days since 1958-01-01"),
    Field("PUS_TM_TIME_MS", "uint", 32, unit="ms", description="CDS milliseconds of the day"),
)

TC_SECONDARY_HEADER = (
    Field("PUS_TC_VERSION", "uint", 4, description="PUS version (2: PUS-C)", fixed=PUS_VERSION),
    Field("PUS_TC_ACK_FLAGS", "uint", 4,
          description="Verification reports asked for: bit 0 acceptance, bit 3 completion"),
    Field("PUS_TC_SERVICE", "uint", 8, description="PUS service type"),
    Field("PUS_TC_SUBTYPE", "uint", 8, description="PUS message subtype"),
    Field("PUS_TC_SOURCE_ID", "uint", 16, description="Source id (1 simulator, 2 ground)"),
)

AUTH_TRAILER = (
    Field("AUTH_SEQ", "uint", 8 * SEQ_LEN,
          description="Authentication sequence number, increasing per source"),
    Field("AUTH_TAG", "binary", 8 * TAG_LEN,
          description="HMAC-SHA256 tag, first 16 bytes (node.auth)"),
)

# A verification report's trailer: the tag node.auth.ReportSigner appends when the
# node has a key. A node run without one (--insecure) sends the same report without
# it, so its size follows from the packet length: 16 bytes or none.
REPORT_TRAILER = (
    Field("AUTH_TAG", "binary", 0,
          description=f"HMAC-SHA256 tag of the report and the command it answers, first "
                      f"{TAG_LEN} bytes (node.auth); absent when the node has no key"),
)
SIGNED_TM_SERVICES = (1,)  # PUS-1 verification reports (node.service signs them)

CRC = Field("PUS_CRC", "uint", 8 * CRC_BYTES,
            description="Packet error control: CRC-16/CCITT-FALSE over the whole packet")

DISCRIMINATOR_NAMES = {3: "sid", 8: "function_id"}  # PUS structure id, function id


def _name_code(f) -> tuple[str, str]:
    """A field definition as (name, struct code), whether a tuple or a typed record."""
    if isinstance(f, tuple):
        return str(f[0]), str(f[1])
    return str(f.name), str(f.code)


def layout_of(packets: PacketSet, p: PacketDef) -> PacketLayout:
    """The layout of one packet kind; ``ValueError`` for a field type no ground tool knows."""
    fields = []
    for f in p.fields:
        name, code = _name_code(f)
        if code not in CODES:
            raise ValueError(f"{p.name}.{name}: no ground type for field code {code!r}")
        kind, bits = CODES[code]
        info = packets.field_info(p.name, name)
        enum = tuple(packets.enums[info.enum].items()) if info.enum else ()
        fields.append(Field(name, kind, bits, info.unit, info.description, enum))
    disc = None
    if p.discriminator is not None:
        label = DISCRIMINATOR_NAMES.get(p.service, "discriminator")
        disc = Field(label, "uint", 8, description=f"PUS[{p.service},{p.subtype}] {label}",
                     fixed=p.discriminator)
    return PacketLayout(
        name=p.name, direction=p.direction, apid=packets.apids["node"], service=p.service,
        subtype=p.subtype, discriminator=disc, fields=tuple(fields),
        trailer=_trailer(p, fields), description=p.description)


def _trailer(p: PacketDef, fields: list[Field]) -> tuple[Field, ...]:
    if p.direction == "tc":
        return AUTH_TRAILER
    if p.service not in SIGNED_TM_SERVICES:
        return ()
    if any(f.bits == 0 for f in fields):  # two fields cannot both fill the rest
        raise ValueError(f"{p.name}: a signed report cannot end in a text field")
    return REPORT_TRAILER


def layouts(packets: PacketSet, direction: str) -> list[PacketLayout]:
    """Every packet kind of one direction, in definition order."""
    return [layout_of(packets, p) for p in packets.defs.values() if p.direction == direction]
