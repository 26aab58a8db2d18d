"""``orbnode board-emu``: fly a board's bundle on an emulated board before a real one.

The steps a bench engineer takes with a Raspberry Pi, on this x86-64 machine:

1. ``orbnode flash`` the board's bundle with its dependency wheels (:func:`flash_bundle`);
2. refuse a bundle the board cannot install (wrong board, machine or Python), before
   anything is built or mounted (:func:`check_bundle`);
3. boot the board: an arm64 root of the board's OS release and Python
   (:class:`~orbnode.boardemu_host.RootCache`, built once by debootstrap) under QEMU
   user-mode emulation, with the board profile's CPU in ``/proc/cpuinfo``;
4. install the bundle there exactly as on the board: its ``install.sh``, offline, no
   systemd, from the bundle mounted read-only as a USB stick would be (it ends with
   ``orbnode node --selftest``);
5. self-test again with the board's serial port and telecommand key;
6. fly: the node the installed unit would start (its ``ExecStart``) opens its serial
   port on the board, a pty whose other end is held by the simulator (``orbnode sim``'s
   :class:`~firmware_stubs.sim.Simulator`) on the host; power is modelled.

The run folder is the usual one (summary.json, telemetry.sqlite, timeline.png,
node.log) plus the bundle, install.log, selftest.json and the board's own layer.
``summary.json`` says ``board_emulated: true`` and names the emulator: throughput and
timings come from an emulated CPU (hundreds of times slower than the board for
inference), so they say whether the bundle works, never how fast the board is.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from node.errors import OrbnodeError
from orbnode.boardemu_host import EmulatedBoard, Log, RootCache, check_host, stop
from orbnode.boardemu_spec import BoardEmulation, emulation_for, wheel_problems

KEY_ON_BOARD = "/etc/orbnode/tc.key"  # where the flight keeps the run's key on the board
PREFIX = "/opt/orbnode"  # install.sh's default
FIGURES_NOTE = ("EMULATED board: throughput, timings and CPU load come from QEMU user-mode "
                "emulation on the host, not from the board; power is modelled from the "
                "board profile")


@dataclass(frozen=True)
class EmuConfig:
    """What ``orbnode board-emu`` takes."""

    board: str
    out: Path
    cache: Path
    bundle: Path | None = None  # fly this bundle instead of flashing one
    mirror: str | None = None  # another archive mirror for building the root
    orbits: float = 0.1
    speedup: float = 30.0
    tick_wall_s: float = 1.0
    hk_timeout_s: float = 60.0  # the emulated node answers slowly under load
    radiation: str = "leo"
    seed: int = 0
    install_timeout_s: float = 1800.0
    hello_timeout_s: float = 600.0


def log_stderr(msg: str) -> None:
    print(f"orbnode board-emu: {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- bundle
def flash_bundle(board: str, out: Path, log: Log) -> Path:
    """The board's bundle with its dependency wheels; the one place board-emu flashes.

    With its dependency wheels (flash's default): the emulated board, like a board on a
    bench, has no network.
    """
    from orbnode.flash import FlashOptions, build_bundle

    try:
        build_bundle(FlashOptions(board=board, out=out),
                     log=lambda m: log(f"flash: {m}"))
    except OrbnodeError as exc:  # e.g. no onnxruntime wheel for the board's Python
        raise OrbnodeError(f"cannot flash the {board} bundle for the emulated board: "
                           f"{exc}") from None
    return out


def check_bundle(bundle: Path, emu: BoardEmulation) -> dict:
    """The bundle's manifest, if the emulated board can install it; else one line why."""
    from node.manifest import read_manifest

    manifest = read_manifest(bundle)
    board, root = emu.board.name, emu.root
    if manifest.get("board") != board:
        raise OrbnodeError(f"bundle {bundle} was flashed for board {manifest.get('board')!r}, "
                           f"not {board}")
    if not manifest.get("dependencies_included"):
        raise OrbnodeError(f"bundle {bundle} holds no dependency wheels and the emulated "
                           f"{board} has no network; flash it without --wheel-only")
    wheels = [Path(f["path"]).name for f in manifest.get("files", [])
              if f["path"].startswith("wheels/") and f["path"].endswith(".whl")]
    bad = wheel_problems(wheels, root)
    if bad:
        machines = sorted({m for w in bad for m in w.machines} - {"aarch64"})
        what = f"wheels built for {', '.join(machines)}" if machines else \
            f"wheels for another Python than its {root.python_version}"
        raise OrbnodeError(
            f"bundle {bundle} holds {what}: the emulated {board} is aarch64 with "
            f"{root.os}, Python {root.python_version}, glibc {root.glibc}; pip there would "
            f"install none of {', '.join(w.describe() for w in bad[:3])}"
            f"{' ...' if len(bad) > 3 else ''}; flash it with --board {board}")
    return manifest


# ----------------------------------------------------------------------------- steps
def _install(board: EmulatedBoard, bundle: Path, out: Path, cfg: EmuConfig, log: Log) -> dict:
    """install.sh on the board from the read-only bundle; its selftest report."""
    log(f"installing the bundle on the emulated {cfg.board} with its install.sh "
        f"(offline, no systemd; minutes under emulation; log {out / 'install.log'})")
    t0 = time.monotonic()
    rc = board.run(["/bin/bash", "/media/bundle/install.sh"], log_path=out / "install.log",
                   timeout_s=cfg.install_timeout_s, media=bundle)
    if rc != 0:
        raise OrbnodeError(f"install.sh failed on the emulated {cfg.board}: "
                           f"{_last_line(out / 'install.log')} (log {out / 'install.log'})")
    log(f"installed in {time.monotonic() - t0:.0f} s (emulated)")
    return json.loads(board.read_file(f"{PREFIX}/selftest.json"))


# What systemd puts for the unit's specifiers: %d the credentials folder (the key),
# %S the state root (StateDirectory=orbnode lives below it).
UNIT_SPECIFIERS = {"%d": str(Path(KEY_ON_BOARD).parent), "%S": "/var/lib"}


def _unit_argv(board: EmulatedBoard) -> list[str]:
    """The command the installed systemd unit would start (its ExecStart, specifiers
    filled in as systemd would)."""
    unit = board.read_file(f"{PREFIX}/orbnode-node.service")
    line = next((ln for ln in unit.splitlines() if ln.startswith("ExecStart=")), None)
    if line is None:
        raise OrbnodeError(f"{PREFIX}/orbnode-node.service on the board has no ExecStart")
    argv = shlex.split(line.split("=", 1)[1])
    for spec, value in UNIT_SPECIFIERS.items():
        argv = [a.replace(spec, value) for a in argv]
    return argv


def _selftest(board: EmulatedBoard, port: str, tty: str, out: Path, cfg: EmuConfig,
              log: Log) -> dict:
    """``orbnode node --selftest`` with the board's serial port and key."""
    log(f"selftest on the emulated {cfg.board} with {port} and the telecommand key")
    path = out / "selftest.json"
    with open(path, "w") as fh, open(out / "selftest.log", "w") as err:
        proc = board.popen([f"{PREFIX}/venv/bin/orbnode", "node", "--selftest", "--bundle",
                            PREFIX, "--port", port, "--key-file", KEY_ON_BOARD,
                            "--power-source", "model"],
                           stdout=fh, stderr=err, tty=tty, tty_name=port)
        try:
            proc.wait(timeout=600)
        except subprocess.TimeoutExpired:
            stop(proc)
            raise OrbnodeError("the selftest on the emulated board took over 600 s") from None
    try:
        report = json.loads(path.read_text())
    except ValueError:
        raise OrbnodeError(f"the selftest on the emulated board printed no report: "
                           f"{_last_line(out / 'selftest.log')}") from None
    if not report.get("ok"):
        raise OrbnodeError(f"selftest failed on the emulated {cfg.board}: "
                           f"{', '.join(report.get('failed', []))} (report {path})")
    return report


def _fly(board: EmulatedBoard, emu: BoardEmulation, manifest: dict, emulator: str,
         out: Path, cfg: EmuConfig, log: Log, step_s: dict[str, float]) -> dict[str, Any]:
    """The installed node on the board against the simulator on the host.

    ``step_s``: wall seconds of the steps so far; the selftest and the flight are added.
    """
    from firmware_stubs.envelope import Envelope
    from firmware_stubs.sim import NodeLost, SimConfig, Simulator, retry_s_for_baud
    from firmware_stubs.summary import summarise
    from firmware_stubs.timeline import plot_timeline
    from node.auth import SOURCE_SIM, Signer, load_key
    from node.link import Link
    from node.link.paced import PacedTransport
    from node.link.pty_transport import PtyPair
    from orbnode.run import fresh_db

    port, baud = manifest["node"]["port"], int(manifest["node"]["baud"])
    profile = emu.board
    env = Envelope.from_config(altitude_km=550.0, beta_deg=0.0, board=profile,
                               spacecraft=profile.default_spacecraft, radiation=cfg.radiation)
    db = fresh_db(out / "telemetry.sqlite")
    meta = {"board": profile.name, "model": Path(manifest["model"]["path"]).name,
            "radiation": cfg.radiation, "altitude_km": 550.0, "beta_deg": 0.0,
            "speedup": cfg.speedup, "spacecraft": profile.default_spacecraft,
            "period_s": env.period_s, "eclipse_fraction_analytic": env.eclipse_fraction,
            "complete": False, "level": manifest["node"]["level"],
            "board_emulated": True, "emulator": emulator}
    for key, value in meta.items():
        db.set_meta(key, value)
    pty = PtyPair()
    link = None
    proc = None
    stopped_because = "completed"
    try:
        t0 = time.monotonic()
        _selftest(board, port, pty.slave_path, out, cfg, log)
        step_s["selftest"] = time.monotonic() - t0
        t_flight = time.monotonic()
        argv = [*_unit_argv(board), "--key-file", KEY_ON_BOARD, "--power-source", "model",
                "--seed", str(cfg.seed), "--radiation", "off" if cfg.radiation == "off"
                else "on"]
        log(f"flying: `{' '.join(argv[:2])} ... --port {port}` on the emulated board, "
            f"the simulator on the host ({cfg.orbits:g} orbits at {cfg.speedup:g}x)")
        node_log = open(out / "node.log", "w")  # noqa: SIM115 (lives as long as the node)
        proc = board.popen(argv, stdout=node_log, tty=pty.slave_path, tty_name=port)
        link = Link(PacedTransport(pty.master(), baud), apid="sim",
                    signer=Signer(load_key(out / "tc.key"), SOURCE_SIM))
        sim = Simulator(link, env, db, SimConfig(
            cfg.orbits * env.period_s, cfg.speedup, cfg.tick_wall_s,
            # An emulated node answers slowly: re-send a tick only after a quarter of the
            # silence that declares it lost (a repeat is answered, never re-run).
            retry_s=max(cfg.hk_timeout_s / 4, retry_s_for_baud(baud)),
            lost_after_s=cfg.hk_timeout_s))
        try:
            sim.wait_hello(timeout_s=cfg.hello_timeout_s)
        except NodeLost:
            raise OrbnodeError("the node on the emulated board did not start: "
                               + _last_line(out / "node.log")) from None
        t0 = time.monotonic()
        try:
            sim.run()
        except NodeLost as exc:
            stopped_because = f"node lost: {exc}"
        db.set_meta("wall_seconds_loop", time.monotonic() - t0)
        sim.shutdown(timeout_s=cfg.hk_timeout_s)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            pass
        step_s["flight"] = time.monotonic() - t_flight
    except BaseException:
        db.close()
        raise
    finally:
        if proc is not None:
            stop(proc)
            node_log.close()
        if link is not None:
            link.close()
        else:
            pty.master().close()
        pty.close()
    db.set_meta("complete", stopped_because == "completed")
    db.set_meta("stopped_because", stopped_because)
    db.set_meta("frames_bad_host", link.stats.frames_bad + link.stats.packets_bad)
    summary = summarise(db, env.period_s)
    summary.update(board_emulated=True, emulator=emulator, qemu_cpu=emu.qemu_cpu,
                   emulated_cpu=emu.cpu_summary, emulated_os=emu.root.os,
                   figures=FIGURES_NOTE,
                   step_wall_s={k: round(v, 1) for k, v in step_s.items()})
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if summary.get("ticks"):
        plot_timeline(db, out / "timeline.png",
                      title=f"EMULATED {profile.name} ({emu.cpu_summary} under QEMU) — "
                            f"{meta['model']}, power modelled")
    db.close()
    if stopped_because != "completed":
        raise OrbnodeError(f"{stopped_because}; {_last_line(out / 'node.log')} "
                           f"(partial results kept in {out})")
    return summary


def run_board_emu(cfg: EmuConfig, log: Log = log_stderr) -> dict[str, Any]:
    """Flash (or take) the bundle, boot the emulated board, install, self-test, fly."""
    from node.auth import write_key

    if cfg.orbits <= 0 or cfg.speedup <= 0 or cfg.tick_wall_s <= 0:
        raise OrbnodeError("--orbits, --speedup and --tick-s must be positive")
    emu = emulation_for(cfg.board)
    if cfg.mirror:
        emu = replace(emu, root=replace(emu.root, mirror=cfg.mirror))
    if cfg.bundle is not None:
        check_bundle(cfg.bundle, emu)  # a wrong bundle is refused before anything else
    emulator = f"{check_host()}, user mode, QEMU_CPU={emu.qemu_cpu}"
    step_s: dict[str, float] = {}  # wall seconds per step, for the summary
    t0 = time.monotonic()
    cache = RootCache(cfg.cache)
    stamp = cache.ensure(emu, log)
    step_s["root"] = time.monotonic() - t0
    out = Path(cfg.out).absolute()
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    bundle = Path(cfg.bundle).absolute() if cfg.bundle else \
        flash_bundle(cfg.board, out / f"bundle-{cfg.board}", log)
    manifest = check_bundle(bundle, emu)
    step_s["flash"] = time.monotonic() - t0
    board = EmulatedBoard(emu, cache.path(emu.root), out / "board")
    board.reset()
    (out / "install.log").unlink(missing_ok=True)
    log(f"emulated {cfg.board}: {emu.cpu_summary} ({emulator}), {emu.root.os}, "
        f"Python {stamp['python']}")
    t0 = time.monotonic()
    _install(board, bundle, out, cfg, log)
    step_s["install"] = time.monotonic() - t0
    key = write_key(out / "tc.key")
    board.put_file(KEY_ON_BOARD, Path(key).read_bytes())
    return _fly(board, emu, manifest, emulator, out, cfg, log, step_s)


def _last_line(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    return lines[-1].strip() if lines else "nothing printed"
