"""Typed packet definitions shared by both ends of the link.

Packets are defined once, as data, in ``definitions.toml``. :class:`PacketDef`
turns named values into a PUS-C Space Packet (via ``spacepackets``, which appends
the CRC-16/CCITT-FALSE) and back. Function-management telecommands (service 8)
carry their function id as the first app-data byte and housekeeping reports
(service 3) their structure id, so several packet kinds can share one PUS
service/subtype pair.

Each packet kind also gets a frozen dataclass generated from its fields
(``PACKETS.payload_type("env_tick")``, a decoded packet's ``pkt.payload``), so
both ends handle typed payloads rather than loose dicts: a sender constructs the
class (an unknown or missing field raises :class:`PayloadFieldError`, a
:class:`PacketError`, right there) and :meth:`PacketSet.build` takes the object;
a dict is still accepted and checked the same way.

A field may declare what it may hold: ``{min = .., max = ..}`` bounds and
``{enum = "name"}`` (one of that enum's values). Floats of a telecommand must be
finite whether or not they declare bounds. These declarations are the single
source of argument checks: the sender refuses to encode a value outside them
(:class:`PacketError`), the node refuses a command that carries one
(:meth:`PacketDef.problems`), and the command line checks its options against
them (:meth:`PacketDef.field_problem`).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import struct
from collections.abc import Mapping
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

_INT_CODES = {"B": 8, "H": 16, "I": 32, "Q": 64}
_FLOAT_CODES = {"f", "d"}


class PacketError(ValueError):
    """A frame that is not a valid packet of ours (bad CRC, unknown kind, short data),
    or values that cannot be sent as one (unknown, missing or out-of-range field)."""


class PayloadFieldError(PacketError, TypeError):
    """A payload class constructed with an unknown, missing or repeated field: a
    :class:`PacketError` like the dict check's, and the TypeError a call with wrong
    arguments raises anywhere else."""


@dataclass(frozen=True)
class FieldRange:
    """What one field may hold: finite, within bounds, one of an enum's values."""

    minimum: float | None = None
    maximum: float | None = None
    enum: str | None = None
    allowed: tuple[int, ...] = ()  # the enum's values
    finite: bool = False

    def problem(self, value: Any, shown: Any = None) -> str | None:
        """Why ``value`` is not allowed, or None (``shown``: the value as the user gave
        it, for the message). NaN fails every comparison, so the checks reject it."""
        shown = value if shown is None else shown
        if self.finite and not math.isfinite(value):
            return f"{shown} is not finite"
        if self.minimum is not None and not value >= self.minimum:
            return f"{shown} is below {self.minimum:g}"
        if self.maximum is not None and not value <= self.maximum:
            return f"{shown} is above {self.maximum:g}"
        if self.enum is not None and value not in self.allowed:
            return f"{shown} is not a {self.enum} value ({', '.join(map(str, self.allowed))})"
        return None


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _python_type(code: str) -> type:
    return str if code == "text" else float if code in _FLOAT_CODES else int


