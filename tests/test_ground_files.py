"""Ground definitions (XTCE, OpenC3 COSMOS) are generated from node/packets and
describe the bytes both ends really exchange: checked with an XTCE decoder the
project does not write (space_packet_parser) against the official XTCE 1.2 schema,
and with a reader of the COSMOS definition format kept in this test."""

from __future__ import annotations

import copy
import math
import shlex
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from importlib import resources

import numpy as np
import pytest
import space_packet_parser as spp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_stubs.ground import cosmos
from firmware_stubs.ground.xtce import XTCE_NS, xtce_document
from node.auth import SEQ_LEN, SOURCE_GROUND, TAG_LEN, TRAILER_LEN, ReportSigner, Signer
from node.packets import PACKETS, PacketSet

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib  # type: ignore[no-redef]

NS = {"x": XTCE_NS}
FIXTURES = [HealthCheck.function_scoped_fixture]  # module-scoped files, read only
# Verification reports (PUS 1) carry a tag when the node has a key (node.service signs
# them with node.auth.ReportSigner) and none when it runs --insecure: both must decode.
TM = [n for n, d in PACKETS.defs.items() if d.direction == "tm"]
SIGNED_TM = [n for n in TM if PACKETS.defs[n].service == 1]
TM_CASES = [(n, False) for n in TM] + [(n, True) for n in SIGNED_TM]
# space_packet_parser warns (and reads on) when a container's bits do not fill the packet.
SPP_STRICT = pytest.mark.filterwarnings("error::UserWarning:space_packet_parser")
INTS = {"B": (0, 2**8 - 1), "H": (0, 2**16 - 1), "I": (0, 2**32 - 1), "Q": (0, 2**64 - 1),
        "b": (-2**7, 2**7 - 1), "h": (-2**15, 2**15 - 1), "i": (-2**31, 2**31 - 1),
        "q": (-2**63, 2**63 - 1)}


def value_strategy(packets: PacketSet, name: str, field: str, code: str):
    """Any value the definitions let the field carry (declared ranges respected)."""
    enum = packets.field_info(name, field).enum
    if enum:
        return st.sampled_from(sorted(packets.enums[enum].values()))
    rng = packets.defs[name].ranges.get(field)
    lo = rng.minimum if rng is not None else None
    hi = rng.maximum if rng is not None else None
    if code in INTS:
        a, b = INTS[code]
        return st.integers(a if lo is None else max(a, int(lo)),
                           b if hi is None else min(b, int(hi)))
    if code == "f":  # bounds rounded inwards to float32, as the sender checks them
        f32 = np.float32
        lo32 = None if lo is None else float(np.nextafter(f32(lo), f32(np.inf)))
        hi32 = None if hi is None else float(np.nextafter(f32(hi), f32(-np.inf)))
        return st.floats(lo32, hi32, width=32, allow_nan=False, allow_infinity=False)
    if code == "d":
        return st.floats(lo, hi, allow_nan=False, allow_infinity=False)
    return st.text(max_size=60)


def packet_values(packets: PacketSet, name: str):
    d = packets.defs[name]
    return st.fixed_dictionaries({f: value_strategy(packets, name, f, c) for f, c in d.fields})


def definitions_doc() -> dict:
    text = resources.files("node.packets").joinpath("definitions.toml").read_text("utf-8")
    return tomllib.loads(text)


@pytest.fixture(scope="module")
def xtce_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("xtce") / "orbnode.xml"
    path.write_bytes(xtce_document())
    return path


@pytest.fixture(scope="module")
def xtce_def(xtce_file):
    return spp.load_xtce(xtce_file)


def test_xtce_validates_against_the_official_xtce_1_2_schema(xtce_file):
    # The OMG schema that space_packet_parser ships (offline; no download allowed).
    result = spp.validate_xtce(xtce_file, level="schema", allow_schema_download=False,
                               print_results=False, raise_on_error=False)
    assert result.schema_version == "1.2"
    assert result.valid, [str(e) for e in result.errors]


