"""Captures and ground streams: packets split by their primary headers, and the
recorder that writes them."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_stubs.ground.capture import PacketCapture
from firmware_stubs.ground.ccsds import PacketStream, StreamError, split_packets
from firmware_stubs.ground.decode import decode_capture
from firmware_stubs.telemetry_db import TelemetryDB
from node.link import Link, open_transport
from node.link.framing import encode_frame
from node.link.pty_transport import PtyPair
from node.packets import PACKETS

KINDS = ("ping", "pong", "event", "verify_accept_fail", "set_mode")


@st.composite
def packet(draw):
    kind = draw(st.sampled_from(KINDS))
    values = {"event": {"event_id": draw(st.integers(0, 65535)),
                        "text": draw(st.text(max_size=40))},
              "verify_accept_fail": {"request_id": draw(st.integers(0, 2**32 - 1)),
                                     "code": draw(st.integers(0, 65535))},
              "set_mode": {"mode": draw(st.integers(0, 255))}}.get(kind, {})
    # Any field values: the splitter reads headers, not arguments (ranges unchecked).
    return PACKETS.build(kind, values, seq_count=draw(st.integers(0, 2**14 - 1)), check=False)


@given(st.lists(packet(), min_size=1, max_size=12))
@settings(max_examples=150, deadline=None)
def test_a_capture_splits_back_into_its_packets(pkts):
    assert split_packets(b"".join(pkts)) == pkts


@given(st.lists(packet(), min_size=1, max_size=8), st.data())
@settings(max_examples=150, deadline=None)
def test_any_cut_inside_the_last_packet_is_reported_as_truncated(pkts, data):
    blob = b"".join(pkts)
    cut = data.draw(st.integers(len(blob) - len(pkts[-1]) + 1, len(blob) - 1))
    with pytest.raises(StreamError, match="truncated"):
        split_packets(blob[:cut])


@given(st.lists(packet(), min_size=1, max_size=8), st.data())
@settings(max_examples=150, deadline=None)
def test_the_stream_splitter_is_indifferent_to_chunking(pkts, data):
    blob = b"".join(pkts)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(blob)), max_size=10)))
    stream, got, last = PacketStream(), [], 0
    for c in [*cuts, len(blob)]:
        got += stream.feed(blob[last:c])
        last = c
    assert got == pkts


def test_empty_and_junk_are_errors():
    with pytest.raises(StreamError, match="empty"):
        split_packets(b"")
    with pytest.raises(StreamError, match="not a CCSDS packet header"):
        split_packets(b"\xff" * 64)
    with pytest.raises(StreamError, match="longer than any of ours"):
        split_packets(bytes([0x08, 0x42, 0xC0, 0x00, 0xFF, 0xFF]) + b"\0" * 100)


def test_a_corrupted_packet_is_named_by_the_decoder():
    good = PACKETS.build("pong")
    bad = bytearray(PACKETS.build("pong"))
    bad[-1] ^= 1
    with pytest.raises(StreamError, match=f"packet 2 at byte {len(good)}: .*Crc"):
        decode_capture(good + bytes(bad))


def test_the_link_tap_records_both_directions_in_files_and_archive(tmp_path):
    db = TelemetryDB(tmp_path / "t.sqlite")
    pty = PtyPair()
    sim = Link(pty.master(), apid="sim")
    node = Link(open_transport(pty.slave_path, 115200, paced=False))
    cap = PacketCapture(tmp_path, db)
    sim.taps.append(cap)
    try:
        sent = sim.send("set_mode", {"mode": 1}, ack_flags=1)
        junk = bytearray(PACKETS.build("pong"))
        junk[-1] ^= 1
        node.transport.write(encode_frame(bytes(junk)))  # counted by the link, not captured
        echoed = node.send("pong")
        got, deadline = [], time.monotonic() + 10
        while not got and time.monotonic() < deadline:
            got += sim.receive(0.05)
    finally:
        cap.close()
        node.close()
        sim.close()
        pty.close()
    assert [p.name for p in got] == ["pong"] and sim.stats.packets_bad == 1
    assert (tmp_path / "tc.bin").read_bytes() == sent
    assert (tmp_path / "tm.bin").read_bytes() == echoed
    rows = db.packets()
    assert [(r.direction, r.name, r.service, r.subtype, r.apid) for r in rows] == [
        ("tc", "set_mode", 8, 1, 0x42), ("tm", "pong", 17, 2, 0x42)]
    assert rows[0].raw == sent and rows[1].raw == echoed
    assert cap.counts == {"tm": 1, "tc": 1}
