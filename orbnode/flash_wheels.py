"""What goes into a bundle's ``wheels/``: the orbnode wheel, and the dependency wheels
for the board's Python and platform.

The orbnode wheel is built with ``pip wheel --no-deps`` from a scratch copy of the
source tree, so a stale ``build/`` in the checkout cannot leak into it and the checkout
is never written to. Dependency wheels come from ``pip download``: from the package
index, or offline from a local wheelhouse directory.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from node.errors import OrbnodeError

Log = Callable[[str], None]


def log_stderr(msg: str) -> None:
    print(f"orbnode flash: {msg}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Target:
    """What a board runs: the Python its OS ships, its wheel platform, its serial port."""

    python_version: str
    platforms: tuple[str, ...]  # newest manylinux tag the board's glibc allows
    port: str
    note: str


# Defaults per shipped board profile; --python-version / --platform / --port override.
# rpi4/rpi5: Raspberry Pi OS Bookworm 64-bit (Debian 12: Python 3.11, glibc 2.36); the
#   GPIO 14/15 PL011 UART is /dev/ttyAMA0 with Bluetooth moved off it (dtoverlay).
# jetson-orin-nano: JetPack 6 (Ubuntu 22.04: Python 3.10, glibc 2.35); the 40-pin
#   header UART is /dev/ttyTHS0. PyPI's onnxruntime there is CPU-only.
# x86-workstation: the Python running flash, glibc 2.28+ (RHEL 8, Ubuntu 20.04 on),
#   a USB serial adapter.
BOARD_TARGETS: dict[str, Target] = {
    "rpi4": Target("3.11", ("manylinux_2_36_aarch64",), "/dev/ttyAMA0",
                   "Raspberry Pi OS Bookworm 64-bit"),
    "rpi5": Target("3.11", ("manylinux_2_36_aarch64",), "/dev/ttyAMA0",
                   "Raspberry Pi OS Bookworm 64-bit"),
    "jetson-orin-nano": Target("3.10", ("manylinux_2_35_aarch64",), "/dev/ttyTHS0",
                               "JetPack 6 (Ubuntu 22.04)"),
    "x86-workstation": Target(f"{sys.version_info.major}.{sys.version_info.minor}",
                              ("manylinux_2_28_x86_64",), "/dev/ttyUSB0",
                              "Linux x86-64, glibc >= 2.28"),
}


def default_target(board_name: str) -> Target:
    """The board's default target; a custom profile gets this machine's Python and arch."""
    if board_name in BOARD_TARGETS:
        return BOARD_TARGETS[board_name]
    arch = platform.machine() or "x86_64"
    return Target(f"{sys.version_info.major}.{sys.version_info.minor}",
                  (f"manylinux_2_28_{arch}",), "/dev/ttyUSB0", "custom board profile")


_MANYLINUX = re.compile(r"^manylinux_(\d+)_(\d+)_(\w+)$")


def expand_platforms(platforms: list[str] | tuple[str, ...]) -> list[str]:
    """Every manylinux tag a board with the given newest tag can run.

    ``pip download --platform manylinux_2_36_aarch64`` matches *only* wheels tagged
    exactly so, while onnxruntime, numpy and friends ship e.g. ``manylinux_2_27``
    or ``manylinux2014``; a glibc 2.36 board runs all of those (PEP 600), so the
    list handed to pip names them all.
    """
    out: list[str] = []
    for tag in platforms:
        m = _MANYLINUX.match(tag)
        if not m:
            out.append(tag)
            continue
        major, minor, arch = int(m.group(1)), int(m.group(2)), m.group(3)
        if major != 2:
            out.append(tag)
            continue
        out.extend(f"manylinux_2_{v}_{arch}" for v in range(minor, 16, -1))
        if minor >= 17:
            out.append(f"manylinux2014_{arch}")
    return list(dict.fromkeys(out))


def check_python_version(text: str) -> str:
    """``3.11`` style (major.minor), as pip's --python-version and the manifest use it."""
    if not re.fullmatch(r"3\.\d{1,2}", text or ""):
        raise OrbnodeError(f"bad --python-version {text!r}: expected major.minor like 3.11")
    return text


def project_root() -> Path | None:
    """The source checkout this orbnode runs from, or None for an installed copy."""
    root = Path(__file__).resolve().parent.parent
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and re.search(r'(?m)^name\s*=\s*"orbnode"',
                                         pyproject.read_text("utf-8")):
        return root
    return None


def _local_backend_ok() -> bool:
    """Can this interpreter build the wheel itself (offline, no build isolation)?

    pyproject asks for setuptools >= 68 and ``wheel``; setuptools >= 70.1 carries
    bdist_wheel itself. Otherwise pip fetches the backend into an isolated build
    environment, which needs the package index.
    """
    try:
        import setuptools
    except ImportError:
        return False
    parts = tuple(int(p) for p in re.findall(r"\d+", setuptools.__version__)[:2])
    if parts >= (70, 1):
        return True
    if parts < (68, 0):
        return False
    try:
        import wheel  # noqa: F401
    except ImportError:
        return False
    return True


