"""The run summary adds up: each derived figure follows from figures printed beside it,
and each energy carries its clock (``_env`` or ``_wall``) in its name."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import pytest

RUN = ["--orbits", "0.6", "--speedup", "1200", "--tick-s", "0.05", "--no-progress"]


@pytest.fixture(scope="module")
def printed_and_json(tmp_path_factory):
    out = tmp_path_factory.mktemp("numbers")
    res = subprocess.run([sys.executable, "-m", "orbnode", "run", *RUN, "--out", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    printed = {}
    for line in res.stdout.splitlines():
        m = re.match(r"\s+(\w+)\s+(-?[\d.]+(?:e[-+]?\d+)?)\b", line)
        if m:
            printed[m.group(1)] = float(m.group(2))
    return res.stdout, printed, json.loads((out / "summary.json").read_text())


def _per_joule_bases(summary: dict) -> list[str]:
    return [k.removeprefix("inferences_per_joule_") for k in summary
            if k.startswith("inferences_per_joule_")]


def test_every_energy_and_per_joule_figure_names_its_basis(printed_and_json):
    _, printed, s = printed_and_json
    for figures in (printed, s):
        assert "energy_j" not in figures and "inferences_per_joule" not in figures
        energies = [k for k in figures if k.startswith("energy_")]
        assert sorted(energies) == ["energy_env_j", "energy_wall_j"]
    assert _per_joule_bases(s) == ["wall"]


def test_json_inferences_over_energy_is_inferences_per_joule(printed_and_json):
    _, _, s = printed_and_json
    assert s["inferences_eclipse"] > 0 and s["inferences_sunlit"] > 0  # both windows used
    for basis in _per_joule_bases(s):
        assert s[f"inferences_per_joule_{basis}"] == pytest.approx(
            s["inferences_windowed"] / s[f"energy_{basis}_j"], rel=1e-12)
    assert s["inferences_windowed"] == s["inferences_sunlit"] + s["inferences_eclipse"]
    assert s["node_wall_s"] == pytest.approx(s["node_wall_sunlit_s"] + s["node_wall_eclipse_s"])
    assert s["mean_power_w"] == pytest.approx(s["energy_wall_j"] / s["node_wall_s"])
    assert s["throughput_sunlit_per_s"] == pytest.approx(
        s["inferences_sunlit"] / s["node_wall_sunlit_s"])
    assert s["throughput_eclipse_per_s"] == pytest.approx(
        s["inferences_eclipse"] / s["node_wall_eclipse_s"])


def test_printed_figures_recompute_from_printed_figures(printed_and_json):
    _, p, s = printed_and_json
    # Printed values are rounded: 4 decimals of seconds, 3 of joules -> well under 1 %.
    for basis in _per_joule_bases(s):
        assert p[f"inferences_per_joule_{basis}"] == pytest.approx(
            p["inferences_windowed"] / p[f"energy_{basis}_j"], rel=0.01)
    assert p["inferences_windowed"] == p["inferences_sunlit"] + p["inferences_eclipse"]
    assert p["mean_power_w"] == pytest.approx(p["energy_wall_j"] / p["node_wall_s"], rel=0.01)
    assert p["throughput_sunlit_per_s"] == pytest.approx(
        p["inferences_sunlit"] / p["node_wall_sunlit_s"], rel=0.01)
    assert p["throughput_eclipse_per_s"] == pytest.approx(
        p["inferences_eclipse"] / p["node_wall_eclipse_s"], rel=0.01)


def test_the_physical_rate_run_says_how_many_upsets_to_expect(printed_and_json):
    text, _, s = printed_and_json
    assert 0 < s["upsets_expected"] < 1e-3  # digits CNN, a fraction of an orbit, 1x LEO
    note = [ln for ln in text.splitlines() if ln.strip().startswith("radiation:")]
    assert len(note) == 1 and "--upset-acceleration" in note[0]
    assert f"{s['upsets_expected']:.3g} upsets expected" in note[0]
    # The suggested factor is derived from this run, not a fixed 1e6.
    factor = float(re.search(r"--upset-acceleration (\S+)", note[0]).group(1))
    assert factor == min(10.0 ** round(math.log10(100 / s["upsets_expected"])), 1e9)


@pytest.mark.parametrize(("expected", "factor", "words"), [
    (2.7e-5, 1.0, "--upset-acceleration 1e+07 gives about 270 upsets"),
    (0.05, 10.0, "--upset-acceleration 10000 gives about 50 upsets"),
    (2.7e-9, 1.0, "1e+09 (the most allowed) gives about 2.7 upsets, more with more --orbits"),
    (0.5, 1e9, "the most allowed; more --orbits give more upsets"),
])
def test_the_suggested_acceleration_aims_at_about_100_upsets(expected, factor, words):
    from orbnode.loop_commands import _radiation_note

    note = _radiation_note({"upsets_expected": expected, "upset_acceleration": factor})
    assert note.startswith(f"radiation: {expected:.3g} upsets expected") and words in note