def test_the_schema_check_catches_an_invalid_document(tmp_path, xtce_file):
    bad = xtce_file.read_text().replace('encoding="unsigned"', 'encoding="unsignd"', 1)
    (tmp_path / "bad.xml").write_text(bad)
    result = spp.validate_xtce(tmp_path / "bad.xml", level="schema",
                               allow_schema_download=False, print_results=False,
                               raise_on_error=False)
    assert not result.valid


def test_every_field_has_its_type_unit_description_and_enumeration(xtce_file):
    root = ET.parse(xtce_file).getroot()
    types = {t.get("name"): t for t in root.iterfind(".//x:ParameterTypeSet/*", NS)}
    params = {p.get("name"): p for p in root.iterfind(".//x:Parameter", NS)}
    containers = {c.get("name"): c for c in root.iterfind(".//x:SequenceContainer", NS)}
    commands = {c.get("name"): c for c in root.iterfind(".//x:MetaCommand", NS)}
    for p in PACKETS.defs.values():
        if p.direction == "tm":
            c = containers[p.name]
            refs = [e.get("parameterRef") for e in c.iterfind("x:EntryList/*", NS)]
            tag = [f"{p.name}_AUTH_TAG"] if p.name in SIGNED_TM else []
            assert refs == [f"{p.name}_{f}" for f in p.field_names] + tag + ["PUS_CRC"]
            checks = {(e.get("parameterRef"), e.get("value"))
                      for e in c.iterfind("x:BaseContainer//x:Comparison", NS)}
            assert checks and all(v.isdigit() for _, v in checks)
        else:
            args = [a.get("name") for a in commands[p.name].iterfind(".//x:Argument", NS)]
            assert args == [*p.field_names, "AUTH_SEQ", "AUTH_TAG", "PUS_CRC"]
        for f in p.field_names:
            info = PACKETS.field_info(p.name, f)
            assert info.description, f"{p.name}.{f} has no description in definitions.toml"
            if p.direction != "tm":
                continue
            param = params[f"{p.name}_{f}"]
            assert param.get("shortDescription") == info.description
            t = types[param.get("parameterTypeRef")]
            unit = t.find("x:UnitSet/x:Unit", NS)
            assert (unit.text if unit is not None else "") == info.unit
            labels = {e.get("label"): int(e.get("value"))
                      for e in t.iterfind("x:EnumerationList/x:Enumeration", NS)}
            assert labels == (PACKETS.enums[info.enum] if info.enum else {})
    # restrictions on the APID and on the housekeeping structure id
    tm = containers["PUS_TM"].findall(".//x:Comparison", NS)
    assert ("CCSDS_APID", str(PACKETS.apids["node"])) in {(c.get("parameterRef"),
                                                           c.get("value")) for c in tm}
    sid = containers["hk_node"].find(".//x:Comparison", NS)
    assert sid.get("value") == str(PACKETS.defs["hk_node"].discriminator)


def build_tm(data, name: str, signed: bool, packets: PacketSet = PACKETS, **kw) -> bytes:
    """A telemetry packet as the node sends it; ``signed``: tagged for a drawn command."""
    values = data.draw(packet_values(packets, name))
    signer = None
    if signed:  # the trailer of the telecommand the report answers
        request = data.draw(st.binary(min_size=TRAILER_LEN, max_size=TRAILER_LEN))
        signer = ReportSigner(b"k" * 32, request)
    return packets.build(name, values, signer=signer, **kw)


def _check_decoded(decoded, packets: PacketSet, name: str, raw: bytes) -> None:
    ours = packets.parse(raw)
    assert decoded["CCSDS_APID"] == ours.apid and decoded["CCSDS_SEQ_COUNT"] == ours.seq_count
    assert decoded["PUS_TM_SERVICE"] == ours.service
    assert decoded["PUS_CRC"] == int.from_bytes(raw[-2:], "big")
    if name in SIGNED_TM:
        assert decoded[f"{name}_AUTH_TAG"] == ours.trailer and len(ours.trailer) in (0, TAG_LEN)
    for f, v in ours.values.items():
        got = decoded[f"{name}_{f}"]
        got = getattr(got, "raw_value", got) if packets.field_info(name, f).enum else got
        assert got == v and type(v)(got) == v, (name, f, got, v)


