"""The host side of an emulated board: checks, the cached arm64 root, and running in it.

An emulated board is an arm64 root file system (built once by ``debootstrap`` and
kept read-only in a cache) under an overlay whose writable layer is that board's own
"SD card", run by QEMU user-mode emulation through the kernel's binfmt_misc. Every
command on the board runs in fresh private namespaces (``unshare``):

* mount: the overlay, ``/proc``, ``/sys``, a private ``/dev`` and the fake
  ``/proc/cpuinfo`` exist only there and vanish with the last process, so nothing is
  left mounted whatever happens, and nothing is visible outside;
* pid: ``--kill-child`` takes every process on the board with it;
* net: only a loopback that is down, so an install that reached for a network
  would fail here as it would on an offline board.

Why the fake ``/proc/cpuinfo``: QEMU 7.2 passes the host's (x86) ``/proc/cpuinfo``
through, and the CPU-detection library inside onnxruntime's aarch64 build crashes
on it (``import onnxruntime`` segfaults); ``QEMU_CPU`` alone does not help. The
board's own description (:func:`orbnode.boardemu_spec.render_cpuinfo`) fixes it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from node.errors import OrbnodeError
from orbnode.boardemu_spec import BoardEmulation, RootSpec, render_cpuinfo

Log = Callable[[str], None]

BINFMT = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
EMULATOR = "qemu-aarch64-static"
SETUP_HINT = "make board-emu-host (or scripts/board-emu-host.sh) sets the host up"
BOARD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Runs on the host inside the new namespaces; arguments come in BE_* variables so
# nothing is ever quoted into the script. Mounts made here die with the namespace.
IN_NAMESPACE_SH = r"""
set -eu
m="$BE_MERGED"
mount -t overlay overlay -o "lowerdir=$BE_LOWER,upperdir=$BE_UPPER,workdir=$BE_WORK" "$m"
mount -t proc proc "$m/proc"
mount --bind "$BE_CPUINFO" "$m/proc/cpuinfo"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$m/sys"
mount -t tmpfs -o mode=0755,nosuid tmpfs "$m/dev"
for n in null zero full random urandom tty; do
    : > "$m/dev/$n"; mount --bind "/dev/$n" "$m/dev/$n"
done
mkdir "$m/dev/pts" "$m/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$m/dev/pts"
ln -s pts/ptmx "$m/dev/ptmx"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$m/dev/shm"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$m/tmp"
if [ -n "${BE_TTY:-}" ]; then
    : > "$m$BE_TTY_NAME"; mount --bind "$BE_TTY" "$m$BE_TTY_NAME"
fi
if [ -n "${BE_MEDIA:-}" ]; then
    mkdir -p "$m/media/bundle"; mount --bind -o ro "$BE_MEDIA" "$m/media/bundle"
fi
# The board's processes start with only their own environment (and QEMU's CPU).
chroot "$m" /usr/bin/env -i PATH="$BE_PATH" HOME=/root LANG=C.UTF-8 TERM=dumb \
    QEMU_CPU="$QEMU_CPU" "$@"
"""

UNSHARE = ["unshare", "--mount", "--propagation", "private", "--pid", "--fork",
           "--kill-child", "--net"]


# ----------------------------------------------------------------------------- checks
def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


def require_root() -> None:
    if os.geteuid() != 0:
        raise OrbnodeError("board-emu needs root: it builds an arm64 root file system and "
                           "mounts it in a private namespace (run it with sudo)")


def require_namespaces() -> None:
    """Private mount, pid and net namespaces can be made (a container may forbid them)."""
    if shutil.which("unshare") is None:
        raise OrbnodeError("unshare not found (util-linux)")
    probe = subprocess.run([*UNSHARE, "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        raise OrbnodeError("cannot create private mount/pid/net namespaces "
                           f"({_last_line(probe.stderr)}); a container needs "
                           "CAP_SYS_ADMIN (docker run --privileged)")


def require_emulator(binfmt: Path = BINFMT) -> str:
    """The emulator, registered with binfmt_misc with the F flag; its version line."""
    emulator = shutil.which(EMULATOR)
    if emulator is None:
        raise OrbnodeError(f"no emulator: {EMULATOR} not found (Debian/Ubuntu: apt-get "
                           f"install qemu-user-static; {SETUP_HINT})")
    try:
        entry = binfmt.read_text()
    except OSError:
        entry = ""
    flags = next((ln.split(":", 1)[1] for ln in entry.splitlines()
                  if ln.startswith("flags:")), "")
    if not entry.startswith("enabled") or "F" not in flags:
        raise OrbnodeError(f"qemu-aarch64 is not registered with binfmt_misc with the F "
                           f"flag ({binfmt} missing or disabled); {SETUP_HINT}")
    version = subprocess.run([emulator, "--version"], capture_output=True, text=True)
    return (version.stdout.splitlines() or [EMULATOR])[0].strip()


def check_host() -> str:
    """Everything the emulated board needs of this machine; returns the emulator's name.

    One :class:`OrbnodeError` line for the first thing missing: not root, no private
    namespaces, no emulator or the emulator not registered. (debootstrap and the
    archive keyring are checked when a root has to be built.)
    """
    require_root()
    require_namespaces()
    return require_emulator()


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path`` in this process's mount namespace."""
    base = str(path.resolve())
    found = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            point = line.split()[4].replace("\\040", " ")
            if point == base or point.startswith(base + "/"):
                found.append(point)
    return found


