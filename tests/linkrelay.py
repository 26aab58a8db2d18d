"""A bad cable for tests: two pty pairs joined by a thread that mistreats the frames.

Each end is a device path (a symlink, as udev makes ``/dev/serial/by-id/...``) that
pyserial opens like a real port. The relay cuts the byte stream at delimiters into
frames and, per direction and per frame, passes it intact, drops it, flips a bit
inside it, or puts a junk burst (with or without zero bytes) in front of it; it
merges several frames into one write or dribbles one out a few bytes at a time.
It records every packet it passed intact and every frame it broke, so a test can
check that the far end got exactly the intact ones and counted the broken ones.
``pull()`` closes both pty pairs (both ends see a hang-up and the paths vanish);
``restore()`` makes new ones behind the same paths. ``muted`` cuts the line without
a hang-up: the ports stay open and every byte is lost.
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


@dataclass
class Direction:
    """What one direction of the relay did."""

    faults: Faults
    rng: random.Random  # fault draws: the k-th frame meets the same fate on every run
    intact: list[bytes] = field(default_factory=list)  # packets passed untouched
    drop_if: object = None  # callable(packet bytes) -> bool: drop this intact packet
    dropped_packets: list[bytes] = field(default_factory=list)
    dropped: int = 0
    flipped: int = 0
    junk_bursts: int = 0
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
        if self.muted:
            d.buf.clear()
            d.pending.clear()
            return
        d.buf += data
        *frames, rest = bytes(d.buf).split(DELIMITER)
        d.buf[:] = rest
        f, rng = d.faults, d.rng
        for chunk in frames:
            if not chunk:
                continue
            faulty = self.faulty
            if faulty and rng.random() < f.junk:
                junk = rng.randbytes(rng.randint(1, 24))
                if rng.random() < 0.5:
                    junk = junk.replace(b"\x00", b"\x5a")
                d.pending += junk
                d.junk_bursts += 1
            frame = bytearray(chunk)
            r = rng.random() if faulty else 1.0
            if faulty and r < f.drop:
                d.dropped += 1
                continue
            if faulty and r < f.drop + f.flip:
                i = rng.randrange(len(frame))
                frame[i] ^= 1 << rng.randrange(8)
                d.flipped += 1
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
            if faulty and self.rng.random() < f.split:
                self._write(out_fd, d.pending)
                d.pending.clear()
                for i in range(0, len(piece), 3):
                    self._write(out_fd, piece[i:i + 3])
                    time.sleep(0.0005)
                continue
            d.pending += piece
        if d.pending and (idle or not (self.faulty and self.rng.random() < f.merge)):
            self._write(out_fd, bytes(d.pending))
            d.pending.clear()

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