@SPP_STRICT
@pytest.mark.parametrize(("name", "signed"), TM_CASES)
@settings(max_examples=60, deadline=None, suppress_health_check=FIXTURES)
@given(data=st.data())
def test_xtce_decodes_every_telemetry_packet_as_the_node_encodes_it(xtce_def, name, signed,
                                                                    data):
    raw = build_tm(data, name, signed, seq_count=data.draw(st.integers(0, 2**14 - 1)))
    assert len(PACKETS.parse(raw).trailer) == (TAG_LEN if signed else 0)
    _check_decoded(xtce_def.parse_bytes(raw), PACKETS, name, raw)


@SPP_STRICT
def test_a_new_definition_reaches_the_xtce_document(tmp_path):
    """The generator follows definitions.toml: a packet added there is described."""
    doc = copy.deepcopy(definitions_doc())
    doc["tm"]["hk_extra"] = {"description": "test", "service": 3, "subtype": 25, "sid": 7,
                             "fields": [["cell_v", "f"], ["count", "h"], ["note", "text"]]}
    doc["meta"]["hk_extra"] = {"cell_v": {"unit": "V", "description": "cell voltage"}}
    packets = PacketSet(doc)
    path = tmp_path / "x.xml"
    path.write_bytes(xtce_document(packets))
    raw = packets.build("hk_extra", {"cell_v": 3.5, "count": -2, "note": "ok"})
    decoded = spp.load_xtce(path).parse_bytes(raw)
    assert (decoded["hk_extra_cell_v"], decoded["hk_extra_count"],
            decoded["hk_extra_note"]) == (3.5, -2, "ok")
    assert "<xtce:Unit>V</xtce:Unit>" in path.read_text()


# --- COSMOS -------------------------------------------------------------------------
def read_cosmos(text: str) -> dict[str, list[dict]]:
    """Packets of a COSMOS cmd/tlm file: items with bit offset, size, type, id value."""
    packets: dict[str, list[dict]] = {}
    items: list[dict] = []
    offset = 0
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        key = words[0]
        if key in ("TELEMETRY", "COMMAND"):
            items, offset = [], 0
            packets[words[2]] = items
        elif key in ("APPEND_ITEM", "APPEND_ID_ITEM", "APPEND_PARAMETER",
                     "APPEND_ID_PARAMETER", "ITEM"):
            explicit = key == "ITEM"
            name, rest = words[1], words[2:]
            at = int(rest.pop(0)) if explicit else offset
            bits, kind = int(rest[0]), rest[1]
            item = {"name": name, "offset": at, "bits": bits, "type": kind, "states": {}}
            if "ID_ITEM" in key:
                item["id"] = int(rest[2])
            elif "ID_PARAMETER" in key:
                item["id"] = int(rest[4])
            elif "PARAMETER" in key and kind != "BLOCK":
                item["default"] = rest[4]
            items.append(item)
            if not explicit:
                offset += bits
        elif key == "STATE":
            items[-1]["states"][words[1]] = int(words[2])
        elif key == "UNITS":
            items[-1]["units"] = words[1]
    return packets


