"""``orbnode flash``: a bundle a board installs with no network.

Boards on a bench (and in a clean room) often have no route to a package index, so
everything the board needs travels in one directory, also packed as ``.tar.gz``::

    BUNDLE/
      manifest.json          what is in it: versions, board, targets, sha256 of every file
      SHA256SUMS             the same sums for ``sha256sum -c`` (install.sh checks them first)
      install.sh             venv + ``pip install --no-index --find-links wheels/`` + files
      orbnode-node.service   systemd unit template (@PREFIX@ filled in by install.sh)
      wheels/                the orbnode wheel (+ dependency wheels with --with-deps)
      models/                the ONNX model and any external-data files it references
      boards/                the board profile the node runs with

The wheels come from :mod:`orbnode.flash_wheels`. Dependency wheels (``--with-deps``)
need the package index; without them the board must already hold the dependencies
(e.g. a venv with ``--system-site-packages``, or ``ORBNODE_FIND_LINKS`` at install).
The scripts for the board are in :mod:`orbnode.flash_templates`.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from node.errors import OrbnodeError
from node.manifest import BUNDLE_FORMAT, BUNDLE_KIND, sha256_file
from orbnode.flash_wheels import (
    Log,
    build_wheel,
    check_python_version,
    default_target,
    download_deps,
    inspect_wheel,
    log_stderr,
    project_root,
)

UNIT_NAME = "orbnode-node.service"


# ----------------------------------------------------------------------------- model
def _external_locations(model_path: Path) -> list[str]:
    """Relative paths of the external-data files an ONNX model references."""
    import onnx

    try:
        model = onnx.load(str(model_path), load_external_data=False)
    except Exception as exc:  # DecodeError and friends
        raise OrbnodeError(f"{model_path} is not an ONNX model ({type(exc).__name__})") from None
    found: list[str] = []

    def tensors(graph):
        yield from graph.initializer
        for node in graph.node:
            for attr in node.attribute:
                if attr.HasField("t"):
                    yield attr.t
                yield from attr.tensors
                if attr.HasField("g"):
                    yield from tensors(attr.g)
                for g in attr.graphs:
                    yield from tensors(g)

    for t in tensors(model.graph):
        if t.data_location == onnx.TensorProto.EXTERNAL:
            loc = {e.key: e.value for e in t.external_data}.get("location")
            if loc and loc not in found:
                found.append(loc)
    return found


def model_files(model_path: Path) -> list[tuple[Path, str]]:
    """``(source, path inside models/)`` for the model and its external-data files."""
    from node.engine import load_model_proto

    if not model_path.is_file():
        raise OrbnodeError(f"model file not found: {model_path}")
    load_model_proto(model_path)  # one-line error for anything that is not a model
    files = [(model_path, model_path.name)]
    base = model_path.parent.resolve()
    for loc in _external_locations(model_path):
        src = (base / loc).resolve()
        if base not in src.parents or not src.is_file():
            raise OrbnodeError(f"{model_path.name}: external data {loc!r} not found beside it")
        files.append((src, Path(loc).as_posix()))
    return files


# ----------------------------------------------------------------------------- bundle
@dataclass
class FlashOptions:
    """Everything ``orbnode flash`` takes; see :func:`build_bundle`."""

    board: str
    out: Path
    model: Path | None = None
    wheel: Path | None = None
    with_deps: bool = False
    python_version: str | None = None
    platforms: list[str] = field(default_factory=list)
    port: str | None = None
    baud: int = 115200
    level: str = "runtime"
    key_path: str | None = None  # where the key lives ON THE BOARD; never bundled
    tarball: bool = True


def _prepare_out(out: Path) -> Path:
    """Check ``out`` can be (re)written; return its parent, created if need be."""
    out = out.absolute()
    if out.exists() and not out.is_dir():
        raise OrbnodeError(f"--out {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not (out / "manifest.json").is_file():
        raise OrbnodeError(f"--out {out} is a non-empty directory that is not a bundle; "
                           "refusing to replace it")
    blocker = next((p for p in out.parents if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise OrbnodeError(f"cannot write to {out.parent}: {blocker} is not a directory")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OrbnodeError(f"cannot create {out.parent}: {exc.strerror or exc}") from None
    if not os.access(out.parent, os.W_OK | os.X_OK):
        raise OrbnodeError(f"cannot write to {out.parent}: permission denied")
    return out.parent


def _git_state(root: Path | None) -> dict:
    """Commit and dirtiness of the checkout the wheel came from (read-only git calls)."""
    if root is None or not (root / ".git").exists():
        return {"git_commit": None, "dirty": None}
    env = dict(os.environ, GIT_OPTIONAL_LOCKS="0")
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                              text=True, env=env, timeout=10)
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain"],
                                capture_output=True, text=True, env=env, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return {"git_commit": None, "dirty": None}
    if head.returncode != 0:
        return {"git_commit": None, "dirty": None}
    return {"git_commit": head.stdout.strip(),
            "dirty": bool(status.stdout.strip()) if status.returncode == 0 else None}


def _write_tarball(bundle: Path, tar_path: Path) -> None:
    """Pack ``bundle`` as ``NAME/...`` with neutral ownership, written then renamed."""
    def neutral(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    tmp = tar_path.with_name(f".{tar_path.name}.tmp-{os.getpid()}")
    try:
        with tarfile.open(tmp, "w:gz") as tar:
            tar.add(bundle, arcname=bundle.name, filter=neutral)
        os.replace(tmp, tar_path)
    finally:
        tmp.unlink(missing_ok=True)


def build_bundle(opts: FlashOptions, log: Log | None = None) -> dict:
    """Build the bundle directory (and tarball); return its manifest.

    The bundle is assembled in a scratch directory beside ``opts.out`` and renamed into
    place at the end, so an interrupted flash never leaves a half bundle behind, and a
    previous bundle at ``opts.out`` is replaced only by a complete new one.
    """
    from node.boards import BOARD_DIR, load_board
    from node.models import DEFAULT_MODEL
    from orbnode.flash_templates import render_install_sh, render_unit

    log = log or log_stderr
    profile = load_board(opts.board)
    profile_src = Path(profile.source_path)
    target = default_target(profile.name)
    python_version = check_python_version(opts.python_version or target.python_version)
    platforms = list(opts.platforms) or list(target.platforms)
    port = opts.port or target.port
    model_path = Path(opts.model) if opts.model else DEFAULT_MODEL
    models = model_files(model_path)
    if opts.wheel is not None and not Path(opts.wheel).is_file():
        raise OrbnodeError(f"wheel not found: {opts.wheel}")
    out = Path(opts.out).absolute()
    parent = _prepare_out(out)

    steps = 4 + int(opts.with_deps) + int(opts.tarball)
    step = iter(range(1, steps + 1))
    try:
        work = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
    except OSError as exc:
        raise OrbnodeError(f"cannot write to {parent}: {exc.strerror or exc}") from None
    try:
        for sub in ("wheels", "models", "boards"):
            (work / sub).mkdir()
        if opts.wheel is not None:
            log(f"[{next(step)}/{steps}] using the wheel {opts.wheel}")
            wheel = work / "wheels" / Path(opts.wheel).name
            shutil.copy2(opts.wheel, wheel)
        else:
            log(f"[{next(step)}/{steps}] building the orbnode wheel (pip wheel --no-deps)")
            wheel = build_wheel(work / "wheels", log=log)
        shipped = profile_src.resolve().parent == BOARD_DIR
        info = inspect_wheel(wheel, profile_src.name if shipped else None)
        if opts.with_deps:
            log(f"[{next(step)}/{steps}] downloading dependency wheels")
            download_deps(wheel, work / "wheels", python_version, platforms, log)

        log(f"[{next(step)}/{steps}] adding model {model_path.name} and profile "
            f"{profile_src.name}")
        for src, rel in models:
            dst = work / "models" / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
        shutil.copy2(profile_src, work / "boards" / profile_src.name)

        log(f"[{next(step)}/{steps}] writing install.sh and {UNIT_NAME}")
        ctx = {
            "version": info.version, "board": profile.name, "wheel": f"wheels/{wheel.name}",
            "profile": f"boards/{profile_src.name}", "model": f"models/{models[0][1]}",
            "python_version": python_version, "with_deps": opts.with_deps, "port": port,
            "baud": opts.baud, "level": opts.level, "key_path": opts.key_path,
        }
        (work / "install.sh").write_text(render_install_sh(ctx), "utf-8")
        (work / "install.sh").chmod(0o755)
        (work / UNIT_NAME).write_text(render_unit(ctx), "utf-8")

        log(f"[{next(step)}/{steps}] checksums and manifest")
        files = sorted(p for p in work.rglob("*") if p.is_file())
        sums = [(p.relative_to(work).as_posix(), sha256_file(p), p.stat().st_size)
                for p in files]
        (work / "SHA256SUMS").write_text("".join(f"{s}  {rel}\n" for rel, s, _ in sums),
                                         "utf-8")
        sums.append(("SHA256SUMS", sha256_file(work / "SHA256SUMS"),
                     (work / "SHA256SUMS").stat().st_size))
        model_sha = next(s for rel, s, _ in sums if rel == ctx["model"])
        manifest = {
            "kind": BUNDLE_KIND,
            "format": BUNDLE_FORMAT,
            "orbnode_version": info.version,
            "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "board": profile.name,
            "board_profile": ctx["profile"],
            "model": {"name": model_path.name, "path": ctx["model"], "sha256": model_sha,
                      "files": [f"models/{rel}" for _, rel in models]},
            "wheel": ctx["wheel"],
            "requires": info.requires,
            "targets": {"python_version": python_version, "implementation": "cp",
                        "platforms": platforms, "os": target.note},
            "dependencies_included": bool(opts.with_deps),
            "node": {"port": port, "baud": opts.baud, "level": opts.level,
                     "key_file": opts.key_path, "unit": UNIT_NAME},
            "source": _git_state(None if opts.wheel else project_root()),
            "built_with": {"python": platform.python_version(),
                           "platform": f"{platform.system()}-{platform.machine()}"},
            "files": [{"path": rel, "sha256": s, "bytes": n} for rel, s, n in sorted(sums)],
        }
        (work / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")
        work.chmod(0o755)

        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=parent))
            os.replace(out, old / out.name)
            os.replace(work, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(work, out)
        if opts.tarball:
            tar_path = out.with_name(out.name + ".tar.gz")
            log(f"[{next(step)}/{steps}] packing {tar_path.name}")
            _write_tarball(out, tar_path)
    except OSError as exc:
        raise OrbnodeError(f"cannot write the bundle to {out}: {exc.strerror or exc}") from None
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    log(f"bundle ready: {out}" + (f" and {out.name}.tar.gz" if opts.tarball else ""))
    return manifest
