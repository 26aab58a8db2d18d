"""The master side of a pseudo-terminal pair: the host end of a virtual cable.

pyserial opens the slave by name (as a board opens /dev/ttyUSB0); the master has no
device name, so it is driven through its file descriptor.
"""

from __future__ import annotations

import errno
import os
import select
import threading
import time
import tty

from node.link.base import LinkClosed, Transport


class PtyPair:
    """A raw pty pair. ``slave_path`` is what the other end opens with pyserial."""

    def __init__(self) -> None:
        self.master_fd, self._slave_fd = os.openpty()
        # Raw at once: before the node opens the slave, the line discipline would
        # otherwise echo bytes back and translate newlines.
        tty.setraw(self._slave_fd)
        self.slave_path = os.ttyname(self._slave_fd)

    def master(self) -> PtyMasterTransport:
        return PtyMasterTransport(self.master_fd)

    def close(self) -> None:
        for fd in (self._slave_fd,):
            try:
                os.close(fd)
            except OSError:
                pass


class PtyMasterTransport(Transport):
    name = "pty"

    def __init__(self, fd: int) -> None:
        self._fd = fd
        os.set_blocking(fd, False)

    write_timeout_s = 5.0  # a reader that has stopped (hung, SIGSTOP) must not block us

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        deadline = time.monotonic() + self.write_timeout_s
        while view:
            try:
                n = os.write(self._fd, view)
                view = view[n:]
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LinkClosed(f"write stalled for {self.write_timeout_s:g} s: "
                                     "the other end reads nothing") from None
                select.select([], [self._fd], [], min(left, 1.0))
            except OSError as exc:
                raise LinkClosed(str(exc)) from None

    def read(self, timeout_s: float) -> bytes:
        ready, _, _ = select.select([self._fd], [], [], timeout_s)
        if not ready:
            return b""
        try:
            data = os.read(self._fd, 4096)
        except BlockingIOError:
            return b""
        except OSError as exc:
            if exc.errno == errno.EIO:  # every slave descriptor closed
                raise LinkClosed("pty closed") from None
            raise LinkClosed(str(exc)) from None
        if not data:
            raise LinkClosed("pty closed")
        return data

    def close(self) -> None:
        try:
            os.close(self._fd)
        except OSError:
            pass


class VirtualCable:
    """A null-modem cable in software: two pty pairs whose masters are joined.

    Each end (``end_a``, ``end_b``) is a device path that pyserial opens like a real
    port, so ``orbnode node`` and ``orbnode sim`` can run as separate processes on one
    machine, exactly as on a two-machine bench (what ``socat`` does, without socat).
    """

    def __init__(self) -> None:
        self._a, self._b = PtyPair(), PtyPair()
        self.end_a, self.end_b = self._a.slave_path, self._b.slave_path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, name="virtual-cable", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        peer = {self._a.master_fd: self._b.master_fd, self._b.master_fd: self._a.master_fd}
        while not self._stop.is_set():
            ready, _, _ = select.select(list(peer), [], [], 0.05)
            for fd in ready:
                try:
                    os.write(peer[fd], os.read(fd, 4096))
                except OSError:  # one end not open yet, or gone: bytes are lost, as on a wire
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for p in (self._a, self._b):
            p.close()
            try:
                os.close(p.master_fd)
            except OSError:
                pass

    def __enter__(self) -> VirtualCable:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
