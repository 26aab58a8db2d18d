"""`orbnode bench --json`: the throughput-per-watt contract."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def test_bench_json_contract():
    res = subprocess.run([sys.executable, "-m", "orbnode", "bench", "--seconds", "0.4",
                          "--rounds", "1", "--json"], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    rows = {r["mode"]: r for r in report["results"]}
    assert set(rows) == {"FULL", "ECO", "SAFE"}
    for r in rows.values():
        assert r["power_source"] == report["power_source"]
        assert r["power_source"].split(":")[0] in ("model", "rapl", "hwmon")
        assert r["inferences_per_s_per_w"] == pytest.approx(r["inferences_per_s"] / r["watts"])
        assert r["joules_per_inference"] == pytest.approx(r["watts"] / r["inferences_per_s"])
    # SAFE runs a 10 % duty cycle: far less work than FULL, and less power.
    assert rows["SAFE"]["inferences_per_s"] < 0.5 * rows["FULL"]["inferences_per_s"]
    assert rows["SAFE"]["busy_fraction"] < 0.3
    assert report["runtime_vs_bare"]["digits_cnn.onnx"] > 0


def test_bench_bad_mode_is_one_line():
    res = subprocess.run([sys.executable, "-m", "orbnode", "bench", "--modes", "TURBO"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "TURBO" in res.stderr
