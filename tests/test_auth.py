"""Telecommand authentication: HMAC, replay protection, PUS-1 verification, `orbnode tc`."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.auth import (
    DEFAULT_WINDOW_S,
    SOURCE_GROUND,
    SOURCE_SIM,
    TAG_LEN,
    TRAILER_LEN,
    ReplayState,
    ReportSigner,
    Signer,
    Verifier,
    load_key,
    report_authentic,
    write_key,
)
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
    short = write_key(tmp_path / "short", nbytes=2)
    with pytest.raises(OrbnodeError, match="at least"):
        load_key(short)
    with pytest.raises(OrbnodeError, match="cannot read"):
        load_key(tmp_path / "missing")
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]  # no debris


def test_verifier_from_key_file_puts_the_state_beside_the_key_or_in_the_folder(tmp_path):
    key = write_key(tmp_path / "k")
    beside = Verifier.from_key_file(key)
    assert beside.state.path == tmp_path / "k.replay.json" and beside.state.path.is_file()
    assert beside.key == load_key(key) and beside.window_us == int(DEFAULT_WINDOW_S * 1e6)
    assert check(beside, signed(signer=Signer(beside.key, SOURCE_GROUND))) is None
    folder = tmp_path / "state" / "deep"
    there = Verifier.from_key_file(key, folder, window_s=60.0)
    assert there.state.path == folder / "tc.replay.json" and there.window_us == 60_000_000
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    (tmp_path / "file").write_text("")
    with pytest.raises(OrbnodeError, match="cannot make the anti-replay state folder"):
        Verifier.from_key_file(key, tmp_path / "file" / "sub")
    with pytest.raises(OrbnodeError):
        Verifier.from_key_file(tmp_path / "missing")


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o620])
def test_loose_key_files_are_refused(tmp_path, mode):
    p = write_key(tmp_path / "k")
    os.chmod(p, mode)
    with pytest.raises(OrbnodeError, match=f"permissions {mode:04o} .* too open"):
        load_key(p)


def test_force_replaces_a_world_readable_key_with_an_owner_only_one(tmp_path):
    p = tmp_path / "k"
    p.write_text("00" * 32 + "\n")
    os.chmod(p, 0o644)
    old_inode = os.stat(p).st_ino
    with pytest.raises(OrbnodeError, match="exists"):
        write_key(p)
    assert p.read_text() == "00" * 32 + "\n"
    write_key(p, overwrite=True)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
    assert os.stat(p).st_ino != old_inode and load_key(p) != bytes(32)


def test_keys_are_never_written_through_a_symlink(tmp_path):
    target = tmp_path / "precious"
    target.write_text("do not touch")
    link = tmp_path / "k"
    link.symlink_to(target)
    for overwrite in (False, True):
        with pytest.raises(OrbnodeError, match="symbolic link"):
            write_key(link, overwrite=overwrite)
    assert target.read_text() == "do not touch" and link.is_symlink()
    dangling = tmp_path / "d"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(OrbnodeError, match="symbolic link"):
        write_key(dangling)
    assert not (tmp_path / "nowhere").exists()


def _one_line_exit_2(res):
    assert res.returncode == 2, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


def _orbnode(*args):
    return subprocess.run([sys.executable, "-m", "orbnode", *args], capture_output=True,
                          text=True, timeout=120)


def test_keygen_cli_force_symlink_and_loose_key(tmp_path):
    p = tmp_path / "k"
    p.write_text("x")
    os.chmod(p, 0o666)
    _one_line_exit_2(_orbnode("keygen", "--out", str(p)))
    assert p.read_text() == "x"
    assert _orbnode("keygen", "--out", str(p), "--force").returncode == 0
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600 and len(load_key(p)) == 32
    target = tmp_path / "t"
    target.write_text("keep")
    (tmp_path / "ln").symlink_to(target)
    _one_line_exit_2(_orbnode("keygen", "--out", str(tmp_path / "ln"), "--force"))
    assert target.read_text() == "keep"
    os.chmod(p, 0o644)  # a world-readable key is refused where it is used
    res = _orbnode("node", "--port", "/dev/null", "--key-file", str(p))
    _one_line_exit_2(res)
    assert "too open" in res.stderr
    _one_line_exit_2(_orbnode("tc", "--port", "/dev/null", "--key-file", str(p), "ping"))


def test_run_refuses_to_write_its_key_through_a_symlink(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    target = tmp_path / "elsewhere"
    target.write_text("keep")
    (out / "tc.key").symlink_to(target)
    res = _orbnode("run", "--orbits", "0.01", "--no-progress", "--out", str(out), "--force")
    _one_line_exit_2(res)
    assert "symbolic link" in res.stderr and target.read_text() == "keep"


def test_run_replaces_a_loose_key_in_a_reused_folder(tmp_path):
    from orbnode.run import RunConfig, run

    (tmp_path / "tc.key").write_text("00" * 32)
    os.chmod(tmp_path / "tc.key", 0o644)
    run(RunConfig(out=tmp_path, orbits=0.01, speedup=1200, tick_wall_s=0.05, progress=False,
                  force=True))
    assert stat.S_IMODE(os.stat(tmp_path / "tc.key").st_mode) == 0o600
    assert load_key(tmp_path / "tc.key") != bytes(32)


# -- anti-replay state and the forward window -------------------------------------------
NOW_S = 1.8e9  # a fixed node clock, seconds since the epoch


def signed_at(seq, name="set_mode", values=None, key=KEY, source=SOURCE_GROUND):
    signer = Signer(key, source)
    signer._last_seq = seq - 1
    signer.next_seq = lambda: seq  # exactly this sequence number
    return signed(name, values or {"mode": 1}, signer=signer)


@pytest.mark.parametrize("reserve_s", [0.0, 2.0])
def test_replay_after_restart_is_refused(tmp_path, reserve_s):
    state = tmp_path / "s.json"
    v = Verifier(KEY, ReplayState.open(state, reserve_s, key=KEY))
    pkts = [signed() for _ in range(3)]
    assert [check(v, p) for p in pkts] == [None] * 3
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o600
    restarted = Verifier(KEY, ReplayState.open(state, reserve_s, key=KEY))  # a new process
    assert [check(restarted, p) for p in pkts] == ["replay"] * 3
    later = int.from_bytes(pkts[-1].trailer[:8], "big") + int(reserve_s * 1e6) + 1
    assert check(restarted, signed_at(later)) is None  # a fresh command goes through
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_a_clean_stop_settles_the_marks_on_what_was_accepted(tmp_path):
    state = ReplayState.open(tmp_path / "s.json", reserve_s=2.0, key=KEY)
    v = Verifier(KEY, state)
    pkt = signed()
    assert check(v, pkt) is None
    seq = int.from_bytes(pkt.trailer[:8], "big")
    assert state.marks[SOURCE_GROUND] == seq + 2_000_000
    state.settle()
    restarted = Verifier(KEY, ReplayState.open(tmp_path / "s.json", key=KEY))
    assert check(restarted, pkt) == "replay"
    assert check(restarted, signed_at(seq + 1)) is None  # the very next one goes through


def test_state_belongs_to_its_key(tmp_path):
    state = tmp_path / "s.json"
    v = Verifier(KEY, ReplayState.open(state, key=KEY))
    assert check(v, signed()) is None
    assert KEY.hex() not in state.read_text()
    assert ReplayState.open(state, key=KEY).marks  # same key: marks kept
    other = bytes(32)
    assert ReplayState.open(state, key=other).marks == {}  # a new key: old marks moot
    assert ReplayState.open(state, key=KEY).marks == {}


def test_state_on_disk_covers_the_command_before_the_verdict(tmp_path):
    state = ReplayState.open(tmp_path / "s.json", reserve_s=2.0)
    v = Verifier(KEY, state)
    writes = state.writes
    seqs = []
    for _ in range(20):  # a burst of ticks within the reserve: one write covers them
        pkt = signed()
        assert check(v, pkt) is None
        seqs.append(int.from_bytes(pkt.trailer[:8], "big"))
        doc = json.loads((tmp_path / "s.json").read_text())
        assert doc["seq_marks"][str(SOURCE_GROUND)] >= seqs[-1]
    assert state.writes - writes < 20
    assert doc["seq_marks"][str(SOURCE_GROUND)] <= seqs[0] + 2_000_000


def test_unwritable_state_refuses_the_command_and_the_start(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    state = ReplayState.open(folder / "s.json")
    v = Verifier(KEY, state)
    shutil.rmtree(folder)  # the disk goes away under a running node
    pkt = signed()
    assert check(v, pkt) == "state_unsaved" and "cannot write" in v.detail
    assert v.last_seq == {}  # nothing recorded, so nothing may run
    (tmp_path / "file").write_text("")
    with pytest.raises(OrbnodeError, match="cannot write anti-replay state"):
        ReplayState.open(tmp_path / "file" / "s.json")


@pytest.mark.parametrize("content", ["", "{", '{"format": "other"}', "[]",
                                     '{"format": "orbnode anti-replay state", "seq_marks": 3}'])
def test_unreadable_state_is_refused_not_guessed(tmp_path, content):
    p = tmp_path / "s.json"
    p.write_text(content)
    os.chmod(p, 0o600)
    with pytest.raises(OrbnodeError, match="cannot read anti-replay state"):
        ReplayState.open(p)


def test_group_writable_state_is_refused(tmp_path):
    p = tmp_path / "s.json"
    ReplayState.open(p)
    os.chmod(p, 0o666)
    with pytest.raises(OrbnodeError, match="writable by group or others"):
        ReplayState.open(p)


def test_huge_sequence_number_is_refused_and_does_not_lock_the_source_out():
    v = Verifier(KEY, window_s=DEFAULT_WINDOW_S, clock=lambda: NOW_S)
    now_us = int(NOW_S * 1e6)
    assert check(v, signed_at(now_us)) is None
    for huge in (2**64 - 1, now_us + int(DEFAULT_WINDOW_S * 1e6) + 1, now_us * 1000):
        assert check(v, signed_at(huge)) == "seq_ahead"
        assert "beyond the window" in v.detail
    assert v.last_seq[SOURCE_GROUND] == now_us
    assert check(v, signed_at(now_us + 1)) is None  # the source still gets through
    # Within the window is accepted: a sender's clock may lead the node's that much.
    assert check(v, signed_at(now_us + int(DEFAULT_WINDOW_S * 1e6) - 5)) is None


def test_window_is_measured_from_the_node_clock():
    clock = [NOW_S]
    v = Verifier(KEY, window_s=60.0, clock=lambda: clock[0])
    first = int(NOW_S * 1e6) + 59_000_000  # 59 s ahead: inside the window
    assert check(v, signed_at(first)) is None
    # A second mistake cannot walk the bound forward from the first.
    assert check(v, signed_at(first + 59_000_000)) == "seq_ahead"
    clock[0] += 3600.0  # an hour on, a sender an hour later is not "ahead"
    assert check(v, signed_at(int(clock[0] * 1e6))) is None


NOW_US = int(NOW_S * 1e6)


@given(st.lists(st.integers(1, 2**64 - 1) | st.integers(NOW_US - 10**8, NOW_US + 10**8),
                max_size=6))
@settings(max_examples=300, deadline=None)
def test_no_run_of_signed_mistakes_locks_a_source_out(seqs):
    """Whatever was accepted before, a correct sender (its clock = the node's) gets
    through once the window has passed, at the latest."""
    v = Verifier(KEY, window_s=60.0, clock=lambda: NOW_S)
    for seq in seqs:
        check(v, signed_at(seq))
    later = Verifier(KEY, window_s=60.0, clock=lambda: NOW_S + 60.001)
    later._memory = dict(v._memory)
    assert check(later, signed_at(int((NOW_S + 60.001) * 1e6))) is None


# -- authenticated verification reports ---------------------------------------------------
def test_reports_verify_only_under_the_key_and_for_the_command_they_answer():
    a, b = signed(), signed()
    report = PACKETS.parse(PACKETS.build("verify_done_ok", {"request_id": a.request_id},
                                         signer=ReportSigner(KEY, a.trailer)))
    assert len(report.trailer) == TAG_LEN
    assert report_authentic(KEY, report, a.trailer)
    assert not report_authentic(KEY, report, b.trailer)  # replayed for another command
    assert not report_authentic(bytes(32), report, a.trailer)
    plain = PACKETS.parse(PACKETS.build("verify_done_ok", {"request_id": a.request_id}))
    assert not report_authentic(KEY, plain, a.trailer)
    forged = PACKETS.parse(PACKETS.build("verify_done_ok", {"request_id": a.request_id},
                                         signer=ReportSigner(bytes(32), a.trailer)))
    assert not report_authentic(KEY, forged, a.trailer)


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
    out = json.loads(res.stdout)  # the node's bad_mac report is signed under ITS key
    assert out["accepted"] is None and out["unverified_reports"] == 1

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
