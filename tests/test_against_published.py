"""Published physical defaults (docs/sources.md) and other published figures, in one place."""

from __future__ import annotations

import pytest

from firmware_stubs.constants import SOLAR_CONSTANT_W_M2, STEFAN_BOLTZMANN_W_M2_K4
from firmware_stubs.eclipselib import beta_star_deg, eclipse_fraction
from firmware_stubs.orbitlib import period_s, sun_synchronous_inclination_deg
from firmware_stubs.profiles import list_spacecraft, load_radiation, load_spacecraft
from node.boards import load_board


def test_orbit_and_eclipse_table():
    assert period_s(550.0) / 60 == pytest.approx(95.65, abs=0.005)  # Kepler
    f = eclipse_fraction(550.0, 0.0)
    assert f == pytest.approx(0.372, abs=5e-4)
    assert f * period_s(550.0) / 60 == pytest.approx(35.6, abs=0.05)
    assert beta_star_deg(550.0) == pytest.approx(67.0, abs=0.05)
    assert eclipse_fraction(550.0, 67.1) == 0.0


def test_other_published_orbits():
    assert period_s(35786.0) == pytest.approx(86164.1, abs=5.0)  # GEO = sidereal day
    assert period_s(408.0) / 60 == pytest.approx(92.68, abs=0.1)  # ISS, ~408 km
    # ISS-altitude longest eclipse ~36 min
    assert eclipse_fraction(408.0, 0.0) * period_s(408.0) / 60 == pytest.approx(36.1, abs=0.3)
    assert sun_synchronous_inclination_deg(800.0) == pytest.approx(98.6, abs=0.05)


def test_power_and_thermal_defaults():
    assert SOLAR_CONSTANT_W_M2 == 1361.0  # Kopp & Lean 2011
    assert STEFAN_BOLTZMANN_W_M2_K4 == pytest.approx(5.670374419e-8)
    for name in list_spacecraft():
        sc = load_spacecraft(name)
        assert sc.array.efficiency_bol == 0.30
        assert sc.array.eol_factor == pytest.approx(0.894, abs=1e-3)  # SMAD, 4 years
        assert sc.thermal["emissivity"] == 0.88
        assert sc.battery.depth_of_discharge == 0.30  # nominal, range 20-40 %
        assert 0.20 <= sc.battery.depth_of_discharge <= 0.40


def test_radiation_defaults():
    sram = load_radiation("leo", device="SRAM")
    assert sram.multi_bit_share == pytest.approx(0.0122)  # Alsat-1 double-byte share
    assert sram.params.spe_fluence_30mev_cm2 == 7.9e9  # King 1974, August 1972 event
    assert sram.params.spe_efold_mev == 26.5
    assert (sram.solar, load_radiation("saa-heavy").solar) == ("max", "min")
    assert load_radiation("solar-event").solar_event


def test_board_defaults():
    rpi4 = load_board("rpi4")
    assert (rpi4.idle_w, rpi4.load_w) == (2.9, 6.4)
    jet = load_board("jetson-orin-nano")
    assert sorted(m.power_cap_w for m in jet.modes.values()) == [7.0, 15.0, 25.0]
