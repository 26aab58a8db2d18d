"""A transport on a device path that survives the cable being pulled and put back.

When the port hangs up (a USB adapter unplugged, the other end of a pty closed)
the transport closes it and is *down*: writes raise :class:`LinkClosed` at once,
reads wait and try to open the path again every ``retry_s``. Once the path opens
again the transport is *up* and the link resumes; ``hangups`` counts the outages.
Only the device path is reopened, so a udev symlink such as
``/dev/serial/by-id/...`` finds the adapter again wherever it re-enumerates.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from node.errors import OrbnodeError
from node.link.base import LinkClosed, Transport


class ReopeningTransport(Transport):
    def __init__(self, opener: Callable[[], Transport], *, retry_s: float = 0.5) -> None:
        self._opener = opener
        self._inner: Transport | None = opener()  # the first open's errors are the user's
        self.name = f"reopening({self._inner.name})"
        self.retry_s = retry_s
        self.hangups = 0
        self.reopens = 0
        self.last_error = ""
        self._next_try = 0.0

    @property
    def up(self) -> bool:
        return self._inner is not None

    def _hang_up(self, exc: Exception) -> None:
        if self._inner is not None:
            try:
                self._inner.close()
            except Exception:  # closing a vanished port may fail too; it is gone either way
                pass
        self._inner = None
        self.hangups += 1
        self.last_error = str(exc)
        self._next_try = time.monotonic() + self.retry_s

    def _try_open(self) -> bool:
        now = time.monotonic()
        if now < self._next_try:
            return False
        try:
            self._inner = self._opener()
        except (OrbnodeError, OSError, LinkClosed) as exc:
            self.last_error = str(exc)
            self._next_try = now + self.retry_s
            return False
        self.reopens += 1
        return True

    def write(self, data: bytes) -> None:
        if self._inner is None and not self._try_open():
            raise LinkClosed(f"line down: {self.last_error}")
        assert self._inner is not None
        try:
            self._inner.write(data)
        except LinkClosed as exc:
            self._hang_up(exc)
            raise

    def read(self, timeout_s: float) -> bytes:
        if self._inner is None and not self._try_open():
            time.sleep(max(min(timeout_s, self._next_try - time.monotonic()), 0.0))
            return b""
        assert self._inner is not None
        try:
            return self._inner.read(timeout_s)
        except LinkClosed as exc:
            self._hang_up(exc)
            return b""

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()
            self._inner = None
