"""systemd's readiness and watchdog protocol (``sd_notify``), for the board's unit.

Under ``Type=notify`` systemd passes ``$NOTIFY_SOCKET`` (a Unix datagram socket; a
leading ``@`` means the abstract namespace) and, with ``WatchdogSec=``, ``$WATCHDOG_USEC``.
The service sends ``READY=1`` once it serves, then ``WATCHDOG=1`` more often than
every ``WATCHDOG_USEC``; if the pings stop, systemd kills the service and restarts it
(``Restart=on-failure``). Protocol: sd_notify(3), sd_watchdog_enabled(3).

Outside systemd (no ``$NOTIFY_SOCKET``) every call is a no-op.
"""

from __future__ import annotations

import os
import socket
import time


class SystemdNotifier:
    """Sends READY=1 on the first beat, then WATCHDOG=1 at most every half period."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        path = env.get("NOTIFY_SOCKET", "")
        self.address = "\0" + path[1:] if path.startswith("@") else path
        try:
            usec = int(env.get("WATCHDOG_USEC", "0"))
        except ValueError:
            usec = 0
        # Ping at half the period (sd_watchdog_enabled(3) advises it); 1 s without one.
        self.interval_s = usec / 2e6 if usec > 0 else 1.0
        self._sock: socket.socket | None = None
        self._ready = False
        self._last = float("-inf")

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def notify(self, state: str) -> bool:
        """Send one state line; False when not under systemd or the send failed."""
        if not self.enabled:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                # Never let a slow reader stall the serve loop: a full queue drops a ping.
                self._sock.setblocking(False)
            self._sock.sendto(state.encode(), self.address)
        except OSError:
            return False
        return True

    def beat(self) -> None:
        """Called from the service's serve loop: the loop is turning."""
        if not self.enabled:
            return
        now = time.monotonic()
        if not self._ready:
            self._ready = self.notify("READY=1\nSTATUS=serving")
            self._last = now
        elif now - self._last >= self.interval_s:
            self.notify("WATCHDOG=1")
            self._last = now

    def close(self) -> None:
        if self._sock is not None:
            self.notify("STOPPING=1")
            self._sock.close()
            self._sock = None
