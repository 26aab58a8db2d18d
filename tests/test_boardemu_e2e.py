"""The rpi4 bundle installed, self-tested and flown on an emulated Raspberry Pi 4.

Needs root, Linux, the network to the package index and Debian's archive (first
run only), and minutes: `make test-board-emu` sets the host up and runs this with
ORBNODE_BOARD_EMU=1 (CI does, after `make test`). Without that variable the module
is skipped; with it, a missing prerequisite fails instead of skipping.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from node.boards import load_board
from orbnode.boardemu_host import EmulatedBoard, RootCache, mounts_under
from orbnode.boardemu_spec import emulation_for, parse_cpuinfo

pytestmark = pytest.mark.skipif(not os.environ.get("ORBNODE_BOARD_EMU"),
                                reason="emulated boards run in `make test-board-emu`")

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "out" / "board-emu" / "roots"  # shared with `make board-emu`; make clean


def orbnode(*args, timeout):
    return subprocess.run([sys.executable, "-m", "orbnode", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="module")
def flown(tmp_path_factory):
    out = tmp_path_factory.mktemp("rpi4-emulated")
    res = orbnode("board-emu", "--board", "rpi4", "--out", str(out), "--cache", str(CACHE),
                  "--orbits", "0.05", "--json", timeout=2400)
    assert res.returncode == 0, res.stderr[-3000:]
    return out, json.loads(res.stdout), res.stderr


def test_the_bundle_installs_with_its_install_sh_and_passes_the_selftest(flown):
    out, _, _ = flown
    install = (out / "install.log").read_text()
    assert "selftest passed" in install and "installed for rpi4" in install
    report = json.loads((out / "selftest.json").read_text())
    checks = {c["name"]: c for c in report["checks"]}
    assert report["ok"] and report["board"] == "rpi4"
    assert "Linux-aarch64" in checks["python"]["detail"]
    assert "3.11" in checks["python"]["detail"]
    assert checks["package:onnxruntime"]["ok"] and checks["inference"]["ok"]
    assert checks["serial_port"]["ok"] and "/dev/ttyAMA0" in checks["serial_port"]["detail"]
    assert checks["telecommand_auth"]["ok"]
    manifest = json.loads((out / "bundle-rpi4" / "manifest.json").read_text())
    assert manifest["dependencies_included"] and manifest["board"] == "rpi4"


def test_the_installed_node_flies_with_every_tick_archived(flown):
    out, s, _ = flown
    assert s["complete"] and s["stopped_because"] == "completed"
    assert s["board"] == "rpi4" and s["board_emulated"] is True
    assert s["emulator"].startswith("qemu-aarch64") and "cortex-a72" in s["emulator"]
    assert s["emulated_cpu"].startswith("4x Cortex-A72")
    assert s["ticks"] >= 5 and s["inferences"] > 0 and s["frames_bad_host"] == 0
    assert set(s["step_wall_s"]) == {"root", "flash", "install", "selftest", "flight"}
    with sqlite3.connect(out / "telemetry.sqlite") as db:
        ticks = [r[0] for r in db.execute("SELECT tick FROM hk ORDER BY id")]
        meta = dict(db.execute("SELECT key, value FROM meta"))
    assert ticks == list(range(1, s["ticks"] + 1))
    assert json.loads(meta["board_emulated"]) is True
    assert json.loads((out / "summary.json").read_text())["board_emulated"] is True
    assert (out / "timeline.png").stat().st_size > 0


def test_power_is_modelled_from_the_emulated_cpu_time(flown):
    _, s, _ = flown
    board = load_board("rpi4")
    assert s["power_measured"] is False and s["power_source"].startswith("model")
    # The node's own CPU time is counted under the emulator (QEMU reports none in
    # /proc/self/stat), so the model draws more than the idle power while it works.
    assert board.idle_w < s["mean_power_w"] <= board.load_w


def test_the_emulated_board_shows_its_profile_cpu_and_is_aarch64(flown):
    out, _, _ = flown
    emu = emulation_for("rpi4")
    board = EmulatedBoard(emu, RootCache(CACHE).path(emu.root), out / "board")
    log = out / "probe.log"
    with open(log, "w") as fh:
        proc = board.popen(["/bin/sh", "-c", "uname -m; cat /proc/cpuinfo"], stdout=fh)
        assert proc.wait(timeout=120) == 0
    machine, cpuinfo = log.read_text().split("\n", 1)
    assert machine == "aarch64"
    blocks = parse_cpuinfo(cpuinfo)
    assert len(blocks) == 4 and {b["CPU part"] for b in blocks} == {"0xd08"}


def test_nothing_is_left_mounted(flown):
    out, _, _ = flown
    assert mounts_under(out) == [] and mounts_under(CACHE) == []
    assert not any((out / "board" / "root").iterdir())


def test_a_bundle_with_x86_64_wheels_is_refused(tmp_path):
    bundle = tmp_path / "bundle-x86"
    res = orbnode("flash", "--board", "rpi4", "--out", str(bundle), "--no-tar",
                  "--platform", "manylinux_2_28_x86_64", timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    assert any("x86_64" in w.name for w in (bundle / "wheels").iterdir())
    out = tmp_path / "run"
    res = orbnode("board-emu", "--board", "rpi4", "--bundle", str(bundle), "--out", str(out),
                  "--cache", str(CACHE), timeout=300)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "x86_64" in lines[0] and "aarch64" in lines[0], res.stderr
    assert "Traceback" not in res.stderr and not out.exists()
    assert mounts_under(tmp_path) == []


def test_a_root_that_cannot_be_built_fails_in_one_line_and_leaves_nothing(tmp_path):
    cache, out = tmp_path / "cache", tmp_path / "run"
    res = orbnode("board-emu", "--board", "rpi4", "--cache", str(cache), "--out", str(out),
                  "--mirror", "http://127.0.0.1:9/debian", timeout=300)
    assert res.returncode == 2
    error = [ln for ln in res.stderr.splitlines() if "error" in ln]
    assert len(error) == 1 and "debootstrap" in error[0] and "127.0.0.1:9" in error[0]
    assert sorted(p.name for p in cache.iterdir()) == ["debian-bookworm-arm64.log"]
    assert not out.exists() and mounts_under(tmp_path) == []
