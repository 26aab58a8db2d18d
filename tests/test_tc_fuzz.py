"""Random field values in every signed telecommand never crash the node.

A real :class:`NodeService` (real engine, job loop, upset process and scrubber,
on-disk anti-replay state) reads from a real :class:`Link` over a pty pair; the
test is a sender holding the key that skips every sender-side check. Whatever it
sends, the node must not raise; a command whose arguments break their declared
ranges must be refused, counted and leave the node's state as it was; and the
node must still answer a ping afterwards.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from node.auth import SOURCE_GROUND, ReplayState, Signer, Verifier
from node.boards import load_board
from node.engine import Engine
from node.inputs import load_inputs
from node.jobs import JobLoop
from node.link import Link, LinkClosed
from node.link.framing import encode_frame
from node.link.pty_transport import PtyPair
from node.link.serial_transport import SerialTransport
from node.models import DEFAULT_MODEL
from node.packets import PACKETS
from node.power import open_power_source
from node.radiation_api import RadiationHooks
from node.service import MAX_UPSETS_PER_TICK, NodeService
from radiation.upsets import Scrubber, UpsetProcess

KEY = bytes(range(100, 132))
TC_NAMES = sorted(n for n, d in PACKETS.defs.items() if d.direction == "tc")
BITS = {"B": 8, "H": 16, "I": 32, "Q": 64}


class Ground:
    """The sender's end of the pty: signs, sends, and drains whatever the node says."""

    def __init__(self, port: str) -> None:
        self.signer = Signer(KEY, SOURCE_GROUND)
        self.link = Link(SerialTransport(port), apid="sim", signer=self.signer)
        self.heard: list = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:  # the node may write thousands of events: keep the pty empty
        while not self._stop.is_set():
            try:
                got = self.link.receive(0.02)
            except LinkClosed:
                return
            with self._lock:
                self.heard += got

    def names_since(self, mark: int) -> list[str]:
        with self._lock:
            return [p.name for p in self.heard[mark:]]

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.link.close()


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    board = load_board("x86-workstation")
    engine = Engine(str(DEFAULT_MODEL), threads=1)
    inputs, labels = load_inputs(engine, None)
    live = engine.live_weights
    hooks = RadiationHooks(process=UpsetProcess(live, seed=1), scrubber=Scrubber(live),
                           scrub_period_s=600.0)
    pair = PtyPair()
    node_link = Link(pair.master())
    ground = Ground(pair.slave_path)
    state = ReplayState.open(tmp_path_factory.mktemp("fuzz") / "state.json", key=KEY)
    service = NodeService(node_link, JobLoop(engine, inputs, labels), board,
                          open_power_source("model", board), watchdog_s=600.0,
                          radiation=hooks, verifier=Verifier(KEY, state))
    yield service, ground
    ground.close()
    node_link.close()
    pair.close()


def in_range(name: str, field: str, code: str):
    rng = PACKETS.defs[name].ranges.get(field)
    if code in "fd":
        lo = rng.minimum if rng and rng.minimum is not None else -1e6
        hi = rng.maximum if rng and rng.maximum is not None else 1e6
        if code == "f":  # bounds rounded inward to the nearest float32
            lo32, hi32 = np.float32(lo), np.float32(hi)
            lo = float(lo32 if lo32 >= lo else np.nextafter(lo32, np.float32(np.inf)))
            hi = float(hi32 if hi32 <= hi else np.nextafter(hi32, np.float32(-np.inf)))
        return st.floats(lo, hi, width=32 if code == "f" else 64)
    if rng and rng.enum:
        return st.sampled_from(rng.allowed)
    lo = int(rng.minimum) if rng and rng.minimum is not None else 0
    hi = int(rng.maximum) if rng and rng.maximum is not None else 2 ** BITS[code] - 1
    return st.integers(lo, hi)


def anything(code: str):
    if code == "f":
        return st.floats(width=32)  # NaN, infinities, subnormals, the largest floats
    if code == "d":
        return st.floats()
    return st.integers(0, 2 ** BITS[code] - 1)


@st.composite
def telecommand(draw):
    """A command: every field in range, then any number of them replaced by anything."""
    name = draw(st.sampled_from(TC_NAMES))
    values = {}
    for field, code in PACKETS.defs[name].fields:
        wild = draw(st.booleans()) and draw(st.booleans())  # a quarter of fields go wild
        values[field] = draw(anything(code) if wild else in_range(name, field, code))
    return name, values


def _pump(service: NodeService, want: int = 1) -> int:
    """Hand what arrives on the node's line to the service, as its serve loop does."""
    handled = 0
    for _ in range(100):
        for pkt in service.link.receive(0.05):
            service.handle(pkt)  # must never raise
            handled += 1
        if handled >= want:
            return handled
    raise AssertionError("nothing arrived on the node's line")


def _state(service: NodeService) -> tuple:
    r = service.radiation
    return (service.mode, service.override, service.shed, service.last_tick_wall,
            r.upsets, r.scrub_repairs, r.scrub_detected, service.scheduler.mode)


@given(telecommand())
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_signed_telecommands_never_crash_the_node(rig, command):
    service, ground = rig
    name, values = command
    d = PACKETS.defs[name]
    bad = d.problems(values)
    if not bad and name == "env_tick":
        expected = service.radiation.process.expected(
            values["dt_s"], values["upset_rate_per_bit_day"] * values["upset_acceleration"])
        bad = ["too many upsets"] if expected > MAX_UPSETS_PER_TICK else []
    event(f"{name} {'refused' if bad else 'accepted'}")  # --hypothesis-show-statistics
    before, rejected = _state(service), service.tc_rejected
    mark = len(ground.heard)
    raw = PACKETS.build(name, values, ack_flags=0b1001, signer=ground.signer, check=False)
    ground.link.transport.write(encode_frame(raw))
    _pump(service)
    if bad:
        assert service.tc_rejected == rejected + 1, bad
        assert _state(service) == before  # refused: nothing changed
    else:
        assert service.tc_rejected in (rejected, rejected + 1)  # scrub_now may fail to run
    # Still alive and obeying: a signed ping is answered.
    ground.link.send("ping", ack_flags=0)
    _pump(service)
    for _ in range(200):
        if "pong" in ground.names_since(mark):
            break
        threading.Event().wait(0.01)
    assert "pong" in ground.names_since(mark)
