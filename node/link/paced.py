"""A transport wrapper that paces writes at a baud rate.

Pseudo-terminals and sockets move bytes as fast as memory allows; a real UART at
115200 baud with 8N1 framing moves 11,520 bytes/s. Pacing keeps `orbnode run`
honest about what the cable could carry.

Like a real serial port, the writer may run ahead of the line by one transmit
buffer (Linux's serial core keeps ``UART_XMIT_SIZE`` = one 4096-byte page per port,
drivers/tty/serial/serial_core.c): a write returns at once while the backlog fits
in it and waits only for the excess. So a sender that is briefly descheduled does
not leave the line idle, and bytes reach the far end at most one buffer early.
"""

from __future__ import annotations

import time

from node.link.base import Transport

BITS_PER_BYTE = 10  # 8N1: start + 8 data + stop
XMIT_BUFFER_BYTES = 4096


class PacedTransport(Transport):
    def __init__(self, inner: Transport, baud: int,
                 buffer_bytes: int = XMIT_BUFFER_BYTES) -> None:
        self.inner = inner
        self.baud = baud
        self.buffer_s = buffer_bytes * BITS_PER_BYTE / baud
        self.name = f"paced({inner.name})"
        self._free_at = time.monotonic()  # when the line is idle again

    def write(self, data: bytes) -> None:
        now = time.monotonic()
        self._free_at = max(now, self._free_at) + len(data) * BITS_PER_BYTE / self.baud
        excess_s = self._free_at - now - self.buffer_s  # backlog beyond the transmit buffer
        if excess_s > 0:
            time.sleep(excess_s)
        self.inner.write(data)

    @property
    def idle_at(self) -> float:
        """``time.monotonic()`` at which the line will have sent everything written."""
        return self._free_at

    @property
    def up(self) -> bool:
        return self.inner.up

    def read(self, timeout_s: float) -> bytes:
        return self.inner.read(timeout_s)

    def close(self) -> None:
        self.inner.close()