def remove_tree(path: Path) -> None:
    """``rm -rf`` a board or root directory, never through a mount left inside it."""
    if not path.exists():
        return
    busy = mounts_under(path)
    if busy:
        raise OrbnodeError(f"{busy[0]} is mounted; refusing to delete {path} "
                           f"(umount it first)")
    shutil.rmtree(path)


# ----------------------------------------------------------------------------- roots
class RootCache:
    """arm64 roots built by debootstrap, one per :class:`RootSpec`, reused while the
    spec (suite, packages) is unchanged. ``<cache>/<name>-arm64/`` is the root,
    ``<name>-arm64.json`` says what it is; only a finished build gets the json."""

    def __init__(self, cache_dir: Path) -> None:
        self.dir = Path(cache_dir).absolute()

    def path(self, spec: RootSpec) -> Path:
        return self.dir / f"{spec.name}-arm64"

    def stamp(self, spec: RootSpec) -> Path:
        return self.dir / f"{spec.name}-arm64.json"

    def _key(self, spec: RootSpec) -> dict:
        return {"suite": spec.suite, "packages": sorted(spec.packages), "arch": "arm64"}

    def cached(self, spec: RootSpec) -> dict | None:
        """The stamp of a finished root for ``spec``, or None."""
        try:
            stamp = json.loads(self.stamp(spec).read_text())
        except (OSError, ValueError):
            return None
        if stamp.get("key") != self._key(spec) or not self.path(spec).is_dir():
            return None
        return stamp

    def ensure(self, emu: BoardEmulation, log: Log) -> dict:
        """The stamp of a root for the board, building it first if need be (minutes)."""
        spec = emu.root
        stamp = self.cached(spec)
        if stamp is not None:
            log(f"reusing the {spec.os} root {self.path(spec)}")
            return stamp
        if not Path(spec.keyring).is_file():
            raise OrbnodeError(f"cannot build the {spec.os} root: archive keyring "
                               f"{spec.keyring} not found (its distribution's keyring "
                               f"package installs it)")
        if shutil.which("debootstrap") is None:
            raise OrbnodeError(f"cannot build the {spec.os} root: debootstrap not found "
                               f"(apt-get install debootstrap; {SETUP_HINT})")
        self.dir.mkdir(parents=True, exist_ok=True)
        final, partial = self.path(spec), self.dir / f"{spec.name}-arm64.partial"
        remove_tree(partial)
        remove_tree(final)
        self.stamp(spec).unlink(missing_ok=True)
        log_path = self.dir / f"{spec.name}-arm64.log"
        log(f"building the {spec.os} root with debootstrap from {spec.mirror} "
            f"(several minutes; log {log_path})")
        t0 = time.monotonic()
        cmd = ["unshare", "--mount", "--propagation", "private", "--", "debootstrap",
               "--arch=arm64", "--variant=minbase", f"--include={','.join(spec.packages)}",
               f"--keyring={spec.keyring}", spec.suite, str(partial), spec.mirror]
        with open(log_path, "w") as out:
            res = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL)
        if res.returncode != 0:
            remove_tree(partial)
            raise OrbnodeError(f"debootstrap of {spec.os} from {spec.mirror} failed: "
                               f"{_last_line(log_path.read_text(errors='replace'))} "
                               f"(log {log_path})")
        return self.finish(emu, partial, time.monotonic() - t0)

    def finish(self, emu: BoardEmulation, partial: Path, build_s: float) -> dict:
        """Check a freshly built root runs the board's Python; move it into place."""
        spec = emu.root
        final = self.path(spec)
        probe = run_in_root(emu, partial, ["python3", "-c",
                                           "import platform; print(platform.python_version(),"
                                           " platform.machine())"])
        if probe.returncode != 0:
            raise OrbnodeError(f"python3 does not run in the new {spec.os} root under the "
                               f"emulator: {_last_line(probe.stdout + probe.stderr)}")
        python, machine = probe.stdout.split()
        if not python.startswith(spec.python_version + ".") or machine != "aarch64":
            raise OrbnodeError(f"the {spec.os} root runs Python {python} on {machine}; "
                               f"expected Python {spec.python_version} on aarch64")
        size = sum(p.lstat().st_size for p in partial.rglob("*") if not p.is_symlink())
        os.replace(partial, final)
        stamp = {"key": self._key(spec), "os": spec.os, "mirror": spec.mirror,
                 "python": python, "bytes": size, "build_s": round(build_s, 1),
                 "built_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        self.stamp(spec).write_text(json.dumps(stamp, indent=2) + "\n")
        return stamp


def run_in_root(emu: BoardEmulation, root: Path, argv: list[str]) -> subprocess.CompletedProcess:
    """Run a command in a bare root (no overlay): for probing a root just built."""
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "--pid",
                           "--fork", "--kill-child", "--net", "--", "chroot", str(root),
                           "/usr/bin/env", "-i", f"PATH={BOARD_PATH}",
                           f"QEMU_CPU={emu.qemu_cpu}", *argv],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          env={**os.environ, "QEMU_CPU": emu.qemu_cpu}, timeout=600)


