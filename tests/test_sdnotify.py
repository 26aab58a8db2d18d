"""The node's side of systemd's notify protocol (the flashed unit is Type=notify with
WatchdogSec): READY once, WATCHDOG at half the period, never blocking the serve loop."""

from __future__ import annotations

import socket
import time

from node.sdnotify import SystemdNotifier


def _listener(path) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(path))
    s.settimeout(0.2)
    return s


def drain(sock: socket.socket) -> list[str]:
    got = []
    try:
        while True:
            got.append(sock.recv(4096).decode())
    except TimeoutError:
        return got


def test_outside_systemd_it_does_nothing():
    n = SystemdNotifier({})
    assert not n.enabled and n.notify("READY=1") is False
    n.beat()
    n.close()


def test_ready_then_watchdog_at_half_the_period(tmp_path):
    sock = _listener(tmp_path / "n")
    n = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "n"), "WATCHDOG_USEC": "200000"})
    assert n.interval_s == 0.1
    n.beat()
    n.beat()  # too soon for a ping
    time.sleep(0.12)
    n.beat()
    n.close()
    assert drain(sock) == ["READY=1\nSTATUS=serving", "WATCHDOG=1", "STOPPING=1"]


def test_abstract_socket_address(tmp_path):
    name = f"@orbnode-test-{time.monotonic_ns()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name[1:])
    sock.settimeout(0.2)
    n = SystemdNotifier({"NOTIFY_SOCKET": name})
    n.beat()
    assert drain(sock) == ["READY=1\nSTATUS=serving"]


def test_a_reader_that_never_reads_cannot_stall_the_node(tmp_path):
    sock = _listener(tmp_path / "n")  # bound, never read: its queue fills
    n = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "n"), "WATCHDOG_USEC": "2"})
    n.beat()
    sent = [n.notify("WATCHDOG=1") for _ in range(5000)]
    assert sent[0] is True and sent[-1] is False  # dropped, not blocked
    sock.close()
