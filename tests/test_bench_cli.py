"""`orbnode bench`: the artifacts and their arithmetic, the comparison, and bad input.

One short real run (the digits CNN, 0.3 s windows) is shared by the module; the
numbers are whatever this machine gives, so the tests check how the figures relate
(spread, derived figures, the orbit figure's sum), never their size.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from node.models import DEFAULT_MODEL

ROOT = Path(__file__).resolve().parent.parent
QUICK = ["--duration", "0.3", "--repetitions", "3", "--warmup", "0.1", "--power-sample", "0.1",
         "--orbits", "1"]


def orbnode(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "orbnode", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def assert_one_line_error(res, *words):
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    for w in words:
        assert w in lines[0], lines[0]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    res = orbnode("bench", "--model", DEFAULT_MODEL, *QUICK, "--out", out, "--json")
    assert res.returncode == 0, res.stderr
    return out, json.loads(res.stdout), res


def spread_ok(s: dict, values: list[float]) -> None:
    assert s["n"] == len(values) == 3
    assert s["median"] == pytest.approx(float(np.median(values)))
    assert s["min"] == pytest.approx(min(values)) and s["max"] == pytest.approx(max(values))
    assert s["min"] <= s["q1"] <= s["median"] <= s["q3"] <= s["max"]


def test_artifacts_are_written_and_agree(run):
    out, report, _ = run
    assert json.loads((out / "bench.json").read_text()) == report
    assert (out / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "bench.md").read_text()
    assert "| FULL |" in md and "runtime / bare" in md and "inferences/orbit" in md
    assert report["kind"] == "orbnode-bench"
    for key in ("onnxruntime", "numpy", "python", "orbnode"):
        assert report["versions"][key]
    s = report["settings"]
    assert s["duration_s"] == 0.3 and s["repetitions"] == 3 and s["warmup_s"] == 0.1
    assert s["providers"] == ["CPUExecutionProvider"] and s["models"] == ["digits_cnn.onnx"]
    assert set(s["mode_settings"]) == {"FULL", "ECO", "SAFE"}


def test_every_figure_has_its_repetitions_and_spread(run):
    _, report, _ = run
    rows = {p["mode"]: p for p in report["points"]}
    assert set(rows) == {"FULL", "ECO", "SAFE"}
    for p in rows.values():
        reps = p["repetitions"]
        assert len(reps) == 3
        for r in reps:
            assert r["seconds"] >= 0.3 and r["power_samples"] >= 1
            assert r["inferences_per_s"] == pytest.approx(r["inferences"] / r["seconds"])
            assert r["inferences_per_s_per_w"] == pytest.approx(r["inferences_per_s"] / r["watts"])
            assert r["joules_per_inference"] == pytest.approx(r["watts"] / r["inferences_per_s"])
            assert 0 < r["latency_p50_ms"] <= r["latency_p99_ms"]
        for figure in ("inferences_per_s", "latency_p50_ms", "latency_p99_ms", "watts",
                       "inferences_per_s_per_w", "joules_per_inference"):
            spread_ok(p[figure], [r[figure] for r in reps])
        assert p["power_source"] == report["settings"]["power_source"]
        assert p["power_source"].split(":")[0] in ("model", "rapl", "hwmon")
    # SAFE runs a 10 % duty cycle: far less work than FULL.
    safe, full = (rows[m]["inferences_per_s"]["median"] for m in ("SAFE", "FULL"))
    assert safe < 0.5 * full
    if not report["settings"]["power_measured"]:
        assert any("MODELLED" in n for n in report["notes"])


def test_runtime_vs_bare_per_repetition(run):
    _, report, res = run
    (r,) = report["runtime_vs_bare"]
    assert r["model"] == "digits_cnn.onnx" and len(r["repetitions"]) == 3
    # A repetition's ratio is the median of its slice pairs' ratios (bench/runtime.py).
    ratios = [x["runtime_vs_bare"] for x in r["repetitions"]]
    assert all(x > 0 for x in ratios) and r["slice_s"] <= 0.25
    spread_ok(r["runtime_vs_bare"], ratios)
    spread_ok(r["node_inferences_per_s"], [x["node_inferences_per_s"] for x in r["repetitions"]])
    assert "target" not in res.stdout  # --json: the data, no verdicts


def test_orbit_figure_weighs_measured_rates_by_scheduled_time(run):
    _, report, _ = run
    (o,) = report["orbit"]
    rates = {p["mode"]: [r["inferences_per_s"] for r in p["repetitions"]]
             for p in report["points"]}
    ms = o["mode_seconds_per_orbit"]
    per_orbit = [sum(ms[m] * rates[m][k] for m in ms) for k in range(3)]
    spread_ok(o["inferences_per_orbit"], per_orbit)
    spread_ok(o["inferences_per_solar_wh"], [n / o["solar_wh_per_orbit"] for n in per_orbit])
    # The scheduler ran the orbit: every second is in one mode or shed.
    assert sum(ms.values()) + o["shed_seconds_per_orbit"] == pytest.approx(o["period_s"],
                                                                             rel=0.01)
    assert ms["ECO"] > 0  # eclipse at beta 0: the scheduler drops to ECO
    assert 0.3 < o["eclipse_fraction"] < 0.45 and o["solar_wh_per_orbit"] > 0


def test_compare_shows_changes_beyond_the_spread(run, tmp_path):
    _, report, _ = run
    new = json.loads(json.dumps(report))
    full = next(p for p in new["points"] if p["mode"] == "FULL")
    for r in full["repetitions"]:
        r["inferences_per_s"] *= 3.0  # far beyond any spread
    (tmp_path / "old.json").write_text(json.dumps(report))
    (tmp_path / "new.json").write_text(json.dumps(new))
    res = orbnode("bench", "--from", tmp_path / "new.json", "--compare", tmp_path / "old.json",
                  "--out", tmp_path / "cmp")
    assert res.returncode == 0, res.stderr
    table = (tmp_path / "cmp" / "compare.md").read_text()
    row = next(ln for ln in table.splitlines()
               if "FULL" in ln and "| inferences_per_s |" in ln)
    # 3 against 3 cannot reach p < 0.05 however far apart (tests/test_bench_units.py)
    assert "+200.0 %" in row and "not significant at n = 3 against 3" in row
    row = next(ln for ln in table.splitlines() if "SAFE" in ln and "| watts |" in ln)
    assert "within the spread" in row and "+0.0 %" in row
    assert table in res.stdout


@pytest.mark.parametrize("args, words", [
    (["--provider", "warp-drive"], ["unknown or unavailable execution provider",
                                    "CPUExecutionProvider"]),
    (["--provider", "cpu,tensorrt-nonexistent"], ["tensorrt-nonexistent"]),
    (["--model", "/nonexistent/m.onnx"], ["model file not found"]),
    (["--modes", "TURBO"], ["TURBO"]),
    (["--repetitions", "2"], ["at least 3"]),
    (["--compare", "/nonexistent.json"], ["cannot read"]),
    (["--significance", "0"], ["--significance", "1e-6..0.5"]),
    (["--from", "README.md"], ["not valid JSON"]),
    (["--board", "nosuch"], ["unknown board"]),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, args, words):
    res = orbnode("bench", *args, "--out", tmp_path / "out")
    assert_one_line_error(res, *words)
    assert not (tmp_path / "out").exists()


def test_spread_in_the_markdown_is_median_min_max(run):
    out, report, _ = run
    full = next(p for p in report["points"] if p["mode"] == "FULL")
    s = full["inferences_per_s"]
    cell = f"{s['median']:,.0f} [{s['min']:,.0f}–{s['max']:,.0f}]"
    assert cell in (out / "bench.md").read_text()
    assert not math.isnan(s["median"])


def test_default_model_is_the_generated_mobilenet_kept_with_the_results(tmp_path):
    from bench.mobilenet import model_name
    from node.manifest import sha256_file

    res = orbnode("bench", "--modes", "FULL", "--no-bare", "--duration", "0.2", "--warmup",
                  "0.1", "--power-sample", "0.1", "--out", tmp_path, "--json")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    kept = tmp_path / "models" / model_name()
    assert report["settings"]["generated_models"] == [kept.name]
    assert report["settings"]["model_sha256"] == {kept.name: sha256_file(kept)}
    assert [p["model"] for p in report["points"]] == [kept.name]
    assert report["orbit"] == [] and any("FULL, ECO and SAFE" in n for n in report["notes"])
