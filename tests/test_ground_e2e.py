"""End to end with ground tools: a short `orbnode run` serves its telemetry on a TCP
port, takes telecommands there, captures every packet, and its capture decodes with
an XTCE decoder the project does not write to exactly the archive's values."""

from __future__ import annotations

import csv
import json
import socket
import sqlite3
import subprocess
import sys
import time

import pytest
import space_packet_parser as spp

from firmware_stubs.ground.ccsds import PacketStream, split_packets
from firmware_stubs.telemetry_db import TelemetryDB
from node.auth import SOURCE_GROUND, TAG_LEN, Signer, load_key
from node.packets import PACKETS

RUN = ["--orbits", "0.25", "--speedup", "300", "--tick-s", "0.05", "--no-progress"]
# Every hk_node field (node/packets/definitions.toml) by its archive column: the archive
# names the node's power node_power_w (beside the EPS's); it keeps no per-row node clock
# (node_wall_s: it keeps the interval) or boot_id.
ARCHIVE_NAME = {"power_w": "node_power_w"}
NOT_ARCHIVED = {"node_wall_s", "boot_id"}
HK_FIELDS = {ARCHIVE_NAME.get(f, f): f for f in PACKETS.defs["hk_node"].field_names
             if f not in NOT_ARCHIVED}


def orbnode(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "orbnode", *args], capture_output=True,
                          text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connect(port: int, proc: subprocess.Popen, timeout_s: float = 90.0) -> socket.socket:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=1.0)
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the ground port never opened")


@pytest.fixture(scope="module")
def ground_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ground")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "orbnode", "run", *RUN, "--out", str(out),
                             "--ground-port", str(port), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    got, sent = [], {}
    try:
        sock = connect(port, proc)
        sock.settimeout(1.0)
        stream = PacketStream()
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                break  # the run ended and closed the port
            got += [PACKETS.parse(raw) for raw in stream.feed(data)]
            if not sent and any(p.name == "hk_node" for p in got):
                # The node is up: a forged command (wrong key), a real one, and junk.
                forged = Signer(b"not the key, not the key", SOURCE_GROUND)
                real = Signer(load_key(out / "tc.key"), SOURCE_GROUND)
                sent["forged"] = PACKETS.build("set_mode", {"mode": 2}, ack_flags=1,
                                               signer=forged)
                sent["real"] = PACKETS.build("ping", ack_flags=1, signer=real)
                sent["telemetry"] = PACKETS.build("pong")  # not a telecommand: refused
                sock.sendall(sent["forged"] + sent["real"] + sent["telemetry"])
        sock.close()
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert f"ground link on tcp://127.0.0.1:{port}" in stderr
    return out, json.loads(stdout), got, sent


def test_a_plain_tcp_client_gets_well_formed_telemetry(ground_run):
    _, summary, got, _ = ground_run
    assert got and all(p.apid == PACKETS.apids["node"] for p in got)
    assert all(PACKETS.defs[p.name].direction == "tm" for p in got)
    ticks = [p.values["tick"] for p in got if p.name == "hk_node"]
    assert len(ticks) >= 5 and ticks[:-1] == sorted(ticks[:-1])  # the last: final report