def cosmos_read(item: dict, raw: bytes):
    total = 8 * len(raw)
    start = item["offset"] if item["offset"] >= 0 else total + item["offset"]
    bits = item["bits"] if item["bits"] > 0 else total - start + item["bits"]
    chunk = (int.from_bytes(raw, "big") >> (total - start - bits)) & ((1 << bits) - 1)
    if item["type"] == "FLOAT":
        return struct.unpack(">f" if bits == 32 else ">d", chunk.to_bytes(bits // 8, "big"))[0]
    if item["type"] in ("STRING", "BLOCK"):
        data = chunk.to_bytes(bits // 8, "big")
        return data.decode("utf-8") if item["type"] == "STRING" else data
    if item["type"] == "INT" and chunk >> (bits - 1):
        return chunk - (1 << bits)
    return chunk


def cosmos_identify(defs: dict[str, list[dict]], raw: bytes) -> str:
    hits = [n for n, items in defs.items()
            if all(cosmos_read(i, raw) == i["id"] for i in items if "id" in i)]
    assert len(hits) == 1, hits
    return hits[0]


@pytest.fixture(scope="module")
def cosmos_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cosmos")
    res = subprocess.run([sys.executable, "-m", "orbnode", "export", "cosmos", "--out", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return out


def test_cosmos_plugin_layout(cosmos_dir):
    t = cosmos_dir / "targets" / "ORBNODE"
    assert (t / "cmd_tlm" / "cmd.txt").is_file() and (t / "cmd_tlm" / "tlm.txt").is_file()
    assert "LENGTH 32 16 7" in (cosmos_dir / "plugin.txt").read_text()


@pytest.mark.parametrize(("name", "signed"), TM_CASES)
@settings(max_examples=40, deadline=None, suppress_health_check=FIXTURES)
@given(data=st.data())
def test_cosmos_telemetry_reads_what_the_node_sends(cosmos_dir, name, signed, data):
    defs = read_cosmos((cosmos_dir / "targets/ORBNODE/cmd_tlm/tlm.txt").read_text())
    raw = build_tm(data, name, signed)
    assert cosmos_identify(defs, raw) == name.upper()
    items = {i["name"]: i for i in defs[name.upper()]}
    pkt = PACKETS.parse(raw)
    if name in SIGNED_TM:
        assert cosmos_read(items["AUTH_TAG"], raw) == pkt.trailer
    for f, v in pkt.values.items():
        item = items[f.upper()]
        got = cosmos_read(item, raw)
        assert got == v or (isinstance(v, float) and math.isclose(got, v)), (f, got, v)
        if PACKETS.field_info(name, f).enum:
            assert item["states"] == PACKETS.enums[PACKETS.field_info(name, f).enum]
    assert cosmos_read(items["PUS_CRC"], raw) == int.from_bytes(raw[-2:], "big")


@pytest.mark.parametrize("name", [n for n, d in PACKETS.defs.items() if d.direction == "tc"])
@settings(max_examples=30, deadline=None, suppress_health_check=FIXTURES)
@given(data=st.data())
def test_cosmos_commands_match_the_signed_bytes(cosmos_dir, name, data):
    defs = read_cosmos((cosmos_dir / "targets/ORBNODE/cmd_tlm/cmd.txt").read_text())
    signer = Signer(b"k" * 32, SOURCE_GROUND)
    raw = PACKETS.build(name, data.draw(packet_values(PACKETS, name)), signer=signer,
                        ack_flags=data.draw(st.integers(0, 15)))
    assert cosmos_identify(defs, raw) == name.upper()
    items = {i["name"]: i for i in defs[name.upper()]}
    pkt = PACKETS.parse(raw)
    for f, v in pkt.values.items():
        got = cosmos_read(items[f.upper()], raw)
        assert got == v or (isinstance(v, float) and math.isclose(got, v)), (f, got, v)
    assert cosmos_read(items["AUTH_SEQ"], raw) == int.from_bytes(pkt.trailer[:SEQ_LEN], "big")
    assert cosmos_read(items["AUTH_TAG"], raw) == pkt.trailer[SEQ_LEN:]
    assert int(items["CCSDS_PACKET_LENGTH"]["default"]) == len(raw) - 7
    assert int(items["PUS_TC_SOURCE_ID"]["default"]) == SOURCE_GROUND
    assert cosmos_read(items["PUS_TC_ACK_FLAGS"], raw) == pkt.ack_flags


def test_a_new_definition_reaches_the_cosmos_files():
    doc = copy.deepcopy(definitions_doc())
    doc["tc"]["reboot"] = {"service": 8, "subtype": 1, "function_id": 9,
                           "fields": [["delay_s", "H"]]}
    text = cosmos.command_definitions(PacketSet(doc))
    defs = read_cosmos(text)
    assert [i["name"] for i in defs["REBOOT"]][-4:] == ["DELAY_S", "AUTH_SEQ", "AUTH_TAG",
                                                        "PUS_CRC"]


def test_the_event_enumeration_names_every_event_the_node_sends():
    from node import service

    sent = {k.removeprefix("EVENT_").lower(): v for k, v in vars(service).items()
            if k.startswith("EVENT_") and isinstance(v, int)}
    assert PACKETS.enums["event"] == sent
