"""CCSDS Space Packets in a byte stream, delimited only by their primary headers.

A capture file (``tm.bin``) and a ground station's TCP stream carry packets back to
back with no framing: each 6-byte primary header gives the length of what follows
(CCSDS 133.0-B-2 §4.1.3.5: packet data length = octets after the header − 1). So a
reader needs no resynchronisation marker, and a corrupted length field cannot be
recovered from: a stream whose header is not a plausible one of ours is rejected.
"""

from __future__ import annotations

from dataclasses import dataclass

from spacepackets.ccsds.spacepacket import PacketType, SpacePacketHeader

from node.errors import OrbnodeError

PRIMARY_HEADER_LEN = 6
MAX_PACKET_LEN = 4096  # as the link's longest frame: nothing of ours is longer


class StreamError(OrbnodeError):
    """Bytes that are not a sequence of intact Space Packets."""


@dataclass(frozen=True)
class Header:
    """The primary header fields a ground tool keys on."""

    direction: str  # "tm" | "tc" (the packet type bit)
    apid: int
    seq_count: int
    length: int     # whole packet, header included

    @classmethod
    def of(cls, data: bytes, offset: int = 0) -> Header:
        """The header at ``offset``; :class:`StreamError` if it cannot be one of ours."""
        h = SpacePacketHeader.unpack(bytes(data[offset:offset + PRIMARY_HEADER_LEN]))
        if h.ccsds_version != 0 or not h.sec_header_flag:
            raise StreamError(f"byte {offset}: not a CCSDS packet header of ours "
                              f"(version {h.ccsds_version}, secondary header "
                              f"{'present' if h.sec_header_flag else 'absent'})")
        if h.packet_len > MAX_PACKET_LEN:
            raise StreamError(f"byte {offset}: header declares a {h.packet_len}-byte packet, "
                              f"longer than any of ours ({MAX_PACKET_LEN})")
        return cls("tc" if h.packet_type == PacketType.TC else "tm", h.apid, h.seq_count,
                   h.packet_len)


def split_packets(data: bytes) -> list[bytes]:
    """Every packet in ``data``, in order; :class:`StreamError` on junk or a cut-off end."""
    if not data:
        raise StreamError("empty: no packets")
    out: list[bytes] = []
    pos = 0
    while pos < len(data):
        left = len(data) - pos
        if left < PRIMARY_HEADER_LEN:
            raise StreamError(f"truncated: {left} bytes after packet {len(out)} at byte {pos}, "
                              f"fewer than a {PRIMARY_HEADER_LEN}-byte header")
        h = Header.of(data, pos)
        if h.length > left:
            raise StreamError(f"truncated: packet {len(out) + 1} at byte {pos} declares "
                              f"{h.length} bytes, only {left} remain")
        out.append(bytes(data[pos:pos + h.length]))
        pos += h.length
    return out


class PacketStream:
    """Incremental splitter for a socket: feed bytes, get whole packets back."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out: list[bytes] = []
        while len(self._buf) >= PRIMARY_HEADER_LEN:
            h = Header.of(self._buf)  # raises on junk: the stream cannot resynchronise
            if len(self._buf) < h.length:
                break
            out.append(bytes(self._buf[:h.length]))
            del self._buf[:h.length]
        return out