# ----------------------------------------------------------------------------- board
class EmulatedBoard:
    """One emulated board: the cached root, read-only, under this board's own layer.

    ``state`` holds ``upper/`` (everything the board wrote: the install under
    /opt/orbnode, its venv), ``work/`` (overlayfs' scratch), ``root/`` (the mount
    point, empty outside the namespace) and ``cpuinfo`` (what the board presents).
    """

    def __init__(self, emu: BoardEmulation, lower: Path, state: Path) -> None:
        self.emu = emu
        self.lower = Path(lower).absolute()
        self.state = Path(state).absolute()
        self.upper = self.state / "upper"
        self.cpuinfo = self.state / "cpuinfo"

    def reset(self) -> None:
        """A fresh board: an empty writable layer over the pristine root."""
        remove_tree(self.state)
        for sub in ("upper", "work", "root"):
            (self.state / sub).mkdir(parents=True)
        self.cpuinfo.write_text(render_cpuinfo(self.emu.cpu))

    def put_file(self, board_path: str, data: bytes, mode: int = 0o600) -> None:
        """Write a file onto the board's layer (as copying it onto its SD card would)."""
        dest = self.upper / board_path.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
        dest.chmod(mode)

    def read_file(self, board_path: str) -> str:
        path = self.upper / board_path.lstrip("/")
        if not path.is_file():
            path = self.lower / board_path.lstrip("/")
        return path.read_text()

    def popen(self, argv: list[str], *, stdout: IO | int, stderr: IO | int = subprocess.STDOUT,
              tty: str | None = None, tty_name: str = "/dev/ttyAMA0",
              media: Path | None = None) -> subprocess.Popen:
        """Start ``argv`` on the board. ``tty``: a host pty slave, seen on the board as
        ``tty_name``; ``media``: a host directory, seen read-only as /media/bundle."""
        env = {
            "PATH": os.environ.get("PATH", BOARD_PATH), "QEMU_CPU": self.emu.qemu_cpu,
            "BE_LOWER": str(self.lower), "BE_UPPER": str(self.upper),
            "BE_WORK": str(self.state / "work"), "BE_MERGED": str(self.state / "root"),
            "BE_CPUINFO": str(self.cpuinfo), "BE_PATH": BOARD_PATH,
            "BE_TTY": tty or "", "BE_TTY_NAME": tty_name,
            "BE_MEDIA": str(Path(media).absolute()) if media else "",
        }
        return subprocess.Popen([*UNSHARE, "--", "/bin/sh", "-c", IN_NAMESPACE_SH,
                                 "board-emu", *argv], env=env, stdout=stdout,
                                stderr=stderr, stdin=subprocess.DEVNULL)

    def run(self, argv: list[str], *, log_path: Path, timeout_s: float,
            media: Path | None = None) -> int:
        """Run ``argv`` on the board to completion, its output to ``log_path``."""
        with open(log_path, "a") as out:
            proc = self.popen(argv, stdout=out, media=media)
            try:
                return proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                raise OrbnodeError(f"{' '.join(argv[:2])} on the emulated board took over "
                                   f"{timeout_s:.0f} s (log {log_path})") from None
            finally:  # also on Ctrl-C: the board's processes end with us
                stop(proc)


def stop(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """End a board command: unshare's --kill-child takes every board process with it."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
