"""A bad cable for tests: two pty pairs joined by a thread that mistreats the frames.

Each end is a device path (a symlink, as udev makes ``/dev/serial/by-id/...``) that
pyserial opens like a real port. The relay cuts the byte stream at delimiters into
frames and, per direction and per frame, passes it intact, drops it, flips a bit
inside it, or puts a junk burst (with or without zero bytes) in front of it; it
merges several frames into one write or dribbles one out a few bytes at a time.
It records every packet it passed intact and what it did, fault by fault, and
works out from the framing rules (:mod:`node.link.framing`) how many bad frames
the far end must count for it (``bad_frames``), so a test can check that the far
end got exactly the intact ones and counted exactly the broken ones.
``pull()`` closes both pty pairs (both ends see a hang-up and the paths vanish);
``restore()`` makes new ones behind the same paths. ``muted`` cuts the line without
a hang-up: the ports stay open and every byte is lost (the frames counted).
"""

from __future__ import annotations

import os
import random
import select
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from cobs import cobs

from node.link.framing import DELIMITER
from node.link.pty_transport import PtyPair


@dataclass
class Faults:
    drop: float = 0.0    # share of frames dropped
    flip: float = 0.0    # share of frames with one bit flipped inside
    junk: float = 0.0    # share of frames preceded by a junk burst
    merge: float = 0.0   # share of writes held back to go out with the next frames
    split: float = 0.0   # share of frames written a few bytes at a time


def pieces(data: bytes) -> int:
    """Runs between zero bytes that are not empty: each is one run between delimiters
    that the receiver counts as a bad frame, when it is no frame of ours."""
    return sum(1 for run in data.split(DELIMITER) if run)


@dataclass
class Direction:
    """What one direction of the relay did."""

    faults: Faults
    rng: random.Random  # fault draws: the k-th frame meets the same fate on every run
    intact: list[bytes] = field(default_factory=list)  # packets passed untouched
    drop_if: object = None  # callable(packet bytes) -> bool: drop this intact packet
    dropped_packets: list[bytes] = field(default_factory=list)
    dropped: int = 0
    flipped: int = 0          # frames with one bit flipped, of which
    flipped_to_zero: int = 0  # the flip made a zero byte: the frame falls in two runs
    junk_bursts: int = 0      # bursts between two frames, of which
    junk_with_zeros: int = 0  # hold zero bytes: cut into several runs, or none
    splits: int = 0           # frames dribbled out a few bytes at a time
    cut: int = 0              # frames lost while muted
    merges: int = 0           # writes held back to go out with later frames
    # Bad frames the receiver must count: each fault's runs between zero bytes. Exact
    # because every frame goes out as 00 frame 00: a fault's runs never join another
    # frame's, and an intact frame is never cut (node.link.framing). Junk bursts with
    # only dropped frames between them are one stretch of junk: a run may span two.
    # (Junk lost to a pull or a mute was counted: exact only on a line never cut.)
    bad_frames: int = 0
    in_junk: bool = False  # the stream so far ends inside a run of junk
    buf: bytearray = field(default_factory=bytearray)
    pending: bytearray = field(default_factory=bytearray)


