"""``orbnode run``: node and simulator on one machine over a pseudo-terminal pair.

The node runs in its own process (``orbnode node``) on the pty's slave end,
opened through pyserial exactly as a board opens its UART; the simulator holds
the master end. Same code, same bytes as a two-machine bench.

The bus watchdog power-cycles a node whose housekeeping stops (hung, or dead):
here that kills the node process and starts a fresh one, and the run goes on.
Whatever ends the run, the node process is stopped, what was archived is kept
and summarised, and the last line printed says why the run stopped.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from firmware_stubs.ground.station import GroundStation
from firmware_stubs.sim import NodeLost, SimConfig, Simulator, retry_s_for_baud
from firmware_stubs.timeline import plot_timeline
from firmware_stubs.watchdog import BusWatchdog
from node.auth import SOURCE_SIM, STATE_SUFFIX, Signer, load_key, write_key
from node.errors import OrbnodeError
from node.link import Link
from node.link.paced import PacedTransport
from node.link.pty_transport import PtyPair
from node.packets import PACKETS
from orbnode.hostloop import (
    SHUT_DOWN,
    LoopConfig,
    finish,
    fly,
    fresh_db,
    ground_listener,
    record_orbit,
)
from orbnode.progress import Progress

if TYPE_CHECKING:
    from firmware_stubs.envelope import Envelope
    from firmware_stubs.telemetry_db import TelemetryDB
    from node.boards import BoardProfile


@dataclass(frozen=True, kw_only=True)
class RunConfig(LoopConfig):
    upset_acceleration: float = 1.0
    level: str = "runtime"
    power_source: str = "auto"
    model: str | None = None
    input: str | None = None
    input_shape: str | None = None
    scrub_period_s: float = 600.0
    seed: int = 0
    progress: bool = True
    insecure: bool = False  # no key: the node obeys unauthenticated commands (flagged)
    force: bool = False  # write into a non-empty output folder
    log_level: str = "info"  # the node's --log-level (its log is node.log)


def _check_model(cfg: RunConfig) -> str:
    """Load the model once here so a bad one fails with one line before anything starts."""
    from node.engine import Engine, parse_shape
    from node.inputs import file_shape, load_inputs
    from node.models import DEFAULT_MODEL

    model = cfg.model or str(DEFAULT_MODEL)
    shape = parse_shape(cfg.input_shape) if cfg.input_shape else None
    engine = Engine(model, threads=1, input_shape=shape, level=cfg.level,
                    verify_liveness=False, shape_hint=None if shape else file_shape(cfg.input))
    x, _ = load_inputs(engine, cfg.input)
    engine.check_inference(x[: engine.input_shape[0]])
    return model


def _node_command(cfg: RunConfig, port: str, board: str, model: str,
                  key_file: Path | None) -> list[str]:
    cmd = [sys.executable, "-m", "orbnode", "node", "--port", port, "--baud", str(cfg.baud),
           "--board", board, "--model", model, "--power-source", cfg.power_source,
           "--scrub-period-s", str(cfg.scrub_period_s), "--seed", str(cfg.seed),
           "--radiation", "off" if cfg.radiation == "off" else "on", "--level", cfg.level,
           # The pty's master is this process: if it hangs up, the run is gone for good.
           "--on-hangup", "exit", "--log-level", cfg.log_level]
    cmd += ["--insecure"] if key_file is None else ["--key-file", str(key_file)]
    if cfg.input:
        cmd += ["--input", cfg.input]
    if cfg.input_shape:
        cmd += ["--input-shape", cfg.input_shape]
    return cmd


class NodeProcess:
    """``orbnode node`` as a child process: started, power-cycled, and always stopped."""

    def __init__(self, cmd: list[str], log_path: Path) -> None:
        self.cmd = cmd
        self.log = open(log_path, "w")  # noqa: SIM115 (lives as long as the node)
        self.proc = self._start()

    def _start(self) -> subprocess.Popen:
        # Its own session: a Ctrl-C on the terminal reaches this process alone, which
        # then stops the node itself (an orphan still exits: the pty hangs up).
        return subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)

    def exit_description(self) -> str | None:
        """None while the process lives; else how it ended."""
        code = self.proc.poll()
        if code is None:
            return None
        if code < 0:
            return f"had died: killed by {signal.Signals(-code).name}"
        return f"had exited with status {code}"

    def power_cycle(self, reason: str) -> str:
        died = self.exit_description()
        self.kill()
        self.log.write(f"--- bus watchdog power cycle: {reason}\n")
        self.log.flush()
        self.proc = self._start()
        return f"node process {died}" if died else "node process alive but silent: killed"

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # SIGKILL also ends a stopped (SIGSTOP) process
            self.proc.wait()

    def stop(self, timeout_s: float) -> None:
        """Wait for the node to finish (after a shutdown command), else kill it."""
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
        self.log.close()


def check_out_folder(out: Path, force: bool) -> None:
    """A run never mixes its files with an earlier run's unless told to (``--force``)."""
    if out.exists() and not out.is_dir():
        raise OrbnodeError(f"--out {out} is a file, not a folder")
    if not force and out.is_dir() and any(out.iterdir()):
        raise OrbnodeError(f"--out {out} is not empty; choose another folder or pass --force "
                           "to replace its run files")


