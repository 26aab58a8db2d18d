"""``orbnode flash``: a bundle a board installs with no network, as it is.

Boards on a bench (and in a clean room) often have no route to a package index, so
everything the board needs travels in one directory, also packed as ``.tar.gz``::

    BUNDLE/
      manifest.json          what is in it: versions, board, targets, sha256 of every file
      SHA256SUMS             the same sums for ``sha256sum -c`` (install.sh checks them first)
      install.sh             venv + ``pip install --no-index --find-links wheels/`` + files
      orbnode-node.service   systemd unit template (@PREFIX@ filled in by install.sh)
      wheels/                the orbnode wheel and the wheels of its base dependencies
                             for the board's Python and platform (not with --wheel-only)
      models/                the ONNX model and any external-data files it references
      boards/                the board profile the node runs with
      keys/tc.key            the telecommand key (owner-only); install.sh puts it on the
                             board owner-only and the unit hands it to the node

Only the base install travels (``pyproject.toml``'s ``dependencies``: what the node
imports); the host extra (plots, statistics, orbit propagation) stays home. The
dependency wheels are resolved *before* anything is written: a board platform or
Python for which some dependency has no wheel is refused with nothing on disk. The
bundle itself is assembled in a scratch directory and renamed into place, so an
interrupted flash never leaves half a bundle. Wheels come from
:mod:`orbnode.flash_wheels`, the scripts for the board from :mod:`orbnode.flash_templates`.
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

from node.boards import BoardProfile
from node.errors import OrbnodeError
from node.manifest import BUNDLE_FORMAT, BUNDLE_KIND, sha256_file
from orbnode.flash_wheels import (
    Log,
    Target,
    WheelInfo,
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
KEY_IN_BUNDLE = "keys/tc.key"
DEFAULT_KEY_PATH = "@PREFIX@/etc/tc.key"  # on the board; install.sh fills in @PREFIX@


@dataclass
class FlashOptions:
    """Everything ``orbnode flash`` takes; see :func:`build_bundle`."""

    board: str  # profile name, .toml path, or "auto" (detect the board this runs on)
    out: Path
    model: Path | None = None
    wheel: Path | None = None
    wheel_only: bool = False  # no dependency wheels: the board must already hold them
    wheelhouse: Path | None = None  # take dependency wheels from here, not the index
    python_version: str | None = None
    platforms: list[str] = field(default_factory=list)
    port: str | None = None
    baud: int = 115200
    level: str = "runtime"
    key_file: Path | None = None  # the key to install; None: a fresh one
    key_path: str | None = None  # where install.sh puts the key ON THE BOARD
    tarball: bool = True


@dataclass(frozen=True)
class BundleKey:
    """The telecommand key a bundle installs: its text (hex) and where it came from."""

    text: str
    fresh: bool
    source: str

    @property
    def fingerprint(self) -> str:
        """First 16 hex digits of SHA-256 of the key bytes: names the key, reveals nothing."""
        import hashlib

        return hashlib.sha256(bytes.fromhex(self.text)).hexdigest()[:16]


def bundle_key(key_file: Path | None) -> BundleKey:
    """The given key (checked as the node will read it) or a fresh random one."""
    import secrets

    from node.auth import load_key

    if key_file is None:
        return BundleKey(secrets.token_hex(32), True, "fresh")
    return BundleKey(load_key(key_file).hex(), False, str(key_file))


def resolve_board(board: str, log: Log) -> str:
    """``auto``: the board this runs on (device-tree model, Jetson release file)."""
    if board != "auto":
        return board
    from node.boards import detect_board, detect_board_evidence

    name = detect_board()
    log(f"--board auto: {name} ({detect_board_evidence()})")
    return name


def _check_out(out: Path) -> None:
    """Refuse an ``out`` that cannot be (re)written as a bundle; writes nothing."""
    if out.exists() and not out.is_dir():
        raise OrbnodeError(f"--out {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not (out / "manifest.json").is_file():
        raise OrbnodeError(f"--out {out} is a non-empty directory that is not a bundle; "
                           "refusing to replace it")
    blocker = next((p for p in out.parents if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise OrbnodeError(f"cannot write to {out.parent}: {blocker} is not a directory")
    if blocker is not None and not os.access(blocker, os.W_OK | os.X_OK):
        raise OrbnodeError(f"cannot write to {blocker}: permission denied")


def _make_parent(out: Path) -> Path:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OrbnodeError(f"cannot create {out.parent}: {exc.strerror or exc}") from None
    if not os.access(out.parent, os.W_OK | os.X_OK):
        raise OrbnodeError(f"cannot write to {out.parent}: permission denied")
    return out.parent


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


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


@dataclass(frozen=True)
class Plan:
    """What :func:`plan_bundle` resolved from the options: checked, nothing written yet."""

    opts: FlashOptions
    profile: BoardProfile
    profile_src: Path
    shipped_profile: bool  # one of node/boards/*.toml (then the wheel must hold it)
    target: Target
    python_version: str
    platforms: list[str]
    port: str
    model_path: Path
    models: list[tuple[Path, str]]
    key: BundleKey
    key_path: str
    out: Path


def plan_bundle(opts: FlashOptions, log: Log) -> Plan:
    """Check every option and resolve the defaults; raises a one-line OrbnodeError."""
    from node.boards import BOARD_DIR, load_board
    from node.models import DEFAULT_MODEL

    profile = load_board(resolve_board(opts.board, log))
    profile_src = Path(profile.source_path)
    target = default_target(profile.name)
    model_path = Path(opts.model) if opts.model else DEFAULT_MODEL
    models = model_files(model_path)
    if opts.wheel is not None and not Path(opts.wheel).is_file():
        raise OrbnodeError(f"wheel not found: {opts.wheel}")
    if opts.wheel_only and opts.wheelhouse is not None:
        raise OrbnodeError("--wheel-only and --wheelhouse contradict each other")
    if opts.wheelhouse is not None and not Path(opts.wheelhouse).is_dir():
        raise OrbnodeError(f"--wheelhouse {opts.wheelhouse} is not a directory")
    key_path = opts.key_path or DEFAULT_KEY_PATH
    if not key_path.startswith(("/", "@PREFIX@/")):
        raise OrbnodeError(f"--key-path {key_path} must be an absolute path on the board")
    plan = Plan(
        opts=opts, profile=profile, profile_src=profile_src,
        shipped_profile=profile_src.resolve().parent == BOARD_DIR, target=target,
        python_version=check_python_version(opts.python_version or target.python_version),
        platforms=list(opts.platforms) or list(target.platforms),
        port=opts.port or target.port, model_path=model_path, models=models,
        key=bundle_key(opts.key_file), key_path=key_path, out=Path(opts.out).absolute())
    _check_out(plan.out)
    return plan


class _Steps:
    """``[k/n]`` progress lines."""

    def __init__(self, total: int, log: Log) -> None:
        self.total, self.done, self.log = total, 0, log

    def __call__(self, msg: str) -> None:
        self.done += 1
        self.log(f"[{self.done}/{self.total}] {msg}")


def build_bundle(opts: FlashOptions, log: Log | None = None) -> dict:
    """Build the bundle directory (and tarball); return its manifest.

    Every input is checked and every wheel gathered in a private staging directory
    before anything is written at ``opts.out``; the bundle is then assembled in a
    scratch directory beside it and renamed into place, so a refused or interrupted
    flash leaves nothing behind and a previous bundle is replaced only by a complete one.
    """
    log = log or log_stderr
    plan = plan_bundle(opts, log)
    out = plan.out
    # Until every wheel is in hand the flash may still be refused (no wheel for the
    # platform): its progress is held back, so a refusal is the one line it should be.
    held: list[str] = []
    step = _Steps(4 + int(not opts.wheel_only) + int(opts.tarball), held.append)
    with tempfile.TemporaryDirectory(prefix="orbnode-flash-") as stage_dir:
        stage = Path(stage_dir) / "wheels"
        stage.mkdir()
        if opts.wheel is not None:
            step(f"using the wheel {opts.wheel}")
            wheel = stage / Path(opts.wheel).name
            shutil.copy2(opts.wheel, wheel)
        else:
            step("building the orbnode wheel (pip wheel --no-deps)")
            wheel = build_wheel(stage, log=held.append)
        info = inspect_wheel(wheel, plan.profile_src.name if plan.shipped_profile else None)
        deps: list[Path] = []
        if not opts.wheel_only:
            step("gathering the base dependency wheels")
            deps = download_deps(wheel, stage, plan.python_version, plan.platforms,
                                 held.append, wheelhouse=opts.wheelhouse)
        # Everything the bundle needs is in hand: only now is anything written at --out.
        for line in held:
            log(line)
        step.log = log
        parent = _make_parent(out)
        try:
            work = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
        except OSError as exc:
            raise OrbnodeError(f"cannot write to {parent}: {exc.strerror or exc}") from None
        try:
            manifest = _assemble(plan, work, stage, wheel, info, deps, step)
        except OSError as exc:
            raise OrbnodeError(f"cannot write the bundle to {out}: "
                               f"{exc.strerror or exc}") from None
        finally:
            if work.exists():
                shutil.rmtree(work, ignore_errors=True)
    _log_contents(out, manifest, opts.tarball, log)
    if plan.key.fresh:
        log(f"fresh telecommand key {plan.key.fingerprint} (shown once; keep it for the "
            f"ground, e.g. orbnode sim --key-file; the board's copy is {KEY_IN_BUNDLE}):")
        log(f"  {plan.key.text}")
    log(f"bundle ready: {out}" + (f" and {out.name}.tar.gz" if opts.tarball else ""))
    return manifest


def _assemble(plan: Plan, work: Path, stage: Path, wheel: Path, info: WheelInfo,
              deps: list[Path], step: _Steps) -> dict:
    """Fill ``work`` (beside --out), then rename it to --out; returns the manifest."""
    from orbnode.flash_templates import render_install_sh, render_unit

    opts, out, models, key = plan.opts, plan.out, plan.models, plan.key
    for sub in ("models", "boards", "keys"):
        (work / sub).mkdir()
    shutil.move(str(stage), work / "wheels")
    step(f"adding model {plan.model_path.name}, profile {plan.profile_src.name} and the "
         "telecommand key")
    for src, rel in models:
        dst = work / "models" / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
    shutil.copy2(plan.profile_src, work / "boards" / plan.profile_src.name)
    (work / "keys").chmod(0o700)
    fd = os.open(work / KEY_IN_BUNDLE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key.text + "\n")

    step(f"writing install.sh and {UNIT_NAME}")
    ctx = {
        "version": info.version, "board": plan.profile.name, "wheel": f"wheels/{wheel.name}",
        "profile": f"boards/{plan.profile_src.name}", "model": f"models/{models[0][1]}",
        "python_version": plan.python_version, "with_deps": not opts.wheel_only,
        "port": plan.port, "baud": opts.baud, "level": opts.level,
        "key_path": plan.key_path, "key_in_bundle": KEY_IN_BUNDLE,
    }
    (work / "install.sh").write_text(render_install_sh(ctx), "utf-8")
    (work / "install.sh").chmod(0o755)
    (work / UNIT_NAME).write_text(render_unit(ctx), "utf-8")

    step("checksums and manifest")
    files = sorted(p for p in work.rglob("*") if p.is_file())
    sums = [(p.relative_to(work).as_posix(), sha256_file(p), p.stat().st_size) for p in files]
    (work / "SHA256SUMS").write_text("".join(f"{s}  {rel}\n" for rel, s, _ in sums), "utf-8")
    sums.append(("SHA256SUMS", sha256_file(work / "SHA256SUMS"),
                 (work / "SHA256SUMS").stat().st_size))
    model_sha = next(s for rel, s, _ in sums if rel == ctx["model"])
    manifest = {
        "kind": BUNDLE_KIND,
        "format": BUNDLE_FORMAT,
        "orbnode_version": info.version,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "board": plan.profile.name,
        "board_profile": ctx["profile"],
        "model": {"name": plan.model_path.name, "path": ctx["model"], "sha256": model_sha,
                  "files": [f"models/{rel}" for _, rel in models]},
        "wheel": ctx["wheel"],
        "dependency_wheels": [f"wheels/{p.name}" for p in deps],
        "requires": info.requires,
        "targets": {"python_version": plan.python_version, "implementation": "cp",
                    "platforms": plan.platforms, "os": plan.target.note},
        "dependencies_included": not opts.wheel_only,
        "dependencies_from": (None if opts.wheel_only else
                              str(opts.wheelhouse) if opts.wheelhouse else "package index"),
        "node": {"port": plan.port, "baud": opts.baud, "level": opts.level,
                 "key_file": plan.key_path, "unit": UNIT_NAME},
        "key": {"path": KEY_IN_BUNDLE, "installed_at": plan.key_path,
                "fingerprint": key.fingerprint, "fresh": key.fresh},
        "source": _git_state(None if opts.wheel else project_root()),
        "built_with": {"python": platform.python_version(),
                       "platform": f"{platform.system()}-{platform.machine()}"},
        "bytes_total": sum(n for _, _, n in sums),
        "files": [{"path": rel, "sha256": s, "bytes": n} for rel, s, n in sorted(sums)],
    }
    (work / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")
    work.chmod(0o755)

    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.replace(out, old / out.name)
        os.replace(work, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(work, out)
    if opts.tarball:
        tar_path = out.with_name(out.name + ".tar.gz")
        step(f"packing {tar_path.name}")
        _write_tarball(out, tar_path)
    return manifest


def _log_contents(out: Path, manifest: dict, tarball: bool, log: Log) -> None:
    """What the bundle holds and how big it is: wheels one by one, the rest grouped."""
    files = manifest["files"]
    tar = out.with_name(out.name + ".tar.gz")
    packed = f", {human_bytes(tar.stat().st_size)} packed" if tarball and tar.is_file() else ""
    log(f"bundle {out.name}: {human_bytes(manifest['bytes_total'])} in {len(files)} files"
        f"{packed}; dependencies "
        f"{'included' if manifest['dependencies_included'] else 'NOT included (--wheel-only)'}")
    for f in files:
        if f["path"].startswith("wheels/"):
            log(f"  {human_bytes(f['bytes']):>9s}  {f['path']}")
    groups: dict[str, list[dict]] = {}
    for f in files:
        if not f["path"].startswith("wheels/"):
            groups.setdefault(f["path"].split("/")[0] if "/" in f["path"] else "", []).append(f)
    for name, items in sorted(groups.items()):
        if name:
            log(f"  {human_bytes(sum(i['bytes'] for i in items)):>9s}  {name}/ "
                f"({', '.join(i['path'].split('/', 1)[1] for i in items)})")
        else:
            log(f"  {human_bytes(sum(i['bytes'] for i in items)):>9s}  "
                f"{', '.join(i['path'] for i in items)}")
