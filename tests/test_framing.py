"""Framing resynchronises: junk costs at most the frame it touched.

Properties (hypothesis) of the decoder, and a seeded fuzz run of 100,000 random and
mutated frames through decoder and packet parser in which no exception escapes and
every frame left intact is delivered, in order.
"""

from __future__ import annotations

import random

from cobs import cobs
from hypothesis import given
from hypothesis import strategies as st

from node.link import Link, largest_packet_len
from node.link.framing import FrameDecoder, encode_frame, encoded_len
from node.packets import PACKETS, PacketError

MAX_PACKET = largest_packet_len(PACKETS)
payloads = st.binary(min_size=1, max_size=300)
zero_free_junk = st.binary(min_size=1, max_size=64).map(lambda b: b.replace(b"\x00", b"\x55"))


def feed_in_pieces(decoder: FrameDecoder, stream: bytes, cuts: list[int]) -> list[bytes]:
    out, last = [], 0
    for cut in sorted(c % (len(stream) + 1) for c in cuts):
        out += decoder.feed(stream[last:cut])
        last = cut
    return out + decoder.feed(stream[last:])


def is_subsequence(wanted: list[bytes], got: list[bytes]) -> bool:
    it = iter(got)
    return all(any(w == g for g in it) for w in wanted)


@given(st.lists(st.tuples(st.one_of(st.just(b""), zero_free_junk), payloads), max_size=20),
       st.lists(st.integers(min_value=0), max_size=10))
def test_intact_frames_survive_zero_free_junk_and_any_split(items, cuts):
    stream = b"".join(junk + encode_frame(p) for junk, p in items)
    got = feed_in_pieces(FrameDecoder(MAX_PACKET), stream, cuts)
    assert is_subsequence([p for _, p in items], got)
    # junk touching no frame: never more outputs than frames plus junk runs
    assert len(got) <= 2 * len(items)


@given(st.binary(max_size=2000), st.lists(st.integers(min_value=0), max_size=10))
def test_any_bytes_in_any_pieces_never_raise(data, cuts):
    d = FrameDecoder(64)
    for payload in feed_in_pieces(d, data, cuts):
        assert isinstance(payload, bytes)
    assert d.frames_bad >= d.frames_oversize >= 0


@given(payloads, st.lists(st.integers(min_value=0), max_size=10))
def test_splitting_a_stream_changes_nothing(payload, cuts):
    stream = encode_frame(payload) * 3
    assert feed_in_pieces(FrameDecoder(MAX_PACKET), stream, cuts) == [payload] * 3


def test_the_largest_packet_is_reassembled_across_many_reads():
    big = PACKETS.build("event", {"event_id": 5, "text": "é" * 5000})  # text capped at 1000 B
    assert len(big) == MAX_PACKET
    frame = encode_frame(big)
    d = FrameDecoder(MAX_PACKET)
    got = []
    for i in range(0, len(frame), 7):
        got += d.feed(frame[i:i + 7])
    assert got == [big] and d.frames_bad == 0


def test_oversize_run_is_dropped_counted_once_and_the_next_frame_arrives():
    d = FrameDecoder(100)
    junk = b"\x07" * (encoded_len(100) + 50)
    got = d.feed(junk[:60]) + d.feed(junk[60:]) + d.feed(b"\x07" * 500)
    got += d.feed(encode_frame(b"after"))
    assert got == [b"after"]
    assert d.frames_oversize == 1 and d.frames_bad == 1


def test_an_oversize_frame_between_delimiters_in_one_read_is_dropped():
    d = FrameDecoder(100)
    got = d.feed(encode_frame(b"\x01" * 300) + encode_frame(b"ok"))
    assert got == [b"ok"] and d.frames_oversize == 1


def mutate(rng: random.Random, frame: bytes) -> bytes:
    b = bytearray(frame)
    kind = rng.randrange(5)
    if kind == 0:  # flip bits
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif kind == 1:  # drop bytes
        del b[rng.randrange(len(b)):][: rng.randint(1, 4)]
    elif kind == 2:  # insert junk, perhaps with zeros
        i = rng.randrange(len(b))
        b[i:i] = rng.randbytes(rng.randint(1, 12))
    elif kind == 3:  # truncate
        b = b[: rng.randrange(len(b))]
    else:  # duplicate a slice
        i = rng.randrange(len(b))
        b[i:i] = b[i: i + rng.randint(1, 20)]
    return bytes(b)


def test_fuzz_100k_random_and_mutated_frames():
    rng = random.Random(8)
    templates = [PACKETS.build("hk_node", {n: 0 for n in PACKETS.defs["hk_node"].field_names}),
                 PACKETS.build("event", {"event_id": 10, "text": "upset w[3] bit 7"}),
                 PACKETS.build("ping"), PACKETS.build("pong")]
    stream = bytearray()
    intact: list[bytes] = []
    n_frames = 100_000
    for _ in range(n_frames):
        r = rng.random()
        if r < 0.5:  # a real packet, possibly mutated
            payload = rng.choice(templates)
        else:  # random bytes as payload, up to the largest packet and beyond
            payload = rng.randbytes(rng.choice((rng.randint(1, 40), rng.randint(1, 1200))))
        frame = encode_frame(payload)
        if rng.random() < 0.4:
            stream += mutate(rng, frame)
        else:
            stream += frame
            if len(payload) <= MAX_PACKET:  # longer: no packet of ours, dropped as oversize
                intact.append(payload)
        if rng.random() < 0.2:  # junk between frames, with and without zero bytes
            junk = rng.randbytes(rng.randint(1, 16))
            stream += junk.replace(b"\x00", b"\x2a") if rng.random() < 0.5 else junk
    link_decoder = FrameDecoder(MAX_PACKET)
    got: list[bytes] = []
    pos = 0
    while pos < len(stream):
        step = rng.choice((1, 7, 64, 512, 4096))
        got += link_decoder.feed(bytes(stream[pos:pos + step]))
        pos += step
    parsed = bad = 0
    for payload in got:
        try:
            PACKETS.parse(payload)
            parsed += 1
        except PacketError:
            bad += 1
    assert is_subsequence(intact, got)
    assert len(intact) > 0.55 * n_frames
    assert parsed + bad == len(got) and link_decoder.frames_oversize > 0


def test_link_counts_what_the_decoder_and_parser_refuse():
    class Replay:
        name = "replay"

        def __init__(self, data: bytes) -> None:
            self.data = data

        def read(self, timeout_s: float) -> bytes:
            data, self.data = self.data, b""
            return data

        def write(self, data: bytes) -> None: ...

        def close(self) -> None: ...

    ping = PACKETS.build("ping")
    broken = bytearray(ping)
    broken[-1] ^= 1
    stream = (b"noise" + encode_frame(ping) + encode_frame(bytes(broken))
              + b"\x00\x01\x00" + b"\x00" + cobs.encode(ping)[:-1] + encode_frame(ping))
    link = Link(Replay(stream))  # type: ignore[arg-type]
    assert [p.name for p in link.receive(0.0)] == ["ping", "ping"]
    assert link.stats.packets_bad >= 2 and link.stats.frames_bad >= 1
