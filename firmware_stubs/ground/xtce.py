"""An XTCE 1.2 document (OMG XTCE, namespace 20180204, as Yamcs reads it) for orbnode.

Generated from :mod:`firmware_stubs.ground.layout`, never written by hand:

- telemetry: an abstract ``CCSDSPacket`` container (the primary header), an abstract
  ``PUS_TM`` container restricted to telemetry of the node's APID (the PUS-C TM
  secondary header), an abstract container per service/subtype that carries a
  discriminator byte (the structure id of housekeeping), and one concrete container
  per packet kind restricted on service, subtype and discriminator, its fields,
  the tag of a signed verification report and the CRC. Each field has its own
  parameter type with unit, enumeration and encoding; the size of a trailing text
  or report tag follows from the packet length (a report without a tag, from a
  node with no key, has a tag of 0 bits).
- commands: an abstract ``PUS_TC`` meta-command (primary header and PUS-C TC
  secondary header), and one meta-command per telecommand that assigns service
  and subtype, fixes its function id and adds its arguments, the authentication
  trailer and the CRC. Yamcs' PUS command post-processor fills length and CRC;
  the tag must come from a holder of the key (``node.auth``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from firmware_stubs.ground.layout import (
    CRC,
    PRIMARY_HEADER,
    TC_SECONDARY_HEADER,
    TM_SECONDARY_HEADER,
    Field,
    PacketLayout,
    layouts,
)
from node.packets import PACKETS, PacketSet

XTCE_NS = "http://www.omg.org/spec/XTCE/20180204"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_URL = "https://www.omg.org/spec/XTCE/20180204/SpaceSystem.xsd"
SPACE_SYSTEM = "orbnode"
MAX_TEXT_BITS = 8 * 1000  # node.packets.MAX_TEXT_BYTES


def _q(tag: str) -> str:
    return f"{{{XTCE_NS}}}{tag}"


def _sub(parent: ET.Element, tag: str, **attrs: str) -> ET.Element:
    return ET.SubElement(parent, _q(tag), {k: str(v) for k, v in attrs.items()})


def _rest_of_packet(parent: ET.Element, intercept_bits: int) -> None:
    """A size in bits of ``8 x CCSDS_PACKET_LENGTH + intercept_bits``: what is left
    of the data before the CRC."""
    dyn = _sub(parent, "DynamicValue")
    _sub(dyn, "ParameterInstanceRef", parameterRef="CCSDS_PACKET_LENGTH")
    _sub(dyn, "LinearAdjustment", slope=8, intercept=intercept_bits)


def _encoding(parent: ET.Element, f: Field, intercept_bits: int = 0) -> None:
    if f.kind in ("uint", "int"):
        _sub(parent, "IntegerDataEncoding", sizeInBits=f.bits,
             encoding="unsigned" if f.kind == "uint" else "twosComplement")
    elif f.kind == "float":
        _sub(parent, "FloatDataEncoding", sizeInBits=f.bits, encoding="IEEE754_1985")
    elif f.kind == "binary":
        size = _sub(_sub(parent, "BinaryDataEncoding"), "SizeInBits")
        if f.bits:
            _sub(size, "FixedValue").text = str(f.bits)
        else:
            _rest_of_packet(size, intercept_bits)
    elif f.kind == "string":
        enc = _sub(parent, "StringDataEncoding", encoding="UTF-8")
        _rest_of_packet(_sub(enc, "Variable", maxSizeInBits=MAX_TEXT_BITS), intercept_bits)
    else:  # pragma: no cover - layout.CODES names every kind
        raise ValueError(f.kind)


def _data_type(parent: ET.Element, role: str, name: str, f: Field,
               intercept_bits: int = 0) -> None:
    """A parameter (``role`` "Parameter") or argument ("Argument") type for ``f``."""
    kind = "Enumerated" if f.enum else {"uint": "Integer", "int": "Integer", "float": "Float",
                                         "string": "String", "binary": "Binary"}[f.kind]
    attrs: dict[str, str] = {"name": name}
    if f.description:
        attrs["shortDescription"] = f.description
    if kind == "Integer":
        attrs |= {"signed": str(f.kind == "int").lower(), "sizeInBits": str(f.bits)}
    elif kind == "Float":
        attrs["sizeInBits"] = str(f.bits)
    t = _sub(parent, f"{kind}{role}Type", **attrs)
    if f.unit:
        _sub(_sub(t, "UnitSet"), "Unit").text = f.unit
    _encoding(t, f, intercept_bits=intercept_bits)
    if f.enum:
        el = _sub(t, "EnumerationList")
        for label, value in f.enum:
            _sub(el, "Enumeration", value=value, label=label)


def _comparisons(base: ET.Element, checks: list[tuple[str, int]]) -> None:
    crit = _sub(base, "RestrictionCriteria")
    if len(checks) == 1:
        _sub(crit, "Comparison", parameterRef=checks[0][0], value=checks[0][1])
        return
    cl = _sub(crit, "ComparisonList")
    for ref, value in checks:
        _sub(cl, "Comparison", parameterRef=ref, value=value)


class _Telemetry:
    def __init__(self, root: ET.Element) -> None:
        tm = _sub(root, "TelemetryMetaData")
        self.types = _sub(tm, "ParameterTypeSet")
        self.params = _sub(tm, "ParameterSet")
        self.containers = _sub(tm, "ContainerSet")

    def parameter(self, name: str, f: Field, intercept_bits: int = 0) -> str:
        _data_type(self.types, "Parameter", f"{name}_t", f, intercept_bits)
        attrs = {"name": name, "parameterTypeRef": f"{name}_t"}
        if f.description:
            attrs["shortDescription"] = f.description
        _sub(self.params, "Parameter", **attrs)
        return name

    def container(self, name: str, entries: list[str], *, abstract: bool = False,
                  base: str | None = None, checks: list[tuple[str, int]] | None = None,
                  description: str = "") -> None:
        attrs = {"name": name}
        if description:
            attrs["shortDescription"] = description
        if abstract:
            attrs["abstract"] = "true"
        c = _sub(self.containers, "SequenceContainer", **attrs)
        el = _sub(c, "EntryList")
        for ref in entries:
            _sub(el, "ParameterRefEntry", parameterRef=ref)
        if base is not None:
            b = _sub(c, "BaseContainer", containerRef=base)
            if checks:
                _comparisons(b, checks)


def _telemetry(root: ET.Element, packets: PacketSet) -> None:
    t = _Telemetry(root)
    header = [t.parameter(f.name, f) for f in PRIMARY_HEADER]
    t.container("CCSDSPacket", header, abstract=True,
                description="CCSDS Space Packet primary header")
    sec = [t.parameter(f.name, f) for f in TM_SECONDARY_HEADER]
    t.container("PUS_TM", sec, abstract=True, base="CCSDSPacket",
                checks=[("CCSDS_TYPE", 0), ("CCSDS_APID", packets.apids["node"])],
                description="PUS-C telemetry from the node")
    crc = t.parameter(CRC.name, CRC)
    done: set[tuple[int, int]] = set()
    for p in layouts(packets, "tm"):
        kind = [("PUS_TM_SERVICE", p.service), ("PUS_TM_SUBTYPE", p.subtype)]
        base, checks = "PUS_TM", kind
        if p.discriminator is not None:
            group = f"PUS_TM_{p.service}_{p.subtype}"
            disc = f"{group}_{p.discriminator.name.upper()}"
            if (p.service, p.subtype) not in done:
                done.add((p.service, p.subtype))
                t.parameter(disc, p.discriminator)
                t.container(group, [disc], abstract=True, base="PUS_TM", checks=kind,
                            description=f"PUS[{p.service},{p.subtype}]")
            base, checks = group, [(disc, p.discriminator.fixed)]
        entries = [t.parameter(f"{p.name}_{f.name}", f, p.rest_intercept_bits)
                   for f in (*p.fields, *p.trailer)]
        t.container(p.name, [*entries, crc], base=base, checks=checks,
                    description=p.description)


def _command(set_: ET.Element, types: ET.Element, p: PacketLayout | None) -> None:
    """The abstract PUS_TC meta-command (``p`` None) or one telecommand."""
    name = "PUS_TC" if p is None else p.name
    attrs = {"name": name}
    if p is None:
        attrs |= {"abstract": "true", "shortDescription": "PUS-C telecommand to the node"}
    elif p.description:
        attrs["shortDescription"] = p.description
    mc = _sub(set_, "MetaCommand", **attrs)
    if p is None:
        header = [*PRIMARY_HEADER, *TC_SECONDARY_HEADER]
        args = [f for f in header if f.fixed is None and f.name != "CCSDS_TYPE"]
        entries: list[tuple[str, Field]] = [("arg" if f in args else "fixed", f)
                                            for f in header]
    else:
        _assign(_sub(mc, "BaseMetaCommand", metaCommandRef="PUS_TC"), p)
        body = [*p.fields, *p.trailer, CRC]
        args = body
        entries = ([("fixed", p.discriminator)] if p.discriminator else []) + \
            [("arg", f) for f in body]
    if args:
        al = _sub(mc, "ArgumentList")
        for f in args:
            type_name = f"{name}_{f.name}_t"
            _data_type(types, "Argument", type_name, f)
            a = _sub(al, "Argument", name=f.name, argumentTypeRef=type_name)
            if f.description:
                a.set("shortDescription", f.description)
            if p is None and f.name == "CCSDS_APID":
                a.set("initialValue", str(PACKETS.apids["node"]))
            elif f.enum:  # an enumerated argument starts at its first label
                a.set("initialValue", f.enum[0][0])
            elif f.kind in ("uint", "int"):
                a.set("initialValue", "0")
    cc = _sub(mc, "CommandContainer", name=f"{name}_container")
    el = _sub(cc, "EntryList")
    for what, f in entries:
        if what == "arg":
            _sub(el, "ArgumentRefEntry", argumentRef=f.name)
        else:
            value = 1 if f.name == "CCSDS_TYPE" else f.fixed
            nbytes = max((f.bits + 7) // 8, 1)
            _sub(el, "FixedValueEntry", name=f.name, binaryValue=f"{value:0{2 * nbytes}x}",
                 sizeInBits=f.bits)
    if p is not None:
        _sub(cc, "BaseContainer", containerRef="PUS_TC_container")


def _assign(base: ET.Element, p: PacketLayout) -> None:
    al = _sub(base, "ArgumentAssignmentList")
    _sub(al, "ArgumentAssignment", argumentName="PUS_TC_SERVICE", argumentValue=p.service)
    _sub(al, "ArgumentAssignment", argumentName="PUS_TC_SUBTYPE", argumentValue=p.subtype)


def _commands(root: ET.Element, packets: PacketSet) -> None:
    cm = _sub(root, "CommandMetaData")
    types = _sub(cm, "ArgumentTypeSet")
    mcs = _sub(cm, "MetaCommandSet")
    _command(mcs, types, None)
    for p in layouts(packets, "tc"):
        _command(mcs, types, p)


def xtce_document(packets: PacketSet = PACKETS) -> bytes:
    """The XTCE document for ``packets``, UTF-8 XML bytes (deterministic: no date)."""
    ET.register_namespace("xtce", XTCE_NS)
    ET.register_namespace("xsi", XSI_NS)
    root = ET.Element(_q("SpaceSystem"), {
        "name": SPACE_SYSTEM,
        f"{{{XSI_NS}}}schemaLocation": f"{XTCE_NS} {SCHEMA_URL}",
        "shortDescription": "orbnode compute node: CCSDS Space Packets, PUS-C, CRC-16",
    })
    _sub(root, "Header", validationStatus="Working",
         classification="generated from node/packets/definitions.toml")
    _telemetry(root, packets)
    _commands(root, packets)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
