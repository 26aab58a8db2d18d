"""Telecommand security end to end, as an attacker on the line would try it.

A real `orbnode node` sits at one end of a virtual cable; a capturing relay joins
it to a second cable whose far end `orbnode tc` opens. The relay passes every
byte on, keeps every packet, and can put captured (or crafted) packets on the line
again. Each attack must be refused, counted in housekeeping (``tc_rejected``),
reported (a PUS-1 failure report under the node's key, and an event), and leave
the node's state unchanged and the node alive.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time

import pytest

from node.auth import (
    SOURCE_GROUND,
    SOURCE_SIM,
    ReportSigner,
    Signer,
    load_key,
    report_authentic,
    write_key,
)
from node.link import Link, LinkClosed, open_transport
from node.link.framing import FrameDecoder, encode_frame
from node.link.pty_transport import VirtualCable
from node.packets import PACKETS, Packet, PacketError

ACK = 0b1001  # acceptance and completion reports


class Relay:
    """Joins the node's line to the ground's, capturing packets both ways."""

    def __init__(self, node_port: str, ground_port: str) -> None:
        self.node = open_transport(node_port, paced=False)
        self.ground = open_transport(ground_port, paced=False)
        self.uplink: list[bytes] = []  # ground -> node, raw packets
        self.downlink: list[Packet] = []  # node -> ground, decoded
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        up, down = FrameDecoder(), FrameDecoder()
        while not self._stop.is_set():
            for src, dst, dec, is_up in ((self.ground, self.node, up, True),
                                         (self.node, self.ground, down, False)):
                try:
                    data = src.read(0.01)
                    if data:
                        dst.write(data)
                except LinkClosed:
                    continue
                for raw in dec.feed(data):
                    with self._lock:
                        if is_up:
                            self.uplink.append(raw)
                        else:
                            try:
                                self.downlink.append(PACKETS.parse(raw))
                            except PacketError:
                                pass

    def inject(self, raw: bytes) -> int:
        """Put a packet on the node's line; returns where its answers start."""
        mark = len(self.downlink)
        self.node.write(encode_frame(raw))
        return mark

    def captured(self, name: str) -> bytes:
        with self._lock:
            return [r for r in self.uplink if PACKETS.parse(r).name == name][-1]

    def wait_for(self, predicate, since: int, timeout_s: float = 20.0) -> Packet:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                for pkt in self.downlink[since:]:
                    if predicate(pkt):
                        return pkt
            time.sleep(0.02)
        raise AssertionError("the node did not answer")

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.node.close()
        self.ground.close()


