"""The host side of the loop: the simulator plays the bus to a node, from start to summary.

Shared by ``orbnode run`` (:mod:`orbnode.run`: the node in a child process on a pty)
and ``orbnode sim`` (:func:`play_bus`: a node on a serial port). Either way the
archive is a fresh one (:func:`fresh_db`), :func:`fly` runs the simulator to the
end and says why it stopped, and :func:`finish` records that and writes
``summary.json`` from what was archived, complete or not.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firmware_stubs.sim import NodeLost, Simulator
from firmware_stubs.summary import summarise
from firmware_stubs.telemetry_db import TelemetryDB
from node.errors import OrbnodeError

# Why a run stopped, when the node is still there to send its final report.
SHUT_DOWN = ("completed", "terminated")


def ground_listener(cfg: LoopConfig) -> socket.socket | None:
    """The ``--ground-port`` socket, to bind before any output file is written: a port
    in use or a bad ``--ground-host`` then fails the start with nothing left behind."""
    from firmware_stubs.ground.tcp import listen

    return None if cfg.ground_port is None else listen(cfg.ground_port, cfg.ground_host)


def fresh_db(db_path: Path) -> TelemetryDB:
    """A new archive: a run never appends to an older run's telemetry."""
    for stale in (db_path, db_path.with_name(db_path.name + "-wal"),
                  db_path.with_name(db_path.name + "-shm")):
        stale.unlink(missing_ok=True)
    return TelemetryDB(db_path)


def record_orbit(db: TelemetryDB, env) -> None:
    """The envelope's period, analytic eclipse fraction and the shielding and solar phase
    its upset rate assumes, for the summary."""
    db.set_meta("period_s", env.period_s)
    db.set_meta("eclipse_fraction_analytic", env.eclipse_fraction)
    db.set_meta("shielding_mm_al", env.radiation.shielding_mm_al)
    db.set_meta("solar", env.radiation.solar)


def fly(sim: Simulator, db: TelemetryDB, *,
        lost_detail: Callable[[], str | None] = lambda: None) -> str:
    """Run ``sim`` to the end of its configured duration; return why it stopped.

    ``completed``; ``terminated`` (``sim.stop()``, e.g. on SIGTERM); ``interrupted``
    (Ctrl-C); ``node lost: ...``, followed by ``(lost_detail())`` when that says
    something; or ``stopped: ...`` (any other :class:`OrbnodeError`, e.g. a power
    cycle that failed). The loop's wall time is archived as ``wall_seconds_loop``.
    A run that completed or was terminated is then shut down, so the node sends its
    final report; an interrupted or lost one is not waited on.
    """
    stopped_because = "completed"
    t0 = time.monotonic()
    try:
        sim.run()
        if sim.stopping:
            stopped_because = "terminated"
    except KeyboardInterrupt:
        stopped_because = "interrupted"
    except NodeLost as exc:
        detail = lost_detail()
        stopped_because = f"node lost: {exc}" + (f" ({detail})" if detail else "")
    except OrbnodeError as exc:
        stopped_because = f"stopped: {exc}"
    db.set_meta("wall_seconds_loop", time.monotonic() - t0)
    if stopped_because in SHUT_DOWN:
        sim.shutdown()
    return stopped_because


