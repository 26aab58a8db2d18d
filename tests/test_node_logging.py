"""`orbnode node` says on stderr what it does, at a chosen level, and why it stops;
it exits non-zero when it stops for an error."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import time

from node.auth import write_key


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
