"""Packets: round trips, CRC rejection, framing resynchronisation."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.link.framing import FrameDecoder, encode_frame
from node.packets import PACKETS, PacketError


def env_values(draw_tick, t, ill, soc, temp, rate):
    return {"tick": draw_tick, "t_s": t, "dt_s": 15.0, "illumination": ill, "soc": soc,
            "soc_floor": 0.7, "temp_c": temp, "load_shed": 0, "in_saa": 1,
            "upset_rate_per_bit_day": rate, "multi_bit_share": 0.012,
            "upset_acceleration": 1.0}


UNIT = st.floats(0, 1, width=32)


@given(st.integers(0, 2**32 - 1), st.floats(0, 1e9), UNIT, UNIT,
       st.floats(-273.0, 1000, width=32), st.floats(0, 1, allow_nan=False),
       st.integers(0, 2**14 - 1))
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
    with pytest.raises(PacketError, match="missing field"):
        PACKETS.build("env_tick", {"tick": 1})


def test_unknown_field_is_an_error_at_the_sender():
    with pytest.raises(PacketError, match="unknown field 'mood'"):
        PACKETS.build("set_mode", {"mode": 1, "mood": 2})
    with pytest.raises(PacketError, match="unknown field"):
        PACKETS.build("ping", {"x": 1})


def test_payloads_are_typed_dataclasses_both_ways():
    EnvTick = PACKETS.payload_type("env_tick")
    assert dataclasses.is_dataclass(EnvTick) and EnvTick.__name__ == "EnvTick"
    assert [f.name for f in dataclasses.fields(EnvTick)] == \
        PACKETS.defs["env_tick"].field_names
    tick = EnvTick(**env_values(3, 10.0, 1.0, 0.9, 20.0, 1e-7))
    pkt = PACKETS.parse(PACKETS.build("env_tick", tick))
    assert isinstance(pkt.payload, EnvTick) and pkt.payload.tick == 3
    assert pkt.payload.soc == pytest.approx(0.9) and pkt.values["soc"] == pkt.payload.soc
    with pytest.raises(dataclasses.FrozenInstanceError):
        pkt.payload.soc = 0.1
    with pytest.raises(TypeError):  # a missing or unknown field is an error when built
        EnvTick(tick=1)
    SetMode = PACKETS.payload_type("set_mode")
    with pytest.raises(PacketError, match="payload is a SetMode, not an? EnvTick"):
        PACKETS.build("env_tick", SetMode(mode=1))
    hk = PACKETS.parse(PACKETS.build("hk_node", {k: 0 for k in
                                                 PACKETS.defs["hk_node"].field_names}))
    assert type(hk.payload).__name__ == "HkNode" and hk.payload.power_w == 0.0


BAD_ENV = [("t_s", -1.0), ("dt_s", -1e9), ("dt_s", math.inf), ("illumination", 1.5),
           ("soc", math.nan), ("soc_floor", -0.1), ("temp_c", math.nan), ("temp_c", -300.0),
           ("load_shed", 2), ("in_saa", 7), ("upset_rate_per_bit_day", math.nan),
           ("upset_rate_per_bit_day", 2.0), ("multi_bit_share", 1.01),
           ("upset_acceleration", 1e30), ("upset_acceleration", -1.0),
           ("upset_acceleration", math.inf)]


@pytest.mark.parametrize(("field", "value"), BAD_ENV)
def test_out_of_range_arguments_are_refused_at_the_sender_and_seen_by_the_receiver(field,
                                                                                      value):
    values = env_values(1, 0.0, 1.0, 0.9, 20.0, 1e-7) | {field: value}
    with pytest.raises(PacketError, match=field):
        PACKETS.build("env_tick", values)
    # A sender that skips the check (or a forger with the key): the receiver sees it.
    pkt = PACKETS.parse(PACKETS.build("env_tick", values, check=False))
    problems = PACKETS.defs["env_tick"].problems(pkt.values)
    assert len(problems) == 1 and problems[0].startswith(field)


def test_enum_fields_take_only_their_values():
    with pytest.raises(PacketError, match="not a set_mode value"):
        PACKETS.build("set_mode", {"mode": 99})
    for mode in PACKETS.enums["set_mode"].values():
        assert PACKETS.parse(PACKETS.build("set_mode", {"mode": mode})).payload.mode == mode
    assert PACKETS.defs["set_mode"].problems({"mode": 4})


def test_every_telecommand_float_is_finite_checked():
    for d in PACKETS.defs.values():
        for name, code in d.fields:
            if d.direction == "tc" and code in "fd":
                assert d.field_problem(name, math.nan), (d.name, name)


@given(st.floats(width=32) | st.floats(), st.sampled_from(
    [n for n, c in PACKETS.defs["env_tick"].fields if c in "fd"]))
@settings(max_examples=300, deadline=None)
def test_sender_and_receiver_agree_on_every_float(value, field):
    """What the sender lets through the receiver accepts, and the other way round."""
    values = env_values(1, 0.0, 1.0, 0.9, 20.0, 1e-7) | {field: value}
    d = PACKETS.defs["env_tick"]
    try:
        raw = PACKETS.build("env_tick", values)
    except PacketError:
        sent_ok = False
    else:
        sent_ok = True
        assert d.problems(PACKETS.parse(raw).values) == []
    if not sent_ok and d.field_problem(field, value) is None:
        pytest.fail(f"refused {field}={value} without a declared reason")


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
