"""Radiation environment hook: SAA box, calibration against the Alsat-1 heuristic, switches."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

from firmware_stubs.envelope import Envelope
from firmware_stubs.orbitlib import CircularOrbit, julian_date, subpoint_deg
from firmware_stubs.orbitlib import sun_synchronous_inclination_deg as sso_inc
from firmware_stubs.profiles import RADIATION_ENVIRONMENTS, load_radiation
from firmware_stubs.radenvlib import RadiationEnvironment, SAABox
from node.errors import OrbnodeError


def test_named_environments_load():
    for name in RADIATION_ENVIRONMENTS:
        assert load_radiation(name).name == name
    with pytest.raises(OrbnodeError):
        load_radiation("mars")


def test_rates_inside_outside_and_switches():
    leo = load_radiation("leo")
    saa_lat, saa_lon = -25.0, -50.0
    out_lat, out_lon = 45.0, 100.0
    r_in = float(leo.upset_rate_per_bit_day(saa_lat, saa_lon))
    r_out = float(leo.upset_rate_per_bit_day(out_lat, out_lon))
    assert r_in == pytest.approx(4e-7 * 0.85 / 0.10)
    assert r_out == pytest.approx(4e-7 * 0.15 / 0.90)
    # time-weighted over the assumed 10 % SAA time, the average is the published 4e-7
    assert 0.1 * r_in + 0.9 * r_out == pytest.approx(4e-7)
    assert float(load_radiation("off").upset_rate_per_bit_day(saa_lat, saa_lon)) == 0.0
    ev = load_radiation("solar-event")
    assert float(ev.upset_rate_per_bit_day(out_lat, out_lon)) == pytest.approx(30 * r_out)
    assert float(leo.upset_rate_per_bit_day(out_lat, out_lon, solar_event=True)) == pytest.approx(
        30 * r_out
    )
    assert float(load_radiation("saa-heavy").upset_rate_per_bit_day(saa_lat, saa_lon)) > r_in
    # longitudes wrap: 310 deg east is -50 deg
    assert bool(leo.in_saa(saa_lat, 310.0)) and not bool(leo.in_saa(saa_lat, 50.0))
    with pytest.raises(ValueError):
        RadiationEnvironment("x", saa_share=1.5)


def test_calibration_reproduces_alsat1_heuristic():
    """686 km SSO (Alsat-1): ~10 % of time in the box, ~85 % of upsets there, 4e-7 average."""
    alt = 686.0
    epoch = datetime(2025, 1, 1, tzinfo=timezone.utc)
    orbit = CircularOrbit(alt, sso_inc(alt), 0.0, epoch=epoch)
    t = np.arange(0.0, 3 * 86400.0, 10.0)
    lat, lon = subpoint_deg(orbit.position_eci_km(t), sum(julian_date(epoch)) + t / 86400.0)
    leo = load_radiation("leo")
    inside = leo.in_saa(lat, lon)
    rate = leo.upset_rate_per_bit_day(lat, lon)
    assert np.mean(inside) == pytest.approx(0.10, abs=0.015)
    assert np.sum(rate[inside]) / np.sum(rate) == pytest.approx(0.85, abs=0.02)
    assert np.mean(rate) == pytest.approx(4e-7, rel=0.1)


def test_saa_box_geometry():
    box = SAABox()
    assert bool(box.contains(-30.0, -40.0))
    assert not bool(box.contains(10.0, -40.0)) and not bool(box.contains(-30.0, 60.0))
    assert not bool(box.contains(-60.0, -40.0))


def test_envelope_reports_upset_rates_and_solar_switch():
    env = Envelope.from_config(radiation="leo", board="rpi4")
    out = env.simulate(24.0, 30.0, None, "ECO")
    assert out["in_saa"].any() and not out["in_saa"].all()
    leo = load_radiation("leo")
    assert np.allclose(out["upset_rate_per_bit_day"][out["in_saa"]], leo.rate_in_saa_per_bit_day)
    env.set_solar_event(True)
    s = env.step(30.0, 3.0)
    assert s.upset_rate_per_bit_day == pytest.approx(
        30 * (leo.rate_in_saa_per_bit_day if s.in_saa else leo.rate_outside_per_bit_day)
    )
    off = Envelope.from_config(radiation="off", board="rpi4").simulate(3.0, 60.0, 3.0, "ECO")
    assert np.all(off["upset_rate_per_bit_day"] == 0.0)
