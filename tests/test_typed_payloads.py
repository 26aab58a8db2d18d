"""Both ends send and read the payload classes generated from definitions.toml.

A misspelt or missing field fails where the sender constructs its payload (a
PacketError), before anything is built or written; a payload survives the wire as
an equal object; the bus simulator and the node service hand the link payload
objects, never loose dicts, and the wire bytes are those of the dict form.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from firmware_stubs.sim import TICK_FINAL, NodeLost, SimConfig, Simulator
from node.boards import load_board
from node.link import Link
from node.link.base import Transport
from node.packets import PACKETS, PacketDef, PacketError
from node.service import NodeService

WITH_FIELDS = [n for n, p in PACKETS.defs.items() if p.fields]


class Wire(Transport):
    """Keeps what is written; nothing ever arrives."""

    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def read(self, timeout_s: float) -> bytes:
        return b""

    def close(self) -> None:
        pass


class RecordingLink(Link):
    """A link that notes what each packet was built from."""

    def __init__(self, apid: str = "node") -> None:
        super().__init__(Wire(), apid=apid)
        self.built: list[tuple[str, object]] = []

    def build(self, name, values=None, **kw) -> bytes:
        self.built.append((name, values))
        return super().build(name, values, **kw)


def sample(p: PacketDef) -> dict:
    """Values every field's declaration allows, exact in float32 (so they come back equal)."""
    out = {}
    for name, code in p.fields:
        rng = p.ranges.get(name)
        if code == "text":
            out[name] = "typed payload, ünïcode"
        elif rng is not None and rng.allowed:
            out[name] = rng.allowed[-1]
        elif code in ("f", "d"):
            out[name] = 0.5
        else:
            out[name] = 1
    return out


@pytest.mark.parametrize("name", list(PACKETS.defs))
def test_each_payload_class_survives_the_wire_equal(name):
    p = PACKETS.defs[name]
    sent = PACKETS.payload_type(name)(**sample(p))
    pkt = PACKETS.parse(PACKETS.build(name, sent))
    assert type(pkt.payload) is type(sent) and pkt.payload == sent
    # The object and its dict form are the same bytes on the wire.
    assert p.encode(sent) == p.encode(sample(p))


@pytest.mark.parametrize("name", WITH_FIELDS)
def test_unknown_or_missing_field_fails_when_the_payload_is_constructed(name):
    cls = PACKETS.payload_type(name)
    values = sample(PACKETS.defs[name])
    first = next(iter(values))
    with pytest.raises(PacketError, match=f"{name}: unknown field 'bogus'"):
        cls(**values, bogus=1)
    misspelt = {(k + "x" if k == first else k): v for k, v in values.items()}
    with pytest.raises(PacketError, match=f"unknown field '{first}x'"):
        cls(**misspelt)
    with pytest.raises(PacketError, match=f"{name}: missing field '{first}'"):
        cls(**{k: v for k, v in values.items() if k != first})
    with pytest.raises(TypeError):  # still what a bad call raises anywhere else
        cls()


def test_a_sender_with_a_bad_field_writes_nothing():
    link = RecordingLink(apid="sim")
    tick = sample(PACKETS.defs["env_tick"])
    for bad in ({**tick, "tik": 1}, {k: v for k, v in tick.items() if k != "soc"}):
        with pytest.raises(PacketError):
            link.send("env_tick", bad)
    wrong_kind = PACKETS.payload_type("set_mode")(mode=1)
    with pytest.raises(PacketError, match="payload is a SetMode"):
        link.send("env_tick", wrong_kind)
    assert link.transport.written == [] and link.stats.packets_out == 0


def make_sim(link: Link) -> Simulator:
    env = SimpleNamespace(radiation=SimpleNamespace(multi_bit_share=0.25),
                          state=lambda: SimpleNamespace(t_s=0.0))
    db = SimpleNamespace(set_meta=lambda *a: None, add_event=lambda *a: None)
    return Simulator(link, env, db, SimConfig(duration_s=10.0, retry_s=0.01),
                     say=lambda text: None)


