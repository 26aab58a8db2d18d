"""``orbnode radiation``: the orbit-averaged upset rate from the command line."""

from __future__ import annotations

import json

import matplotlib.image as mpimg
import pytest

from orbnode.cli import main

ISS = (
    "ISS (ZARYA)\n"
    "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927\n"
    "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537\n"
)
KEYS = ("upsets_per_bit_day", "saa_share", "peak_latitude_deg", "peak_longitude_deg",
        "proton_flux_gt10mev_cm2_s", "proton_flux_gt30mev_cm2_s")


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_json_keys_map_and_alsat1(capsys, tmp_path):
    png = tmp_path / "map.png"
    out = _json(capsys, ["radiation", "--altitude-km", "686", "--inclination-deg", "98.2",
                         "--device", "SRAM", "--shielding-mm-al", "2", "--json",
                         "--plot", str(png)])
    for key in KEYS:
        assert key in out
    assert 4.04e-7 / 3 < out["upsets_per_bit_day"] < 4.04e-7 * 3
    assert 0.5 < out["saa_share"] <= 1.0
    assert out["proton_flux_gt30mev_cm2_s"] < out["proton_flux_gt10mev_cm2_s"]
    img = mpimg.imread(png)
    assert img.shape[0] > 300 and img.shape[1] > 600


def test_tle_solar_min_and_board_memory(capsys, tmp_path):
    tle = tmp_path / "iss.tle"
    tle.write_text(ISS)
    smax = _json(capsys, ["radiation", "--tle-file", str(tle), "--device", "SRAM", "--json"])
    smin = _json(capsys, ["radiation", "--tle-file", str(tle), "--device", "SRAM",
                          "--solar", "min", "--json"])
    assert smin["trapped_per_bit_day"] > smax["trapped_per_bit_day"]
    assert smax["inclination_deg"] == pytest.approx(51.6, abs=0.2)
    dram = _json(capsys, ["radiation", "--board", "rpi4", "--json"])
    assert dram["device"] == "LPDDR4"
    assert dram["upsets_per_bit_day"] < smax["upsets_per_bit_day"] / 100


@pytest.mark.parametrize("argv", [
    ["radiation", "--shielding-mm-al", "-1"],
    ["radiation", "--altitude-km", "90"],
    ["radiation", "--altitude-km", "3500"],
    ["radiation", "--device", "FLASH"],
    ["radiation", "--days", "0"],
    ["radiation", "--radiation", "off"],
    ["radiation", "--plot", "map.jpg"],
])
def test_bad_input_one_line_exit_2(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
