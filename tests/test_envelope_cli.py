"""``orbnode orbit`` and ``orbnode envelope`` command lines."""

from __future__ import annotations

import json

import pytest

from orbnode.cli import main

ISS = (
    "ISS (ZARYA)\n"
    "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927\n"
    "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537\n"
)


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_orbit_json_keys_and_values(capsys):
    out = _json(capsys, ["orbit", "--altitude-km", "550", "--beta-deg", "0", "--json"])
    for key in ("period_s", "eclipse_fraction", "eclipse_s", "beta_star_deg"):
        assert key in out
    assert out["period_s"] / 60 == pytest.approx(95.65, abs=0.005)
    assert out["eclipse_s"] / 60 == pytest.approx(35.6, abs=0.05)
    assert out["beta_star_deg"] == pytest.approx(67.0, abs=0.05)
    assert abs(out["eclipse_conical_s"] - out["eclipse_cylindrical_s"]) < out["penumbra_s"]
    high = _json(capsys, ["orbit", "--altitude-km", "550", "--beta-deg", "68", "--json"])
    assert high["eclipse_s"] == 0.0 and high["eclipse_conical_s"] == 0.0


def test_orbit_tle_and_sso(capsys, tmp_path):
    tle = tmp_path / "iss.tle"
    tle.write_text(ISS)
    out = _json(capsys, ["orbit", "--tle-file", str(tle), "--json"])
    assert out["geometry"] == "tle" and out["period_min"] == pytest.approx(91.6, abs=0.1)
    png = tmp_path / "sso.png"
    sso = _json(
        capsys,
        [
            "orbit",
            "--sso",
            "--ltan-h",
            "18",
            "--altitude-km",
            "700",
            "--epoch",
            "2025-01-01T00:00:00Z",
            "--days",
            "365",
            "--json",
            "--plot",
            str(png),
        ],
    )
    assert sso["inclination_deg"] == pytest.approx(98.19, abs=0.05)
    assert sso["eclipse_season_days"] < 110 and sso["eclipse_s"] == 0.0
    assert png.stat().st_size > 1000


def test_envelope_json_and_plot(capsys, tmp_path):
    png = tmp_path / "env.png"
    out = _json(
        capsys,
        [
            "envelope",
            "--hours",
            "6",
            "--step-s",
            "10",
            "--board",
            "rpi4",
            "--json",
            "--plot",
            str(png),
        ],
    )
    for key in (
        "soc_min",
        "soc_max",
        "temp_max_c",
        "energy_solar_j",
        "energy_node_j",
        "eclipse_fraction",
        "time_in_saa_s",
        "upsets_expected_per_mbit",
    ):
        assert key in out
    assert out["soc_min"] >= out["soc_floor"] and out["temp_max_c"] < 80.0
    assert out["steps"] == 2160 and png.stat().st_size > 1000
    text_mode = main(["envelope", "--hours", "1", "--step-s", "60", "--board", "rpi5"])
    assert text_mode == 0 and "soc_min" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["orbit", "--altitude-km", "-200", "--json"],
        ["orbit", "--altitude-km", "3000", "--beta-deg", "95", "--json"],
        ["orbit", "--altitude-km", "40", "--json"],
        ["orbit", "--tle-file", "/no/such.tle"],
        ["orbit", "--beta-deg", "10", "--sso"],
        ["orbit", "--ltan-h", "6"],
        ["envelope", "--hours", "0"],
        ["envelope", "--step-s", "-1"],
        ["envelope", "--board", "abacus"],
        ["envelope", "--spacecraft", "enterprise", "--board", "rpi4"],
        ["envelope", "--board", "rpi4", "--plot", "out.jpg"],
        ["envelope", "--board", "rpi4", "--initial-soc", "7"],
    ],
)
def test_nonsense_input_one_line_exit_2(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error" in err and "Traceback" not in err


def test_unreadable_tle_file(capsys, tmp_path):
    bad = tmp_path / "bad.tle"
    bad.write_text(ISS.replace("2927", "2928"))
    assert main(["orbit", "--tle-file", str(bad), "--json"]) == 2
    assert "checksum" in capsys.readouterr().err
