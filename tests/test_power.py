"""Power sources: naming, the model, and real-sensor backends on fake sysfs files."""

from __future__ import annotations

import time

import pytest

from node.boards import load_board
from node.errors import OrbnodeError
from node.power import open_power_source
from node.power.hwmon import HwmonPowerSource
from node.power.model import ModelPowerSource
from node.power.rapl import RaplPowerSource


def burn(seconds):
    t0 = time.process_time()
    x = 0
    while time.process_time() - t0 < seconds:
        x += 1
    return x


def test_model_power_rises_with_cpu_use():
    board = load_board("rpi4")
    src = ModelPowerSource(board.name, board.idle_w, board.load_w, board.cores)
    time.sleep(0.2)
    idle = src.read_power_w()
    burn(0.3)
    busy = src.read_power_w()
    # power is energy / interval: allow the rounding of that division at the bounds
    assert board.idle_w - 1e-9 <= idle < busy <= board.load_w + 1e-9
    assert src.kind == "model" and not src.measured
    assert "rpi4" in src.describe()


def test_rapl_counter_with_wrap(tmp_path):
    d = tmp_path / "intel-rapl:0"
    d.mkdir()
    (d / "energy_uj").write_text("999000000")
    (d / "max_energy_range_uj").write_text("1000000000")
    src = RaplPowerSource([d / "energy_uj"])
    time.sleep(0.1)
    (d / "energy_uj").write_text("1000000")  # wrapped: 1e6 + 1e6 uJ = 2 J
    t0 = src._t_last
    p = src.read_power_w()
    dt = src._t_last - t0
    assert p == pytest.approx(2.0 / dt, rel=1e-6)
    assert src.measured and src.kind == "rapl"


def test_hwmon_microwatts(tmp_path):
    f = tmp_path / "power1_input"
    f.write_text("5000000")  # 5 W
    src = HwmonPowerSource([f])
    time.sleep(0.05)
    f.write_text("7000000")
    assert src.read_power_w() == pytest.approx(6.0)


def test_auto_falls_back_to_model_and_says_so():
    board = load_board("rpi4")
    src = open_power_source("auto", board)
    assert src.kind in ("model", "rapl", "hwmon")
    assert src.describe().startswith(src.kind + ":")


def test_unknown_or_missing_source_is_a_one_line_error():
    board = load_board("rpi4")
    with pytest.raises(OrbnodeError):
        open_power_source("bogus", board)
    with pytest.raises(OrbnodeError, match="hwmon"):
        open_power_source("hwmon", board)