def _copy_sources(root: Path, dest: Path) -> None:
    """Project metadata and top-level packages only: no venv, build dirs or outputs."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for entry in sorted(root.iterdir()):
        if entry.is_file() and (entry.name in ("pyproject.toml", "setup.py", "setup.cfg",
                                               "MANIFEST.in")
                                or entry.name.startswith(("README", "LICENSE"))):
            shutil.copy2(entry, dest / entry.name)
        elif entry.is_dir() and (entry / "__init__.py").is_file():
            shutil.copytree(entry, dest / entry.name, ignore=ignore)


def _tail(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.lower().startswith("error")]
    return (errors or lines or ["no output"])[-1]


def build_wheel(dest: Path, *, root: Path | None = None, log: Log | None = None) -> Path:
    """Build the orbnode wheel into ``dest`` with ``pip wheel --no-deps``; return its path."""
    log = log or log_stderr
    root = root or project_root()
    if root is None:
        raise OrbnodeError("this orbnode is not a source checkout, so it cannot build its "
                           "wheel; pass --wheel orbnode-*.whl")
    offline = _local_backend_ok()
    with tempfile.TemporaryDirectory(prefix="orbnode-src-") as src:
        _copy_sources(root, Path(src))
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check",
               "--wheel-dir", str(dest)]
        if offline:
            cmd += ["--no-build-isolation", "--no-index"]
        else:
            log("the local setuptools cannot build wheels; pip fetches the build backend "
                "(setuptools, wheel) from the package index")
        cmd.append(src)
        env = dict(os.environ, PIP_NO_INPUT="1")
        res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        raise OrbnodeError(f"pip wheel failed: {_tail(res.stdout + res.stderr)}")
    wheels = sorted(dest.glob("orbnode-*.whl"))
    if len(wheels) != 1:
        raise OrbnodeError(f"pip wheel made {len(wheels)} orbnode wheels in {dest}, expected 1")
    return wheels[0]


@dataclass(frozen=True)
class WheelInfo:
    """What the orbnode wheel says about itself."""

    version: str
    requires: list[str]


def inspect_wheel(path: Path, board_file: str | None = None) -> WheelInfo:
    """Check the wheel is an orbnode wheel holding the node package, the default model
    and (for a shipped profile) ``node/boards/<board_file>``."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            meta_name = next((n for n in names if n.endswith(".dist-info/METADATA")), None)
            if meta_name is None:
                raise OrbnodeError(f"{path.name} has no .dist-info/METADATA: not a wheel")
            meta = zf.read(meta_name).decode("utf-8", "replace")
    except (OSError, zipfile.BadZipFile) as exc:
        raise OrbnodeError(f"cannot read wheel {path}: {exc}") from None
    fields: dict[str, list[str]] = {}
    for line in meta.split("\n\n", 1)[0].splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            fields.setdefault(key, []).append(value.strip())
    if fields.get("Name", [""])[0].lower() != "orbnode":
        raise OrbnodeError(f"{path.name} is not an orbnode wheel")
    needed = ["node/__init__.py", "orbnode/cli.py", "node/selftest.py",
              "node/models/digits_cnn.onnx"]
    if board_file:
        needed.append(f"node/boards/{board_file}")
    missing = [n for n in needed if n not in names]
    if missing:
        raise OrbnodeError(f"{path.name} lacks {', '.join(missing)}")
    runtime = [r for r in fields.get("Requires-Dist", []) if "extra ==" not in r]
    return WheelInfo(fields["Version"][0], runtime)


# pip's words for "the index could not be reached" (as opposed to "it has no such wheel").
_NETWORK_WORDS = ("NewConnectionError", "Network is unreachable", "Failed to establish",
                  "Temporary failure in name resolution", "Name or service not known",
                  "ConnectTimeout", "ProxyError", "No route to host", "Connection refused",
                  "ReadTimeoutError", "SSLError")
_NO_MATCH = re.compile(r"No matching distribution found for (\S+)")


def _pip_download_cmd(python_version: str, platforms: list[str], dest: Path,
                      wheelhouse: Path | None) -> list[str]:
    abi = "cp" + python_version.replace(".", "")
    cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
           "--only-binary=:all:", "--dest", str(dest), "--python-version", python_version,
           "--implementation", "cp", "--abi", abi]
    for tag in expand_platforms(platforms):
        cmd += ["--platform", tag]
    if wheelhouse is not None:
        cmd += ["--no-index", "--find-links", str(wheelhouse)]
    return cmd


def download_deps(wheel: Path, dest: Path, python_version: str, platforms: list[str],
                  log: Log | None = None, *, wheelhouse: Path | None = None) -> list[Path]:
    """``pip download`` the wheel's base dependencies as binary wheels for the board.

    From the package index, or with ``wheelhouse`` from that local directory only
    (``--no-index --find-links``). Returns the dependency wheels written to ``dest``.
    Raises :class:`OrbnodeError` naming the requirement that has no wheel for the
    board's Python and platform, or saying that the index could not be reached.
    """
    log = log or log_stderr
    where = f"the wheelhouse {wheelhouse}" if wheelhouse else "the package index"
    if wheelhouse is not None and not Path(wheelhouse).is_dir():
        raise OrbnodeError(f"--wheelhouse {wheelhouse} is not a directory")
    cmd = _pip_download_cmd(python_version, platforms, dest, wheelhouse) + [str(wheel)]
    log(f"pip download: dependency wheels for Python {python_version} on {platforms[0]} "
        f"from {where}")
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env=dict(os.environ, PIP_NO_INPUT="1"))
    if res.returncode != 0:
        out = res.stdout
        missing = _NO_MATCH.search(out)
        if wheelhouse is None and any(w in out for w in _NETWORK_WORDS):
            raise OrbnodeError("cannot reach the package index for the dependency wheels; "
                               "use --wheelhouse DIR or --wheel-only")
        if missing:
            raise OrbnodeError(f"no wheel of {missing.group(1)} for Python {python_version} "
                               f"on {platforms[0]} in {where}")
        raise OrbnodeError(f"pip download failed: {_tail(out)}")
    return sorted(p for p in dest.glob("*.whl") if p.name != wheel.name)
