"""The link over a real pseudo-terminal pair opened through pyserial."""

from __future__ import annotations

import time

import pytest

from node.link import Link, LinkClosed, open_transport
from node.link.framing import encode_frame
from node.link.paced import PacedTransport
from node.link.pty_transport import PtyPair
from node.packets import PACKETS


@pytest.fixture
def pair():
    pty = PtyPair()
    host = Link(pty.master(), apid="sim")
    board = Link(open_transport(pty.slave_path, 115200, paced=False))
    yield host, board, pty
    board.close()
    host.close()
    pty.close()


def receive_until(link, n, timeout_s=2.0):
    got, deadline = [], time.monotonic() + timeout_s
    while len(got) < n and time.monotonic() < deadline:
        got += link.receive(0.05)
    return got


def test_packets_cross_the_pty_both_ways(pair):
    host, board, _ = pair
    host.send("ping")
    assert [p.name for p in receive_until(board, 1)] == ["ping"]
    board.send("event", {"event_id": 7, "text": "hello from the board"})
    (pkt,) = receive_until(host, 1)
    assert pkt.values["text"] == "hello from the board"


def test_corrupt_frame_is_counted_and_the_next_one_arrives(pair):
    host, board, _ = pair
    raw = bytearray(PACKETS.build("ping"))
    raw[-1] ^= 0x40  # break the CRC
    host.transport.write(encode_frame(bytes(raw)))
    host.transport.write(b"\x13\x37 line noise \xff")  # junk with no delimiter ...
    host.transport.write(b"\x00")                      # ... closed by one
    host.send("ping")
    got = receive_until(board, 1)
    assert [p.name for p in got] == ["ping"]
    assert board.stats.packets_bad == 1
    assert board.stats.frames_bad >= 1


def test_closed_cable_raises_link_closed(pair):
    host, board, pty = pair
    board.close()
    pty.close()
    with pytest.raises(LinkClosed):
        for _ in range(20):
            host.receive(0.05)


def test_paced_transport_holds_the_baud_rate(pair):
    host, board, _ = pair
    paced = PacedTransport(host.transport, baud=9600, buffer_bytes=96)
    blob = b"\x01" * 576  # 576 bytes at 960 B/s, 96 of them buffered: >= 0.5 s of line
    t0 = time.monotonic()
    for i in range(0, len(blob), 48):
        paced.write(blob[i:i + 48])
    assert time.monotonic() - t0 >= 0.45


def test_paced_transport_runs_ahead_by_one_buffer_only(pair):
    host, _, _ = pair
    paced = PacedTransport(host.transport, baud=9600, buffer_bytes=960)  # 1 s of line
    t0 = time.monotonic()
    paced.write(b"\x01" * 480)  # fits in the buffer: returns at once
    assert paced._free_at - t0 >= 0.49  # ... but the line is busy for 0.5 s
    paced.write(b"\x01" * 960)  # 0.5 s beyond the buffer: waits for it
    assert time.monotonic() - t0 >= 0.45