def _open_out(cfg: RunConfig, board: BoardProfile, model: str, env: Envelope
              ) -> tuple[TelemetryDB, Path | None]:
    """The run's archive, saying what the run is, and its telecommand key (None: --insecure)."""
    cfg.out.mkdir(parents=True, exist_ok=True)
    db = fresh_db(cfg.out / "telemetry.sqlite")
    db.set_meta("board", board.name)
    db.set_meta("model", Path(model).name)
    db.set_meta("radiation", cfg.radiation)
    db.set_meta("altitude_km", cfg.altitude_km)
    db.set_meta("beta_deg", cfg.beta_deg)
    db.set_meta("speedup", cfg.speedup)
    db.set_meta("spacecraft", cfg.spacecraft or board.default_spacecraft)
    record_orbit(db, env)
    db.set_meta("thermal_start", env.thermal_start)
    db.set_meta("complete", False)
    db.set_meta("upset_acceleration", cfg.upset_acceleration)
    db.set_meta("level", cfg.level)

    # A fresh key per run, owner-only, in the output folder (never in the repository):
    # every telecommand on the link is authenticated, as on a bench. Replaced
    # atomically, never written through a symlink; --insecure runs without one.
    key_file = None if cfg.insecure else write_key(cfg.out / "tc.key", overwrite=True)
    # The node keeps its anti-replay state beside the key; a new key starts a new one.
    (cfg.out / ("tc.key" + STATE_SUFFIX)).unlink(missing_ok=True)
    return db, key_file