def _checked_init(cls: type, packet: str, names: tuple[str, ...]) -> None:
    """Make ``cls(...)`` name the packet and the field it got wrong, as a
    :class:`PayloadFieldError`, so a misspelt or forgotten field fails where the
    sender builds its payload, in the same terms as a dict's check."""
    init = cls.__init__

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(names):
            raise PayloadFieldError(f"{packet}: {len(args)} positional values for "
                                    f"{len(names)} field(s)")
        unknown = sorted(set(kwargs) - set(names))
        if unknown:
            raise PayloadFieldError(f"{packet}: unknown field {unknown[0]!r}")
        twice = [n for n in names[:len(args)] if n in kwargs]
        if twice:
            raise PayloadFieldError(f"{packet}: field {twice[0]!r} given twice")
        missing = [n for n in names[len(args):] if n not in kwargs]
        if missing:
            raise PayloadFieldError(f"{packet}: missing field {missing[0]!r}")
        init(self, *args, **kwargs)

    __init__.__signature__ = inspect.signature(init)  # help() still shows the fields
    __init__.__doc__ = init.__doc__
    cls.__init__ = __init__


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
    ranges: Mapping[str, FieldRange] = field(default_factory=dict, compare=False)
    _fixed: struct.Struct = field(init=False, repr=False, compare=False)
    payload_type: type = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        codes = "".join(code for _, code in self.fields if code != "text")
        object.__setattr__(self, "_fixed", struct.Struct(">" + codes))
        cls = dataclasses.make_dataclass(
            _camel(self.name), [(n, _python_type(c)) for n, c in self.fields],
            frozen=True, slots=True, namespace={"__doc__": self.description or self.name})
        cls.__module__ = __name__
        _checked_init(cls, self.name, tuple(self.field_names))
        object.__setattr__(self, "payload_type", cls)

    @property
    def payload_len(self) -> int:
        """Bytes of app data the fields take (discriminator included, text excluded)."""
        return (0 if self.discriminator is None else 1) + self._fixed.size

    @property
    def field_names(self) -> list[str]:
        return [name for name, _ in self.fields]

    @property
    def has_text(self) -> bool:
        return any(code == "text" for _, code in self.fields)

    def field_problem(self, name: str, value: Any) -> str | None:
        """Why ``value`` cannot travel in field ``name`` (as it would be encoded), or None."""
        code = dict(self.fields)[name]
        shown = value
        if code == "text":
            return None if isinstance(value, str) else f"{name}: {value!r} is not text"
        if code in _FLOAT_CODES:
            if isinstance(value, bool) or not isinstance(value, (int, float)) and \
                    not hasattr(value, "__float__"):
                return f"{name}: {value!r} is not a number"
            value = float(value)
            if code == "f" and math.isfinite(value):
                try:  # the value the receiver will see, after rounding to float32
                    value = struct.unpack(">f", struct.pack(">f", value))[0]
                except OverflowError:
                    return f"{name}: {value} is beyond the float32 range"
        else:
            if isinstance(value, bool) or not hasattr(value, "__index__"):
                return f"{name}: {value!r} is not an integer"
            value = int(value)
            bits = _INT_CODES[code.upper()]
            lo, hi = (-(1 << bits - 1), 1 << bits - 1) if code.islower() else (0, 1 << bits)
            if not lo <= value < hi:
                kind = "signed" if code.islower() else "unsigned"
                return f"{name}: {value} does not fit {bits} {kind} bits"
        rng = self.ranges.get(name)
        why = rng.problem(value, shown) if rng is not None else None
        return None if why is None else f"{name}: {why}"

    def problems(self, values: Mapping[str, Any]) -> list[str]:
        """Every declared range ``values`` break (the node's argument check)."""
        out = [self.field_problem(n, values[n]) for n in self.field_names if n in values]
        return [p for p in out if p is not None]

    def as_values(self, values: Mapping[str, Any] | Any | None) -> dict[str, Any]:
        """A dict of exactly this packet's fields from a dict or a payload object;
        :class:`PacketError` on an unknown or a missing field."""
        if values is None:
            values = {}
        elif dataclasses.is_dataclass(values) and not isinstance(values, type):
            if type(values) is not self.payload_type:
                raise PacketError(f"{self.name}: payload is a {type(values).__name__}, "
                                  f"not a {self.payload_type.__name__}")
            values = {f.name: getattr(values, f.name) for f in dataclasses.fields(values)}
        unknown = sorted(set(values) - set(self.field_names))
        if unknown:
            raise PacketError(f"{self.name}: unknown field {unknown[0]!r}")
        missing = [n for n in self.field_names if n not in values]
        if missing:
            raise PacketError(f"{self.name}: missing field {missing[0]!r}")
        return dict(values)

    def encode(self, values: Mapping[str, Any] | Any | None, *, check: bool = True) -> bytes:
        """Application data for ``values`` (every field required, none unknown; with
        ``check``, every declared range enforced)."""
        values = self.as_values(values)
        if check:
            bad = self.problems(values)
            if bad:
                raise PacketError(f"{self.name}: {bad[0]}")
        try:
            out = self._fixed.pack(*[values[n] for n, c in self.fields if c != "text"])
        except (struct.error, OverflowError, TypeError) as exc:
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

    def payload(self, values: Mapping[str, Any]) -> Any:
        """The typed payload object for decoded ``values`` (not range-checked)."""
        return self.payload_type(**values)


