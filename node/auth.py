"""Telecommand authentication: an HMAC, a per-source sequence number kept on disk,
and authenticated verification reports.

Every authenticated telecommand carries, after its application data, an 8-byte
sequence number and a 16-byte tag::

    tag = HMAC-SHA256(key, apid | service | subtype | source_id | data | seq)[:16]

(RFC 2104 HMAC with SHA-256, truncated to 128 bits as RFC 4868 allows.) Senders
take the sequence from a microsecond clock, never below their previous value, so a
one-shot tool such as ``orbnode tc`` stays monotonic across invocations without
keeping state.

The receiver accepts a command from source ``s`` with sequence ``seq`` only if

    last[s] < seq <= node clock in µs + window

* ``last[s]``, the last sequence accepted from ``s``, is bounded from above by a
  mark in a state file (:class:`ReplayState`: write a temporary file, fsync,
  rename over, fsync the directory) *before* the command runs, so a command
  captured on the line is refused after a node restart as much as within one
  session. The mark is written ``reserve`` (2 s) ahead of the sequence that
  needed it, so a stream of ticks costs one disk write every two seconds rather
  than one per tick; the price is that after a restart a sender's first ``reserve``
  of clock is refused after a crash (a clean stop writes the exact sequences), which
  a node restart (seconds) mostly outlasts anyway. A node that cannot write the
  file runs no authenticated command.
* The forward ``window`` (default one day, :data:`DEFAULT_WINDOW_S`) bounds how far
  a sender's clock may lead the node's. Without it a single signed command with a
  huge sequence number (a bug, a clock set to 2099) would raise ``last[s]`` beyond
  anything a correct sender ever reaches and lock the source out for good. With
  it, such a command is refused (``seq_ahead``), and since every accepted sequence
  lies within the window of the node's clock *at the time*, no run of mistakes can
  lock a correct sender out for longer than the window. The bound is the node's
  clock rather than ``last[s]`` plus a window so that accepted mistakes cannot walk
  it forward step by step. A node whose clock is far behind (a board with no
  real-time clock and no network) needs a wider ``--seq-window-s``.

The node answers with PUS-1 verification reports that carry a 16-byte tag under
the same key, bound to the telecommand they answer (its whole trailer, so its
sequence number)::

    report tag = HMAC-SHA256(key, "TM" | apid | service | subtype | len(data) | data
                             | trailer of the telecommand)[:16]

so a ground tool believes only reports the node really sent for the command it
really sent; a report replayed from an earlier command does not verify.

Keys live in files outside the repository (``orbnode keygen``), treated as ssh
treats private keys: created owner-only (0600) and atomically, never written
through a symbolic link, and refused when group or others may access them.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import stat
import struct
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from node.errors import OrbnodeError

SEQ_LEN = 8
TAG_LEN = 16
TRAILER_LEN = SEQ_LEN + TAG_LEN
MIN_KEY_BYTES = 16
DEFAULT_WINDOW_S = 86400.0  # how far a sender's clock may lead the node's
DEFAULT_RESERVE_S = 2.0  # how far ahead of the accepted sequence the on-disk mark is put
STATE_SUFFIX = ".replay.json"  # the anti-replay state beside a key file

# PUS source ids of the senders on this link.
SOURCE_SIM = 1
SOURCE_GROUND = 2


# -- files ----------------------------------------------------------------------------
def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, data: bytes, *, overwrite: bool = True) -> Path:
    """Write ``data`` to ``path`` as a new owner-only (0600) file, atomically.

    The bytes go to a temporary file in the same directory (created exclusively,
    mode 0600), are fsynced, and the file is renamed over ``path`` (or, without
    ``overwrite``, linked to it, which fails if ``path`` exists), then the
    directory is fsynced. A reader sees the old file or the new one, never a part;
    an old file's permissions are not inherited; a symbolic link at ``path`` is
    refused rather than followed or replaced.
    """
    p = Path(path)
    if p.is_symlink():
        raise OrbnodeError(f"{p} is a symbolic link; refusing to write through it")
    if p.exists() and not p.is_file():
        raise OrbnodeError(f"{p} exists and is not a regular file")
    if p.exists() and not overwrite:
        raise OrbnodeError(f"{p} exists; pass --force to replace it")
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, p)  # rename(2) replaces a link itself, never its target
        else:
            try:
                os.link(tmp, p)
            except FileExistsError:
                raise OrbnodeError(f"{p} exists; pass --force to replace it") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _fsync_dir(p.parent)
    return p


def _check_private(p: Path, st: os.stat_result, what: str) -> None:
    """ssh's rule: a private file is a regular file of ours (or root's), mode 0?00."""
    if not stat.S_ISREG(st.st_mode):
        raise OrbnodeError(f"{what} {p} is not a regular file")
    if st.st_mode & 0o077:
        raise OrbnodeError(f"permissions {stat.S_IMODE(st.st_mode):04o} for {what} {p} are "
                           f"too open: group and others must have no access (chmod 600 {p})")
    if st.st_uid not in (os.geteuid(), 0):
        raise OrbnodeError(f"{what} {p} belongs to uid {st.st_uid}, not to this user")


def load_key(path: str | os.PathLike) -> bytes:
    """Read a key file: hex text (as ``orbnode keygen`` writes) or raw bytes.

    Refused when group or others may access it, as ssh refuses a private key.
    """
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY)
    except OSError as exc:
        raise OrbnodeError(f"cannot read key file {p}: {exc.strerror or exc}") from None
    try:
        _check_private(p, os.fstat(fd), "key file")  # before reading: a folder opens too
    except OrbnodeError:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as f:
        raw = f.read()
    text = raw.strip()
    try:
        key = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        key = raw
    if len(key) < MIN_KEY_BYTES:
        raise OrbnodeError(f"key file {p} holds {len(key)} bytes; at least {MIN_KEY_BYTES} "
                           "are needed (make one with `orbnode keygen`)")
    return key


def write_key(path: str | os.PathLike, nbytes: int = 32, *, overwrite: bool = False) -> Path:
    """Create a random key file (hex), owner-only, atomically; see :func:`atomic_write`."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(p, (secrets.token_hex(nbytes) + "\n").encode("ascii"),
                        overwrite=overwrite)


