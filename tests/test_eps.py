"""Solar array, battery and energy balance."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_stubs.constants import SOLAR_CONSTANT_W_M2
from firmware_stubs.eclipselib import eclipse_fraction
from firmware_stubs.envelope import Envelope, summarize
from firmware_stubs.epslib import Battery, BusLoads, SolarArray, battery_step, lvlh_sun_cosines
from firmware_stubs.profiles import DATA_DIR, load_spacecraft
from firmware_stubs.sunlib import sun_distance_au
from node.errors import OrbnodeError


def test_array_power_at_normal_incidence():
    arr = SolarArray(area_m2=0.1)  # defaults: eta 0.30, 2.75 %/yr for 4 years (docs/sources.md)
    assert arr.eol_factor == pytest.approx(0.9725**4)
    assert arr.peak_power_w == pytest.approx(1361 * 0.1 * 0.30 * 0.9725**4)
    assert float(arr.power_w(1.0, 0.1, 1.0)) == pytest.approx(arr.peak_power_w)
    assert float(arr.power_w(0.5, 0.1, 1.0)) == pytest.approx(arr.peak_power_w / 2)
    # inverse square with distance: aphelion 1.0167 AU
    assert float(arr.power_w(1.0, 0.1, 1.0167)) == pytest.approx(arr.peak_power_w / 1.0167**2)


def test_array_life_and_temperature():
    new, old = SolarArray(area_m2=0.1, age_years=0.0), SolarArray(area_m2=0.1, age_years=10.0)
    assert new.eol_factor == 1.0 and old.eol_factor == pytest.approx(0.9725**10)
    arr = SolarArray(area_m2=0.1)
    assert float(arr.temperature_factor(28.0)) == 1.0
    assert float(arr.power_w(1.0, 0.1, 1.0, 78.0)) == pytest.approx(arr.peak_power_w * 0.89)
    # full sun, 1 AU: sigma (eps_f + eps_b) T^4 = (alpha - eta) S0
    t_k = ((0.91 - 0.30 * arr.eol_factor) * 1361 / (5.670374419e-8 * 1.65)) ** 0.25
    assert float(arr.operating_temp_c(1.0, 1.0, 1.0)) == pytest.approx(t_k - 273.15)
    assert float(arr.operating_temp_c(1.0, 1.0, 0.983)) > float(arr.operating_temp_c(1.0, 1.0))
    with pytest.raises(ValueError):
        SolarArray(area_m2=0.1, degradation_per_year=1.5)


def test_charge_rate_limit_and_taper():
    from firmware_stubs.epslib import battery_step

    cap = 1000.0
    # far from full: accepted power capped at 5 W, the rest shunted
    e, shunt, unserved, loss = battery_step(500.0, 20.0, 1.0, 0.9, 1 / 0.9, cap, 5.0, 100.0)
    assert (e, shunt, unserved) == (pytest.approx(500.0 + 4.5), pytest.approx(15.0), 0.0)
    assert loss == pytest.approx(0.5)
    # in the taper: 50 J from full with a 100 J taper -> half the limit
    e, shunt, _, _ = battery_step(950.0, 20.0, 1.0, 0.9, 1 / 0.9, cap, 5.0, 100.0)
    assert e == pytest.approx(950.0 + 2.25) and shunt == pytest.approx(17.5)
    # discharge is not limited
    e, shunt, _, loss = battery_step(950.0, -20.0, 1.0, 0.9, 1 / 0.9, cap, 5.0, 100.0)
    assert e == pytest.approx(950.0 - 20.0 / 0.9) and shunt == 0.0
    bat = Battery(capacity_wh=23.0)
    assert bat.max_charge_w == pytest.approx(11.5)


def test_array_pointing_modes():
    r = np.array([[7000.0, 0.0, 0.0]])
    v = np.array([[0.0, 7.5, 0.0]])  # orbit normal +z
    beta = math.radians(30.0)
    s = np.array([[math.cos(beta), 0.0, math.sin(beta)]])  # Sun at beta 30 deg, over the zenith
    assert SolarArray(0.2, pointing="sun-tracking").effective_area_m2(s, r, v)[0] == 0.2
    one_axis = SolarArray(0.2, pointing="1-axis").effective_area_m2(s, r, v)[0]
    assert one_axis == pytest.approx(0.2 * math.cos(beta))
    body = SolarArray(
        0.0,
        pointing="body",
        body_faces_m2={"zenith": 0.03, "north": 0.02, "nadir": 0.03, "south": 0.02},
    )
    assert body.area_m2 == pytest.approx(0.10)
    expected = 0.03 * math.cos(beta) + 0.02 * math.sin(beta)
    assert body.effective_area_m2(s, r, v)[0] == pytest.approx(expected)
    cos = lvlh_sun_cosines(s, r, v)
    assert cos["zenith"][0] == pytest.approx(math.cos(beta))
    assert cos["ram"][0] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError):
        SolarArray(0.1, pointing="wobbly")


def test_battery_voltage_capacity_and_fade():
    bat = Battery(capacity_wh=23.0, cells_series=2, age_years=5.0, fade_per_year=0.03)
    assert bat.capacity_j == pytest.approx(23.0 * 3600 * 0.85)
    assert bat.soc_floor == pytest.approx(0.70)
    soc = np.linspace(0, 1, 21)
    v = bat.open_circuit_v(soc)
    assert np.all(np.diff(v) > 0) and v[0] == pytest.approx(6.0) and v[-1] == pytest.approx(8.36)
    # under load the terminal voltage sags by I R, and satisfies V = OCV - (P/V) R
    vl = float(bat.voltage_v(0.8, 20.0))
    assert vl < float(bat.open_circuit_v(0.8))
    assert vl == pytest.approx(
        float(bat.open_circuit_v(0.8)) - 20.0 / vl * bat.internal_resistance_ohm
    )
    assert float(bat.voltage_v(0.8, -20.0)) > float(bat.open_circuit_v(0.8))
    # the step the envelope runs: charge stored at eta_c, discharge drawn at 1/eta_d
    half = 0.5 * bat.capacity_j
    e_up = battery_step(half, 10.0, 2.0, bat.charge_efficiency, 1 / bat.discharge_efficiency,
                        bat.capacity_j, 1e9, 0.0)[0]
    e_down = battery_step(half, -10.0, 2.0, bat.charge_efficiency,
                          1 / bat.discharge_efficiency, bat.capacity_j, 1e9, 0.0)[0]
    assert e_up - half == pytest.approx(0.95 * 20.0)
    assert e_down - half == pytest.approx(-20.0 / 0.95)
    for bad in (
        {"capacity_wh": -1},
        {"capacity_wh": 10, "depth_of_discharge": 1.5},
        {"capacity_wh": 10, "fade_per_year": 0.5, "age_years": 3},
    ):
        with pytest.raises(ValueError):
            Battery(**bad)


def test_bus_loads_per_mode():
    bus = BusLoads({"FULL": 3.0, "ECO": 2.0, "SAFE": 1.0}, eclipse_heater_w=0.5)
    assert float(bus.power_w("ECO", 1.0)) == 2.0
    assert float(bus.power_w("ECO", 0.0)) == 2.5
    with pytest.raises(ValueError):
        BusLoads({"FULL": 1.0})


def _closure(out: dict, bat: Battery, dt: float) -> tuple[float, float, float]:
    """Second method: the battery change from the step powers and the published efficiencies."""
    b = out["solar_power_w"] - out["shunt_power_w"] - out["node_power_drawn_w"] - out["bus_power_w"]
    expect = float(np.sum(np.where(b > 0, bat.charge_efficiency * b, b / bat.discharge_efficiency)))
    expect *= dt
    actual = float(out["battery_energy_j"][-1] - out["battery_energy_start_j"])
    return actual, expect, float(np.sum(np.abs(b)) * dt)


@pytest.mark.parametrize(
    "board,mode,soc0,node_w",
    [
        ("rpi4", "auto", 1.0, None),
        ("rpi4", "FULL", 0.75, 12.0),
        ("jetson-orin-nano", "auto", 0.8, None),
    ],
)
def test_energy_balance_closes_to_0_1_percent(board, mode, soc0, node_w):
    env = Envelope.from_config(board=board, initial_soc=soc0, radiation="off")
    dt = 2.0
    out = env.simulate(24.0, dt, node_w, mode)
    actual, expect, throughput = _closure(out, env.battery, dt)
    assert abs(actual - expect) <= 1e-3 * throughput
    # the whole balance: sum in - sum out - losses - delta E = 0
    s = summarize(env, out, dt)
    sum_in = s["energy_solar_j"] - s["energy_shunt_j"]
    sum_out = s["energy_node_j"] + s["energy_bus_j"]
    b = out["solar_power_w"] - out["shunt_power_w"] - out["node_power_drawn_w"] - out["bus_power_w"]
    losses = float(np.sum(np.where(b > 0, (1 - 0.95) * b, -b * (1 / 0.95 - 1)))) * dt
    assert abs(sum_in - sum_out - losses - s["energy_battery_delta_j"]) <= 1e-3 * sum_in
    assert s["energy_battery_loss_j"] == pytest.approx(losses, rel=1e-3)
    if node_w == 12.0:  # a node the array cannot feed: the EPS must shed it
        assert out["load_shed"].any() and s["energy_unserved_j"] == 0.0


def test_orbit_average_array_energy_matches_analytic():
    """Second method: E = P_peak (1 - f) T for a sun-tracking array (cylindrical f)."""
    env = Envelope.from_config(board="rpi4", radiation="off", beta_deg=30.0)
    n_orbits = 3
    dt = env.period_s / 2000.0
    out = env.simulate(n_orbits * env.period_s / 3600.0, dt, 0.0, "SAFE")
    energy = float(np.sum(out["solar_power_w"]) * dt)
    f = eclipse_fraction(550.0, 30.0)
    arr = env.spacecraft.array
    d_au = float(np.mean(sun_distance_au(2460755.0 + np.arange(3) * 0.066)))  # 2025-03-20
    t_sun = ((arr.absorptance - arr.efficiency_bol * arr.eol_factor) * 1361 / d_au**2
             / (5.670374419e-8 * (arr.emittance_front + arr.emittance_back))) ** 0.25 - 273.15
    expected = (arr.peak_power_w / d_au**2 * (1 + arr.temp_coeff_per_k * (t_sun - 28.0))
                * (1 - f) * n_orbits * env.period_s)
    assert energy == pytest.approx(expected, rel=2e-3)


def test_step_size_convergence():
    e1 = Envelope.from_config(board="rpi4", radiation="off").simulate(6.0, 1.0, None, "ECO")
    e30 = Envelope.from_config(board="rpi4", radiation="off").simulate(6.0, 30.0, None, "ECO")
    cap = e1["battery_capacity_j"][0]
    assert abs(e1["battery_energy_j"][-1] - e30["battery_energy_j"][-1]) < 0.005 * cap
    assert abs(e1["temp_c"][-1] - e30["temp_c"][-1]) < 0.5


def _zero_bus_spacecraft(tmp: Path) -> str:
    text = (DATA_DIR / "cubesat-3u.toml").read_text()
    text = text.replace("FULL = 3.0", "FULL = 0.0").replace("ECO = 2.5", "ECO = 0.0")
    text = text.replace("SAFE = 1.5", "SAFE = 0.0").replace(
        "eclipse_heater_w = 0.5", "eclipse_heater_w = 0.0"
    )
    path = tmp / "nobus.toml"
    path.write_text(text)
    assert load_spacecraft(str(path)).bus.modes_w["FULL"] == 0.0
    return str(path)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    node_w=st.floats(0.0, 60.0),
    soc0=st.floats(0.70, 1.0),
    beta=st.floats(-90.0, 90.0),
    dt=st.sampled_from([1.0, 7.0, 60.0]),
)
def test_soc_stays_within_floor_and_one(tmp_path, node_w, soc0, beta, dt):
    """Only the node draws: the EPS keeps SoC within [floor, 1] whatever it asks for."""
    env = Envelope.from_config(
        spacecraft=_zero_bus_spacecraft(tmp_path),
        board="rpi4",
        beta_deg=beta,
        initial_soc=soc0,
        radiation="off",
    )
    out = env.simulate(3.0, dt, node_w, "FULL")
    assert np.all(out["soc"] <= 1.0 + 1e-12)
    assert np.all(out["soc"] >= env.battery.soc_floor - 1e-12)


@settings(max_examples=25, deadline=None)
@given(node_w=st.floats(0.0, 100.0), soc0=st.floats(0.0, 1.0), beta=st.floats(-90.0, 90.0))
def test_below_floor_means_node_cut(node_w, soc0, beta):
    env = Envelope.from_config(board="rpi4", beta_deg=beta, initial_soc=soc0, radiation="off")
    out = env.simulate(2.0, 20.0, node_w, "FULL")
    assert np.all((out["soc"] >= 0.0) & (out["soc"] <= 1.0))
    below = out["soc"] < out["soc_floor"] - 1e-12
    assert np.all(out["load_shed"][below])
    assert np.all(out["node_power_drawn_w"][out["load_shed"]] == 0.0)


def test_spacecraft_errors(tmp_path):
    for name in ("nope", str(tmp_path / "missing.toml"), "radiation"):
        with pytest.raises(OrbnodeError):
            load_spacecraft(name)
    bad = tmp_path / "bad.toml"
    bad.write_text(
        (DATA_DIR / "cubesat-3u.toml").read_text().replace("capacity_wh = 23.0", "capacity_wh = -2")
    )
    with pytest.raises(OrbnodeError) as exc:
        load_spacecraft(str(bad))
    assert "capacity" in str(exc.value) and "\n" not in str(exc.value)
    assert SOLAR_CONSTANT_W_M2 == 1361.0


def test_floor_is_honoured_by_the_whole_bus():
    """While the node is shed at the floor the bus runs its SAFE (survival) loads."""
    env = Envelope.from_config(board="rpi4", radiation="off", initial_soc=0.72)
    out = env.simulate(6.0, 10.0, 14.0, "FULL")
    shed = out["load_shed"]
    assert shed.any() and not shed.all()
    bus = env.spacecraft.bus
    safe_w = bus.power_w("SAFE", out["illumination"])
    full_w = bus.power_w("FULL", out["illumination"])
    np.testing.assert_allclose(out["bus_power_w"][shed], safe_w[shed])
    np.testing.assert_allclose(out["bus_power_w"][~shed], full_w[~shed])
    assert np.all(out["node_power_drawn_w"][shed] == 0.0)


def test_fixed_beta_follows_the_seasonal_sun_distance():
    from datetime import datetime, timezone

    def peak(month: int) -> float:
        env = Envelope.from_config(board="rpi4", radiation="off", beta_deg=90.0,
                                   epoch=datetime(2025, month, 4, tzinfo=timezone.utc))
        return float(env.sample(np.array([0.0]))["solar_power_w"][0])

    # perihelion (early January, 0.983 AU) vs aphelion (early July, 1.017 AU): 6.9 % more
    # sunlight, less the hotter array's 1.2 % (its T^4 follows the flux)
    arr = SolarArray(area_m2=1.0)
    hot, cold = arr.operating_temp_c(1.0, 1.0, 0.9833), arr.operating_temp_c(1.0, 1.0, 1.0167)
    expected = (1.0167 / 0.9833) ** 2 * arr.temperature_factor(hot) / arr.temperature_factor(cold)
    assert peak(1) / peak(7) == pytest.approx(float(expected), rel=0.003)
