"""The serial link: transports chosen by name, COBS framing, typed packets.

``open_transport("/dev/ttyUSB0")`` or any pyserial URL (``socket://host:port``,
``loop://``) gives a :class:`SerialTransport`; the host end of a pty pair is a
:class:`PtyMasterTransport`. ``baud`` pacing wraps either.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from node.auth import TRAILER_LEN
from node.link.base import LinkClosed, Transport
from node.link.framing import FrameDecoder, encode_frame
from node.link.paced import PacedTransport
from node.link.reopen import ReopeningTransport
from node.link.serial_transport import SerialTransport
from node.packets import MAX_TEXT_BYTES, PACKETS, Packet, PacketError, PacketSet

__all__ = ["Link", "LinkClosed", "LinkStats", "PacketTap", "Transport", "open_transport"]

# Called with the raw bytes of each packet sent and each intact packet received
# (a capture, a ground-station feed); the CCSDS type bit tells TC from TM.
PacketTap = Callable[[bytes], None]


def open_transport(port: str, baud: int = 115200, *, paced: bool = True,
                   reopen: bool = False) -> Transport:
    """``reopen``: survive hang-ups by reopening ``port`` (:class:`ReopeningTransport`)."""
    t: Transport = (ReopeningTransport(lambda: SerialTransport(port, baud)) if reopen
                    else SerialTransport(port, baud))
    return PacedTransport(t, baud) if paced else t


@dataclass
class LinkStats:
    packets_in: int = 0
    packets_out: int = 0
    frames_bad: int = 0     # runs between delimiters that are no frame (COBS, oversize)
    frames_oversize: int = 0  # of which: longer than the largest packet could be
    packets_bad: int = 0    # intact frames whose packet failed CRC or is unknown


def largest_packet_len(packets: PacketSet) -> int:
    """Bytes of the longest packet ``packets`` defines: every text field full, and the
    authentication trailer on telecommands and on PUS-1 verification reports (service 1,
    tagged by the node). Frames are reassembled up to this size."""
    longest = 0
    for name, d in packets.defs.items():
        values = {f: ("x" * MAX_TEXT_BYTES if code == "text" else 0) for f, code in d.fields}
        # Only the length matters here: zeros need not lie in the declared ranges.
        n = len(packets.build(name, values, check=False))
        signed = d.direction == "tc" or d.service == 1
        longest = max(longest, n + (TRAILER_LEN if signed else 0))
    return longest


class Link:
    """Packets over a transport, with sequence counting and error accounting."""

    def __init__(self, transport: Transport, packets: PacketSet = PACKETS, apid: str = "node",
                 signer=None, first_seq: int = 0):
        self.transport = transport
        self.packets = packets
        self.apid = packets.apids[apid]
        self.signer = signer  # node.auth.Signer: authenticates every telecommand sent
        self._decoder = FrameDecoder(largest_packet_len(packets))
        self._seq = first_seq  # a one-shot sender picks a random one: unique request ids
        self.stats = LinkStats()
        self.taps: list[PacketTap] = []
        self._write_lock = threading.Lock()  # a ground feed may send from its own thread

    @property
    def up(self) -> bool:
        """False while the transport knows the line is down (cable pulled, port gone)."""
        return self.transport.up

    def build(self, name: str, values=None, *, ack_flags: int = 0, signer=None) -> bytes:
        """One packet's raw bytes, numbered in this link's sequence, not yet sent.

        ``values``: a dict or its payload object, checked against the packet's definition;
        ``signer`` overrides the link's (a verification report's tag)."""
        is_tc = self.packets.defs[name].direction == "tc"
        if signer is None and is_tc:
            signer = self.signer
        raw = self.packets.build(name, values, seq_count=self._seq,
                                 apid=self.packets.apids["node"] if is_tc else self.apid,
                                 ack_flags=ack_flags, signer=signer)
        self._seq += 1
        return raw

    def send(self, name: str, values=None, *, ack_flags: int = 0, signer=None) -> bytes:
        """Send one packet; returns its raw bytes (its first 4 are the PUS request id)."""
        with self._write_lock:
            raw = self.build(name, values, ack_flags=ack_flags, signer=signer)
            self._write(raw)
        return raw

    def send_raw(self, raw: bytes) -> None:
        """Frame and write a packet built earlier or elsewhere (a stored report, a ground
        tool's telecommand) as it is; LinkClosed if the line is down."""
        with self._write_lock:
            self._write(bytes(raw))

    def _write(self, raw: bytes) -> None:
        self.transport.write(encode_frame(raw))
        self.stats.packets_out += 1
        for tap in self.taps:
            tap(raw)

    def receive(self, timeout_s: float) -> list[Packet]:
        """Packets that arrived within ``timeout_s``; corrupt ones are counted, not raised."""
        data = self.transport.read(timeout_s)
        out: list[Packet] = []
        for payload in self._decoder.feed(data):
            try:
                pkt = self.packets.parse(payload)
            except PacketError:
                self.stats.packets_bad += 1
                continue
            out.append(pkt)
            self.stats.packets_in += 1
            for tap in self.taps:
                tap(payload)
        self.stats.frames_bad = self._decoder.frames_bad
        self.stats.frames_oversize = self._decoder.frames_oversize
        return out

    def close(self) -> None:
        self.transport.close()