class Line:
    """A node, the relay in front of it, and the ground's port behind the relay."""

    def __init__(self, tmp) -> None:
        self.tmp = tmp
        self.key_file = write_key(tmp / "tc.key")
        self.key = load_key(self.key_file)
        self.state_dir = tmp / "state"
        self.node_cable, self.ground_cable = VirtualCable(), VirtualCable()
        self.relay = Relay(self.node_cable.end_b, self.ground_cable.end_a)
        self.sim = Signer(self.key, SOURCE_SIM)  # the test's own probe sender
        self.proc: subprocess.Popen | None = None
        self.ticks = 0
        self.seq = 0

    def start_node(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orbnode", "node", "--port", self.node_cable.end_a,
             "--key-file", str(self.key_file), "--state-dir", str(self.state_dir),
             "--watchdog-s", "600"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # signed pings until it answers
            assert self.proc.poll() is None, self.proc.stderr.read()
            mark = self.send("ping", ack=0)
            try:
                self.relay.wait_for(lambda p: p.name == "pong", mark, timeout_s=1.0)
                return
            except AssertionError:
                pass
        raise AssertionError("node did not start")

    def send(self, name, values=None, *, signer=None, ack=ACK, check=True,
             sign=True) -> int:
        self.seq += 1
        raw = PACKETS.build(name, values, seq_count=self.seq, ack_flags=ack,
                            signer=(signer or self.sim) if sign else None, check=check)
        self.last_raw = raw
        return self.relay.inject(raw)

    def report(self, raw: bytes, mark: int) -> str:
        """The node's acceptance verdict on ``raw``: "ok" or the failure code name;
        the report must carry the node's tag bound to that very command."""
        request, trailer = int.from_bytes(raw[:4], "big"), PACKETS.parse(raw).trailer
        pkt = self.relay.wait_for(lambda p: p.name.startswith("verify_accept")
                                  and p.values["request_id"] == request, mark)
        assert report_authentic(self.key, pkt, trailer)
        return "ok" if pkt.name.endswith("ok") else PACKETS.enum_name("failure",
                                                                      pkt.payload.code)

    def probe(self) -> dict:
        """Housekeeping now (mode, counters), by a signed, harmless env_tick."""
        self.ticks += 1
        tick = self.ticks
        mark = self.send("env_tick", env_values(tick), ack=0)
        return self.relay.wait_for(lambda p: p.name == "hk_node" and p.values["tick"] == tick,
                                   mark).values

    def events_since(self, mark: int) -> list[str]:
        time.sleep(0.3)
        return [p.values["text"] for p in self.relay.downlink[mark:] if p.name == "event"]

    def tc(self, *args, key_file=None, timeout_s="5"):
        return subprocess.run(
            [sys.executable, "-m", "orbnode", "tc", "--port", self.ground_cable.end_b,
             "--key-file", str(key_file or self.key_file), "--timeout-s", timeout_s, *args],
            capture_output=True, text=True, timeout=120)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.relay.close()
        self.node_cable.close()
        self.ground_cable.close()


def env_values(tick: int, **override) -> dict:
    return {"tick": tick, "t_s": 0.0, "dt_s": 0.0, "illumination": 1.0, "soc": 1.0,
            "soc_floor": 0.3, "temp_c": 20.0, "load_shed": 0, "in_saa": 0,
            "upset_rate_per_bit_day": 0.0, "multi_bit_share": 0.012,
            "upset_acceleration": 1.0} | override


def completed(res) -> dict:
    assert res.returncode == 0, (res.stdout, res.stderr)
    out = json.loads(res.stdout)
    assert out["accepted"] is True and out["completed"] is True
    return out


@pytest.fixture(scope="module")
def line(tmp_path_factory):
    ln = Line(tmp_path_factory.mktemp("line"))
    try:
        ln.start_node()
        yield ln
    finally:
        ln.close()


@pytest.fixture(scope="module")
def eco(line):
    """The node put in ECO by `orbnode tc`, after a captured `set-mode SAFE`."""
    completed(line.tc("set-mode", "SAFE"))
    safe = line.relay.captured("set_mode")
    completed(line.tc("set-mode", "ECO"))
    hk = line.probe()
    assert PACKETS.enum_name("mode", hk["mode"]) == "ECO"
    return safe


def _refused(line, mark, expect_reason, before, hk_after):
    """Counted once, reported as an event, nothing else changed, node alive."""
    assert hk_after["tc_rejected"] == before["tc_rejected"] + 1
    for k in ("mode", "upsets", "scrub_repairs", "scrub_detected"):
        assert hk_after[k] == before[k], k
    assert any(f"refused: {expect_reason}" in t for t in line.events_since(mark))
    assert line.proc.poll() is None


def test_request_ids_differ_per_invocation(line, eco):
    ids = {completed(line.tc("ping"))["request_id"] for _ in range(3)}
    assert len(ids) == 3


def test_wrong_key_is_refused_and_its_reports_not_believed(line, eco):
    other = write_key(line.tmp / "other.key")
    before = line.probe()
    mark = len(line.relay.downlink)
    res = line.tc("set-mode", "FULL", key_file=other)
    assert res.returncode == 1
    out = json.loads(res.stdout)
    assert out["accepted"] is None and out["completed"] is None
    assert out["unverified_reports"] == 1  # the node's bad_mac report, under its own key
    _refused(line, mark, "bad_mac", before, line.probe())


def test_missing_tag_is_refused(line, eco):
    before = line.probe()
    mark = line.send("set_mode", {"mode": 0}, sign=False)
    assert line.report(line.last_raw, mark) == "unauthenticated"
    _refused(line, mark, "unauthenticated", before, line.probe())


def test_replay_within_a_session_is_refused(line, eco):
    before = line.probe()
    mark = line.relay.inject(eco)  # the captured `orbnode tc set-mode SAFE`
    assert line.report(eco, mark) == "replay"
    _refused(line, mark, "replay", before, line.probe())


def test_huge_sequence_number_is_refused_and_the_source_not_locked_out(line, eco):
    before = line.probe()
    ground = Signer(line.key, SOURCE_GROUND)
    ground._last_seq = 2**64 - 2  # its next sequence number is the largest there is
    mark = line.send("set_mode", {"mode": 2}, signer=ground)
    assert line.report(line.last_raw, mark) == "seq_ahead"
    _refused(line, mark, "seq_ahead", before, line.probe())
    completed(line.tc("set-mode", "ECO"))  # the ground still gets through


BAD_ARGUMENTS = [
    ("env_tick", {"upset_acceleration": 1e30}), ("env_tick", {"soc": math.nan}),
    ("env_tick", {"temp_c": math.nan}), ("env_tick", {"dt_s": -1e9}),
    ("env_tick", {"dt_s": math.inf}), ("env_tick", {"illumination": -0.5}),
    ("env_tick", {"soc_floor": 7.0}), ("env_tick", {"t_s": -1.0}),
    ("env_tick", {"load_shed": 9}), ("env_tick", {"in_saa": 2}),
    ("env_tick", {"upset_rate_per_bit_day": 5.0}), ("env_tick", {"multi_bit_share": -1.0}),
    ("env_tick", {"upset_acceleration": -3.0}),
    # each in range, together ~1e17 upsets in one tick: refused as a whole
    ("env_tick", {"upset_rate_per_bit_day": 1.0, "upset_acceleration": 1e9, "dt_s": 1e6}),
    ("set_mode", {"mode": 99}),
]


@pytest.mark.parametrize(("name", "bad"), BAD_ARGUMENTS,
                         ids=[f"{n}-{'-'.join(b)}" for n, b in BAD_ARGUMENTS])
def test_each_out_of_range_argument_is_refused(line, eco, name, bad):
    before = line.probe()
    values = env_values(10**6) | bad if name == "env_tick" else bad
    mark = line.send(name, values, check=False)  # signed: only the range check can stop it
    assert line.report(line.last_raw, mark) == "bad_argument"
    after = line.probe()
    _refused(line, mark, "bad_argument", before, after)
    assert all(p.values.get("tick") != 10**6 for p in line.relay.downlink[mark:]
               if p.name == "hk_node")  # the refused tick was not answered


def test_the_node_is_alive_and_still_obeys_after_every_attack(line, eco):
    completed(line.tc("ping"))
    completed(line.tc("set-mode", "auto"))
    assert line.proc.poll() is None


def test_replay_after_a_node_restart_is_refused(tmp_path):
    """A captured set-mode and a captured shutdown, replayed after the node came back
    (cleanly, and after a crash): refused, counted, nothing changes, node alive."""
    ln = Line(tmp_path)
    try:
        ln.start_node()
        completed(ln.tc("set-mode", "ECO"))
        set_mode = ln.relay.captured("set_mode")
        completed(ln.tc("shutdown"))
        shutdown = ln.relay.captured("shutdown")
        assert ln.proc.wait(timeout=30) == 0  # the shutdown stopped it
        ln.start_node()  # as the systemd unit restarts it
        before = ln.probe()
        for raw in (set_mode, shutdown):
            mark = ln.relay.inject(raw)
            assert ln.report(raw, mark) == "replay"
            assert any("refused: replay" in t for t in ln.events_since(mark))
        hk = ln.probe()
        assert hk["tc_rejected"] == before["tc_rejected"] + 2
        # the scheduler's own choice, not the replayed set-mode ECO
        assert PACKETS.enum_name("mode", hk["mode"]) != "ECO"
        completed(ln.tc("ping"))  # alive: the replayed shutdown did not stop it
        ln.proc.kill()  # a crash this time: the state was on disk before each command ran
        ln.proc.wait()
        ln.ticks = 0
        # After a crash the on-disk marks sit up to `reserve` (2 s) ahead of what was
        # accepted, so start_node's own first pings may be refused too: count from here.
        ln.start_node()
        before = ln.probe()
        mark = ln.relay.inject(set_mode)
        assert ln.report(set_mode, mark) == "replay"
        hk = ln.probe()
        assert hk["tc_rejected"] == before["tc_rejected"] + 1
        assert PACKETS.enum_name("mode", hk["mode"]) != "ECO"
    finally:
        ln.close()


# -- forged verification reports ------------------------------------------------------
def _forger(port: str, key: bytes | None, bind_to: bytes | None, stop: threading.Event):
    """No node: answer every telecommand with success reports it cannot honestly sign."""
    link = Link(open_transport(port, paced=False))
    try:
        while not stop.is_set():
            for pkt in link.receive(0.05):
                if pkt.name in PACKETS.defs and PACKETS.defs[pkt.name].direction == "tc":
                    signer = None if key is None else ReportSigner(
                        key, pkt.trailer if bind_to is None else bind_to)
                    for name in ("verify_accept_ok", "verify_done_ok"):
                        link.send(name, {"request_id": pkt.request_id}, signer=signer)
    finally:
        link.close()


@pytest.mark.parametrize("forgery", ["unsigned", "other key", "replayed for another command"])
def test_forged_verification_reports_are_not_believed(tmp_path, forgery):
    key_file = write_key(tmp_path / "k")
    key = load_key(key_file)
    earlier = PACKETS.parse(PACKETS.build("shutdown", {"tick": 1},
                                          signer=Signer(key, SOURCE_GROUND))).trailer
    forger_key, bind = {"unsigned": (None, None), "other key": (os.urandom(32), None),
                        "replayed for another command": (key, earlier)}[forgery]
    stop = threading.Event()
    with VirtualCable() as cable:
        t = threading.Thread(target=_forger, args=(cable.end_a, forger_key, bind, stop),
                             daemon=True)
        t.start()
        time.sleep(0.3)
        res = subprocess.run([sys.executable, "-m", "orbnode", "tc", "--port", cable.end_b,
                              "--key-file", str(key_file), "--timeout-s", "3", "shutdown"],
                             capture_output=True, text=True, timeout=120)
        stop.set()
        t.join()
    assert res.returncode == 1, res.stdout
    out = json.loads(res.stdout)
    assert out["completed"] is not True and out["accepted"] is None
    assert out["unverified_reports"] == 2
    assert "no authentic verification report" in out["reason"]


# -- secure by default ------------------------------------------------------------------
def _orbnode(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "orbnode", *args], capture_output=True,
                          text=True, timeout=timeout)


