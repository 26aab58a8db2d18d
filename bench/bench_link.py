"""Link speed: the framing decoder on a noisy stream, and bulk telemetry at line rate.

Targets (issue 8): the decoder handles >= 20 MB/s of mixed valid frames and junk;
bulk housekeeping over the paced transport fills >= 90 % of the line rate at 115200
and 921600 baud (8N1: baud / 10 bytes per second). These are benchmarks, not timed
tests: ``make bench`` prints the measured figures, ``make test`` runs each once and
checks only that every byte and frame arrived.
"""

from __future__ import annotations

import random
import threading
import time

import pytest

from node.link import Link, largest_packet_len
from node.link.framing import FrameDecoder, encode_frame
from node.link.paced import BITS_PER_BYTE, PacedTransport
from node.link.pty_transport import PtyPair
from node.link.serial_transport import SerialTransport
from node.packets import PACKETS

MAX_PACKET = largest_packet_len(PACKETS)


def _hk(tick: int) -> dict:
    v = {name: 0 for name in PACKETS.defs["hk_node"].field_names}
    v.update(tick=tick, inferences=1000 * tick, power_w=4.5, node_wall_s=0.1 * tick)
    return v


def _noisy_stream(n_frames: int = 20000, seed: int = 8) -> tuple[bytes, int]:
    """Housekeeping and event frames, a third of them behind a junk burst."""
    rng = random.Random(seed)
    frames = [encode_frame(PACKETS.build("hk_node", _hk(i))) for i in range(50)]
    frames += [encode_frame(PACKETS.build("event", {"event_id": 10, "text": "x" * n}))
               for n in (20, 200, 1000)]
    out = bytearray()
    for _ in range(n_frames):
        if rng.random() < 1 / 3:
            out += rng.randbytes(rng.randint(1, 40))
        out += rng.choice(frames)
    return bytes(out), n_frames


def _decode_all(stream: bytes, read_bytes: int = 4096) -> int:
    d = FrameDecoder(MAX_PACKET)
    n = 0
    for i in range(0, len(stream), read_bytes):
        n += len(d.feed(stream[i:i + read_bytes]))
    return n


def test_decoder_throughput_on_noisy_bytes(benchmark):
    stream, n_frames = _noisy_stream()
    t0 = time.perf_counter()
    got = benchmark(_decode_all, stream)
    elapsed = (benchmark.stats.stats.mean if benchmark.stats
               else time.perf_counter() - t0)
    mb_per_s = len(stream) / elapsed / 1e6
    benchmark.extra_info["MB_per_s"] = round(mb_per_s, 1)
    print(f"\nframing decoder: {len(stream) / 1e6:.1f} MB, {mb_per_s:.1f} MB/s "
          f"(target >= 20 MB/s)")
    assert n_frames <= got <= n_frames * 4 // 3 + 1  # every frame, plus junk runs decoded


def _bulk_over_paced_pty(baud: int, line_seconds: float = 1.0) -> dict:
    """Send housekeeping for ``line_seconds`` of line time; measure the bytes per second.

    ``line_use``: wire bytes over the time until the paced line is idle again, as a
    share of baud / 10 -- 1.0 when the sender never leaves the line idle. ``goodput``:
    the same for packet bytes (COBS and delimiters are the rest).
    """
    pty = PtyPair()
    reader = SerialTransport(pty.slave_path, baud)
    link = Link(PacedTransport(pty.master(), baud))
    frame_len = len(encode_frame(PACKETS.build("hk_node", _hk(0))))
    n = max(int(line_seconds * baud / BITS_PER_BYTE / frame_len), 10)
    got = bytearray()
    done = threading.Event()

    def read() -> None:
        while True:
            data = reader.read(0.2)
            got.extend(data)
            if not data and done.is_set():
                break

    t = threading.Thread(target=read)
    t.start()
    paced = link.transport
    wire = payload = 0
    t0 = time.monotonic()
    for i in range(n):
        raw = link.send("hk_node", _hk(i))
        payload += len(raw)
        wire += len(encode_frame(raw))
    # Until the line is idle again: the last frame's own line time counts too.
    elapsed = max(time.monotonic(), paced.idle_at) - t0
    done.set()
    t.join(10)
    reader.close()
    link.close()
    pty.close()
    decoded = FrameDecoder(MAX_PACKET).feed(bytes(got))
    return {"baud": baud, "frames": n, "wire_bytes": wire, "received": len(got),
            "payload_bytes": payload, "decoded_bytes": sum(len(p) for p in decoded),
            "line_use": wire / elapsed / (baud / BITS_PER_BYTE),
            "goodput": payload / elapsed / (baud / BITS_PER_BYTE)}


@pytest.mark.parametrize("baud", [115200, 921600])
def test_bulk_telemetry_fills_the_line(benchmark, baud):
    r = benchmark.pedantic(_bulk_over_paced_pty, args=(baud,), rounds=1, iterations=1)
    benchmark.extra_info.update({k: round(v, 3) for k, v in r.items()})
    print(f"\n{baud} baud: {r['frames']} hk frames, line use {r['line_use']:.1%} "
          f"(target >= 90 %), packet goodput {r['goodput']:.1%} of line rate")
    assert r["received"] == r["wire_bytes"]
    assert r["decoded_bytes"] == r["payload_bytes"]
