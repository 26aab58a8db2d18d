"""A TCP link for ground tools: the live telemetry out, telecommands in.

The stream is raw CCSDS Space Packets back to back, each delimited by the length
in its primary header: what Yamcs' ``TcpTmDataLink`` (``CcsdsPacketInputStream``)
and ``TcpTcDataLink``, and OpenC3 COSMOS' TCP/IP client interface with a
``LENGTH 32 16 7`` protocol, read and write. Every client gets every telemetry
packet the node sends from the moment it connects; a client that does not read
(a telecommand-only connection) loses telemetry, counted, never stalling the loop.

A telecommand from a client is checked only for being an intact packet of ours
and then forwarded to the node unchanged: the node alone judges its
authentication tag, rejects a bad one, counts it in ``tc_rejected`` and answers
with a PUS-1 failure report when the command asked for acceptance reports.
Binds to the loopback interface unless told otherwise.
"""

from __future__ import annotations

import queue
import socket
import threading
from dataclasses import asdict, dataclass

from firmware_stubs.ground.ccsds import Header, PacketStream, StreamError
from node.errors import OrbnodeError
from node.link import Link
from node.packets import PacketError

CLIENT_QUEUE_PACKETS = 4096  # about a minute of a fast run's telemetry


@dataclass
class GroundStats:
    clients: int = 0        # connections accepted
    tm_sent: int = 0        # telemetry packets written to clients (all clients)
    tm_dropped: int = 0     # telemetry packets a slow client's queue had no room for
    tc_forwarded: int = 0   # intact telecommands passed to the node
    tc_invalid: int = 0     # packets from clients that were not intact telecommands of ours

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class _Client:
    def __init__(self, server: GroundServer, conn: socket.socket) -> None:
        self.server = server
        self.conn = conn
        self.out: queue.Queue[bytes | None] = queue.Queue(CLIENT_QUEUE_PACKETS)
        self.closed = False
        threading.Thread(target=self._reader, daemon=True, name="ground-rx").start()
        threading.Thread(target=self._writer, daemon=True, name="ground-tx").start()

    def offer(self, raw: bytes) -> None:
        try:
            self.out.put_nowait(raw)
        except queue.Full:
            self.server._count("tm_dropped")

    def _writer(self) -> None:
        while (raw := self.out.get()) is not None:
            try:
                self.conn.sendall(raw)
            except OSError:
                break
            self.server._count("tm_sent")
        self.close()

    def _reader(self) -> None:
        stream = PacketStream()
        try:
            while data := self.conn.recv(4096):
                for raw in stream.feed(data):
                    self.server._telecommand(raw)
        except StreamError:
            self.server._count("tc_invalid")  # a stream out of step cannot be re-synchronised
        except OSError:
            pass
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.server._forget(self)
        try:
            self.out.put_nowait(None)
        except queue.Full:
            pass
        try:
            self.conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()


def listen(port: int, host: str = "127.0.0.1") -> socket.socket:
    """A socket listening for ground tools on ``host:port``; :class:`OrbnodeError` if
    it cannot be had (in use, an unknown host, a port beyond 0..65535)."""
    try:
        return socket.create_server((host, port), reuse_port=False)
    except (OSError, OverflowError, ValueError) as exc:  # bind() overflows on port > 65535
        why = str(getattr(exc, "strerror", None) or exc).split(" (while attempting")[0]
        raise OrbnodeError(f"cannot listen on {host}:{port} for ground tools: {why}") from None


class GroundServer:
    """Serve ``link``'s telemetry on ``host:port`` (or on an already bound ``sock``,
    see :func:`listen`) and pass telecommands back to it."""

    def __init__(self, link: Link, port: int = 0, host: str = "127.0.0.1", *,
                 sock: socket.socket | None = None) -> None:
        self.sock = sock if sock is not None else listen(port, host)
        self.link = link
        self.host, self.port = self.sock.getsockname()[:2]
        self.stats = GroundStats()
        self._clients: list[_Client] = []
        self._lock = threading.Lock()
        link.taps.append(self._on_packet)
        self._accepting = threading.Thread(target=self._accept, daemon=True, name="ground")
        self._accepting.start()

    @property
    def client_count(self) -> int:
        """Clients connected now."""
        with self._lock:
            return len(self._clients)

    def _count(self, what: str) -> None:
        with self._lock:
            setattr(self.stats, what, getattr(self.stats, what) + 1)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self.stats.clients += 1
                self._clients.append(_Client(self, conn))

    def _forget(self, client: _Client) -> None:
        with self._lock:
            if client in self._clients:
                self._clients.remove(client)

    def _on_packet(self, raw: bytes) -> None:
        if Header.of(raw).direction != "tm":
            return  # the simulator's own telecommands stay on the bus
        with self._lock:
            clients = list(self._clients)
        for c in clients:
            c.offer(raw)

    def _telecommand(self, raw: bytes) -> None:
        try:
            pkt = self.link.packets.parse(raw)
        except PacketError:
            self._count("tc_invalid")
            return
        if self.link.packets.defs[pkt.name].direction != "tc":
            self._count("tc_invalid")
            return
        self.link.send_raw(raw)
        self._count("tc_forwarded")

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread (Linux)
        except OSError:
            pass
        self.sock.close()
        self._accepting.join(timeout=2.0)
        with self._lock:
            clients = list(self._clients)
        for c in clients:
            c.close()
        link_taps = self.link.taps
        if self._on_packet in link_taps:
            link_taps.remove(self._on_packet)
