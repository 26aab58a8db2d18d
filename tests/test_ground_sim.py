"""`orbnode sim` as a ground station: it captures the link and shows a live status
line on a terminal, and stays quiet when its output is not a terminal but for one plain
line saying what it waits for."""

from __future__ import annotations

import io
import json
import os
import pty
import sqlite3
import subprocess
import sys
import threading

from firmware_stubs.ground.ccsds import split_packets
from node.auth import write_key
from node.link.pty_transport import VirtualCable
from orbnode.console import CLEAR_LINE, LiveConsole

ROW = {"t_s": 600.0, "mode": "ECO", "throughput_per_s": 812.0, "soc": 0.83, "temp_c": 21.5,
       "upsets": 3, "tc_rejected": 1}


def test_the_console_writes_only_to_a_terminal():
    piped = io.StringIO()
    c = LiveConsole(piped, interval_s=0.0)
    c.status("waiting")
    c.on_tick(ROW)
    c.close()
    assert piped.getvalue() == ""
    master, slave = pty.openpty()
    try:
        with os.fdopen(slave, "w", closefd=True) as tty:
            c = LiveConsole(tty, interval_s=0.0)
            c.period_s = 6000.0
            c.on_tick(ROW)
            c.close()
        shown = os.read(master, 4096).decode()
    finally:
        os.close(master)
    assert "orbit  0.10" in shown and "ECO" in shown and "812 inf/s" in shown
    assert "SoC  83.0%" in shown and "upsets 3" in shown and "tc rejected 1" in shown


def test_an_announcement_is_one_plain_line_off_a_terminal():
    piped = io.StringIO()
    c = LiveConsole(piped, interval_s=0.0)
    c.announce("orbnode sim: waiting for the node on loop://")
    c.on_tick(ROW)
    c.close()
    assert piped.getvalue() == "orbnode sim: waiting for the node on loop://\n"


def _session(cable, key, out, stderr) -> subprocess.CompletedProcess:
    node = subprocess.Popen([sys.executable, "-m", "orbnode", "node", "--port", cable.end_a,
                             "--key-file", str(key)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        res = subprocess.run([sys.executable, "-m", "orbnode", "sim", "--port", cable.end_b,
                              "--orbits", "0.1", "--speedup", "600", "--tick-s", "0.05",
                              "--key-file", str(key), "--out", str(out), "--json"],
                             stdout=subprocess.PIPE, stderr=stderr, text=True, timeout=180)
        node.wait(timeout=30)
    finally:
        if node.poll() is None:
            node.kill()
            node.wait()
    assert res.returncode == 0, res.stderr
    return res


def test_sim_captures_the_link_and_shows_its_state_on_a_terminal(tmp_path):
    key = write_key(tmp_path / "k")
    master, slave = pty.openpty()
    shown = bytearray()

    def drain():
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:
                return
            if not data:
                return
            shown.extend(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    with VirtualCable() as cable:
        res = _session(cable, key, tmp_path / "tty", slave)
        os.close(slave)
        piped = _session(cable, key, tmp_path / "pipe", subprocess.PIPE)
    os.close(master)
    reader.join(timeout=5)
    text = shown.decode(errors="replace")
    assert CLEAR_LINE in text and "link in" in text and "inf/s" in text and "orbit" in text
    assert CLEAR_LINE not in piped.stderr and "link in" not in piped.stderr
    waiting = [ln for ln in piped.stderr.splitlines() if "waiting" in ln]
    assert waiting == [f"orbnode sim: waiting for the node on {cable.end_b}"]
    for run in (tmp_path / "tty", tmp_path / "pipe"):
        with sqlite3.connect(run / "telemetry.sqlite") as c:
            n = dict(c.execute("SELECT direction, COUNT(*) FROM packets GROUP BY direction"))
            ticks = c.execute("SELECT COUNT(*) FROM hk").fetchone()[0]
        assert len(split_packets((run / "tm.bin").read_bytes())) == n["tm"] > ticks > 0
        assert len(split_packets((run / "tc.bin").read_bytes())) == n["tc"] > ticks
    assert json.loads(res.stdout)["ticks"] > 0
