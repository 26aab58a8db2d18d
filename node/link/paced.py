"""A transport wrapper that paces writes at a baud rate.

Pseudo-terminals and sockets move bytes as fast as memory allows; a real UART at
115200 baud with 8N1 framing moves 11,520 bytes/s. Pacing keeps `orbnode run`
honest about what the cable could carry.
"""

from __future__ import annotations

import time

from node.link.base import Transport

BITS_PER_BYTE = 10  # 8N1: start + 8 data + stop


class PacedTransport(Transport):
    def __init__(self, inner: Transport, baud: int) -> None:
        self.inner = inner
        self.baud = baud
        self.name = f"paced({inner.name})"
        self._free_at = time.monotonic()  # when the line is idle again

    def write(self, data: bytes) -> None:
        now = time.monotonic()
        start = max(now, self._free_at)
        self._free_at = start + len(data) * BITS_PER_BYTE / self.baud
        if start > now:
            time.sleep(start - now)
        self.inner.write(data)

    @property
    def up(self) -> bool:
        return self.inner.up

    def read(self, timeout_s: float) -> bytes:
        return self.inner.read(timeout_s)

    def close(self) -> None:
        self.inner.close()