def env_state() -> SimpleNamespace:
    return SimpleNamespace(t_s=30.0, illumination=1.0, soc=0.75, soc_floor=0.25, temp_c=20.0,
                           load_shed=False, in_saa=True, upset_rate_per_bit_day=1e-7)


def test_the_simulator_sends_payload_objects():
    link = RecordingLink(apid="sim")
    sim = make_sim(link)
    sim._send_tick(5, env_state(), 2.0)
    with pytest.raises(NodeLost):  # nobody answers: one ping goes out first
        sim.wait_hello(0.01)
    sim.shutdown(timeout_s=0.0)
    (tick_name, tick), (ping_name, ping), (down_name, down) = link.built
    assert tick_name == "env_tick" and type(tick) is PACKETS.payload_type("env_tick")
    assert (tick.tick, tick.dt_s, tick.soc, tick.in_saa, tick.multi_bit_share) == \
        (5, 2.0, 0.75, 1, 0.25)
    assert ping_name == "ping" and type(ping) is PACKETS.payload_type("ping")
    assert down_name == "shutdown" and down == PACKETS.payload_type("shutdown")(tick=TICK_FINAL)
    assert len(link.transport.written) == 3


def test_the_simulator_refuses_a_misspelt_field_before_sending():
    link = RecordingLink(apid="sim")
    sim = make_sim(link)
    with pytest.raises(PacketError, match="unknown field 'tik'"):
        sim.link.packets.payload("env_tick", tik=1)
    state = env_state()
    del state.soc_floor  # the simulator's state lost a field: no tick goes out
    with pytest.raises(AttributeError):
        sim._send_tick(1, state, 1.0)
    assert link.built == [] and link.transport.written == []


class Jobs:
    engine = SimpleNamespace(threads=2, level="basic")
    workers = 1
    labelled = False
    error = None

    def counters(self):
        return SimpleNamespace(inferences=40, correct=30)

    def set_mode(self, threads, duty, workers) -> None:
        pass


def make_node() -> tuple[NodeService, RecordingLink]:
    link = RecordingLink()
    power = SimpleNamespace(read_power_w=lambda: 3.5, kind="model", measured=False,
                            describe=lambda: "model")
    node = NodeService(link, Jobs(), load_board("x86-workstation"), power,
                       say=lambda text: None)
    return node, link


def test_the_node_reads_and_sends_payload_objects():
    node, link = make_node()
    tick = PACKETS.payload_type("env_tick")(**{**sample(PACKETS.defs["env_tick"]),
                                               "tick": 9, "load_shed": 0})
    pkt = PACKETS.parse(PACKETS.build("env_tick", tick, ack_flags=0b1001))
    node.handle(pkt)
    node.handle(pkt)  # repeated by the bus: the same report again
    assert node.tc_rejected == 0 and node.tc_repeated == 1
    for name, payload in link.built:
        assert type(payload) is PACKETS.payload_type(name), name
    hks = [p for n, p in link.built if n == "hk_node"]
    assert len(hks) == 2 and hks[0] is hks[1]
    assert (hks[0].tick, hks[0].threads, hks[0].inferences, hks[0].power_w) == (9, 2, 40, 3.5)
    names = [n for n, _ in link.built]
    assert names.count("verify_accept_ok") == 2 and names.count("verify_done_ok") == 2
    accepted = next(p for n, p in link.built if n == "verify_accept_ok")
    assert accepted.request_id == pkt.request_id


def test_the_payload_helper_refuses_a_misspelt_field():
    node, link = make_node()
    with pytest.raises(PacketError, match="event: unknown field 'txt'"):
        node.packets.payload("event", event_id=1, txt="x")
    assert link.built == [] and link.transport.written == []
    assert dataclasses.is_dataclass(node.packets.payload("pong"))