# -- anti-replay state -------------------------------------------------------------------
def key_id(key: bytes) -> str:
    """A short public name for a key (an HMAC of a constant under it): tells which key
    a state file belongs to and reveals nothing of the key."""
    return hmac.new(key, b"orbnode key id", hashlib.sha256).hexdigest()[:16]


class ReplayState:
    """The last accepted sequence number per source, bounded on disk before each
    command runs.

    The file holds, per source, a mark at or above every sequence accepted from it
    (``seq_marks``); it is replaced atomically (:func:`atomic_write`), so a crash
    or a power cut leaves the previous marks or the new ones. Accepting ``seq``
    needs a write only when ``seq`` passes the source's mark; the new mark is
    ``seq + reserve``. On start the marks are taken as the last accepted
    sequences. :meth:`open` writes the file once straight away: a node that
    cannot write its state learns it before it accepts anything.

    The file names the key it belongs to (:func:`key_id`); marks left by another
    key are dropped, since no command signed under that key verifies any more.
    """

    FORMAT = "orbnode anti-replay state"

    def __init__(self, path: Path, marks: dict[int, int],
                 reserve_s: float = DEFAULT_RESERVE_S, key_id: str = "") -> None:
        self.path = path
        self.key_id = key_id
        self.reserve_us = int(reserve_s * 1e6)
        self.marks = dict(marks)  # as on disk
        self.last_seq = dict(marks)  # accepted so far (after a restart: the marks)
        self.writes = 0

    @classmethod
    def open(cls, path: str | os.PathLike, reserve_s: float = DEFAULT_RESERVE_S, *,
             key: bytes = b"") -> ReplayState:
        p = Path(path)
        last: dict[int, int] = {}
        if p.exists() or p.is_symlink():
            try:
                st = os.lstat(p)
                if not stat.S_ISREG(st.st_mode):
                    raise OrbnodeError(f"anti-replay state {p} is not a regular file")
                if st.st_mode & 0o022:
                    raise OrbnodeError(f"anti-replay state {p} is writable by group or others "
                                       f"(mode {stat.S_IMODE(st.st_mode):04o}); chmod 600 {p}")
                doc = json.loads(p.read_text("utf-8"))
                if doc.get("format") != cls.FORMAT:
                    raise ValueError("not an anti-replay state file")
                last = {int(k): int(v) for k, v in doc["seq_marks"].items()}
                if doc["key_id"] != key_id(key):
                    last = {}  # another key's marks: its commands no longer verify
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                raise OrbnodeError(f"cannot read anti-replay state {p}: {exc}; the node "
                                   "will not guess which commands it has run") from None
        state = cls(p, last, reserve_s, key_id(key))
        try:
            state._save(state.marks)
        except (OSError, OrbnodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise OrbnodeError(f"cannot write anti-replay state {p}: {why}; an authenticated "
                               "node needs it (give a writable --state-dir)") from None
        return state

    def _save(self, marks: dict[int, int]) -> None:
        doc = {"format": self.FORMAT, "version": 1, "key_id": self.key_id,
               "seq_marks": {str(k): v for k, v in sorted(marks.items())}}
        atomic_write(self.path, (json.dumps(doc) + "\n").encode("utf-8"))
        self.writes += 1

    def commit(self, source_id: int, seq: int) -> None:
        """Record ``seq`` as accepted from ``source_id``: covered on disk first, then
        here. An exception means nothing was recorded (and the command must not run)."""
        if seq > self.marks.get(source_id, 0):
            marks = {**self.marks, source_id: min(seq + self.reserve_us, 2**64 - 1)}
            self._save(marks)
            self.marks = marks
        self.last_seq[source_id] = seq

    def settle(self) -> None:
        """On a clean stop: lower the marks to the sequences really accepted, so a
        restarted node takes the next command at once. (A crash leaves the marks
        ``reserve`` ahead, which only delays a sender; it never lets a replay in.)"""
        if self.marks != self.last_seq:
            with contextlib.suppress(OSError, OrbnodeError):
                self._save(self.last_seq)
                self.marks = dict(self.last_seq)


# -- tags ----------------------------------------------------------------------------------
def _tag(key: bytes, apid: int, service: int, subtype: int, source_id: int, data: bytes,
         seq: int) -> bytes:
    msg = struct.pack(">HBBH", apid, service, subtype, source_id) + data + struct.pack(">Q", seq)
    return hmac.new(key, msg, hashlib.sha256).digest()[:TAG_LEN]


def _report_tag(key: bytes, apid: int, service: int, subtype: int, data: bytes,
                request_trailer: bytes) -> bytes:
    # "TM" cannot begin a telecommand's message: as an apid it would exceed 11 bits.
    msg = (b"TM" + struct.pack(">HBBH", apid, service, subtype, len(data)) + data
           + request_trailer)
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


class ReportSigner:
    """The node's side of a verification report: a tag bound to the command it answers."""

    def __init__(self, key: bytes, request_trailer: bytes) -> None:
        self.key = key
        self.request_trailer = request_trailer

    def trailer(self, apid: int, service: int, subtype: int, data: bytes) -> bytes:
        return _report_tag(self.key, apid, service, subtype, data, self.request_trailer)


def report_authentic(key: bytes, pkt, request_trailer: bytes) -> bool:
    """Whether a decoded report ``pkt`` carries the node's tag for the command whose
    trailer was ``request_trailer``."""
    if len(pkt.trailer) != TAG_LEN:
        return False
    want = _report_tag(key, pkt.apid, pkt.service, pkt.subtype, pkt.data, request_trailer)
    return hmac.compare_digest(want, pkt.trailer)


class Verifier:
    """The receiving side: checks tags, rejects replays and runaway sequence numbers.

    With a :class:`ReplayState` the last accepted sequence per source survives
    restarts; without one (self-tests) it lives in memory.
    """

    def __init__(self, key: bytes, state: ReplayState | None = None, *,
                 window_s: float = DEFAULT_WINDOW_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.key = key
        self.state = state
        self.window_us = int(window_s * 1e6)
        self.clock = clock
        self._memory: dict[int, int] = {}
        self.detail = ""  # why the last check failed, in words

    @classmethod
    def from_key_file(cls, key_file: str | os.PathLike, state_dir: str | os.PathLike | None = None,
                      window_s: float | None = None) -> Verifier:
        """The node's verifier: the key in ``key_file`` and its on-disk anti-replay state.

        The state lies beside the key (``<key>`` + :data:`STATE_SUFFIX`) or, with
        ``state_dir`` (made owner-only if missing: a read-only key folder needs one),
        in ``state_dir/tc.replay.json``. ``window_s`` None or 0: :data:`DEFAULT_WINDOW_S`.
        Every failure is a one-line :class:`OrbnodeError`.
        """
        key_path = Path(key_file)
        key = load_key(key_path)
        if state_dir is None:
            state_path = key_path.with_name(key_path.name + STATE_SUFFIX)
        else:
            folder = Path(state_dir)
            try:
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            except OSError as exc:
                raise OrbnodeError(f"cannot make the anti-replay state folder {folder}: "
                                   f"{exc.strerror or exc}") from None
            state_path = folder / ("tc" + STATE_SUFFIX)
        return cls(key, ReplayState.open(state_path, key=key),
                   window_s=window_s or DEFAULT_WINDOW_S)

    @property
    def last_seq(self) -> dict[int, int]:
        return self.state.last_seq if self.state is not None else self._memory

    def check(self, apid: int, service: int, subtype: int, source_id: int, data: bytes,
              trailer: bytes) -> str | None:
        """None if the command is authentic and fresh, and its sequence number is on
        record (on disk, with a state); else the failure code name."""
        self.detail = ""
        if len(trailer) != TRAILER_LEN:
            self.detail = f"{len(trailer)}-byte trailer, {TRAILER_LEN} expected"
            return "unauthenticated"
        seq = struct.unpack(">Q", trailer[:SEQ_LEN])[0]
        want = _tag(self.key, apid, service, subtype, source_id, data, seq)
        if not hmac.compare_digest(want, trailer[SEQ_LEN:]):
            return "bad_mac"
        last = self.last_seq.get(source_id, 0)
        if seq <= last:
            self.detail = f"sequence {seq} <= last accepted {last}"
            return "replay"
        limit = int(self.clock() * 1e6) + self.window_us
        if seq > limit:
            self.detail = (f"sequence {seq} is {(seq - limit) / 1e6:.0f} s beyond the "
                           f"window ({self.window_us / 1e6:.0f} s ahead of the node's clock)")
            return "seq_ahead"
        if self.state is None:
            self._memory[source_id] = seq
            return None
        try:
            self.state.commit(source_id, seq)
        except (OSError, OrbnodeError) as exc:
            self.detail = f"cannot write {self.state.path}: {exc}"
            return "state_unsaved"
        return None
