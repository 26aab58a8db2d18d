"""A --wheel-only bundle installs with no network: the real install.sh, in a network
namespace. (Bundles with their dependency wheels: tests/test_flash_offline.py.)

What this proves. install.sh, unchanged, runs from the extracted tarball with no
network at all (``unshare -rn``: a fresh network namespace without even a loopback
route; where unshare is unavailable, pip is pointed at dead proxies instead). It
checks SHA256SUMS, installs the bundle's orbnode wheel with
``pip install --no-index --find-links wheels/`` into a fresh venv whose pip resolves
every declared dependency (nothing is installed with --no-deps only), puts model,
profile, manifest and unit under the prefix, and the *installed* copy (not this
checkout) passes ``orbnode node --selftest --bundle PREFIX``.

What it does not prove. The dependencies are not installed from the bundle: the
bundle is built with --wheel-only (no package index needed), so the fresh venv
sees this project's .venv site-packages through a .pth file, via a directory of
symlinks that leaves out orbnode itself (its editable install), so pip must install
orbnode from the bundle and finds the rest already satisfied. The venv is made by
the test (install.sh takes the "reuse the venv" branch); the board's architecture
and Python (aarch64, 3.10 on a Jetson) are not exercised.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path

import pytest
from offline import DEAD, OFFLINE

ROOT = Path(__file__).resolve().parent.parent
SITE = Path(sysconfig.get_paths()["purelib"])
EDITABLE = ("orbnode", "__editable__", "_distutils_hack", "__pycache__")




def run_offline(cmd: list[str], prefix: Path, cwd: Path, **extra: str):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd),
           "LANG": "C.UTF-8", "ORBNODE_PREFIX": str(prefix),
           "http_proxy": DEAD, "https_proxy": DEAD, "HTTP_PROXY": DEAD, "HTTPS_PROXY": DEAD,
           "PIP_INDEX_URL": DEAD, **extra}
    return subprocess.run(OFFLINE + cmd, capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=300)


@pytest.fixture(scope="module")
def tarball(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("flash") / "bundle-rpi4"
    res = subprocess.run([sys.executable, "-m", "orbnode", "flash", "--board", "rpi4", "--out",
                          str(out), "--wheel-only"], capture_output=True, text=True, cwd=ROOT,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    return out.with_name("bundle-rpi4.tar.gz")


def extract(tarball: Path, dest: Path) -> Path:
    with tarfile.open(tarball) as tar:
        tar.extractall(dest, filter="data")
    return dest / "bundle-rpi4"


def deps_view(dest: Path, leave_out: tuple[str, ...] = ()) -> Path:
    """This venv's site-packages as symlinks, minus orbnode (and ``leave_out``)."""
    dest.mkdir()
    for entry in SITE.iterdir():
        name = entry.name
        if name.startswith(EDITABLE) or name.endswith(".pth"):
            continue
        if any(name.lower().startswith(x) for x in leave_out):
            continue
        (dest / name).symlink_to(entry)
    return dest


def fresh_venv(prefix: Path, view: Path) -> Path:
    """A venv without pip of its own; the view (pip included) is appended to sys.path."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(prefix / "venv")],
                   check=True, timeout=120)
    site = next((prefix / "venv" / "lib").glob("python3*/site-packages"))
    (site / "orbnode-test-deps.pth").write_text(f"{view}\n")
    return prefix / "venv" / "bin" / "python"


def test_bundle_installs_offline_and_the_installed_node_passes_selftest(tarball, tmp_path):
    bundle = extract(tarball, tmp_path / "media")
    prefix = tmp_path / "opt-orbnode"
    python = fresh_venv(prefix, deps_view(tmp_path / "deps"))
    res = run_offline(["bash", str(bundle / "install.sh")], prefix, tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Successfully installed orbnode" in res.stdout
    assert "Requirement already satisfied: onnxruntime" in res.stdout  # deps resolved
    assert "selftest passed" in res.stderr

    report = json.loads((prefix / "selftest.json").read_text())
    assert report["ok"], report
    checks = {c["name"]: c for c in report["checks"]}
    assert str(prefix / "venv") in checks["orbnode"]["detail"]  # the installed copy ran
    assert "matches the bundle" in checks["model_sha256"]["detail"]
    assert (prefix / "models" / "digits_cnn.onnx").read_bytes() == \
        (bundle / "models" / "digits_cnn.onnx").read_bytes()
    assert (prefix / "boards" / "rpi4.toml").is_file()
    unit = (prefix / "orbnode-node.service").read_text()
    assert "@PREFIX@" not in unit
    assert f"ExecStart={prefix}/venv/bin/orbnode node --port /dev/ttyAMA0" in unit

    where = subprocess.run([str(python), "-c", "import node; print(node.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, check=True)
    assert where.stdout.strip().startswith(str(prefix / "venv"))

    # Installing again over the existing venv (an upgrade in place) works too.
    again = run_offline(["bash", str(bundle / "install.sh")], prefix, tmp_path,
                        ORBNODE_SKIP_SELFTEST="1")
    assert again.returncode == 0, again.stderr
    assert "reusing the venv" in again.stderr


def test_offline_install_fails_when_a_dependency_is_missing(tarball, tmp_path):
    """pip really resolves the dependencies offline: take one away and it must fail."""
    bundle = extract(tarball, tmp_path / "media")
    prefix = tmp_path / "opt-orbnode"
    fresh_venv(prefix, deps_view(tmp_path / "deps", leave_out=("cobs",)))
    res = run_offline(["bash", str(bundle / "install.sh")], prefix, tmp_path)
    assert res.returncode != 0
    assert "cobs" in res.stdout + res.stderr
    assert "pip could not install offline" in res.stderr
    assert not (prefix / "manifest.json").exists()


def test_install_refuses_a_corrupt_bundle(tarball, tmp_path):
    bundle = extract(tarball, tmp_path / "media")
    model = bundle / "models" / "digits_cnn.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, as a bad SD card would
    model.write_bytes(bytes(data))
    prefix = tmp_path / "opt-orbnode"
    res = run_offline(["bash", str(bundle / "install.sh")], prefix, tmp_path)
    assert res.returncode != 0
    assert "do not match SHA256SUMS" in res.stderr
    assert not prefix.exists()