def finish(db: TelemetryDB, out: Path, period_s: float, stopped_because: str,
           meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Record why the run stopped (and ``meta``), summarise it into ``out/summary.json``."""
    db.set_meta("complete", stopped_because == "completed")
    db.set_meta("stopped_because", stopped_because)
    for key, value in (meta or {}).items():
        db.set_meta(key, value)
    summary = summarise(db, period_s)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


@dataclass(frozen=True, kw_only=True)
class LoopConfig:
    """What ``orbnode run`` and ``orbnode sim`` both set: the output, the orbit and
    environment the bus plays, the line, the ground port and the watchdog."""

    out: Path
    orbits: float = 3.0
    speedup: float = 150.0
    tick_wall_s: float = 0.1
    altitude_km: float = 550.0
    beta_deg: float = 0.0
    board: str = "auto"
    spacecraft: str | None = None
    radiation: str = "leo"
    device: str | None = None  # memory holding the weights; None: the board's
    shielding_mm_al: float | None = None  # None: the spacecraft's
    solar: str | None = None  # AP8 solar-cycle phase ("min"/"max"); None: the environment's
    initial_soc: float = 1.0
    baud: int = 115200
    ground_port: int | None = None  # serve telemetry to ground tools on this TCP port
    ground_host: str = "127.0.0.1"
    watchdog_s: float = 10.0    # bus watchdog: power-cycle after this long without housekeeping
    max_resets: int = 3
    lost_after_s: float = 30.0  # without a watchdog (or once it gave up): the node is lost


@dataclass(frozen=True, kw_only=True)
class BusConfig(LoopConfig):
    """``orbnode sim``: the bus played to a node on ``port`` (board auto: the board the
    node's hello names)."""

    port: str
    key_file: str | None = None  # telecommand key shared with the node
    reset_command: str | None = None  # bench power cycle; without it, no bus watchdog


def play_bus(cfg: BusConfig) -> dict[str, Any]:
    """Play the bus to the node on ``cfg.port`` for ``cfg.orbits``; return the summary.

    The summary (also in ``out/summary.json``) says in ``stopped_because`` how the
    run ended; the caller decides what an incomplete run means.
    """
    from firmware_stubs.envelope import Envelope
    from firmware_stubs.ground.station import GroundStation
    from firmware_stubs.sim import SimConfig, retry_s_for_baud
    from firmware_stubs.watchdog import BusWatchdog, command_power_cycle
    from node.boards import load_board
    from node.link import Link, open_transport
    from orbnode.console import LiveConsole

    def envelope(board_name: str) -> Envelope:
        board = load_board(board_name)
        return Envelope.from_config(altitude_km=cfg.altitude_km, beta_deg=cfg.beta_deg,
                                    board=board, radiation=cfg.radiation, device=cfg.device,
                                    shielding_mm_al=cfg.shielding_mm_al, solar=cfg.solar,
                                    initial_soc=cfg.initial_soc,
                                    spacecraft=cfg.spacecraft or board.default_spacecraft)

    # Check every environment setting before waiting on the node.
    env = envelope(cfg.board if cfg.board != "auto" else "x86-workstation")
    signer = None
    if cfg.key_file:
        from node.auth import SOURCE_SIM, Signer, load_key

        signer = Signer(load_key(cfg.key_file), SOURCE_SIM)
    out = Path(cfg.out)
    # The ground port and the serial port before any file: a start that fails on
    # either leaves the output folder as it was.
    listener = ground_listener(cfg)
    try:
        # The port is reopened after a hang-up (adapter unplugged): the bus keeps running.
        link = Link(open_transport(cfg.port, cfg.baud, reopen=True), apid="sim",
                    signer=signer)
    except BaseException:
        if listener is not None:
            listener.close()
        raise
    out.mkdir(parents=True, exist_ok=True)
    db = fresh_db(out / "telemetry.sqlite")  # a reused folder never mixes two runs
    watchdog = None
    if cfg.reset_command and cfg.watchdog_s > 0:
        watchdog = BusWatchdog(cfg.watchdog_s, command_power_cycle(cfg.reset_command),
                               cfg.max_resets)
    ground = None
    console = LiveConsole()  # a status line on a terminal, plain announcements otherwise
    try:
        ground = GroundStation(link, db, out, listener=listener, announce="orbnode sim")
        console.link, console.ground = link, ground.server
        sim = Simulator(link, env, db, SimConfig(0.0, cfg.speedup, cfg.tick_wall_s),
                        watchdog=watchdog, on_tick=console.on_tick)
        console.announce(f"orbnode sim: waiting for the node on {cfg.port}")
        hello = sim.wait_hello(timeout_s=60.0)
        if cfg.board == "auto":  # play the bus for the board the node says it is
            sim.env = envelope(hello.get("board", "x86-workstation"))
        sim.config = SimConfig(cfg.orbits * sim.env.period_s, cfg.speedup, cfg.tick_wall_s,
                               retry_s=retry_s_for_baud(cfg.baud),
                               lost_after_s=cfg.lost_after_s)
        console.period_s = sim.env.period_s
        record_orbit(db, sim.env)
        stopped_because = fly(sim, db)
        return finish(db, out, sim.env.period_s, stopped_because)
    finally:
        console.close()
        if ground is not None:
            ground.close()
        elif listener is not None:  # the station never took it over
            listener.close()
        link.close()
        db.close()
