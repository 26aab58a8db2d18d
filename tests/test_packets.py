"""Packets: round trips, CRC rejection, framing resynchronisation."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.link.framing import FrameDecoder, encode_frame
from node.packets import PACKETS, PacketError

F32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


def env_values(draw_tick, t, ill, soc, temp, rate):
    return {"tick": draw_tick, "t_s": t, "dt_s": 15.0, "illumination": ill, "soc": soc,
            "soc_floor": 0.7, "temp_c": temp, "load_shed": 0, "in_saa": 1,
            "upset_rate_per_bit_day": rate, "multi_bit_share": 0.012,
            "upset_acceleration": 1.0}


@given(st.integers(0, 2**32 - 1), st.floats(0, 1e9), F32, F32, F32,
       st.floats(0, 1, allow_nan=False), st.integers(0, 2**14 - 1))
@settings(max_examples=200, deadline=None)
def test_env_tick_round_trip(tick, t, ill, soc, temp, rate, seq):
    values = env_values(tick, t, ill, soc, temp, rate)
    raw = PACKETS.build("env_tick", values, seq_count=seq)
    pkt = PACKETS.parse(raw)
    assert pkt.name == "env_tick" and pkt.seq_count == seq
    for k, v in values.items():
        assert math.isclose(pkt.values[k], v, rel_tol=1e-6, abs_tol=1e-30) or pkt.values[k] == v


@given(st.text(max_size=60), st.integers(0, 65535))
@settings(max_examples=100, deadline=None)
def test_event_text_round_trip(text, event_id):
    pkt = PACKETS.parse(PACKETS.build("event", {"event_id": event_id, "text": text}))
    assert pkt.values == {"event_id": event_id, "text": text}


@given(st.data())
@settings(max_examples=200, deadline=None)
def test_any_single_bit_error_is_rejected(data):
    raw = bytearray(PACKETS.build("ping"))
    bit = data.draw(st.integers(0, len(raw) * 8 - 1))
    raw[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(PacketError):
        PACKETS.parse(bytes(raw))


def test_packets_are_ccsds_pus_c():
    raw = PACKETS.build("hk_node", {k: 0 for k in PACKETS.defs["hk_node"].field_names})
    assert raw[0] >> 5 == 0  # CCSDS version 0
    assert (raw[0] >> 4) & 1 == 0  # TM
    assert raw[6] >> 4 == 2  # PUS-C version
    assert raw[7:9] == bytes([3, 25])  # service 3, subtype 25
    assert len(raw) == 6 + ((raw[4] << 8) | raw[5]) + 1


def test_missing_field_is_an_error():
    with pytest.raises(PacketError):
        PACKETS.build("env_tick", {"tick": 1})


@given(st.lists(st.binary(max_size=40), max_size=5), st.binary(max_size=64),
       st.integers(1, 7))
@settings(max_examples=200, deadline=None)
def test_framing_resynchronises_after_junk(before, junk, split):
    """Junk between frames costs at most the one frame it lands in."""
    ping = PACKETS.build("ping")
    stream = b"".join(encode_frame(b) for b in before if b)
    stream += junk + encode_frame(ping) + encode_frame(ping)
    dec = FrameDecoder()
    got = []
    for i in range(0, len(stream), split):  # arbitrary chunking, as a UART delivers
        got += dec.feed(stream[i:i + split])
    parsed = []
    for payload in got:
        try:
            parsed.append(PACKETS.parse(payload).name)
        except PacketError:
            pass
    assert parsed.count("ping") >= 1  # the frame after the damaged one always survives
    assert got[-1] == ping
