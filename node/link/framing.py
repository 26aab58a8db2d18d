"""COBS framing: each packet is COBS-encoded and ended by one 0x00 byte.

COBS guarantees no 0x00 inside a frame, so after line noise, a dropped byte or
junk inside a frame the decoder loses at most that frame and is back in sync at
the next delimiter. The packet's own CRC-16 catches corruption COBS cannot see.
"""

from __future__ import annotations

from cobs import cobs

DELIMITER = b"\x00"
MAX_FRAME = 4096  # longer runs without a delimiter are junk, dropped


def encode_frame(packet: bytes) -> bytes:
    return cobs.encode(packet) + DELIMITER


class FrameDecoder:
    """Incremental decoder: feed bytes, get complete packet payloads back."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.frames_ok = 0
        self.frames_bad = 0  # COBS errors, overlong or empty frames

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        self._buf += data
        while True:
            end = self._buf.find(0)
            if end < 0:
                if len(self._buf) > MAX_FRAME:  # no delimiter in sight: drop the junk
                    self._buf.clear()
                    self.frames_bad += 1
                return out
            chunk = bytes(self._buf[:end])
            del self._buf[: end + 1]
            if not chunk:
                continue  # back-to-back delimiters are idle fill, not errors
            try:
                out.append(cobs.decode(chunk))
                self.frames_ok += 1
            except cobs.DecodeError:
                self.frames_bad += 1
