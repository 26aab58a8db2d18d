"""Envelope API: construction, stepping vs vectorised simulation, bad input."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from firmware_stubs.eclipselib import eclipse_fraction
from firmware_stubs.envelope import Envelope, EnvelopeState, simulate, summarize
from node.boards import load_board
from node.errors import OrbnodeError

ISS_L1 = "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927"
ISS_L2 = "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537"


def test_defaults_match_orbnode_run():
    env = Envelope.from_config()
    assert env.period_s / 60.0 == pytest.approx(95.65, abs=0.005)
    assert env.eclipse_fraction == pytest.approx(0.3723, abs=1e-4)
    s0 = env.state()
    assert isinstance(s0, EnvelopeState) and s0.t_s == 0.0 and s0.soc == 1.0
    assert s0.soc_floor == pytest.approx(0.70) and not s0.load_shed
    assert s0.illumination == 1.0 and not s0.in_eclipse  # starts at orbit noon
    s1 = env.step(10.0, 5.0)
    assert s1.t_s == 10.0 and s1.orbits == pytest.approx(10.0 / env.period_s)
    assert s1.node_power_w == 5.0 and s1.bus_power_w > 0 and s1.solar_power_w > 0
    assert s1.battery_capacity_j == pytest.approx(23 * 3600)
    assert -90 <= s1.latitude_deg <= 90 and -180 <= s1.longitude_deg <= 180
    assert env.state() == s1


def test_every_board_builds_its_spacecraft():
    for name in ("rpi4", "rpi5", "jetson-orin-nano", "x86-workstation"):
        b = load_board(name)
        env = Envelope.from_config(board=b)
        assert env.spacecraft.name == b.default_spacecraft
        # sized so the orbit average array output covers the node at ECO plus the bus
        avg = env.spacecraft.array.peak_power_w * (1 - env.eclipse_fraction)
        assert avg > b.modelled_power_w("ECO") + env.spacecraft.bus.modes_w["ECO"]


def test_step_agrees_with_simulate():
    rng = np.random.default_rng(3)
    dt, n = 15.0, 800  # ~2 orbits, with eclipses, SAA passes, load shedding
    node = rng.uniform(0.0, 14.0, n)
    a = Envelope.from_config(initial_soc=0.78, board="rpi4")
    b = Envelope.from_config(initial_soc=0.78, board="rpi4")
    out = a.simulate(n * dt / 3600.0, dt, node, "FULL")
    states = [b.step(dt, p) for p in node]
    assert out["load_shed"].any() and out["in_eclipse"].any() and out["in_saa"].any()
    for field in dataclasses.fields(EnvelopeState):
        got = np.array([getattr(s, field.name) for s in states])
        ref = out[field.name]
        if field.name == "mode":
            assert set(got) == {"FULL"} and np.all(ref == 0)
        elif got.dtype == bool:
            assert np.array_equal(got, ref), field.name
        else:
            assert np.allclose(got, ref, rtol=1e-9, atol=1e-9), field.name
    assert a.state() == b.state()


def test_simulated_eclipse_fraction_matches_analytic():
    out = simulate(24.0, 5.0, None, "ECO", board="rpi4", shadow="cylindrical")
    assert np.mean(out["in_eclipse"]) == pytest.approx(eclipse_fraction(550.0, 0.0), abs=2e-3)


def test_tle_envelope_and_free_beta():
    env = Envelope.from_config(tle=(ISS_L1, ISS_L2), board="rpi4", radiation="leo")
    assert env.period_s / 60.0 == pytest.approx(91.6, abs=0.1)  # 15.72 rev/day
    assert env.epoch.year == 2008
    out = env.simulate(6.0, 30.0, None, "ECO")
    assert out["in_eclipse"].any() and np.ptp(out["beta_deg"]) < 2.0
    s = summarize(env, out, 30.0)
    assert s["eclipse_fraction"] == pytest.approx(env.eclipse_fraction, abs=0.02)
    free = Envelope.from_config(beta_deg=None, inclination_deg=97.6, raan_deg=10.0)
    assert abs(free.beta_deg) < 90


def test_bus_mode_and_age():
    env = Envelope.from_config(board="rpi4")
    full = env.step(1.0, 3.0).bus_power_w
    safe = env.step(1.0, 3.0, mode="SAFE").bus_power_w
    assert safe < full and env.step(1.0, 3.0).mode == "SAFE"
    old = Envelope.from_config(board="rpi4", age_years=5.0)
    assert old.state().battery_capacity_j == pytest.approx(0.85 * 23 * 3600)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"altitude_km": -100.0},
        {"altitude_km": 20.0},
        {"altitude_km": float("nan")},
        {"beta_deg": 91.0},
        {"beta_deg": -120.0},
        {"inclination_deg": 200.0},
        {"shadow": "fuzzy"},
        {"radiation": "mars"},
        {"spacecraft": "enterprise"},
        {"board": "cray-1"},
        {"initial_soc": 1.5},
        {"tle": ("1 garbage", "2 garbage")},
        {"tle": (ISS_L1[:-1] + "0", ISS_L2)},
    ],
)
def test_bad_config_is_one_line_error(kwargs):
    with pytest.raises(OrbnodeError) as exc:
        Envelope.from_config(**kwargs)
    assert str(exc.value) and "\n" not in str(exc.value)


def test_bad_steps():
    env = Envelope.from_config()
    for dt, p in ((0.0, 1.0), (-1.0, 1.0), (math.nan, 1.0), (1.0, -2.0), (1.0, math.inf)):
        with pytest.raises(OrbnodeError):
            env.step(dt, p)
    with pytest.raises(OrbnodeError):
        env.step(1.0, 1.0, mode="TURBO")
    with pytest.raises(OrbnodeError):
        env.simulate(-1.0, 1.0)
    with pytest.raises(OrbnodeError):
        env.simulate(1.0, 7200.0)
    with pytest.raises(OrbnodeError):
        env.simulate(1.0, 1.0, np.array([1.0, 2.0]))
