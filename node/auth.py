"""Telecommand authentication: an HMAC and a per-source sequence number.

Every authenticated telecommand carries, after its application data, an 8-byte
sequence number and a 16-byte tag::

    tag = HMAC-SHA256(key, apid | service | subtype | source_id | data | seq)[:16]

(RFC 2104 HMAC with SHA-256, truncated to 128 bits as RFC 4868 allows.) The
receiver keeps the last accepted sequence number per source (the PUS source id),
so a replayed or re-ordered command is rejected. Senders take the sequence from a
microsecond clock, never below their previous value, so a one-shot tool such as
``orbnode tc`` stays monotonic across invocations without keeping state.
The key lives in a file outside the repository (``orbnode keygen``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
import struct
import time
from pathlib import Path

from node.errors import OrbnodeError

SEQ_LEN = 8
TAG_LEN = 16
TRAILER_LEN = SEQ_LEN + TAG_LEN
MIN_KEY_BYTES = 16

# PUS source ids of the senders on this link.
SOURCE_SIM = 1
SOURCE_GROUND = 2


def load_key(path: str | os.PathLike) -> bytes:
    """Read a key file: hex text (as ``orbnode keygen`` writes) or raw bytes."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise OrbnodeError(f"cannot read key file {p}: {exc.strerror or exc}") from None
    text = raw.strip()
    try:
        key = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        key = raw
    if len(key) < MIN_KEY_BYTES:
        raise OrbnodeError(f"key file {p} holds {len(key)} bytes; at least {MIN_KEY_BYTES} "
                           "are needed (make one with `orbnode keygen`)")
    return key


def write_key(path: str | os.PathLike, nbytes: int = 32) -> Path:
    """Create a random key file readable by its owner only."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(nbytes) + "\n")
    return p


def _tag(key: bytes, apid: int, service: int, subtype: int, source_id: int, data: bytes,
         seq: int) -> bytes:
    msg = struct.pack(">HBBH", apid, service, subtype, source_id) + data + struct.pack(">Q", seq)
    return hmac.new(key, msg, hashlib.sha256).digest()[:TAG_LEN]


class Signer:
    """The sending side: appends sequence number and tag to a command's data."""

    def __init__(self, key: bytes, source_id: int) -> None:
        self.key = key
        self.source_id = source_id
        self._last_seq = 0

    def next_seq(self) -> int:
        self._last_seq = max(self._last_seq + 1, time.time_ns() // 1000)
        return self._last_seq

    def trailer(self, apid: int, service: int, subtype: int, data: bytes) -> bytes:
        seq = self.next_seq()
        return struct.pack(">Q", seq) + _tag(self.key, apid, service, subtype, self.source_id,
                                             data, seq)


class Verifier:
    """The receiving side: checks tags and rejects replays, per source."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.last_seq: dict[int, int] = {}

    def check(self, apid: int, service: int, subtype: int, source_id: int, data: bytes,
              trailer: bytes) -> str | None:
        """None if the command is authentic and fresh, else the reason it is not."""
        if len(trailer) != TRAILER_LEN:
            return "unauthenticated"
        seq = struct.unpack(">Q", trailer[:SEQ_LEN])[0]
        want = _tag(self.key, apid, service, subtype, source_id, data, seq)
        if not hmac.compare_digest(want, trailer[SEQ_LEN:]):
            return "bad_mac"
        if seq <= self.last_seq.get(source_id, 0):
            return "replay"
        self.last_seq[source_id] = seq
        return None
