"""The host side of the loop: plays the spacecraft bus to the node over the link.

Each tick (``tick_wall_s`` of wall time) the simulator sends an ``env_tick`` with
the environment state, the node answers with ``hk_node``, and the envelope is
stepped over the interval that just ended with the power the node reported for
it, times the speed-up: node work is real, energy is power x environment time.
So interval k is integrated with exactly the power measured (or modelled) over
it; the node sees the resulting state one tick later, as a bus's telemetry lags.

A bench line is not perfect, and every packet a read returns is handled. A tick
whose report does not come within ``retry_s`` is sent again (the node answers a
repeated tick without running it twice) and counted as a retry; packets missing
from the node's CCSDS sequence count are counted as gaps; the environment clock
waits while the node is silent (the envelope is stepped only with a report in
hand), so an outage pauses simulated time rather than guessing the node's power.
A bus watchdog (:mod:`firmware_stubs.watchdog`), if given, power-cycles a node
whose housekeeping stopped for its timeout; without one, or once it gives up,
the node is declared lost after ``lost_after_s`` of silence. A node that restarted
without a power cycle of ours (systemd, a bench reset) says so with a new boot id
in its hello and housekeeping: its sequence count is followed afresh and its
counters carried on, as after a power cycle. Housekeeping the node stored while
out of contact arrives oldest first and goes to its own table. Host-side events
carry ids from 100 up (``HOST_EVENT_*``); a node that runs without telecommand
authentication is flagged the moment its hello says so.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from firmware_stubs.telemetry_db import TelemetryDB
from firmware_stubs.watchdog import BusWatchdog
from node.errors import OrbnodeError
from node.link import Link, LinkClosed
from node.packets import Packet


@dataclass(frozen=True)
class SimConfig:
    duration_s: float          # simulated seconds to run
    speedup: float = 150.0     # simulated seconds per wall second
    tick_wall_s: float = 0.1   # wall seconds between env ticks
    retry_s: float = 1.5       # wall seconds to wait for a report before sending the tick again
    lost_after_s: float = 30.0  # wall seconds of housekeeping silence: the node is lost
    boot_s: float = 60.0       # wall seconds a power-cycled node has to announce itself
    upset_acceleration: float = 1.0  # test factor on the upset rate; 1 = physical


def retry_s_for_baud(baud: int) -> float:
    """Seconds to wait for a report before re-sending the tick: 1 s plus the line time
    of ~2 kB at ``baud`` (a report may queue behind a burst of events or a store dump)."""
    return 1.0 + 2000 * 10 / baud


TICK_FINAL = 0xFFFFFFFF   # the tick a shutdown's final report answers
TICK_STORED = 0xFFFFFFFE  # housekeeping the node took itself while out of contact
SEQ_MODULO = 16384        # CCSDS packet sequence count: 14 bits

EVENT_HELLO = 1
HOST_EVENT_RETRY = 100
HOST_EVENT_GAP = 101
HOST_EVENT_RESET = 102
HOST_EVENT_LINE = 103
HOST_EVENT_BOOT = 104  # the node restarted on its own: a new boot id

# Node counters that only grow; a power-cycled node starts them from zero again.
CUMULATIVE = ("inferences", "correct", "node_wall_s", "frames_bad", "tc_rejected", "upsets",
              "scrub_repairs", "scrub_detected", "tc_repeated", "stored", "store_overflow")
FINAL_COUNTERS = ("upsets", "scrub_repairs", "scrub_detected", "tc_rejected", "frames_bad",
                  "tc_repeated", "stored", "store_overflow")


@dataclass
class HostCounters:
    """What the line cost, as the bus saw it (archived in meta ``host_counters``)."""

    retries: int = 0          # ticks sent again for want of a report
    gaps: int = 0             # node packets missing from its sequence count
    duplicates: int = 0       # reports for a tick already recorded (late answers)
    resets: int = 0           # power cycles by the bus watchdog
    restarts: int = 0         # node restarts the bus did not cause (a new boot id)
    stored_hk: int = 0        # housekeeping reports received from the node's store
    line_down: int = 0        # times the host side of the line went down
    frames_bad_host: int = 0  # frames and packets the host's decoder refused


class _Stopped(Exception):
    """stop() was called while waiting for the node."""


class NodeLost(OrbnodeError):
    """The node stopped answering."""


class Simulator:
    def __init__(self, link: Link, envelope, db: TelemetryDB, config: SimConfig,
                 on_tick: Callable[[dict], None] | None = None, *,
                 watchdog: BusWatchdog | None = None,
                 say: Callable[[str], None] | None = None) -> None:
        self.link = link
        self.env = envelope
        self.db = db
        self.config = config
        self.on_tick = on_tick
        self.watchdog = watchdog
        self.say = say or (lambda text: print(f"sim: {text}", file=sys.stderr, flush=True))
        self.t_wall0 = time.monotonic()
        self.hello: dict[str, str] = {}
        self.counters = HostCounters()
        self._stop = False
        self._answers: dict[int, Packet] = {}  # housekeeping by the tick it answers
        self._recorded_up_to = -1
        self._hellos = 0
        self._pongs = 0
        self._tick_payload: Any = None  # the last env tick sent, for a retry
        self._last_hk_wall = time.monotonic()
        self._expect_seq: int | None = None
        self._boot: int | None = None  # the node's boot id; None: whatever comes is expected
        self._auth_said = "on"  # the auth state last flagged on the terminal
        self._base = dict.fromkeys(CUMULATIVE, 0)  # counters of earlier node power cycles
        self._last_raw: Any = None     # last hk_node payload of this power cycle
        self._stored_prev: Any = None  # newest stored report, continued
        self._line_ok = True

    def stop(self) -> None:
        """End the run at the next tick (safe from a signal handler)."""
        self._stop = True

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stop

    def _now(self) -> float:
        return time.monotonic() - self.t_wall0

    # -- sending ------------------------------------------------------------------
    def _send(self, name: str, payload: Any = None) -> bool:
        """Send; a line that is down is noted (the retry logic resends), never fatal."""
        try:
            self.link.send(name, payload)
        except LinkClosed as exc:
            self._line_down(exc)
            return False
        return True

    def _line_down(self, exc: Exception) -> None:
        if self._line_ok:
            self._line_ok = False
            self.counters.line_down += 1
            self._host_event(HOST_EVENT_LINE, f"line down: {exc}")

    def _send_tick(self, tick: int, state, dt_s: float) -> None:
        self._tick_payload = self.link.packets.payload(
            "env_tick", tick=tick, t_s=state.t_s, dt_s=dt_s,
            illumination=state.illumination, soc=state.soc,
            soc_floor=state.soc_floor, temp_c=state.temp_c,
            load_shed=int(state.load_shed), in_saa=int(state.in_saa),
            upset_rate_per_bit_day=state.upset_rate_per_bit_day,
            multi_bit_share=self.env.radiation.multi_bit_share,
            upset_acceleration=self.config.upset_acceleration,
        )
        self._send("env_tick", self._tick_payload)

    # -- receiving ------------------------------------------------------------------
    def _pump(self, timeout_s: float) -> None:
        """One read from the link; every packet in it is handled, whatever else came along."""
        try:
            packets = self.link.receive(timeout_s)
        except LinkClosed as exc:  # a transport that cannot reopen: wait, the bus stays up
            self._line_down(exc)
            time.sleep(timeout_s)
            return
        if packets and not self._line_ok:
            self._line_ok = True
            self._host_event(HOST_EVENT_LINE, "line back")
        for pkt in packets:
            self._dispatch(pkt)

    def _dispatch(self, pkt: Packet) -> None:
        self._check_boot(pkt)
        self._check_sequence(pkt)
        if pkt.name == "event":
            self._on_event(pkt)
        elif pkt.name == "hk_node":
            self._on_hk(pkt)
        elif pkt.name == "pong":
            self._pongs += 1

    @staticmethod
    def _boot_of(pkt: Packet) -> int | None:
        """The boot id a node packet carries (housekeeping, the hello), or None."""
        if pkt.name == "hk_node":
            return pkt.payload.boot_id
        if pkt.name == "event" and pkt.payload.event_id == EVENT_HELLO:
            try:
                return int(_hello_fields(pkt.payload.text)["boot"], 16)
            except (KeyError, ValueError):
                return None
        return None

    def _check_boot(self, pkt: Packet) -> None:
        """A new boot id the bus did not cause: the node's sequence count and counters
        started again. Checked before the sequence: a restarted node's first packets
        must not count as thousands missing (or as repeats) of the old count."""
        boot = self._boot_of(pkt)
        if boot is None or boot == self._boot:
            return
        known, self._boot = self._boot, boot
        if known is None:
            return  # the first we hear of this node, or of one we power-cycled
        self._carry_counters()
        # The node numbers its packets from zero at start and says its boot id in its
        # first two (hello, then the first report): the ones before this that did
        # not arrive are missing.
        self._expect_seq = 0
        self.counters.restarts += 1
        self._host_event(HOST_EVENT_BOOT, f"the node restarted (boot {known:08x} -> "
                         f"{boot:08x}): sequence count followed afresh, counters carried on")

    def _carry_counters(self) -> None:
        """Carry the node's cumulative counters on past a restart (they start at zero)."""
        if self._last_raw is not None:
            for k in CUMULATIVE:
                self._base[k] += getattr(self._last_raw, k)
            self._last_raw = None

    def _check_sequence(self, pkt: Packet) -> None:
        """Count node packets missing from its 14-bit sequence count (CCSDS 133.0-B-2)."""
        if pkt.apid != self.link.packets.apids["node"]:
            return
        if self._expect_seq is not None:
            ahead = (pkt.seq_count - self._expect_seq) % SEQ_MODULO
            if ahead >= SEQ_MODULO // 2:
                return  # behind: a packet sent again, not news
            if ahead:
                self.counters.gaps += ahead
                self._host_event(HOST_EVENT_GAP, f"{ahead} node packet(s) missing before "
                                 f"sequence count {pkt.seq_count}")
        self._expect_seq = (pkt.seq_count + 1) % SEQ_MODULO

    def _on_hk(self, pkt: Packet) -> None:
        self._last_hk_wall = time.monotonic()
        self._last_raw = pkt.payload
        tick = pkt.payload.tick
        if tick == TICK_STORED:
            self.counters.stored_hk += 1
            hk = self._continued(pkt.payload)
            self._stored_prev = hk
            self.db.add_stored_hk(self._now(), asdict(hk))
            self._save_counters()
        elif tick <= self._recorded_up_to or tick in self._answers:
            self.counters.duplicates += 1
            self._save_counters()
        else:
            self._answers[tick] = pkt

    def _continued(self, hk: Any) -> Any:
        """The hk_node payload with the node's counters carried on across power cycles
        (a host-side record: not range-checked, never sent)."""
        return replace(hk, **{k: getattr(hk, k) + self._base[k] for k in CUMULATIVE})

    def _on_event(self, pkt: Packet) -> None:
        ev = pkt.payload
        text = ev.text
        t_s = self.env.state().t_s if self.env is not None else 0.0  # None: before set-up
        self.db.add_event(self._now(), t_s, ev.event_id, text)
        if ev.event_id == EVENT_HELLO:
            self.hello = _hello_fields(text)
            self._hellos += 1
            self._flag_auth(self.hello.get("auth", "unknown"))

    def _flag_auth(self, auth: str) -> None:
        """Say on the terminal, once per change, that the node obeys anyone: as
        ``orbnode run`` flags it in its summary."""
        if auth != self._auth_said:
            self._auth_said = auth
            if auth != "on":
                self.say(f"{auth.upper()}: the node obeys unauthenticated telecommands "
                         f"(its hello says auth={auth})")

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
            self._send("ping", self.link.packets.payload("ping"))
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
        self.db.set_meta("auth", h.get("auth", "unknown"))

    def _host_event(self, event_id: int, text: str) -> None:
        """Something the bus noticed: archived with the node's events, printed, counted."""
        t_s = self.env.state().t_s if self.env is not None else 0.0
        self.db.add_event(self._now(), t_s, event_id, text)
        self._save_counters()
        self.say(text)

    def _save_counters(self) -> None:
        self.counters.frames_bad_host = self.link.stats.frames_bad + self.link.stats.packets_bad
        self.db.set_meta("host_counters", asdict(self.counters))

    def _take_answer(self, tick: int) -> Any:
        """The report for ``tick``, counters continued; older ones queued are late."""
        pkt = self._answers.pop(tick)
        for stale in [k for k in self._answers if k < tick]:
            del self._answers[stale]
        if tick != TICK_FINAL:
            self._recorded_up_to = tick
        return self._continued(pkt.payload)

    def _hk(self, tick: int) -> Any:
        """Wait for the report on ``tick``, sending the tick again while none comes."""
        cfg = self.config
        while not self.wait_until(lambda: tick in self._answers, cfg.retry_s):
            if self._stop:
                raise _Stopped
            silent_s = time.monotonic() - self._last_hk_wall
            if self.watchdog is not None and silent_s >= self.watchdog.timeout_s:
                self._power_cycle(f"no housekeeping for {silent_s:.1f} s")
            elif silent_s >= cfg.lost_after_s:
                raise NodeLost(f"no housekeeping from the node for {silent_s:.0f} s "
                               f"(tick {tick}, {self.counters.retries} retries)")
            self.counters.retries += 1
            self._host_event(HOST_EVENT_RETRY, f"tick {tick}: no report within "
                             f"{cfg.retry_s:.1f} s, sent again")
            self._send("env_tick", self._tick_payload)
        return self._take_answer(tick)

    def _power_cycle(self, reason: str) -> None:
        """The bus watchdog switches the node off and on; its counters carry on here."""
        wd = self.watchdog
        assert wd is not None
        if wd.resets >= wd.max_resets:
            raise NodeLost(f"{reason}, and {wd.resets} power cycles did not bring it back")
        found = wd.power_cycle(reason)
        self._host_event(HOST_EVENT_RESET, f"bus watchdog power-cycled the node: {reason}"
                         + (f" ({found})" if found else ""))
        wd.resets += 1
        self.counters.resets += 1
        self._save_counters()
        self._carry_counters()
        self._expect_seq = None  # a fresh node counts its packets from zero
        self._boot = None  # and has a new boot id, which we caused
        try:
            self.wait_hello(self.config.boot_s)
        except NodeLost:
            raise NodeLost(f"{reason}; the node did not come back within "
                           f"{self.config.boot_s:.0f} s of a power cycle") from None
        self._last_hk_wall = time.monotonic()

    def run(self) -> int:
        """Run to ``duration_s`` of simulated time; returns the number of ticks recorded."""
        cfg = self.config
        tick = 0
        state = self.env.state()
        self._last_hk_wall = time.monotonic()
        thermal_settled = not hasattr(self.env, "restart_thermal")
        ticks = 0
        try:
            self._send_tick(tick, state, 0.0)
            prev = self._hk(tick)
            last_wall = time.monotonic()
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
                hk = self._hk(tick)
                stored = self._stored_prev
                if stored is not None and stored.node_wall_s < hk.node_wall_s:
                    # Reports stored while out of contact hold the intervals before this
                    # one: this row covers only the time since the newest of them. (A
                    # report taken before them -- a repeated tick's -- waits for the next.)
                    if stored.node_wall_s > prev.node_wall_s:
                        prev = stored
                    self._stored_prev = None
                # A retried tick may have taken much longer than planned: the interval
                # the node worked and the environment steps is the one it really spanned.
                done = time.monotonic()
                if done - now > cfg.retry_s:
                    last_wall = done
                # Integrate the interval that just ended with the power reported for it.
                mode = self.link.packets.enum_name("mode", hk.mode)
                state = self.env.step(dt_s, hk.power_w, mode=mode)
                if not thermal_settled and mode != "SAFE":
                    # The thermal start needs the power the node really draws in its
                    # working mode: its first such report (within the run's first minute).
                    thermal_settled = True
                    if self.env.restart_thermal(hk.power_w, mode):
                        state = self.env.state()
                        self.db.set_meta("thermal_start", self.env.thermal_start)
                self._record(tick, now, wall_dt, dt_s, state, hk, prev)
                prev = hk
                ticks += 1
        except _Stopped:
            pass
        finally:
            self._save_counters()
        return ticks

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Ask the node to stop; its final report and events are still archived."""
        if not self._send("shutdown", self.link.packets.payload("shutdown", tick=TICK_FINAL)):
            return
        if self.wait_until(lambda: TICK_FINAL in self._answers, timeout_s):
            final = self._take_answer(TICK_FINAL)
            # Upsets applied on the last tick show only in this final report.
            self.db.set_meta("final_counters", {k: getattr(final, k) for k in FINAL_COUNTERS})
            self._drain()
        self._save_counters()

    def _drain(self, quiet_s: float = 0.25, limit_s: float = 3.0) -> None:
        """Keep archiving until the line has been quiet for ``quiet_s``: events the node
        sent with or after its final report may still be on the way (a slow line, a
        frame split over many reads)."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline and not self._stop:
            stats = self.link.stats
            seen = (stats.packets_in, stats.packets_bad, stats.frames_bad)
            self.wait_until(lambda: False, quiet_s)
            if (stats.packets_in, stats.packets_bad, stats.frames_bad) == seen:
                return

    def _record(self, tick: int, now: float, wall_dt: float, dt_s: float, state, hk: Any,
                prev: Any) -> None:
        d_inf = hk.inferences - prev.inferences
        d_wall = hk.node_wall_s - prev.node_wall_s
        row = {
            "tick": tick, "wall_s": now - self.t_wall0, "t_s": state.t_s, "dt_s": dt_s,
            "wall_dt_s": wall_dt,
            "illumination": state.illumination, "in_eclipse": int(state.in_eclipse),
            "solar_power_w": state.solar_power_w, "node_power_w": hk.power_w,
            "node_power_drawn_w": state.node_power_drawn_w,
            "bus_power_w": state.bus_power_w, "battery_energy_j": state.battery_energy_j,
            "soc": state.soc, "soc_floor": state.soc_floor, "load_shed": int(state.load_shed),
            "temp_c": state.temp_c, "latitude_deg": state.latitude_deg,
            "longitude_deg": state.longitude_deg, "in_saa": int(state.in_saa),
            "upset_rate_per_bit_day": state.upset_rate_per_bit_day,
            "mode": self.link.packets.enum_name("mode", hk.mode),
            "threads": hk.threads, "duty": hk.duty,
            "inferences": hk.inferences, "inferences_delta": d_inf,
            "node_wall_dt_s": d_wall,
            "throughput_per_s": d_inf / d_wall if d_wall > 0 else 0.0,
            "correct": hk.correct,
            "power_source": self.link.packets.enum_name("power_source", hk.power_source),
            "cpu_util": hk.cpu_util, "frames_bad": hk.frames_bad,
            "tc_rejected": hk.tc_rejected, "upsets": hk.upsets,
            "scrub_repairs": hk.scrub_repairs, "scrub_detected": hk.scrub_detected,
            "tc_repeated": hk.tc_repeated, "stored": hk.stored,
            "store_overflow": hk.store_overflow,
        }
        self.db.add_hk(row)
        if self.on_tick is not None:
            self.on_tick(row)


def _hello_fields(text: str) -> dict[str, str]:
    """The node's hello, ``key=value;key=value``, as a dict."""
    return dict(kv.split("=", 1) for kv in text.split(";") if "=" in kv)
