"""The bus watchdog's bench hook, the node's on-board telemetry store, and the systemd
watchdog fed while the store is dumped."""

from __future__ import annotations

import contextlib
import socket
import time
from types import SimpleNamespace

import pytest

from firmware_stubs.watchdog import BusWatchdog, command_power_cycle
from node.boards import load_board
from node.errors import OrbnodeError
from node.link import Link
from node.link.base import Transport
from node.sdnotify import SystemdNotifier
from node.service import NodeService
from node.store import TelemetryStore


def test_reset_command_runs_with_the_reason(tmp_path):
    marker = tmp_path / "cycled"
    cycle = command_power_cycle(f'printf "%s" "$ORBNODE_RESET_REASON" > {marker}')
    assert "printf" in cycle("no housekeeping for 10.2 s")
    assert marker.read_text() == "no housekeeping for 10.2 s"


def test_a_failing_reset_command_is_one_line():
    cycle = command_power_cycle("echo relay not found >&2; exit 3")
    with pytest.raises(OrbnodeError, match=r"exit 3\): relay not found$"):
        cycle("hung")


def test_watchdog_time_must_be_positive():
    with pytest.raises(OrbnodeError):
        BusWatchdog(0.0, lambda reason: None)


def test_store_keeps_the_newest_counts_what_it_pushed_out_and_dumps_oldest_first():
    store = TelemetryStore(3)
    for i in range(5):
        store.put(bytes([i]))
    assert len(store) == 3 and store.stored == 5 and store.overflow == 2
    sent = []
    for raw in store.peek():
        sent.append(raw)
        store.sent()
        if len(sent) == 2:
            break  # the line went down mid-dump: the rest stays, in order
    assert sent == [b"\x02", b"\x03"] and list(store.peek()) == [b"\x04"]
    assert store.dumped == 2
    with pytest.raises(ValueError):
        TelemetryStore(0)


class SlowLine(Transport):
    """A line that takes ``frame_s`` to write each frame, as a slow baud rate does."""

    def __init__(self, frame_s: float) -> None:
        self.frame_s = frame_s
        self.frames = 0

    def write(self, data: bytes) -> None:
        time.sleep(self.frame_s)
        self.frames += 1

    def read(self, timeout_s: float) -> bytes:
        return b""

    def close(self) -> None:
        pass


class Jobs:
    engine = SimpleNamespace(threads=1, level="basic")
    workers = 1
    labelled = False
    error = None

    def counters(self):
        return SimpleNamespace(inferences=0, correct=0)

    def set_mode(self, threads, duty, workers) -> None:
        pass


def test_dumping_a_full_store_keeps_the_systemd_watchdog_fed(tmp_path):
    """A store dump at a slow baud rate outlasts WatchdogSec; each packet sent is a beat."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.setblocking(False)
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "notify"),
                                "WATCHDOG_USEC": "200000"})  # systemd's WatchdogSec: 0.2 s
    sent_at = []
    notify = notifier.notify
    notifier.notify = lambda state: sent_at.append(time.monotonic()) or notify(state)
    line = SlowLine(0.01)
    power = SimpleNamespace(read_power_w=lambda: 1.0, kind="model", measured=False,
                            describe=lambda: "model")
    node = NodeService(Link(line), Jobs(), load_board("x86-workstation"), power,
                       heartbeat=notifier.beat, store_packets=60, say=lambda text: None)
    node.in_contact = False
    for i in range(60):
        node._event(1, f"stored {i}")
    notifier.beat()  # READY=1: the serve loop's turn before the dump
    node._regain_contact()  # 60 packets x 10 ms: 0.6 s, three watchdog periods
    sent_at.append(time.monotonic())  # the serve loop's next turn
    got = []
    with contextlib.suppress(BlockingIOError):
        while True:
            got.append(sock.recv(256))
    sock.close()
    assert len(node.store) == 0 and line.frames == 61  # and "contact regained"
    assert got[0].startswith(b"READY=1") and got.count(b"WATCHDOG=1") >= 2
    gaps = [b - a for a, b in zip(sent_at, sent_at[1:], strict=False)]
    assert max(gaps) < 0.2, gaps  # systemd never saw the watchdog period pass
