"""Lumped thermal model: equilibrium, time constant, environment heat, stability."""

from __future__ import annotations

import math

import numpy as np
import pytest

from firmware_stubs.envelope import Envelope
from firmware_stubs.sunlib import sun_distance_au
from firmware_stubs.thermallib import ThermalModel, earth_view_factor
from node.boards import load_board
from node.errors import OrbnodeError

SIGMA = 5.670374419e-8


def test_view_factor_and_environment_heat():
    assert float(earth_view_factor(550.0)) == pytest.approx((6378.137 / 6928.137) ** 2)
    th = ThermalModel(
        3000.0, 0.1, sun_area_m2=0.03, earth_area_m2=0.02, absorptivity=0.4, emissivity=0.9
    )
    f = (6378.137 / 6928.137) ** 2
    sun = 0.4 * 1361 * 0.03
    ir = 0.9 * 237 * 0.02 * f
    alb = 0.4 * 0.30 * 1361 * 0.02 * f
    q = th.environment_heat_w(np.array([1.0, 0.0, 1.0]), np.array([1.0, 1.0, -0.5]), 550.0)
    assert q == pytest.approx([sun + alb + ir, alb + ir, sun + ir])


def test_radiator_equation():
    th = ThermalModel(3000.0, 0.2, 0.0, 0.0, emissivity=0.88)
    t = th.radiator_temp_c(50.0) + 273.15
    assert 0.88 * SIGMA * 0.2 * t**4 == pytest.approx(50.0)


def test_equilibrium_in_constant_sunlight():
    """beta = 90: full sun, no albedo, constant loads -> analytic steady state (second method)."""
    env = Envelope.from_config(board="rpi4", beta_deg=90.0, radiation="off")
    out = env.simulate(72.0, 60.0, None, "FULL")
    sc, b = env.spacecraft, env.board
    t = sc.thermal
    f = (6378.137 / 6928.137) ** 2
    node_w = b.modelled_power_w("FULL")
    # the Sun is held at beta 90 deg but at the date's distance: 2025-03-23, 0.996 AU
    d_au = float(sun_distance_au(2460755.0 + 3.0)[()])
    q = (
        t["absorptivity"] * 1361.0 / d_au**2 * t["sun_area_m2"]
        + t["emissivity"] * 237.0 * t["earth_area_m2"] * f
        + sc.bus.modes_w["FULL"]
        + node_w
    )
    ts = (q / (t["emissivity"] * SIGMA * t["radiator_area_m2"])) ** 0.25 - 273.15
    assert np.all(out["illumination"] == 1.0) and out["soc"][-1] == 1.0  # battery idle
    assert out["structure_temp_c"][-1] == pytest.approx(ts, abs=0.05)
    assert out["temp_c"][-1] == pytest.approx(ts + node_w / b.strap_conductance_w_per_k, abs=0.05)


def test_board_time_constant():
    """A load step on the board relaxes with tau = C_b / G (structure nearly isothermal)."""
    env = Envelope.from_config(board="rpi4", beta_deg=90.0, radiation="off", mode="SAFE",
                               thermal_start="steady")
    th = env.thermal
    tau = th.board_heat_capacity_j_per_k / th.strap_conductance_w_per_k
    start = env.state()
    p_hi = 6.4
    out = env.simulate(tau / 3600.0, 1.0, p_hi, "SAFE")
    ts = out["structure_temp_c"]
    rise = (out["temp_c"][-1] - ts[-1]) - (start.temp_c - start.structure_temp_c)
    final = p_hi / th.strap_conductance_w_per_k - (start.temp_c - start.structure_temp_c)
    assert rise / final == pytest.approx(1 - math.exp(-1), abs=0.02)


def test_large_steps_stay_stable():
    fine = Envelope.from_config(board="jetson-orin-nano").simulate(12.0, 1.0, None, "ECO")
    coarse = Envelope.from_config(board="jetson-orin-nano").simulate(12.0, 900.0, None, "ECO")
    assert np.all(np.isfinite(coarse["temp_c"]))
    assert coarse["temp_c"].max() < fine["temp_c"].max() + 3.0
    assert coarse["temp_c"][-1] == pytest.approx(fine["temp_c"][-1], abs=3.0)


def test_eclipse_cools_and_hot_board_is_throttled_by_auto_policy(tmp_path):
    env = Envelope.from_config(board="rpi4", beta_deg=0.0, radiation="off")
    out = env.simulate(3.0, 5.0, None, "FULL")
    ecl = out["in_eclipse"]
    assert out["structure_temp_c"][ecl].mean() < out["structure_temp_c"][~ecl].mean()
    # a board with a poor strap overheats at FULL; the reference policy keeps it below max
    text = open(load_board("rpi4").source_path).read()
    weak = tmp_path / "weak.toml"
    weak.write_text(
        text.replace("strap_conductance_w_per_k = 0.15", "strap_conductance_w_per_k = 0.06")
    )
    board = load_board(str(weak))
    full = Envelope.from_config(board=board, beta_deg=80.0, radiation="off").simulate(
        12.0, 10.0, None, "FULL"
    )
    assert full["temp_c"].max() > board.temp_max_c
    auto = Envelope.from_config(board=board, beta_deg=80.0, radiation="off", mode="ECO").simulate(
        12.0, 10.0, None, "auto"
    )
    assert auto["temp_c"].max() < board.temp_max_c
    assert (auto["mode"][auto["temp_c"] > board.temp_warn_c + 0.5] >= 1).all()
    assert (auto["mode"] == 0).any() and (auto["mode"] >= 1).any()


def _orbit_means(env, orbits: int = 3, step_s: float = 10.0) -> list[float]:
    out = env.simulate(orbits * env.period_s / 3600.0, step_s, None, "auto")
    n = int(round(env.period_s / step_s))
    return [float(out["temp_c"][i * n:(i + 1) * n].mean()) for i in range(orbits)]


@pytest.mark.parametrize("board", ["rpi4", "x86-workstation", "jetson-orin-nano"])
def test_periodic_thermal_start_is_periodic_from_the_first_orbit(board):
    periodic = Envelope.from_config(board=board, radiation="off", mode="ECO")
    assert periodic.thermal_start["method"] == "periodic"
    assert periodic.thermal_start["spin_up_orbits"] >= 2
    means = _orbit_means(periodic)
    assert max(abs(b - a) for a, b in zip(means[:-1], means[1:], strict=True)) < 0.2
    # the old start (steady state of the mode's mean load) drifts by degrees per orbit
    steady = Envelope.from_config(board=board, radiation="off", mode="ECO",
                                  thermal_start="steady")
    drift = _orbit_means(steady)
    assert abs(drift[1] - drift[0]) > 1.0


def test_restart_thermal_follows_the_reported_power():
    env = Envelope.from_config(board="x86-workstation", radiation="off", mode="FULL")
    hot = env.state().temp_c
    board = env.board
    reported = board.idle_w + 0.1 * (board.modelled_power_w("FULL") - board.idle_w)
    assert env.restart_thermal(reported, "FULL")
    assert env.state().temp_c < hot - 5.0
    assert "fitted to the node's report" in env.thermal_start["expected_load"]
    env.step(0.5 * env.period_s, reported, "FULL")  # too late for a new start
    assert not env.restart_thermal(reported, "FULL")


def test_unknown_thermal_start_is_one_line():
    with pytest.raises(OrbnodeError):
        Envelope.from_config(radiation="off", thermal_start="warm")
