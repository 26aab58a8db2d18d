"""The board side of the loop: answers environment ticks with housekeeping.

The node knows the spacecraft only through the link: each ``env_tick``
telecommand carries illumination, state of charge, temperature and the
radiation rate; the scheduler picks a power mode from it, the job loop runs at
that mode, and the node answers with an ``hk_node`` report carrying its
inference counters and the average power over the interval since its previous
report, from a named power source. Lost contact (no tick for ``watchdog_s``)
drops the node to SAFE, as a bus watchdog would.

The line may fail. A repeated ``env_tick`` (the bus re-sends a tick whose report
did not arrive) is answered with the same report again, without running the
interval twice. Out of contact (the port hung up, or no telecommand for
``contact_lost_s``) the node keeps working in its current policy and puts what it
would have sent -- events, and housekeeping of its own every ``stored_hk_period_s``
(tick ``TICK_STORED``) -- in a bounded on-board store (:mod:`node.store`), dumped
oldest first when the next telecommand shows the bus is listening again (a beat
for systemd's watchdog after each packet: a long dump is progress, not a hang).
Each process start draws a random boot id, sent in the hello and in housekeeping,
so the bus tells a restart it did not cause from a bad line.

With a key (``verifier``), every telecommand must carry a valid HMAC and a fresh
sequence number (:mod:`node.auth`), which is on disk before the command runs;
without one the node runs insecure and says so in its hello. Every argument must
lie in the range its packet definition declares (:mod:`node.packets`). A command
that fails either check is refused and changes nothing: it is counted in
housekeeping (``tc_rejected``), reported as an event, and answered with a PUS-1
failure report when the sender asked for verification. Verification reports
carry a tag under the same key, bound to the command they answer. An operator may
override the scheduler's mode (``set_mode``), except that an EPS load shed always
forces SAFE. Refused commands and corrupt frames are logged as warnings, at most a
line a second per reason with the count since the last (:mod:`node.ratelog`).
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Callable
from typing import Any

from node.auth import ReportSigner
from node.errors import OrbnodeError
from node.jobs import JobLoop
from node.link import Link, LinkClosed
from node.packets import Packet
from node.power.base import PowerSource
from node.power.model import ProcessCpuMeter
from node.radiation_api import RadiationHooks
from node.ratelog import RateLimitedLog
from node.scheduler import Scheduler
from node.store import TelemetryStore

log = logging.getLogger("orbnode.node")

EVENT_HELLO = 1
EVENT_MODE = 2
EVENT_WATCHDOG = 3
EVENT_JOB_ERROR = 4
EVENT_CONTACT = 5
EVENT_TC_REJECTED = 20  # a refused telecommand (security and argument checks)
EVENT_UPSET = 10
EVENT_SCRUB = 11

# More upsets than this expected in one tick is no test campaign but a broken
# argument: each one is an event on the link, which would overrun it.
MAX_UPSETS_PER_TICK = 10_000

TICK_FINAL = 0xFFFFFFFF   # the report a shutdown asks for
TICK_STORED = 0xFFFFFFFE  # housekeeping the node took on its own while out of contact


class NodeService:
    def __init__(self, link: Link, jobs: JobLoop, board, power: PowerSource, *,
                 model_name: str = "", watchdog_s: float = 10.0,
                 radiation: RadiationHooks | None = None, verifier=None,
                 heartbeat=None, contact_lost_s: float = 3.0, store_packets: int = 512,
                 stored_hk_period_s: float = 1.0,
                 say: Callable[[str], None] | None = None) -> None:
        self.link = link
        self.packets = link.packets
        self.jobs = jobs
        self.board = board
        self.power = power
        self.model_name = model_name
        self.watchdog_s = watchdog_s
        self.radiation = radiation or RadiationHooks()
        self.scheduler = Scheduler.for_board(board)
        self.mode = "SAFE"  # until the bus has told us anything
        self.t0 = time.monotonic()
        self.last_tick_wall = self.t0
        self.running = False
        self.tc_rejected = 0
        self.verifier = verifier  # node.auth.Verifier, or None: insecure, accept anything
        self.override: str | None = None  # operator's mode, None: the scheduler decides
        self.shed = False  # the EPS has cut our supply
        self.cpu = ProcessCpuMeter(os.cpu_count() or 1)  # host share, whatever the power source
        self._enums = link.packets.enums
        self.heartbeat = heartbeat  # called each serve-loop turn (systemd watchdog), or None
        self.contact_lost_s = contact_lost_s
        self.stored_hk_period_s = stored_hk_period_s
        self.store = TelemetryStore(store_packets)
        self.in_contact = True
        self._heard_bus = False  # no out-of-contact before the bus has spoken once
        self._last_tc_wall = self.t0
        self._lost_at = self.t0
        self._last_stored_hk = self.t0
        self.tc_repeated = 0
        self._answered: tuple[int, Any] | None = None  # last tick and its hk_node payload
        self.say = say or log.info  # what the node is doing, for its operator's log
        # Refused commands and corrupt frames, at most a line a second per reason.
        self.rate_log = RateLimitedLog(log.warning if say is None else say)
        self._bad_seen = 0  # corrupt frames and packets already in the log
        self.stopped_because = ""
        # Random per process start: the bus tells a restart it did not cause (systemd,
        # a bench reset) from a line fault, as the sequence count and counters restart.
        self.boot_id = secrets.randbits(32)

    def _beat(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat()

    # -- telemetry out: live, or into the store -----------------------------------
    def _tm(self, name: str, payload: Any = None, signer=None) -> None:
        raw = self.link.build(name, payload, signer=signer)
        if self.in_contact:
            try:
                self.link.send_raw(raw)
                return
            except LinkClosed as exc:
                self.store.put(raw)
                self._lose_contact(f"line down ({exc})")
                return
        self.store.put(raw)

    def _lose_contact(self, why: str) -> None:
        if not self.in_contact:
            return
        self.in_contact = False
        self._lost_at = self._last_stored_hk = time.monotonic()
        self.say(f"contact lost: {why}; storing telemetry (up to "
                 f"{self.store.capacity_packets} packets)")
        self._event(EVENT_CONTACT, f"contact lost: {why}")

    def _regain_contact(self) -> None:
        """The bus spoke: send the store oldest first, then carry on live."""
        self.in_contact = True
        waiting = len(self.store)
        try:
            for raw in self.store.peek():
                self.link.send_raw(raw)
                self.store.sent()
                # A full store at 115200 baud takes seconds to minutes: each packet out
                # is progress, so systemd's watchdog must not take the dump for a hang.
                self._beat()
        except LinkClosed as exc:
            self.in_contact = False
            self.say(f"line down again while dumping the store ({exc})")
            return
        text = (f"contact regained after {time.monotonic() - self._lost_at:.1f} s: "
                f"{waiting} stored packets sent, {self.store.overflow} overflowed so far")
        self.say(text)
        self._event(EVENT_CONTACT, text)

    def _check_contact(self, now: float) -> None:
        if self.in_contact and not self.link.up:
            self._lose_contact("line down")
        elif self.in_contact and self._heard_bus and \
                now - self._last_tc_wall > self.contact_lost_s:
            self._lose_contact(f"no telecommand for {now - self._last_tc_wall:.1f} s")
        if not self.in_contact and now - self._last_stored_hk >= self.stored_hk_period_s:
            self._last_stored_hk = now
            self._housekeeping(TICK_STORED)

    # -- helpers ----------------------------------------------------------------
    def _event(self, event_id: int, text: str) -> None:
        self._tm("event", self.packets.payload("event", event_id=event_id, text=text))

    def _shed(self, shed: bool) -> None:
        """While the EPS has cut the node's supply, no work can be done: park the jobs."""
        if shed == self.shed:
            return
        self.shed = shed
        spec = self.board.modes[self.mode]
        self.jobs.set_mode(spec.threads, 0.0 if shed else spec.duty, spec.workers)
        self._event(EVENT_MODE, "load shed by EPS: jobs parked" if shed else
                    "EPS supply restored: jobs resume")

    def _hello(self) -> None:
        engine = self.jobs.engine
        exposed = self.radiation.process.exposed_bits if self.radiation.process else 0
        self._event(EVENT_HELLO, f"board={self.board.name};boot={self.boot_id:08x};"
                    f"model={self.model_name};"
                    f"level={engine.level};exposed_bits={exposed};"
                    f"auth={'on' if self.verifier else 'insecure'};"
                    f"labelled={int(self.jobs.labelled)};measured={int(self.power.measured)};"
                    f"power_source={self.power.describe()}")

    def _apply_mode(self, mode: str, reasons: tuple[str, ...] = ()) -> None:
        if mode == self.mode:
            return  # a repeated decision must not disturb the job loop's duty cycle
        spec = self.board.modes[mode]
        self.jobs.set_mode(spec.threads, 0.0 if self.shed else spec.duty, spec.workers)
        why = f" ({', '.join(reasons)})" if reasons else ""
        self.say(f"mode {self.mode} -> {mode}{why}")
        self._event(EVENT_MODE, f"mode {self.mode}->{mode}{why}")
        self.mode = mode

    def _housekeeping(self, tick: int) -> Any:
        c = self.jobs.counters()
        power_w = self.power.read_power_w()
        spec = self.board.modes[self.mode]
        r = self.radiation
        hk = self.packets.payload(
            "hk_node",
            tick=tick,
            mode=self._enums["mode"][self.mode],
            threads=self.jobs.engine.threads * self.jobs.workers,
            duty=spec.duty,
            inferences=c.inferences,
            correct=c.correct,
            node_wall_s=time.monotonic() - self.t0,
            power_w=power_w,
            power_source=self._enums["power_source"][self.power.kind],
            cpu_util=self.cpu.read(),
            frames_bad=self.link.stats.frames_bad + self.link.stats.packets_bad,
            tc_rejected=self.tc_rejected,
            upsets=r.upsets,
            scrub_repairs=r.scrub_repairs,
            scrub_detected=r.scrub_detected,
            tc_repeated=self.tc_repeated,
            stored=self.store.stored,
            store_overflow=self.store.overflow,
            boot_id=self.boot_id,
        )
        self._tm("hk_node", hk)
        return hk

    def _radiate(self, dt_s: float, rate_per_bit_day: float, mbu_share: float) -> None:
        r = self.radiation
        if r.process is not None and rate_per_bit_day > 0:
            r.process.mbu_fraction = min(max(mbu_share, 0.0), 1.0)
            for u in r.process.advance(dt_s, rate_per_bit_day):
                r.upsets += 1
                self._event(EVENT_UPSET, f"{u.kind} {u.tensor}[{u.index}] bit {u.bit}")
        if r.scrub_due(dt_s):
            self._scrub()

    def _scrub(self) -> None:
        rep = self.radiation.scrub()
        if rep.errors_detected:
            self._event(EVENT_SCRUB, f"scrub detected {rep.errors_detected}, "
                        f"repaired {rep.words_repaired} words")

    # -- packet handlers ----------------------------------------------------------
    def _verify(self, pkt: Packet, subtype_ok: str, subtype_fail: str, bit: int,
                failure: str | None = None) -> None:
        """Send the PUS-1 report the command asked for (ack flag ``bit``)."""
        if not pkt.ack_flags & bit:
            return
        # Signed under the node's key and bound to this command's trailer (node.auth).
        signer = ReportSigner(self.verifier.key, pkt.trailer) if self.verifier else None
        if failure is None:
            self._tm(subtype_ok, self.packets.payload(subtype_ok, request_id=pkt.request_id),
                     signer=signer)
        else:
            code = self._enums["failure"][failure]
            self._tm(subtype_fail, self.packets.payload(subtype_fail, request_id=pkt.request_id,
                                                        code=code), signer=signer)

    def _refused(self, pkt: Packet, reason: str, detail: str) -> None:
        """Count and report a command that was refused or failed; nothing else changes."""
        self.tc_rejected += 1
        text = (f"tc {pkt.name} from source {pkt.source_id} refused: {reason}"
                + (f" ({detail})" if detail else ""))
        self.rate_log.note(reason, f"{text}; {self.tc_rejected} refused so far")
        self._event(EVENT_TC_REJECTED, text)

    def _reject(self, pkt: Packet, reason: str, detail: str = "") -> None:
        self._refused(pkt, reason, detail)
        self._verify(pkt, "verify_accept_ok", "verify_accept_fail", 0b0001, reason)

    def _argument_problems(self, pkt: Packet) -> list[str]:
        """Arguments outside their declared ranges (node.packets), and combinations the
        node cannot carry out."""
        # The range check goes over every field by name, so it takes the dict form.
        problems = self.packets.defs[pkt.name].problems(pkt.values)
        process = self.radiation.process
        if not problems and pkt.name == "env_tick" and process is not None:
            v = pkt.payload
            expected = process.expected(v.dt_s, v.upset_rate_per_bit_day * v.upset_acceleration)
            if expected > MAX_UPSETS_PER_TICK:
                problems.append(f"upset rate x acceleration x dt_s means {expected:.3g} upsets "
                                f"in one tick; at most {MAX_UPSETS_PER_TICK}")
        return problems

    def handle(self, pkt: Packet) -> None:
        if pkt.name not in self.packets.defs or \
                self.packets.defs[pkt.name].direction != "tc":
            self.tc_rejected += 1  # telemetry sent to the node: not a command
            self.rate_log.note("not_a_command", f"{pkt.name} sent to the node: not a command; "
                               f"{self.tc_rejected} refused so far")
            return
        if self.verifier is not None:
            # On success the sequence number is on disk before anything runs.
            reason = self.verifier.check(pkt.apid, pkt.service, pkt.subtype, pkt.source_id,
                                         pkt.data, pkt.trailer)
            if reason is not None:
                self._reject(pkt, reason, self.verifier.detail)
                return
        problems = self._argument_problems(pkt)
        if problems:
            self._reject(pkt, "bad_argument", "; ".join(problems))
            return
        self._verify(pkt, "verify_accept_ok", "verify_accept_fail", 0b0001)
        failure = self._execute(pkt)
        if failure is not None:
            self._refused(pkt, failure, "could not be carried out")
        self._verify(pkt, "verify_done_ok", "verify_done_fail", 0b1000, failure)

    def _execute(self, pkt: Packet) -> str | None:
        """Carry out an accepted command; a failure code name if it could not be."""
        v = pkt.payload  # the packet's generated class: EnvTick, Shutdown, SetMode, ...
        if pkt.name == "env_tick":
            self.last_tick_wall = time.monotonic()
            if self._answered is not None and self._answered[0] == v.tick:
                # The bus did not get our report: send it again; the interval ran once.
                self.tc_repeated += 1
                self.say(f"tick {v.tick} repeated by the bus: report sent again")
                self._tm("hk_node", self._answered[1])
                return None
            d = self.scheduler.update(illumination=v.illumination, soc=v.soc,
                                      soc_floor=v.soc_floor, temp_c=v.temp_c,
                                      load_shed=bool(v.load_shed))
            # Report the interval that just ended (its mode, power, counters) before
            # the new decision takes effect for the next one.
            self._answered = (v.tick, self._housekeeping(v.tick))
            if self.override is not None and not v.load_shed:
                self._apply_mode(self.override, ("operator",))
            else:
                self._apply_mode(d.mode, d.reasons)
            self._shed(bool(v.load_shed))
            self._radiate(v.dt_s, v.upset_rate_per_bit_day * v.upset_acceleration,
                          v.multi_bit_share)
        elif pkt.name == "shutdown":
            self.stopped_because = "shutdown telecommand"
            self._answered = None
            self._housekeeping(v.tick)
            self.running = False
        elif pkt.name == "ping":
            self._tm("pong", self.packets.payload("pong"))
            self._hello()  # a bus that connected late learns who we are
        elif pkt.name == "set_mode":
            name = self.packets.enum_name("set_mode", v.mode)  # range-checked
            self.override = None if name == "auto" else name
            self.say(f"operator set mode {name}")
            if self.override is not None:
                self._apply_mode(self.override, ("operator",))
            self._event(EVENT_MODE, f"operator set mode {name}")
        elif pkt.name == "scrub_now":
            if self.radiation.scrubber is None:
                return "bad_argument"
            self._scrub()
        else:
            return "unknown_command"
        return None

    def _note_bad_frames(self) -> None:
        st = self.link.stats
        bad = st.frames_bad + st.packets_bad
        if bad > self._bad_seen:
            self.rate_log.note("frames_bad", f"corrupt frames on the line (COBS, CRC or "
                               f"oversize): dropped, {bad} so far", bad - self._bad_seen)
            self._bad_seen = bad

    def serve(self) -> None:
        """Run until a ``shutdown`` telecommand or until the link closes."""
        self.running = True
        safe = self.board.modes["SAFE"]
        self.jobs.set_mode(safe.threads, safe.duty, safe.workers)
        self.jobs.start()
        self._hello()
        watchdog_tripped = False
        try:
            while self.running:
                self._beat()
                packets = self.link.receive(0.05)
                self._note_bad_frames()
                for pkt in packets:
                    if self.packets.defs[pkt.name].direction == "tc":
                        self._heard_bus = True
                        self._last_tc_wall = time.monotonic()
                        if not self.in_contact:
                            self._regain_contact()
                    self.handle(pkt)
                    watchdog_tripped = False
                self._check_contact(time.monotonic())
                self.rate_log.flush()
                if self.jobs.error is not None:
                    self._event(EVENT_JOB_ERROR, f"job loop failed: {self.jobs.error}")
                    self.stopped_because = f"job loop failed: {self.jobs.error}"
                    raise OrbnodeError(f"job loop failed: {self.jobs.error}")
                idle = time.monotonic() - self.last_tick_wall
                if idle > self.watchdog_s and not watchdog_tripped:
                    watchdog_tripped = True
                    self._apply_mode("SAFE", ("no env tick",))
                    self._event(EVENT_WATCHDOG, f"no env tick for {idle:.1f} s")
                    log.warning("no env tick for %.1f s: SAFE until the bus speaks", idle)
        except LinkClosed as exc:  # a transport that cannot reopen: the cable is gone for good
            self.stopped_because = f"link closed ({exc})"
        finally:
            self.rate_log.flush(force=True)
            self.jobs.stop()