def test_a_forged_telecommand_is_rejected_and_counted(ground_run):
    out, summary, got, sent = ground_run
    forged_id = int.from_bytes(sent["forged"][:4], "big")
    fails = [p for p in got if p.name == "verify_accept_fail"]
    assert [(p.values["request_id"], PACKETS.enum_name("failure", p.values["code"]))
            for p in fails] == [(forged_id, "bad_mac")]
    with sqlite3.connect(out / "telemetry.sqlite") as c:
        meta = {k: json.loads(v) for k, v in c.execute("SELECT key, value FROM meta")}
        last = c.execute("SELECT tc_rejected FROM hk ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert meta["final_counters"]["tc_rejected"] == 1 and last == 1
    assert meta["ground_link_stats"]["tc_forwarded"] == 2
    assert meta["ground_link_stats"]["tc_invalid"] == 1  # the telemetry packet sent as a TC
    # ... while an authentic one from the same connection is carried out.
    real_id = int.from_bytes(sent["real"][:4], "big")
    assert any(p.name == "verify_accept_ok" and p.values["request_id"] == real_id for p in got)
    assert any(p.name == "pong" for p in got)
    # Both ground commands are in the telecommand capture, byte for byte.
    tc = split_packets((out / "tc.bin").read_bytes())
    assert sent["forged"] in tc and sent["real"] in tc and sent["telemetry"] not in tc


# A container that does not fill its packet is a warning in space_packet_parser: an error here.
@pytest.mark.filterwarnings("error::UserWarning:space_packet_parser")
def test_an_independent_xtce_decoder_reads_the_archive_values_from_tm_bin(ground_run, tmp_path):
    out, _, _, _ = ground_run
    xml = tmp_path / "orbnode.xml"
    res = orbnode("export", "xtce", "--out", str(xml))
    assert res.returncode == 0, res.stderr
    definition = spp.load_xtce(xml)
    decoded = [definition.parse_bytes(p)
               for p in spp.ccsds_generator((out / "tm.bin").read_bytes())]
    by_tick = {int(d["hk_node_tick"]): d for d in decoded if "hk_node_tick" in d}
    with sqlite3.connect(out / "telemetry.sqlite") as c:
        c.row_factory = sqlite3.Row
        hk = [dict(r) for r in c.execute("SELECT * FROM hk ORDER BY id")]
        n_tm = c.execute("SELECT COUNT(*) FROM packets WHERE direction='tm'").fetchone()[0]
        n_hk = c.execute("SELECT COUNT(*) FROM packets WHERE name='hk_node'").fetchone()[0]
    assert len(decoded) == n_tm and len(by_tick) == n_hk
    assert len(hk) >= 5
    assert set(HK_FIELDS) <= set(hk[0]), set(HK_FIELDS) - set(hk[0])  # a new field: archive it
    for row in hk:
        d = by_tick[row["tick"]]
        for column, param in HK_FIELDS.items():
            assert d[f"hk_node_{param}"] == row[column], (row["tick"], column)
    # The node signs its verification reports (this run has a key): tag, then the CRC.
    tm = split_packets((out / "tm.bin").read_bytes())
    reports = [(d, raw) for d, raw in zip(decoded, tm, strict=True)
               if d["PUS_TM_SERVICE"] == 1]
    assert len(reports) >= 2  # the forged command's failure, the real one's acceptance
    for d, raw in reports:
        pkt = PACKETS.parse(raw)
        assert len(pkt.trailer) == TAG_LEN and d[f"{pkt.name}_AUTH_TAG"] == pkt.trailer
        assert d["PUS_CRC"] == int.from_bytes(raw[-2:], "big")


def test_the_archive_exports_as_csv_and_parquet(ground_run, tmp_path):
    out, _, _, _ = ground_run
    res = orbnode("export", "csv", "--db", str(out / "telemetry.sqlite"), "--out",
                  str(tmp_path / "csv"))
    assert res.returncode == 0, res.stderr
    with sqlite3.connect(out / "telemetry.sqlite") as c:
        counts = {t: c.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                  for t in ("hk", "events", "packets")}
    rows = {}
    for t in counts:
        with open(tmp_path / "csv" / f"{t}.csv", newline="") as f:
            rows[t] = list(csv.DictReader(f))
    assert {t: len(r) for t, r in rows.items()} == counts
    assert {e["event"] for e in rows["events"]} >= {"hello", "mode"}
    for direction in ("tm", "tc"):  # the raw column holds each capture, byte for byte
        assert b"".join(bytes.fromhex(r["raw"]) for r in rows["packets"]
                        if r["direction"] == direction) == (out / f"{direction}.bin").read_bytes()
    pq = pytest.importorskip("pyarrow.parquet")
    res = orbnode("export", "parquet", "--db", str(out / "telemetry.sqlite"), "--out",
                  str(tmp_path / "pq"))
    assert res.returncode == 0, res.stderr
    table = pq.read_table(tmp_path / "pq" / "packets.parquet")
    assert table.num_rows == counts["packets"]
    assert b"".join(r for r, d in zip(table["raw"].to_pylist(), table["direction"].to_pylist(),
                                      strict=True) if d == "tm") == (out / "tm.bin").read_bytes()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_an_export_leaves_the_archive_folder_as_it_was(tmp_path, fmt):
    """A reader's connection left open would leave telemetry.sqlite-wal/-shm behind."""
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    run = tmp_path / "run"
    run.mkdir()
    db = TelemetryDB(run / "telemetry.sqlite")
    db.add_hk({"tick": 1})
    db.close()
    before = sorted(p.name for p in run.iterdir())
    res = orbnode("export", fmt, "--db", str(run / "telemetry.sqlite"), "--out",
                  str(tmp_path / fmt))
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in run.iterdir()) == before == ["telemetry.sqlite"]


def test_decode_lists_a_capture_and_refuses_broken_ones(ground_run, tmp_path):
    out, _, _, _ = ground_run
    tm = (out / "tm.bin").read_bytes()
    res = orbnode("decode", str(out / "tm.bin"), "--json")
    assert res.returncode == 0, res.stderr
    lines = [json.loads(ln) for ln in res.stdout.splitlines()]
    assert len(lines) == len(split_packets(tm)) and lines[0]["direction"] == "tm"
    cases = {"cut.bin": (tm[:-3], "truncated"), "junk.bin": (b"\xa5" * 200, "not a CCSDS"),
             "empty.bin": (b"", "empty")}
    for name, (data, words) in cases.items():
        (tmp_path / name).write_bytes(data)
        res = orbnode("decode", str(tmp_path / name))
        assert res.returncode == 2, name
        assert words in res.stderr and "Traceback" not in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1 and res.stdout == ""
