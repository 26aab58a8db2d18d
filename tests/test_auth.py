"""Telecommand authentication: HMAC, replay protection, PUS-1 verification, `orbnode tc`."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.auth import SOURCE_GROUND, SOURCE_SIM, TRAILER_LEN, Signer, Verifier, load_key, write_key
from node.errors import OrbnodeError
from node.link import Link, open_transport
from node.link.framing import encode_frame
from node.link.pty_transport import VirtualCable
from node.packets import PACKETS

KEY = bytes(range(32))


def signed(name="ping", values=None, signer=None, ack=0b1001):
    return PACKETS.parse(PACKETS.build(name, values, ack_flags=ack,
                                       signer=signer or Signer(KEY, SOURCE_GROUND)))


def check(verifier, pkt):
    return verifier.check(pkt.apid, pkt.service, pkt.subtype, pkt.source_id, pkt.data,
                          pkt.trailer)


def test_authentic_fresh_command_accepted_replay_rejected():
    v = Verifier(KEY)
    pkt = signed()
    assert len(pkt.trailer) == TRAILER_LEN and pkt.source_id == SOURCE_GROUND
    assert check(v, pkt) is None
    assert check(v, pkt) == "replay"


def test_sources_have_their_own_sequences():
    v = Verifier(KEY)
    sim, ground = Signer(KEY, SOURCE_SIM), Signer(KEY, SOURCE_GROUND)
    a = signed(signer=sim)
    b = signed(signer=ground)
    assert check(v, b) is None and check(v, a) is None  # older seq, other source: fine


def test_wrong_key_and_missing_trailer():
    v = Verifier(b"another key of 16+ bytes")
    assert check(v, signed()) == "bad_mac"
    plain = PACKETS.parse(PACKETS.build("ping"))
    assert check(Verifier(KEY), plain) == "unauthenticated"


@given(st.data())
@settings(max_examples=150, deadline=None)
def test_any_flipped_bit_in_data_or_trailer_is_rejected(data):
    pkt = signed("set_mode", {"mode": 2})
    blob = bytearray(pkt.data + pkt.trailer)
    bit = data.draw(st.integers(0, len(blob) * 8 - 1))
    blob[bit // 8] ^= 1 << (bit % 8)
    d, t = bytes(blob[:len(pkt.data)]), bytes(blob[len(pkt.data):])
    assert Verifier(KEY).check(pkt.apid, pkt.service, pkt.subtype, pkt.source_id, d, t) \
        in ("bad_mac", "replay")


def test_key_files(tmp_path):
    p = write_key(tmp_path / "k")
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
    assert len(load_key(p)) == 32
    (tmp_path / "short").write_text("abcd")
    with pytest.raises(OrbnodeError, match="at least"):
        load_key(tmp_path / "short")
    with pytest.raises(OrbnodeError, match="cannot read"):
        load_key(tmp_path / "missing")


@pytest.fixture(scope="module")
def node_with_key(tmp_path_factory):
    """A real `orbnode node` on one end of a virtual cable, with a key."""
    tmp = tmp_path_factory.mktemp("auth")
    key = write_key(tmp / "tc.key")
    cable = VirtualCable()
    node = subprocess.Popen([sys.executable, "-m", "orbnode", "node", "--port", cable.end_a,
                             "--key-file", str(key), "--watchdog-s", "600"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    link = Link(open_transport(cable.end_b, paced=False), apid="sim")
    deadline = time.monotonic() + 60  # wait until the node answers at all
    while time.monotonic() < deadline:
        link.send("ping")
        if any(p.name == "event" for p in _drain(link, 0.5)):
            break
    yield cable, key, link, tmp
    link.close()
    node.kill()
    node.wait()
    cable.close()


def _drain(link, seconds):
    got, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        got += link.receive(0.05)
    return got


def _tc(cable, key, *args):
    return subprocess.run([sys.executable, "-m", "orbnode", "tc", "--port", cable.end_b,
                           "--key-file", str(key), *args], capture_output=True, text=True,
                          timeout=60)


def test_orbnode_tc_ping_and_set_mode_are_verified(node_with_key):
    cable, key, link, _ = node_with_key
    res = _tc(cable, key, "ping")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) | {"request_id": 0} == {
        "command": "ping", "request_id": 0, "accepted": True, "completed": True}
    res = _tc(cable, key, "set-mode", "ECO")
    assert res.returncode == 0 and json.loads(res.stdout)["completed"] is True


def test_wrong_key_unauthenticated_and_replay_are_rejected_and_counted(node_with_key):
    cable, key, link, tmp = node_with_key
    bad = tmp / "other.key"
    write_key(bad)
    res = _tc(cable, bad, "ping")
    assert res.returncode == 1
    assert json.loads(res.stdout)["reason"] == "bad_mac"

    signer = Signer(load_key(key), SOURCE_GROUND)
    raw = PACKETS.build("ping", ack_flags=0b0001, signer=signer)
    plain = PACKETS.build("ping", ack_flags=0b0001)
    for frame in (raw, raw, plain):  # fresh, replayed, unauthenticated
        link.transport.write(encode_frame(raw if frame is raw else plain))
    reports = [p for p in _drain(link, 1.5) if p.name.startswith("verify_accept")]
    codes = [PACKETS.enum_name("failure", p.values["code"]) if "code" in p.values else "ok"
             for p in reports]
    assert codes == ["ok", "replay", "unauthenticated"]

    # The node counts every rejection in housekeeping (final report on shutdown).
    link.signer = Signer(load_key(key), SOURCE_SIM)
    link.send("shutdown", {"tick": 7})
    hk = [p for p in _drain(link, 2.0) if p.name == "hk_node" and p.values["tick"] == 7]
    assert hk and hk[0].values["tc_rejected"] >= 3


def test_tc_bad_arguments_are_one_line(tmp_path):
    res = subprocess.run([sys.executable, "-m", "orbnode", "tc", "--port", "/dev/null-nope",
                          "--key-file", str(tmp_path / "none"), "ping"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
