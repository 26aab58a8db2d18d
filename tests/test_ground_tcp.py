"""The ground TCP link on its own: telemetry fans out to every client, telecommands
reach the node, junk and slow clients cost the loop nothing."""

from __future__ import annotations

import socket
import time

import pytest

from firmware_stubs.ground import tcp
from firmware_stubs.ground.ccsds import PacketStream
from firmware_stubs.ground.tcp import GroundServer
from node.errors import OrbnodeError
from node.link import Link, open_transport
from node.link.pty_transport import PtyPair
from node.packets import PACKETS


@pytest.fixture
def bus():
    pty = PtyPair()
    sim = Link(pty.master(), apid="sim")
    node = Link(open_transport(pty.slave_path, 115200, paced=False))
    server = GroundServer(sim, 0)
    yield sim, node, server
    server.close()
    node.close()
    sim.close()
    pty.close()


def client(server: GroundServer) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    deadline = time.monotonic() + 10
    while server.client_count < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    return s


def read_packets(sock: socket.socket, n: int) -> list[bytes]:
    stream, got = PacketStream(), []
    while len(got) < n:
        data = sock.recv(4096)
        assert data, "connection closed"
        got += stream.feed(data)
    return got


def test_telemetry_reaches_every_client_and_commands_reach_the_node(bus):
    sim, node, server = bus
    a, b = client(server), client(server)
    while server.client_count < 2:
        time.sleep(0.01)
    raw = node.send("pong")
    got, deadline = [], time.monotonic() + 10
    while not got and time.monotonic() < deadline:
        got += sim.receive(0.05)  # the simulator's loop reads the link; the tap fans out
    assert read_packets(a, 1) == [raw] and read_packets(b, 1) == [raw]
    sim.send("ping")  # the simulator's own telecommands are not echoed to ground tools
    tc = PACKETS.build("set_mode", {"mode": 1}, ack_flags=1, source_id=2)
    a.sendall(tc[:5])
    a.sendall(tc[5:])  # split across reads: whole packets only
    seen, deadline = [], time.monotonic() + 10
    while len(seen) < 2 and time.monotonic() < deadline:
        seen += node.receive(0.05)
    assert [p.name for p in seen] == ["ping", "set_mode"] and seen[1].raw == tc
    while server.stats.tc_forwarded < 1 and time.monotonic() < deadline:
        time.sleep(0.01)  # counted once written: the node may read it first
    assert server.stats.tc_forwarded == 1 and server.stats.tc_invalid == 0
    a.close()
    b.close()


def test_junk_from_a_client_is_counted_and_its_connection_closed(bus):
    _, node, server = bus
    s = client(server)
    s.sendall(b"\xff" * 16)
    assert s.recv(4096) == b""  # closed by the server
    s.close()
    bad_crc = bytearray(PACKETS.build("ping"))
    bad_crc[-1] ^= 1
    s = client(server)
    s.sendall(bytes(bad_crc) + PACKETS.build("pong"))  # broken, and not a command
    deadline = time.monotonic() + 10
    while server.stats.tc_invalid < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.stats.tc_invalid == 3 and server.stats.tc_forwarded == 0
    assert node.receive(0.2) == []
    s.close()


def test_a_client_that_never_reads_loses_telemetry_not_the_loop(bus, monkeypatch):
    monkeypatch.setattr(tcp, "CLIENT_QUEUE_PACKETS", 4)
    _, _, server = bus
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", server.port))
    while server.client_count < 1:
        time.sleep(0.01)
    big = PACKETS.build("event", {"event_id": 1, "text": "x" * 1000})
    for _ in range(5000):  # ~5 MB to a client that reads nothing: the tap never blocks
        server._on_packet(big)
    assert server.stats.tm_dropped > 0
    s.close()


def test_a_port_in_use_is_one_clear_error(bus):
    sim, _, server = bus
    with pytest.raises(OrbnodeError, match=f"cannot listen on 127.0.0.1:{server.port}"):
        GroundServer(sim, server.port)