def run(cfg: RunConfig) -> dict[str, Any]:
    from firmware_stubs.envelope import Envelope
    from node.boards import detect_board, load_board

    check_out_folder(cfg.out, cfg.force)

    if cfg.orbits <= 0 or cfg.speedup <= 0 or cfg.tick_wall_s <= 0:
        raise OrbnodeError("--orbits, --speedup and --tick-s must be positive")
    # The range the node itself enforces on every env_tick (node/packets/definitions.toml).
    problem = PACKETS.defs["env_tick"].field_problem("upset_acceleration",
                                                       cfg.upset_acceleration)
    if problem:
        raise OrbnodeError(f"--upset-acceleration: {problem.split(': ', 1)[1]}")
    board = load_board(detect_board() if cfg.board == "auto" else cfg.board)
    from node.power import SOURCES

    if cfg.power_source not in SOURCES:  # checked here: the node would fail after its start
        raise OrbnodeError(f"unknown power source {cfg.power_source!r}; "
                           f"choose one of {', '.join(SOURCES)}")
    model = _check_model(cfg)
    env = Envelope.from_config(altitude_km=cfg.altitude_km, beta_deg=cfg.beta_deg, board=board,
                               spacecraft=cfg.spacecraft or board.default_spacecraft,
                               radiation=cfg.radiation, initial_soc=cfg.initial_soc,
                               device=cfg.device, shielding_mm_al=cfg.shielding_mm_al,
                               solar=cfg.solar)
    listener = ground_listener(cfg)  # bound before any file: a failed bind leaves none
    pty = link = None
    try:
        db, key_file = _open_out(cfg, board, model, env)
        pty = PtyPair()
        link = Link(PacedTransport(pty.master(), cfg.baud), apid="sim",
                    signer=None if key_file is None else Signer(load_key(key_file), SOURCE_SIM))
        # tm.bin, tc.bin, the packets table; a TCP feed for ground tools if asked
        ground = GroundStation(link, db, cfg.out, listener=listener, announce="orbnode run")
    except BaseException:
        for opened in (listener, link, pty):
            if opened is not None:
                opened.close()
        raise
    node = NodeProcess(_node_command(cfg, pty.slave_path, board.name, model, key_file),
                       cfg.out / "node.log")
    duration_s = cfg.orbits * env.period_s
    bar = Progress(round(duration_s), "orbnode run", "sim s", enabled=cfg.progress)

    def on_tick(row: dict) -> None:
        bar.update(round(row["t_s"]) - bar.done)
        bar.set_postfix(f"orbit {row['t_s'] / env.period_s:4.2f} {row['mode']:4s} "
                            f"SoC {row['soc'] * 100:5.1f}% {row['temp_c']:5.1f}°C "
                            f"{row['throughput_per_s']:7.0f} inf/s")

    def say(text: str) -> None:
        bar.write(f"orbnode run: {text}")

    sim = Simulator(link, env, db, SimConfig(duration_s, cfg.speedup, cfg.tick_wall_s,
                                             retry_s=retry_s_for_baud(cfg.baud),
                                             lost_after_s=cfg.lost_after_s,
                                             upset_acceleration=cfg.upset_acceleration),
                    on_tick=on_tick, say=say,
                    watchdog=BusWatchdog(cfg.watchdog_s, node.power_cycle, cfg.max_resets)
                    if cfg.watchdog_s > 0 else None)

    def node_gone() -> str | None:  # say so when the node process is gone
        died = node.exit_description()
        return f"node process {died}" if died else None

    asked_to_stop = False
    previous_term = signal.signal(signal.SIGTERM, lambda *_: sim.stop())
    try:
        try:
            sim.wait_hello(timeout_s=60.0)
        except NodeLost:
            raise OrbnodeError(
                "the node did not start: " + _last_line(cfg.out / "node.log")) from None
        # Interrupted or lost: stop at once (the node is killed below); otherwise the
        # node sends its final report before it stops.
        stopped_because = fly(sim, db, lost_detail=node_gone)
        asked_to_stop = stopped_because in SHUT_DOWN
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        bar.close()
        node.stop(10.0 if asked_to_stop else 0.0)  # never left running
        ground.close()
        link.close()
        pty.close()
    summary = finish(db, cfg.out, env.period_s, stopped_because, meta={
        "frames_bad_host": link.stats.frames_bad + link.stats.packets_bad,
        "resets": sim.counters.resets})
    if summary.get("ticks"):
        plot_timeline(db, cfg.out / "timeline.png",
                      title=f"orbnode run — {board.name}, {Path(model).name}, "
                            f"{cfg.altitude_km:g} km β={cfg.beta_deg:g}°, "
                            f"radiation {cfg.radiation}")
    db.close()
    if stopped_because.startswith(("node lost", "stopped")):
        raise OrbnodeError(f"{stopped_because}; {_last_line(cfg.out / 'node.log')} "
                           f"(partial results kept in {cfg.out})")
    return summary


def _last_line(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    except OSError:
        return "no node log"
    return lines[-1] if lines else "node printed nothing"
