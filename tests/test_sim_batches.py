"""The simulator handles every packet a read returns, whatever arrives with it.

A scripted board answers each tick with its housekeeping report and several events
in one write (so they land in one read), or dribbles them a few bytes at a time
(so one frame spans many reads): every event must reach the archive either way.
"""

from __future__ import annotations

import threading

import pytest

from firmware_stubs.envelope import Envelope
from firmware_stubs.sim import SimConfig, Simulator
from firmware_stubs.telemetry_db import TelemetryDB
from node.link import Link, LinkClosed, open_transport
from node.link.framing import encode_frame
from node.link.pty_transport import PtyPair
from node.packets import PACKETS

EVENTS_PER_TICK = 3


def hk_values(tick: int) -> dict:
    v = {name: 0 for name in PACKETS.defs["hk_node"].field_names}
    v.update(tick=tick, mode=PACKETS.enums["mode"]["ECO"], node_wall_s=0.01 * tick,
             inferences=10 * tick, power_w=2.0)
    return v


class ScriptedBoard(threading.Thread):
    """Answers each env tick with hk + events, all in one write or dribbled."""

    def __init__(self, port: str, dribble: int | None) -> None:
        super().__init__(daemon=True)
        self.link = Link(open_transport(port, 115200, paced=False))
        self.dribble = dribble
        self.sent_events = 0
        self.stop = threading.Event()

    def answer(self, tick: int) -> None:
        blob = encode_frame(PACKETS.build("hk_node", hk_values(tick)))
        for i in range(EVENTS_PER_TICK):
            blob += encode_frame(PACKETS.build("event", {"event_id": 10,
                                                         "text": f"tick {tick} upset {i}"}))
            self.sent_events += 1
        if self.dribble is None:
            self.link.transport.write(blob)
            return
        for i in range(0, len(blob), self.dribble):
            self.link.transport.write(blob[i:i + self.dribble])

    def run(self) -> None:
        self.link.send("event", {"event_id": 1, "text": "board=rpi4;measured=0"})
        try:
            while not self.stop.is_set():
                for pkt in self.link.receive(0.05):
                    if pkt.name == "ping":
                        self.link.send("event", {"event_id": 1, "text": "board=rpi4"})
                    elif pkt.name in ("env_tick", "shutdown"):
                        self.answer(pkt.values["tick"])
        except LinkClosed:
            pass


@pytest.mark.parametrize("dribble", [None, 3], ids=["merged", "split"])
def test_every_event_in_a_read_is_archived(tmp_path, dribble):
    pty = PtyPair()
    board = ScriptedBoard(pty.slave_path, dribble)
    board.start()
    link = Link(pty.master(), apid="sim")
    db = TelemetryDB(tmp_path / "t.sqlite")
    env = Envelope.from_config(board="rpi4", radiation="leo")
    sim = Simulator(link, env, db, SimConfig(duration_s=1200.0, speedup=1200.0,
                                             tick_wall_s=0.02))
    try:
        sim.wait_hello(10.0)
        ticks = sim.run()
        sim.shutdown()
    finally:
        board.stop.set()
        board.join(5)
        link.close()
        board.link.close()
        pty.close()
    upsets = [e for e in db.events() if e["event_id"] == 10]
    rows = db.hk_rows()
    db.close()
    assert ticks >= 10 and len(rows) == ticks
    assert [r["tick"] for r in rows] == list(range(1, ticks + 1))
    assert len(upsets) == board.sent_events  # tick 0, every tick, the final report
    assert len({e["text"] for e in upsets}) == len(upsets)  # none archived twice
