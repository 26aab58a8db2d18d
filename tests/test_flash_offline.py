"""Bundles as `orbnode flash` makes them by default: with their dependency wheels.

What this proves.

* This machine's board profile: the bundle is built with the wheels of the base
  dependencies for this Python and platform, then install.sh runs from the extracted
  tarball with no network at all (``unshare -rn``, else dead proxies) and makes its
  own venv from the base interpreter, so nothing of this checkout's .venv is visible:
  every package the node has comes out of the bundle. The installed copy passes
  ``orbnode node --selftest``, runs the board commands on the base install alone (and
  a host command says which extra it lacks), then flies one orbit against
  ``orbnode sim`` over a virtual null-modem cable, authenticated with the bundle's key,
  telling a (test) systemd it is ready and alive.
* rpi4 (aarch64, Python 3.11): the bundled wheel set resolves completely, offline, for
  the board's platform and Python (``pip install --dry-run --no-index --platform ...``),
  every bundled wheel is used, and the unit hands the node the owner-only key.

What it does not prove: that the aarch64 wheels run on an aarch64 board (the emulated
board runner does that). Building the bundles needs the package index (pip's cache
helps); where it cannot be reached these tests skip.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import pytest
from offline import DEAD, OFFLINE

from node.boards import detect_board
from node.link.pty_transport import VirtualCable
from orbnode.flash_wheels import expand_platforms

ROOT = Path(__file__).resolve().parent.parent
HOST_ONLY = ("matplotlib", "scipy", "sgp4", "tqdm", "pillow", "fonttools", "contourpy")




def offline_env(home: Path, **extra: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
            "LANG": "C.UTF-8", "http_proxy": DEAD, "https_proxy": DEAD, "HTTP_PROXY": DEAD,
            "HTTPS_PROXY": DEAD, "PIP_INDEX_URL": DEAD, **extra}


def flash(*args, timeout=900) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, "-m", "orbnode", "flash", *map(str, args)],
                         capture_output=True, text=True, cwd=ROOT, timeout=timeout)
    if res.returncode == 2 and "cannot reach the package index" in res.stderr:
        pytest.skip("the package index cannot be reached to fetch the dependency wheels")
    return res


def wheel_names(bundle: Path) -> set[str]:
    """Distribution names of the wheels in ``bundle/wheels``, normalised."""
    return {p.name.split("-")[0].lower().replace("_", "-")
            for p in (bundle / "wheels").glob("*.whl")}


# --------------------------------------------------------------- this machine's board
@pytest.fixture(scope="module")
def host_bundle(tmp_path_factory):
    board = detect_board()
    out = tmp_path_factory.mktemp("flash") / f"bundle-{board}"
    res = flash("--board", board, "--out", out)
    assert res.returncode == 0, res.stderr
    return out, res


@pytest.fixture(scope="module")
def installed(host_bundle, tmp_path_factory):
    out, _ = host_bundle
    media = tmp_path_factory.mktemp("media")
    with tarfile.open(out.with_name(out.name + ".tar.gz")) as tar:
        tar.extractall(media, filter="data")
    bundle = media / out.name
    prefix = tmp_path_factory.mktemp("opt") / "orbnode"
    base = getattr(sys, "_base_executable", sys.executable)
    res = subprocess.run(OFFLINE + ["bash", str(bundle / "install.sh")], capture_output=True,
                         text=True, cwd=media, timeout=900,
                         env=offline_env(media, ORBNODE_PREFIX=str(prefix), PYTHON=base))
    assert res.returncode == 0, res.stdout + res.stderr
    return bundle, prefix, res


def test_bundle_holds_the_base_wheels_and_nothing_host_only(host_bundle):
    out, res = host_bundle
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["dependencies_included"] is True
    names = wheel_names(out)
    assert {"orbnode", "numpy", "onnx", "onnxruntime", "pyserial", "spacepackets",
            "cobs"} <= names
    assert not names & set(HOST_ONLY), names
    assert "dependencies included" in res.stderr and "onnxruntime-" in res.stderr


def test_installs_offline_from_its_own_wheels_and_passes_selftest(installed):
    bundle, prefix, res = installed
    assert "creating the venv" in res.stderr and "selftest passed" in res.stderr
    report = json.loads((prefix / "selftest.json").read_text())
    assert report["ok"], report
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["telecommand_auth"]["ok"]  # with the installed key
    assert str(prefix / "venv") in checks["orbnode"]["detail"]
    # The venv holds what the bundle brought, and nothing else (pip itself aside).
    vpy = prefix / "venv" / "bin" / "python"
    freeze = subprocess.run([str(vpy), "-m", "pip", "list", "--format", "json"],
                            capture_output=True, text=True, env=offline_env(prefix), check=True)
    have = {d["name"].lower().replace("_", "-") for d in json.loads(freeze.stdout)}
    assert have - {"pip", "setuptools"} == wheel_names(bundle)


def test_key_installed_owner_only_and_named_by_the_unit(installed):
    bundle, prefix, _ = installed
    key = prefix / "etc" / "tc.key"
    assert key.read_bytes() == (bundle / "keys" / "tc.key").read_bytes()
    assert key.stat().st_mode & 0o777 == 0o600
    assert key.parent.stat().st_mode & 0o777 == 0o700
    unit = (prefix / "orbnode-node.service").read_text()
    assert f"LoadCredential=tc.key:{key}" in unit and "--key-file %d/tc.key" in unit


def test_base_install_runs_the_board_commands(installed, tmp_path):
    _, prefix, _ = installed
    vpy = prefix / "venv" / "bin" / "python"
    orbnode = prefix / "venv" / "bin" / "orbnode"
    env = offline_env(tmp_path)

    def run(*cmd, **kw):
        return subprocess.run([*map(str, cmd)], capture_output=True, text=True, cwd=tmp_path,
                              env=env, timeout=120, **kw)

    # Every module of the node imports on the base install, and so do the board's commands.
    code = ("import importlib, pkgutil, node\n"
            "mods = [m.name for m in pkgutil.walk_packages(node.__path__, 'node.')]\n"
            "for m in mods + ['orbnode.cli', 'orbnode.node_commands', 'radiation.upsets']:\n"
            "    importlib.import_module(m)\n"
            "print(len(mods))")
    res = run(vpy, "-c", code)
    assert res.returncode == 0, res.stderr
    assert int(res.stdout) > 10
    for host_module in ("matplotlib", "scipy", "sgp4", "tqdm"):
        assert run(vpy, "-c", f"import {host_module}").returncode != 0, host_module
    assert run(orbnode, "--help").returncode == 0
    for sub in ("node", "tc", "keygen"):
        assert run(orbnode, sub, "--help").returncode == 0, sub
    res = run(orbnode, "keygen", "--out", tmp_path / "k")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "k").stat().st_mode & 0o777 == 0o600
    # A host command: one line naming the extra it needs, exit 2, no traceback.
    res = run(orbnode, "orbit", "--json")
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "orbnode[host]" in lines[0], res.stderr


def test_installed_node_flies_one_orbit_against_the_sim(installed, tmp_path):
    bundle, prefix, _ = installed
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(0.5)
    states: list[str] = []
    done = threading.Event()

    def listen() -> None:  # what systemd would do with the node's notifications
        while not done.is_set():
            try:
                states.append(notify.recv(4096).decode())
            except TimeoutError:
                continue

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    cable = VirtualCable()
    manifest = json.loads((prefix / "manifest.json").read_text())
    node_env = offline_env(tmp_path, NOTIFY_SOCKET=str(tmp_path / "notify"),
                           WATCHDOG_USEC="400000")
    node = subprocess.Popen(
        [str(prefix / "venv" / "bin" / "orbnode"), "node", "--port", cable.end_a,
         "--board", str(prefix / manifest["board_profile"]),
         "--model", str(prefix / manifest["model"]["path"]),
         "--key-file", str(prefix / "etc" / "tc.key")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=node_env)
    try:
        res = subprocess.run([sys.executable, "-m", "orbnode", "sim", "--port", cable.end_b,
                              "--orbits", "1", "--speedup", "1200", "--tick-s", "0.05",
                              "--key-file", str(bundle / "keys" / "tc.key"),
                              "--out", str(tmp_path / "sim"), "--json"],
                             capture_output=True, text=True, cwd=ROOT, timeout=300)
        if res.returncode != 0 and node.poll() is None:
            node.kill()
        assert res.returncode == 0, res.stderr + node.communicate()[1][-3000:]
        node.wait(timeout=30)  # the sim's shutdown telecommand stops the node
        assert node.returncode == 0, node.stderr.read()
    finally:
        if node.poll() is None:
            node.kill()
        cable.close()
    summary = json.loads(res.stdout)
    assert summary["complete"] is True and summary["orbits"] == pytest.approx(1.0, abs=0.01)
    assert summary["inferences"] > 0 and summary["tc_rejected"] == 0
    done.set()
    listener.join(timeout=5)
    notify.close()
    assert states[0].startswith("READY=1"), states
    assert "WATCHDOG=1" in states and states[-1] == "STOPPING=1", states


# --------------------------------------------------------------- rpi4: aarch64, Python 3.11
@pytest.fixture(scope="module")
def rpi4_bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("flash") / "bundle-rpi4"
    res = flash("--board", "rpi4", "--out", out, "--no-tar")
    assert res.returncode == 0, res.stderr
    return out


def test_aarch64_wheel_set_resolves_offline_for_the_boards_python(rpi4_bundle, tmp_path):
    manifest = json.loads((rpi4_bundle / "manifest.json").read_text())
    targets = manifest["targets"]
    assert targets["python_version"] == "3.11"
    assert targets["platforms"] == ["manylinux_2_36_aarch64"]
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--no-index",
           "--disable-pip-version-check", "--ignore-installed", "--only-binary=:all:",
           "--find-links", str(rpi4_bundle / "wheels"), "--python-version", "3.11",
           "--implementation", "cp", "--abi", "cp311", "--target", str(tmp_path / "t"),
           "--report", str(tmp_path / "report.json")]
    for tag in expand_platforms(targets["platforms"]):
        cmd += ["--platform", tag]
    cmd.append(str(rpi4_bundle / manifest["wheel"]))
    res = subprocess.run(OFFLINE + cmd, capture_output=True, text=True, timeout=300,
                         env=offline_env(tmp_path))
    assert res.returncode == 0, res.stdout + res.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    resolved = {item["metadata"]["name"].lower().replace("_", "-") for item in report["install"]}
    # Complete (pip found everything offline) and lean (every bundled wheel is needed).
    assert resolved == wheel_names(rpi4_bundle)
    assert all("aarch64" in item["download_info"]["url"] or
               item["download_info"]["url"].endswith("-none-any.whl")
               for item in report["install"])
    assert not resolved & set(HOST_ONLY)


def test_aarch64_unit_carries_the_owner_only_key(rpi4_bundle):
    manifest = json.loads((rpi4_bundle / "manifest.json").read_text())
    unit = (rpi4_bundle / "orbnode-node.service").read_text()
    exec_start = next(ln for ln in unit.splitlines() if ln.startswith("ExecStart="))
    assert "--port /dev/ttyAMA0" in exec_start
    assert exec_start.endswith("--key-file %d/tc.key --state-dir %S/orbnode")
    assert f"LoadCredential=tc.key:{manifest['key']['installed_at']}" in unit
    key = rpi4_bundle / manifest["key"]["path"]
    assert key.stat().st_mode & 0o777 == 0o600 and len(key.read_text().strip()) == 64
    assert "Restart=on-failure" in unit and "WatchdogSec=30" in unit


def test_platform_without_a_wheel_is_refused_before_writing(tmp_path):
    out = tmp_path / "new" / "b"
    res = flash("--board", "rpi4", "--out", out, "--platform", "manylinux_2_36_riscv64")
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "no wheel of" in lines[0] and "riscv64" in lines[0], res.stderr
    assert not (tmp_path / "new").exists()


def test_bench_runs_on_the_base_install(installed, tmp_path):
    """On a board: the measurements and bench.json/.md need nothing of the host extra;
    the chart and the orbit figure are left out, and the report says why."""
    _, prefix, _ = installed
    res = subprocess.run(
        [str(prefix / "venv" / "bin" / "orbnode"), "bench", "--model",
         str(prefix / "models" / "digits_cnn.onnx"), "--duration", "0.2", "--warmup", "0.1",
         "--power-sample", "0.1", "--no-bare", "--out", str(tmp_path / "b"), "--json"],
        capture_output=True, text=True, cwd=tmp_path, env=offline_env(tmp_path), timeout=300)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert {p["mode"] for p in report["points"]} == {"FULL", "ECO", "SAFE"}
    assert report["orbit"] == [] and any("orbnode[host]" in n for n in report["notes"])
    assert (tmp_path / "b" / "bench.md").is_file() and not (tmp_path / "b" / "bench.png").exists()
