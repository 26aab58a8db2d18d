"""COBS framing: each packet is COBS-encoded and set between two 0x00 delimiters.

COBS (Cheshire & Baker, "Consistent Overhead Byte Stuffing", IEEE/ACM Trans.
Networking 7(2), 1999) guarantees no 0x00 inside an encoded frame, so 0x00 marks
frame boundaries unambiguously. A delimiter goes *before* and *after* each frame:
line noise that holds no zero byte then ends at the next frame's opening
delimiter and costs only itself, never the intact frame that follows. Two
delimiters back to back (one frame's end, the next one's start) are idle fill.

Frames are reassembled across reads up to ``max_frame`` bytes, the encoded size
of the largest packet the link carries (COBS adds at most one byte per 254, plus
one). A longer run without a delimiter cannot be a frame of ours: it is dropped,
counted once, and the decoder skips to the next delimiter. The packet's own
CRC-16 catches corruption COBS cannot see.
"""

from __future__ import annotations

from cobs import cobs

DELIMITER = b"\x00"
MAX_PACKET = 4096  # default for a decoder built without a packet set


def encoded_len(packet_len: int) -> int:
    """Worst-case COBS size of a ``packet_len``-byte packet: n + ceil(n / 254), at least 1."""
    return packet_len + max(1, -(-packet_len // 254))


def encode_frame(packet: bytes) -> bytes:
    return DELIMITER + cobs.encode(packet) + DELIMITER


class FrameDecoder:
    """Incremental decoder: feed bytes as they arrive, get complete packets back.

    Never raises on any input. ``frames_bad`` counts every run between delimiters
    that is not a frame (COBS error or oversize); ``frames_oversize`` the latter.
    """

    def __init__(self, max_packet: int = MAX_PACKET) -> None:
        self.max_frame = encoded_len(max_packet)
        self._tail = bytearray()  # bytes since the last delimiter
        self._skipping = False    # inside an oversize run: drop up to the next delimiter
        self.frames_ok = 0
        self.frames_bad = 0
        self.frames_oversize = 0

    def _oversize(self) -> None:
        self.frames_oversize += 1
        self.frames_bad += 1

    def feed(self, data: bytes) -> list[bytes]:
        if not data:
            return []
        parts = bytes(data).split(DELIMITER)
        if len(parts) == 1:  # no delimiter: the frame in progress grows
            if not self._skipping:
                self._tail += data
                if len(self._tail) > self.max_frame:
                    self._tail.clear()
                    self._skipping = True
                    self._oversize()
            return []
        out: list[bytes] = []
        first = parts[0]
        if self._skipping:
            self._skipping = False  # the oversize run ends here, already counted
            first = b""
        elif self._tail:
            self._tail += first
            first = bytes(self._tail)
        self._tail.clear()
        parts[0] = first
        last = parts.pop()
        max_frame = self.max_frame
        for chunk in parts:
            if not chunk:
                continue  # idle fill between frames
            if len(chunk) > max_frame:
                self._oversize()
                continue
            try:
                out.append(cobs.decode(chunk))
            except cobs.DecodeError:
                self.frames_bad += 1
        self.frames_ok += len(out)
        if len(last) > max_frame:
            self._skipping = True
            self._oversize()
        else:
            self._tail += last
        return out
