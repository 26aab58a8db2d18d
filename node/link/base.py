"""The one small interface every transport implements (cf. pyserial's serialutil)."""

from __future__ import annotations

from abc import ABC, abstractmethod


class LinkClosed(ConnectionError):
    """The other end went away (cable pulled, process ended)."""


class Transport(ABC):
    """A byte pipe: write bytes, read what has arrived within a timeout."""

    name = "transport"

    @property
    def up(self) -> bool:
        """False while the line is known to be down (a reopening transport between tries)."""
        return True

    @abstractmethod
    def write(self, data: bytes) -> None: ...

    @abstractmethod
    def read(self, timeout_s: float) -> bytes:
        """Bytes available within ``timeout_s`` (possibly empty); LinkClosed at EOF."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
