"""The host side of the loop: plays the spacecraft bus to the node over the link.

Each tick (``tick_wall_s`` of wall time) the simulator sends an ``env_tick`` with
the environment state, the node answers with ``hk_node``, and the envelope is
stepped over the interval that just ended with the power the node reported for
it, times the speed-up: node work is real, energy is power x environment time.
So interval k is integrated with exactly the power measured (or modelled) over
it; the node sees the resulting state one tick later, as a bus's telemetry lags.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from firmware_stubs.telemetry_db import TelemetryDB
from node.errors import OrbnodeError
from node.link import Link, LinkClosed
from node.packets import Packet


@dataclass(frozen=True)
class SimConfig:
    duration_s: float          # simulated seconds to run
    speedup: float = 150.0     # simulated seconds per wall second
    tick_wall_s: float = 0.1   # wall seconds between env ticks
    hk_timeout_s: float = 5.0  # wall seconds to wait for the node's answer
    upset_acceleration: float = 1.0  # test factor on the upset rate; 1 = physical


def hk_timeout_for_baud(baud: int) -> float:
    """Seconds to wait for housekeeping: 5 s plus the line time of ~2 kB at ``baud``."""
    return 5.0 + 2000 * 10 / baud


TICK_FINAL = 0xFFFFFFFF  # the tick a shutdown's final report answers


class _Stopped(Exception):
    """stop() was called while waiting for the node."""


class NodeLost(OrbnodeError):
    """The node stopped answering."""


class Simulator:
    def __init__(self, link: Link, envelope, db: TelemetryDB, config: SimConfig,
                 on_tick: Callable[[dict], None] | None = None) -> None:
        self.link = link
        self.env = envelope
        self.db = db
        self.config = config
        self.on_tick = on_tick
        self.t_wall0 = time.monotonic()
        self.hello: dict[str, str] = {}
        self._enums = link.packets.enums
        self._stop = False
        self._answers: dict[int, Packet] = {}  # housekeeping by the tick it answers
        self._hellos = 0
        self._pongs = 0

    def stop(self) -> None:
        self._stop = True

    def _now(self) -> float:
        return time.monotonic() - self.t_wall0

    def _send_tick(self, tick: int, state, dt_s: float) -> None:
        self.link.send("env_tick", {
            "tick": tick, "t_s": state.t_s, "dt_s": dt_s,
            "illumination": state.illumination, "soc": state.soc,
            "soc_floor": state.soc_floor, "temp_c": state.temp_c,
            "load_shed": int(state.load_shed), "in_saa": int(state.in_saa),
            "upset_rate_per_bit_day": state.upset_rate_per_bit_day,
            "multi_bit_share": self.env.radiation.multi_bit_share,
            "upset_acceleration": self.config.upset_acceleration,
        })

    def _on_event(self, pkt: Packet) -> None:
        text = pkt.values["text"]
        t_s = self.env.state().t_s if self.env is not None else 0.0  # None: before set-up
        self.db.add_event(self._now(), t_s, pkt.values["event_id"], text)
        if pkt.values["event_id"] == 1:  # hello: key=value;key=value
            self.hello = dict(kv.split("=", 1) for kv in text.split(";") if "=" in kv)
            self._hellos += 1

    def _pump(self, timeout_s: float) -> None:
        """One read from the link; every packet in it is handled, whatever else came along."""
        for pkt in self.link.receive(timeout_s):
            self._dispatch(pkt)

    def _dispatch(self, pkt: Packet) -> None:
        if pkt.name == "event":
            self._on_event(pkt)
        elif pkt.name == "hk_node":
            self._answers.setdefault(pkt.values["tick"], pkt)
        elif pkt.name == "pong":
            self._pongs += 1

    def wait_until(self, done: Callable[[], bool], timeout_s: float) -> bool:
        """Handle packets until ``done()`` holds (True) or time runs out (False)."""
        deadline = time.monotonic() + timeout_s
        while not done():
            left = deadline - time.monotonic()
            if left <= 0 or self._stop:  # a SIGTERM must not wait out a long tick
                return False
            self._pump(min(left, 0.05))
        return True

    def wait_hello(self, timeout_s: float) -> dict[str, str]:
        """Wait for the node's hello event, pinging once a second in case the node
        started first and its hello was lost (opening a port flushes its input)."""
        deadline = time.monotonic() + timeout_s
        seen = self._hellos
        while time.monotonic() < deadline and not self._stop:
            self.link.send("ping")
            if self.wait_until(lambda: self._hellos > seen,
                               min(1.0, max(deadline - time.monotonic(), 0.0))):
                self._archive_hello()
                return self.hello
        raise NodeLost(f"the node did not announce itself within {timeout_s:.0f} s")

    def _archive_hello(self) -> None:
        """What the node said of itself, kept with its telemetry for the summary."""
        h = self.hello
        self.db.set_meta("power_source", h.get("power_source", "unknown"))
        self.db.set_meta("power_measured", h.get("measured") == "1")
        self.db.set_meta("exposed_bits", int(h.get("exposed_bits", 0)))
        self.db.set_meta("labelled", h.get("labelled") == "1")

    def _take_answer(self, tick: int) -> Packet:
        """The report for ``tick``; older ones still queued are late duplicates."""
        pkt = self._answers.pop(tick)
        for stale in [k for k in self._answers if k < tick]:
            del self._answers[stale]
        return pkt

    def _hk(self, tick: int) -> Packet:
        if not self.wait_until(lambda: tick in self._answers, self.config.hk_timeout_s):
            if self._stop:
                raise _Stopped
            raise NodeLost(f"no housekeeping from the node for tick {tick} "
                           f"within {self.config.hk_timeout_s:.0f} s")
        return self._take_answer(tick)

    def run(self) -> int:
        """Run to ``duration_s`` of simulated time; returns the number of ticks recorded."""
        cfg = self.config
        tick = 0
        state = self.env.state()
        self._send_tick(tick, state, 0.0)
        prev = self._hk(tick).values
        last_wall = time.monotonic()
        ticks = 0
        try:
            # Stop within a millisecond of the end: float time never lands exactly on it.
            while cfg.duration_s - state.t_s > 1e-3 and not self._stop:
                # Sleep to the next tick boundary, handling events meanwhile.
                target = last_wall + cfg.tick_wall_s
                self.wait_until(lambda: False, max(target - time.monotonic(), 0.0))
                now = time.monotonic()
                wall_dt = now - last_wall
                last_wall = now
                dt_s = min(wall_dt * cfg.speedup, cfg.duration_s - state.t_s)
                tick += 1
                self._send_tick(tick, state, dt_s)
                hk = self._hk(tick).values
                # Integrate the interval that just ended with the power reported for it.
                mode = self.link.packets.enum_name("mode", hk["mode"])
                state = self.env.step(dt_s, hk["power_w"], mode=mode)
                self._record(tick, now, wall_dt, dt_s, state, hk, prev)
                prev = hk
                ticks += 1
        except LinkClosed as exc:
            raise NodeLost(f"link to the node closed: {exc}") from None
        except _Stopped:
            pass
        return ticks

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Ask the node to stop; its final report and events are still archived."""
        try:
            self.link.send("shutdown", {"tick": TICK_FINAL}, ack_flags=0)
            got = self.wait_until(lambda: TICK_FINAL in self._answers, timeout_s)
        except LinkClosed:
            return
        if got:
            final = self._answers.pop(TICK_FINAL)
            # Upsets applied on the last tick show only in this final report.
            self.db.set_meta("final_counters", {k: final.values[k] for k in (
                "upsets", "scrub_repairs", "scrub_detected", "tc_rejected", "frames_bad")})

    def _record(self, tick: int, now: float, wall_dt: float, dt_s: float, state, hk: dict,
                prev: dict) -> None:
        d_inf = hk["inferences"] - prev["inferences"]
        d_wall = hk["node_wall_s"] - prev["node_wall_s"]
        row = {
            "tick": tick, "wall_s": now - self.t_wall0, "t_s": state.t_s, "dt_s": dt_s,
            "wall_dt_s": wall_dt,
            "illumination": state.illumination, "in_eclipse": int(state.in_eclipse),
            "solar_power_w": state.solar_power_w, "node_power_w": hk["power_w"],
            "node_power_drawn_w": state.node_power_drawn_w,
            "bus_power_w": state.bus_power_w, "battery_energy_j": state.battery_energy_j,
            "soc": state.soc, "soc_floor": state.soc_floor, "load_shed": int(state.load_shed),
            "temp_c": state.temp_c, "latitude_deg": state.latitude_deg,
            "longitude_deg": state.longitude_deg, "in_saa": int(state.in_saa),
            "upset_rate_per_bit_day": state.upset_rate_per_bit_day,
            "mode": self.link.packets.enum_name("mode", hk["mode"]),
            "threads": hk["threads"], "duty": hk["duty"],
            "inferences": hk["inferences"], "inferences_delta": d_inf,
            "node_wall_dt_s": d_wall,
            "throughput_per_s": d_inf / d_wall if d_wall > 0 else 0.0,
            "correct": hk["correct"],
            "power_source": self.link.packets.enum_name("power_source", hk["power_source"]),
            "cpu_util": hk["cpu_util"], "frames_bad": hk["frames_bad"],
            "tc_rejected": hk["tc_rejected"], "upsets": hk["upsets"],
            "scrub_repairs": hk["scrub_repairs"], "scrub_detected": hk["scrub_detected"],
        }
        self.db.add_hk(row)
        if self.on_tick is not None:
            self.on_tick(row)
