"""The loop on a bad line: `orbnode node` and the simulator through a relay that drops,
corrupts, splits and merges frames, throws junk in, and is unplugged and plugged back.

The node is the real command in its own process; the simulator runs here so the test
can see every packet its link returns.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
from linkrelay import Faults, Relay

from firmware_stubs.envelope import Envelope
from firmware_stubs.sim import HOST_EVENT_RETRY, TICK_STORED, SimConfig, Simulator
from firmware_stubs.summary import summarise
from firmware_stubs.telemetry_db import TelemetryDB
from node.auth import SOURCE_SIM, Signer, load_key, write_key
from node.link import Link, open_transport
from node.packets import PACKETS


class Loop:
    """Relay, node process and an in-process simulator recording what its link returns."""

    def __init__(self, tmp_path, relay: Relay, orbits: float, *node_args: str) -> None:
        self.relay = relay
        key = write_key(tmp_path / "tc.key")
        # The host end is open before the node starts, so nothing the node says is lost
        # to a port that is not open yet.
        self.link = Link(open_transport(str(relay.host_path), 115200, paced=False,
                                        reopen=True),
                         apid="sim", signer=Signer(load_key(key), SOURCE_SIM))
        self.received: list[bytes] = []
        receive = self.link.receive

        def recording(timeout_s: float):
            got = receive(timeout_s)
            self.received += [p.raw for p in got]
            return got

        self.link.receive = recording  # type: ignore[method-assign]
        self.db = TelemetryDB(tmp_path / "telemetry.sqlite")
        env = Envelope.from_config(board="rpi4", radiation="leo")
        self.sim = Simulator(self.link, env, self.db,
                             SimConfig(orbits * env.period_s, speedup=1200.0, tick_wall_s=0.05,
                                       retry_s=0.5, lost_after_s=30.0),
                             say=lambda text: None)
        self.node_cmd = [sys.executable, "-m", "orbnode", "node", "--port",
                         str(relay.node_path), "--key-file", str(key), "--board", "rpi4",
                         "--power-source", "model", *node_args]
        self.node = self.start_node()

    def start_node(self) -> subprocess.Popen:
        return subprocess.Popen(self.node_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)

    def start(self) -> None:
        self.sim.wait_hello(90.0)

    def finish(self) -> None:
        self.relay.faulty = False
        self.sim.shutdown(timeout_s=10.0)
        _, self.node_stderr = self.node.communicate(timeout=30)

    def close(self) -> None:
        if self.node.poll() is None:
            self.node.kill()
            self.node.wait()
        self.link.close()
        self.db.close()
        self.relay.close()


@pytest.fixture
def make_loop(tmp_path):
    loops = []

    def make(relay: Relay, orbits: float, *node_args: str) -> Loop:
        loop = Loop(tmp_path, relay, orbits, *node_args)
        loops.append(loop)
        return loop

    yield make
    for loop in loops:
        loop.close()


def node_events(packets: list[bytes]) -> list[str]:
    out = []
    for raw in packets:
        p = PACKETS.parse(raw)
        if p.name == "event":
            out.append(p.values["text"])
    return out


def test_an_orbit_through_noise_drops_splits_and_merges(tmp_path, make_loop):
    faults = Faults(drop=0.04, flip=0.1, junk=0.12, merge=0.3, split=0.1)
    relay = Relay(tmp_path, node_faults=faults, host_faults=faults, seed=8)
    relay.faulty = False  # a clean start: the faults begin once tick 1 is recorded
    loop = make_loop(relay, 1.0)
    loop.start()
    loop.sim.on_tick = lambda row: setattr(relay, "faulty", True)
    ticks = loop.sim.run()
    loop.finish()
    assert loop.node.returncode == 0, loop.node_stderr
    rows = loop.db.hk_rows()
    c = loop.sim.counters
    final = loop.db.meta()["final_counters"]
    up, down = relay.to_host, relay.to_node
    # The run completed: one orbit, every tick recorded once, in order.
    assert rows[-1]["t_s"] == pytest.approx(loop.sim.env.period_s, abs=1e-3)
    assert [r["tick"] for r in rows] == list(range(1, ticks + 1))
    # Every intact packet delivered, in order, and nothing else.
    assert loop.received == up.intact
    # Every kind of fault happened, both ways.
    for d in (up, down):
        assert d.dropped and d.splits and d.merges, vars(d)
        assert d.flipped > d.flipped_to_zero > 0, vars(d)
        assert d.junk_bursts > d.junk_with_zeros > 0, vars(d)
    # Every corrupt frame counted, at both ends: exactly the runs the relay's faults
    # make (the node's count from tick 1's report on, when the faults began).
    assert c.frames_bad_host == up.bad_frames
    assert final["frames_bad"] - rows[0]["frames_bad"] == down.bad_frames
    # Every node packet that did not arrive is a counted gap in its sequence count.
    assert c.gaps == up.dropped + up.flipped
    # Lost ticks and lost reports were made good by retries; repeats were not re-run.
    assert c.retries > 0 and final["tc_repeated"] > 0
    assert c.retries >= final["tc_repeated"]
    retries_archived = [e for e in loop.db.events() if e["event_id"] == HOST_EVENT_RETRY]
    assert len(retries_archived) == c.retries
    # Nothing archived twice: each event the relay let through is in the archive once.
    archived = [e["text"] for e in loop.db.events() if e["event_id"] < 100]
    assert sorted(archived) == sorted(node_events(up.intact))
    inferences = [r["inferences"] for r in rows]
    assert inferences == sorted(inferences)
    # The run's summary says what the line did, as the two ends counted it.
    s = summarise(loop.db, loop.sim.env.period_s)
    assert (s["frames_bad_host"], s["frames_bad_node"], s["retries"], s["gaps"],
            s["resets"], s["tc_repeated"]) == (c.frames_bad_host, final["frames_bad"],
                                               c.retries, c.gaps, 0, final["tc_repeated"])
    for name, d in (("to host", up), ("to node", down)):
        print(f"{name}: {len(d.intact)} intact, {d.dropped} dropped, {d.flipped} flipped "
              f"({d.flipped_to_zero} to a zero), {d.junk_bursts} junk ({d.junk_with_zeros} "
              f"with zeros), {d.splits} split, {d.merges} merged, {d.bad_frames} bad frames")
    print(f"{ticks} ticks; retries {c.retries}, gaps {c.gaps}, repeated "
          f"{final['tc_repeated']}, bad host {c.frames_bad_host}, bad node "
          f"{final['frames_bad']}")


def test_a_repeated_tick_is_answered_again_not_run_again(tmp_path, make_loop):
    relay = Relay(tmp_path, node_faults=Faults(), host_faults=Faults())

    def hk_of_tick(n):
        def match(raw: bytes) -> bool:
            p = PACKETS.parse(raw)
            return p.name == "hk_node" and p.values["tick"] == n
        return match

    def tick(n):
        def match(raw: bytes) -> bool:
            p = PACKETS.parse(raw)
            return p.name == "env_tick" and p.values["tick"] == n
        return match

    relay.to_host.drop_if = hk_of_tick(3)   # the node ran tick 3; its report is lost
    loop = make_loop(relay, 0.1)
    loop.start()
    ticks = loop.sim.run()
    relay.to_node.drop_if = tick(5)          # set late: tick 5 never reaches the node
    loop.finish()
    (lost,) = relay.to_host.dropped_packets
    again = [PACKETS.parse(r) for r in loop.received]
    again = [p for p in again if p.name == "hk_node" and p.values["tick"] == 3]
    assert len(again) == 1
    # The same report: the interval was not run a second time.
    assert again[0].values == PACKETS.parse(lost).values
    assert again[0].seq_count != PACKETS.parse(lost).seq_count  # a new packet, counted
    rows = loop.db.hk_rows()
    assert [r["tick"] for r in rows] == list(range(1, ticks + 1))
    assert loop.sim.counters.retries >= 1 and loop.sim.counters.gaps == 1
    assert loop.db.meta()["final_counters"]["tc_repeated"] == 1


@pytest.mark.parametrize("hang_up", [True, False], ids=["unplugged", "silent"])
def test_cable_pulled_and_put_back(tmp_path, make_loop, hang_up):
    relay = Relay(tmp_path, node_faults=Faults(), host_faults=Faults())
    loop = make_loop(relay, 0.6, "--store-packets", "4", "--contact-lost-s", "2")
    loop.start()
    recorded = threading.Semaphore(0)
    loop.sim.on_tick = lambda row: recorded.release()
    node_alive_while_out = []
    back_at = []  # the relay's count of intact packets to the host when the cable went back

    def pull_and_restore() -> None:
        for _ in range(10):
            recorded.acquire(timeout=60)
        if hang_up:
            relay.pull()  # both ports hang up, both device paths vanish
        relay.muted = not hang_up  # or the line goes quiet with the ports still open
        time.sleep(7.0)  # both ends keep running with the cable out
        node_alive_while_out.append(loop.node.poll() is None)
        back_at.append(len(relay.to_host.intact))  # nothing passes while it is out
        if hang_up:
            relay.restore()
        relay.muted = False

    puller = threading.Thread(target=pull_and_restore)
    puller.start()
    ticks = loop.sim.run()
    puller.join(60)
    assert node_alive_while_out == [True]
    loop.finish()
    assert loop.node.returncode == 0, loop.node_stderr
    rows = loop.db.hk_rows()
    stored = loop.db.stored_hk_rows()
    final = loop.db.meta()["final_counters"]
    c = loop.sim.counters
    assert [r["tick"] for r in rows] == list(range(1, ticks + 1))
    assert rows[-1]["t_s"] == pytest.approx(0.6 * loop.sim.env.period_s, abs=1e-3)
    # Each row covers its own stretch of node time: none overlaps the stored reports.
    assert all(r["node_wall_dt_s"] > 0 and r["inferences_delta"] >= 0 for r in rows)
    # The node stored what it could not send (its own housekeeping, the contact event),
    # pushed the oldest out of a 4-packet store, and dumped the rest oldest first.
    assert final["stored"] >= 5 and final["store_overflow"] == final["stored"] - 4
    assert 1 <= c.stored_hk == len(stored) <= 4
    assert [s["node_wall_s"] for s in stored] == sorted(s["node_wall_s"] for s in stored)
    # What came back first is the store, oldest first, then the node said so: exactly
    # what it stored less what overflowed, in one run of sequence counts.
    back = [PACKETS.parse(raw) for raw in relay.to_host.intact[back_at[0]:]]
    end = next(i for i, p in enumerate(back) if p.name == "event"
               and p.payload.text.startswith("contact regained"))
    dumped = back[:end]
    assert len(dumped) == final["stored"] - final["store_overflow"] == c.stored_hk + sum(
        p.name == "event" for p in dumped)
    assert all(p.name == "event" or p.payload.tick == TICK_STORED for p in dumped)
    first = dumped[0].seq_count
    assert [p.seq_count for p in back[:end + 1]] == list(range(first, first + end + 1))
    # Every missing sequence count lies between the last packet the host got before the
    # cut and the first one dumped: the oldest stored, pushed out, and what the cut
    # took in flight (muted: the frames the relay lost; a pull also loses what the
    # pty buffers held, which nobody counts).
    seqs = [PACKETS.parse(raw).seq_count for raw in loop.received]
    before = seqs[seqs.index(first) - 1]
    missing = sorted(set(range(seqs[0], seqs[-1] + 1)) - set(seqs))
    assert missing == list(range(before + 1, first)) and c.gaps == len(missing)
    in_flight = c.gaps - final["store_overflow"]
    assert in_flight >= 0
    if not hang_up:
        assert in_flight == relay.to_host.cut
    assert c.retries >= 1 and c.line_down >= int(hang_up)
    print(f"stored {final['stored']} overflow {final['store_overflow']} dumped "
          f"{len(dumped)} (hk {c.stored_hk}) gaps {c.gaps} (in flight {in_flight}, relay "
          f"cut {relay.to_host.cut}) retries {c.retries}")
    events = [e["text"] for e in loop.db.events()]
    assert any(t.startswith("contact regained") for t in events)
    assert "contact lost" in loop.node_stderr and "contact regained" in loop.node_stderr


def test_a_node_restarted_by_someone_else_is_followed_not_miscounted(tmp_path, make_loop):
    """systemd (or a bench reset) restarts the node under the bus: its sequence count and
    counters start again, which the bus learns from the new boot id in its hello."""
    relay = Relay(tmp_path, node_faults=Faults(), host_faults=Faults())
    loop = make_loop(relay, 0.3)
    loop.start()
    old_boot = int(loop.sim.hello["boot"], 16)
    recorded = threading.Semaphore(0)
    loop.sim.on_tick = lambda row: recorded.release()

    def first_report_of_a_new_boot(raw: bytes) -> bool:
        p = PACKETS.parse(raw)
        return p.name == "hk_node" and p.payload.boot_id != old_boot

    def restart() -> None:
        for _ in range(10):
            recorded.acquire(timeout=60)
        loop.node.kill()  # a crash, and systemd's Restart=on-failure
        loop.node.communicate(timeout=30)
        relay.to_host.drop_if = first_report_of_a_new_boot  # one packet the bus must miss
        loop.node = loop.start_node()

    restarter = threading.Thread(target=restart)
    restarter.start()
    ticks = loop.sim.run()
    restarter.join(60)
    loop.finish()
    assert loop.node.returncode == 0, loop.node_stderr
    c = loop.sim.counters
    rows = loop.db.hk_rows()
    assert relay.to_host.dropped == 1
    assert c.restarts == 1 and c.resets == 0 and c.gaps == 1  # the one dropped, no more
    assert any(e["text"].startswith("the node restarted") for e in loop.db.events())
    # Counters carried on over the restart: one run of rows, each with its own stretch.
    assert [r["tick"] for r in rows] == list(range(1, ticks + 1))
    assert all(r["node_wall_dt_s"] > 0 and r["inferences_delta"] >= 0 for r in rows)
    assert rows[-1]["t_s"] == pytest.approx(0.3 * loop.sim.env.period_s, abs=1e-3)
