"""`orbnode node` says on stderr what it does, at a chosen level, and why it stops;
it exits non-zero when it stops for an error."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import time

from node.auth import SOURCE_GROUND, Signer, load_key, write_key
from node.link.framing import encode_frame
from node.packets import PACKETS
from node.ratelog import RateLimitedLog


def _start_node(slave_path: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "orbnode", "node", "--port", slave_path,
                             "--on-hangup", "exit", *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for(proc: subprocess.Popen, text: str, timeout_s: float = 120) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"{text!r} never logged: {''.join(lines)}")


def test_node_logs_its_settings_and_exits_1_when_the_bus_is_gone(tmp_path):
    key = write_key(tmp_path / "tc.key")
    master, slave = pty.openpty()
    proc = _start_node(os.ttyname(slave), "--key-file", str(key))
    os.close(slave)
    try:
        said = "".join(_wait_for(proc, "serving on"))
        assert "board " in said and "model " in said and "power source" in said
        assert f"telecommand key {key}" in said
    finally:
        os.close(master)  # the bus hangs up for good
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    assert "ERROR: stopping: link closed" in err.splitlines()[-1]


def test_log_level_warning_keeps_the_start_quiet(tmp_path):
    master, slave = pty.openpty()
    proc = _start_node(os.ttyname(slave), "--insecure", "--log-level", "warning")
    os.close(slave)
    deadline = time.monotonic() + 120
    # The node is up once it has written its hello on the line.
    os.set_blocking(master, False)
    got = b""
    while b"board=" not in got and time.monotonic() < deadline and proc.poll() is None:
        try:
            got += os.read(master, 4096)
        except OSError:  # EAGAIN: nothing yet; EIO: the node has not opened its end yet
            time.sleep(0.1)
    os.close(master)
    _, err = proc.communicate(timeout=60)
    assert b"board=" in got
    assert "INFO" not in err and "serving on" not in err
    assert len(err.splitlines()) == 1 and "ERROR: stopping: link closed" in err


def _counts(lines: list[str], marker: str) -> int:
    """Occurrences the rate-limited lines with ``marker`` stand for: 1, or [N times]."""
    total = 0
    for line in lines:
        if marker in line:
            m = re.search(r"\[(\d+) times", line)
            total += int(m.group(1)) if m else 1
    return total


def test_refused_commands_and_corrupt_frames_are_logged_rate_limited(tmp_path):
    key = write_key(tmp_path / "tc.key")
    forger = Signer(load_key(write_key(tmp_path / "other.key")), SOURCE_GROUND)
    master, slave = pty.openpty()
    proc = _start_node(os.ttyname(slave), "--key-file", str(key))
    os.close(slave)
    os.set_blocking(master, False)
    junk = (b"\x00" + b"\x11" * 5 + b"\x00") * 30  # COBS runs that promise more bytes
    forged = b"".join(encode_frame(PACKETS.build("ping", signer=forger)) for _ in range(20))
    try:
        _wait_for(proc, "serving on")
        for burst in (junk + forged, junk + forged):  # two bursts inside one second
            os.write(master, burst)
            time.sleep(0.2)
        time.sleep(0.5)
        try:
            while os.read(master, 65536):  # the node's refusal events, unread
                pass
        except OSError:
            pass
    finally:
        os.close(master)  # the bus hangs up: the node says what is left, then stops
    _, err = proc.communicate(timeout=60)
    lines = err.splitlines()
    refused = [ln for ln in lines if "refused: bad_mac" in ln]
    corrupt = [ln for ln in lines if "corrupt frames" in ln]
    assert all("WARNING" in ln for ln in refused + corrupt)
    # Every one counted, in at most a line a second per reason (2 s here at most).
    assert _counts(refused, "refused: bad_mac") == 40 and 1 <= len(refused) <= 3, err
    assert _counts(corrupt, "corrupt frames") == 60 and 1 <= len(corrupt) <= 3, err
    assert "tc ping from source" in refused[0] and "40 refused so far" in refused[-1]
    assert "60 so far" in corrupt[-1]


def test_rate_limited_log_says_each_reason_at_most_once_a_period_and_counts_the_rest():
    now = [0.0]
    said: list[str] = []
    log = RateLimitedLog(said.append, period_s=1.0, clock=lambda: now[0])
    log.note("bad_mac", "refused a")       # the first at once
    log.note("replay", "replayed b")       # another reason: its own period
    for t in (0.1, 0.2, 0.9):
        now[0] = t
        log.note("bad_mac", f"refused at {t}")
    log.flush()                            # within the period: nothing yet
    assert said == ["refused a", "replayed b"]
    now[0] = 1.0
    log.flush()
    assert said[-1] == "refused at 0.9 [3 times in 1.0 s]"
    now[0] = 1.5
    log.note("bad_mac", "refused c", count=2)
    log.flush(force=True)                  # stopping: nothing left unsaid
    assert said[-1] == "refused c [2 times in 0.5 s]" and len(said) == 4
    log.flush(force=True)
    assert len(said) == 4
