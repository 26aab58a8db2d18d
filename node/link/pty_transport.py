"""The master side of a pseudo-terminal pair: the host end of a virtual cable.

pyserial opens the slave by name (as a board opens /dev/ttyUSB0); the master has no
device name, so it is driven through its file descriptor.
"""

from __future__ import annotations

import errno
import os
import select
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

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(self._fd, view)
                view = view[n:]
            except BlockingIOError:
                select.select([], [self._fd], [], 1.0)
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
