"""Transport over pyserial: real ports, pty slaves and pyserial URLs (socket://, loop://)."""

from __future__ import annotations

import serial

from node.errors import OrbnodeError
from node.link.base import LinkClosed, Transport


class SerialTransport(Transport):
    name = "serial"

    def __init__(self, port: str, baud: int = 115200) -> None:
        try:
            self._ser = serial.serial_for_url(port, baudrate=baud, timeout=0, write_timeout=5)
        except (serial.SerialException, ValueError, OverflowError) as exc:
            raise OrbnodeError(f"cannot open serial port {port}: {exc}") from None
        self.port = port

    def write(self, data: bytes) -> None:
        try:
            self._ser.write(data)
        except (serial.SerialException, OSError) as exc:
            raise LinkClosed(f"{self.port}: {exc}") from None

    def read(self, timeout_s: float) -> bytes:
        try:
            self._ser.timeout = timeout_s
            first = self._ser.read(1)
            if not first:
                return b""
            self._ser.timeout = 0
            return first + self._ser.read(4096)
        except (serial.SerialException, OSError) as exc:
            raise LinkClosed(f"{self.port}: {exc}") from None

    def close(self) -> None:
        self._ser.close()