@dataclass(frozen=True)
class Packet:
    """A decoded packet. ``payload`` is the typed object of its fields (``values``
    the same as a dict). ``data`` is the app data the fields came from and
    ``trailer`` whatever follows them (an authentication trailer or tag)."""

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
    payload: Any = None

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


def _ranges(spec: list, enums: dict[str, dict[str, int]], direction: str
            ) -> dict[str, FieldRange]:
    out: dict[str, FieldRange] = {}
    for f in spec:
        name, code = str(f[0]), str(f[1])
        decl = dict(f[2]) if len(f) > 2 else {}
        unknown = set(decl) - {"min", "max", "enum"}
        if unknown:
            raise ValueError(f"field {name}: unknown range key {sorted(unknown)[0]!r}")
        enum = decl.get("enum")
        finite = code in _FLOAT_CODES and (direction == "tc" or "min" in decl or "max" in decl)
        if decl or finite:
            out[name] = FieldRange(minimum=decl.get("min"), maximum=decl.get("max"), enum=enum,
                                   allowed=tuple(sorted(enums[enum].values())) if enum else (),
                                   finite=finite)
    return out


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
                    ranges=_ranges(d["fields"], self.enums, direction),
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

    def payload_type(self, name: str) -> type:
        """The generated dataclass of packet ``name``'s fields."""
        return self.defs[name].payload_type

    def payload(self, name: str, **fields: Any) -> Any:
        """Packet ``name``'s payload, constructed: a misspelt or missing field raises
        :class:`PayloadFieldError` here, before anything is built or sent."""
        return self.payload_type(name)(**fields)

    def build(self, name: str, values: Mapping[str, Any] | Any | None = None, *,
              seq_count: int = 0, apid: int | None = None, ack_flags: int = 0,
              source_id: int = 0, signer=None, check: bool = True) -> bytes:
        """Pack one packet by name into raw Space Packet bytes (with CRC).

        ``values`` is a dict or the packet's payload object; an unknown or a missing
        field, or (with ``check``) a value outside its declared range, raises
        :class:`PacketError` here, at the sender. Telecommands: ``ack_flags`` asks
        for PUS-1 verification reports (bit 0 acceptance, bit 3 completion). A
        ``signer`` appends its ``trailer(apid, service, subtype, data)`` to the data:
        a :class:`node.auth.Signer` on a telecommand (it also sets the source id), a
        :class:`node.auth.ReportSigner` on a verification report.
        """
        p = self.defs[name]
        data = p.encode(values, check=check)
        seq = seq_count % 16384
        apid = self.apids["node"] if apid is None else apid
        if signer is not None:
            data += signer.trailer(apid, p.service, p.subtype, data)
        if p.direction == "tc":
            if signer is not None:
                source_id = signer.source_id
            pkt = PusTc(service=p.service, message_subtype=p.subtype, apid=apid,
                        app_data=data, seq_count=seq, ack_flags=ack_flags,
                        source_id=source_id)
        else:
            pkt = PusTm(service=p.service, message_subtype=p.subtype, apid=apid,
                        timestamp=CdsShortTimestamp.now().pack(), source_data=data,
                        seq_count=seq)
        return bytes(pkt.pack())

    def parse(self, raw: bytes) -> Packet:
        """Decode raw bytes; :class:`PacketError` on anything that is not ours and intact.

        Values are decoded as sent, not range-checked: the receiver decides what to
        do with a packet whose arguments break their declared ranges.
        """
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
        cut = len(data) if p.has_text else p.payload_len  # a text field runs to the end
        return Packet(p.name, values, header.seq_count, header.apid, bytes(raw), service,
                      subtype, ack, source, data[:cut], data[cut:], p.payload(values))


def load_packets() -> PacketSet:
    text = resources.files("node.packets").joinpath("definitions.toml").read_text("utf-8")
    return PacketSet(tomllib.loads(text))


PACKETS = load_packets()