def _one_line_exit_2(res) -> str:
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr
    return lines[0]


def test_node_without_a_key_refuses_to_start(tmp_path):
    with VirtualCable() as cable:
        line = _one_line_exit_2(_orbnode("node", "--port", cable.end_a))
    assert "--key-file" in line and "--insecure" in line


def test_node_that_cannot_write_its_state_refuses_to_start(tmp_path):
    key = write_key(tmp_path / "k")
    (tmp_path / "f").write_text("")
    with VirtualCable() as cable:
        for folder in (tmp_path / "f", tmp_path / "f" / "sub"):
            line = _one_line_exit_2(_orbnode("node", "--port", cable.end_a, "--key-file",
                                             str(key), "--state-dir", str(folder)))
            assert "anti-replay state" in line
    line = _one_line_exit_2(_orbnode("node", "--port", "/dev/null", "--key-file", str(key),
                                     "--insecure"))
    assert "contradict" in line


def test_insecure_is_announced_and_flagged_in_the_run_summary(tmp_path):
    res = _orbnode("run", "--insecure", "--orbits", "0.02", "--speedup", "1200", "--tick-s",
                   "0.05", "--no-progress", "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["auth"] == "insecure" and not (tmp_path / "tc.key").exists()
    flagged = [ln for ln in res.stdout.splitlines() if "INSECURE" in ln]
    assert len(flagged) == 1 and "unauthenticated" in flagged[0]


def test_orbnode_sim_flags_an_insecure_node_on_stderr(tmp_path):
    with VirtualCable() as cable:
        node = subprocess.Popen([sys.executable, "-m", "orbnode", "node", "--port",
                                 cable.end_a, "--insecure"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            res = _orbnode("sim", "--port", cable.end_b, "--orbits", "0.02", "--speedup",
                           "1200", "--tick-s", "0.05", "--out", str(tmp_path), "--json")
            node.communicate(timeout=30)  # the sim's shutdown stops it
        finally:
            if node.poll() is None:
                node.kill()
                node.communicate()
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["auth"] == "insecure"
    flagged = [ln for ln in res.stderr.splitlines() if "INSECURE" in ln]
    assert len(flagged) == 1 and "unauthenticated" in flagged[0], res.stderr


@pytest.mark.parametrize("value", ["1e30", "-1", "nan", "inf", "1e10"])
def test_run_refuses_an_upset_acceleration_outside_the_declared_range(tmp_path, value):
    line = _one_line_exit_2(_orbnode("run", "--upset-acceleration", value, "--out",
                                     str(tmp_path / "o")))
    assert "upset-acceleration" in line
    assert not (tmp_path / "o").exists()


def test_tc_refuses_an_argument_outside_the_declared_enum(tmp_path):
    key = write_key(tmp_path / "k")
    line = _one_line_exit_2(_orbnode("tc", "--port", "/dev/null", "--key-file", str(key),
                                     "set-mode", "99"))
    assert "set-mode needs one of FULL, ECO, SAFE, auto" in line