class Relay:
    def __init__(self, folder: Path, node_faults: Faults, host_faults: Faults,
                 seed: int = 0) -> None:
        """``node_faults``: on frames from the node to the host; ``host_faults``: back."""
        self.node_path = folder / "node.tty"
        self.host_path = folder / "host.tty"
        self.to_host = Direction(node_faults, random.Random(seed))
        self.to_node = Direction(host_faults, random.Random(seed + 1))
        self.rng = random.Random(seed + 2)  # how writes are cut and merged: timing-bound
        self.faulty = True  # False: pass everything intact (to end a run cleanly)
        self.muted = False  # True: a cable cut without a hang-up: every byte lost
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pairs: tuple[PtyPair, PtyPair] | None = None
        self.restore()
        self._thread = threading.Thread(target=self._pump, name="relay", daemon=True)
        self._thread.start()

    # -- the cable --------------------------------------------------------------
    def restore(self) -> None:
        with self._lock:
            node, host = PtyPair(), PtyPair()
            for link, pair in ((self.node_path, node), (self.host_path, host)):
                tmp = link.with_suffix(".new")
                os.symlink(pair.slave_path, tmp)
                os.replace(tmp, link)
            self._pairs = (node, host)
            for d in (self.to_host, self.to_node):
                d.buf.clear()
                d.pending.clear()

    def pull(self) -> None:
        """Unplug: both pty pairs closed, both device paths gone."""
        with self._lock:
            if self._pairs is None:
                return
            for p in (self.node_path, self.host_path):
                p.unlink(missing_ok=True)
            for pair in self._pairs:
                pair.close()
                os.close(pair.master_fd)
            self._pairs = None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.pull()

    # -- the relay --------------------------------------------------------------
    def _pump(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                pairs = self._pairs
            if pairs is None:
                time.sleep(0.02)
                continue
            node_fd, host_fd = pairs[0].master_fd, pairs[1].master_fd
            try:
                ready, _, _ = select.select([node_fd, host_fd], [], [], 0.02)
            except (OSError, ValueError):
                continue  # pulled meanwhile
            with self._lock:
                if self._pairs is not pairs:
                    continue
                for fd, d, out in ((node_fd, self.to_host, host_fd),
                                   (host_fd, self.to_node, node_fd)):
                    data = b""
                    if fd in ready:
                        try:
                            data = os.read(fd, 4096)
                        except OSError:  # that end not open at the moment
                            data = b""
                    self._forward(d, data, out, idle=fd not in ready)

    def _forward(self, d: Direction, data: bytes, out_fd: int, idle: bool) -> None:
        d.buf += data
        *frames, rest = bytes(d.buf).split(DELIMITER)
        d.buf[:] = rest
        if self.muted:
            d.pending.clear()
            d.cut += sum(1 for chunk in frames if chunk)
            return
        f, rng = d.faults, d.rng
        for chunk in frames:
            if not chunk:
                continue
            faulty = self.faulty
            if faulty and rng.random() < f.junk:
                self._junk(d)
            frame = bytearray(chunk)
            r = rng.random() if faulty else 1.0
            if faulty and r < f.drop:
                d.dropped += 1
                continue
            if faulty and r < f.drop + f.flip:
                self._flip(d, frame)
            else:
                try:
                    packet = cobs.decode(chunk)
                except cobs.DecodeError:  # not a frame to begin with: passed on as it is
                    packet = None
                if packet is not None and d.drop_if is not None and d.drop_if(packet):
                    d.drop_if = None  # once
                    d.dropped += 1
                    d.dropped_packets.append(packet)
                    continue
                if packet is not None:
                    d.intact.append(packet)
            piece = DELIMITER + bytes(frame) + DELIMITER
            d.in_junk = False  # the frame's opening delimiter ends any run of junk
            if faulty and self.rng.random() < f.split:
                d.splits += 1
                self._write(out_fd, d.pending)
                d.pending.clear()
                for i in range(0, len(piece), 3):
                    self._write(out_fd, piece[i:i + 3])
                    time.sleep(0.0005)
                continue
            d.pending += piece
        if d.pending:
            if idle or not (self.faulty and self.rng.random() < f.merge):
                self._write(out_fd, bytes(d.pending))
                d.pending.clear()
            else:
                d.merges += 1

    @staticmethod
    def _junk(d: Direction) -> None:
        """A burst between the last frame's closing delimiter and the next one's opening:
        one bad frame per run between its own zero bytes (none if it is all zeros)."""
        rng = d.rng
        junk = bytearray(rng.randbytes(rng.randint(1, 24)).replace(DELIMITER, b"\x5a"))
        if rng.random() < 0.5:  # zero bytes anywhere, at the ends too
            for _ in range(rng.randint(1, 3)):
                junk[rng.randrange(len(junk))] = 0
            d.junk_with_zeros += 1
        d.pending += junk
        d.junk_bursts += 1
        d.bad_frames += pieces(bytes(junk)) - (d.in_junk and junk[0] != 0)
        d.in_junk = junk[-1] != 0

    @staticmethod
    def _flip(d: Direction, frame: bytearray) -> None:
        """One bit flipped inside a frame (never its delimiters; a COBS frame holds no
        zero byte, so a flip can make one but never unmake one). Without a zero the
        frame stays one run between delimiters, one bad frame whether COBS or the
        CRC-16 refuses it; a zero cuts it in two runs, one bad frame each when not
        empty (a flip of the first or last byte leaves one). Every other flip aims at
        a byte that is a power of two, so that zeros are made on every run."""
        rng = d.rng
        aim = [i for i, b in enumerate(frame) if b & (b - 1) == 0]
        if aim and d.flipped % 2 == 0:
            i = rng.choice(aim)
            frame[i] = 0
        else:
            i = rng.randrange(len(frame))
            frame[i] ^= 1 << rng.randrange(8)
        d.flipped += 1
        if frame[i] == 0:
            d.flipped_to_zero += 1
            d.bad_frames += pieces(bytes(frame))
        else:
            d.bad_frames += 1

    @staticmethod
    def _write(fd: int, data: bytes) -> None:
        view = memoryview(data)
        deadline = time.monotonic() + 2.0
        while view and time.monotonic() < deadline:
            try:
                view = view[os.write(fd, view):]
            except BlockingIOError:
                time.sleep(0.001)
            except OSError:  # the far end is not open: bytes are lost, as on a wire
                return
