"""hwmon power sensors on fake sysfs trees: units, device names, profile end to end.

Guards two faults: the Jetson INA3221 (a voltage/current pair, no power file) was
never read, and a bare ``/sys/class/hwmon/hwmon*/power1_input`` glob reported any
device with a power file (a GPU, a battery) as the board's measured power.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from node.boards import load_board, sensor_paths
from node.errors import OrbnodeError
from node.power import hwmon as hwmon_mod
from node.power import open_power_source
from node.power.hwmon import (
    HwmonChannel,
    HwmonPowerSource,
    find_hwmon,
    hwmon_specs,
    parse_sensor_spec,
)

BOARDS = ("rpi4", "rpi5", "jetson-orin-nano", "x86-workstation")


def _device(root: Path, index: int, name: str, **files: int) -> Path:
    """A fake /sys/class/hwmon/hwmon<index> with a ``name`` file and integer attributes."""
    d = root / f"hwmon{index}"
    d.mkdir(parents=True)
    (d / "name").write_text(name + "\n")
    for attr, value in files.items():
        (d / attr).write_text(f"{value}\n")
    return d


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A workstation-like tree: a GPU with a power file, then a board INA3221, an INA219."""
    root = tmp_path / "hwmon"
    _device(root, 0, "amdgpu", power1_input=150_000_000)  # 150 W GPU: not the board
    _device(
        root,
        1,
        "ina3221",
        in1_input=5000,  # mV
        curr1_input=2000,  # mA -> 10 W on VDD_IN
        in2_input=5000,
        curr2_input=400,  # a rail inside VDD_IN
    )
    _device(root, 2, "ina219", power1_input=3_000_000)  # 3 W
    return root


def _profile(tmp_path: Path, sensors: str) -> Path:
    """rpi4.toml with its [power_sensors] table replaced by ``sensors`` (TOML lines)."""
    text = load_board("rpi4").source_path
    body = Path(text).read_text()
    assert "[power_sensors]\n" in body
    body = body.replace("[power_sensors]\n", "[power_sensors]\n" + sensors + "\n", 1)
    path = tmp_path / "fake-board.toml"
    path.write_text(body)
    return path


def test_ina3221_pair_is_millivolts_times_milliamps(tree):
    chans = find_hwmon([f"ina3221@{tree}/hwmon*/in1_input,curr1_input"])
    assert [c.files for c in chans] == [(tree / "hwmon1/in1_input", tree / "hwmon1/curr1_input")]
    assert chans[0].read_w() == pytest.approx(10.0)  # 5000 mV x 2000 mA
    src = HwmonPowerSource(chans)
    assert src.measured and src.kind == "hwmon"
    assert src.describe() == f"hwmon:{tree}/hwmon1/in1_input,curr1_input"
    time.sleep(0.05)
    (tree / "hwmon1/curr1_input").write_text("2800\n")  # 14 W now: trapezoid -> 12 W
    assert src.read_power_w() == pytest.approx(12.0)


def test_channels_are_summed_and_counted_once(tree):
    both = find_hwmon([f"ina3221@{tree}/hwmon*/in*_input,curr*_input"])
    assert HwmonPowerSource(both).read_power_w() == pytest.approx(10.0 + 2.0)
    # the same file through two specs (or two paths to it) is one rail, not two
    twice = find_hwmon(
        [f"ina3221@{tree}/hwmon*/in1_input,curr1_input", f"{tree}/hwmon1/in1_input,curr1_input"]
    )
    assert len(twice) == 1


def test_power_file_of_another_device_is_ignored(tree):
    chans = find_hwmon([f"ina219@{tree}/hwmon*/power1_input"])
    assert [c.files for c in chans] == [(tree / "hwmon2/power1_input",)]
    assert chans[0].read_w() == pytest.approx(3.0)
    assert find_hwmon([f"ina226@{tree}/hwmon*/power1_input"]) == []  # amdgpu, ina219: no
    # a device with no readable name never matches a named spec
    (tree / "hwmon2/name").unlink()
    assert find_hwmon([f"ina219@{tree}/hwmon*/power1_input"]) == []


def test_relative_spec_looks_in_every_hwmon_device_of_that_name(tree, monkeypatch):
    monkeypatch.setattr(hwmon_mod, "HWMON_ROOT", str(tree))
    chans = find_hwmon(["ina3221@in1_input,curr1_input", "ina219@power1_input"])
    assert sorted(str(c) for c in chans) == [
        f"{tree}/hwmon1/in1_input,curr1_input",
        f"{tree}/hwmon2/power1_input",
    ]


def test_missing_or_unreadable_half_of_a_pair_drops_the_channel(tree):
    (tree / "hwmon1/curr1_input").unlink()
    assert find_hwmon([f"ina3221@{tree}/hwmon*/in1_input,curr1_input"]) == []
    (tree / "hwmon1/curr2_input").write_text("busy\n")
    assert find_hwmon([f"ina3221@{tree}/hwmon*/in2_input,curr2_input"]) == []


@pytest.mark.parametrize(
    "spec,why",
    [
        ("/sys/class/hwmon/hwmon*/power1_input", "matches any hwmon device"),
        ("/sys/class/hwmon/*/in1_input,curr1_input", "matches any hwmon device"),
        ("/x/hwmon0/in1_input", "power<N>_input"),  # mV must never be read as µW
        ("/x/hwmon0/curr1_input", "power<N>_input"),
        ("/x/hwmon0/in1_input,curr2_input", "same channel"),
        ("/x/hwmon0/in1_input,/y/curr1_input", "directory"),
        ("/x/hwmon0/power1_input,curr1_input", "in<N>_input"),
        ("power1_input", "device name"),
        ("@power1_input", "device name"),
        ("ina219@a,b,c", "expected FILE"),
        ("cmd:vcgencmd pmic_read_adc", "command"),
    ],
)
def test_bad_specs_are_refused(spec, why):
    with pytest.raises(ValueError, match=why):
        parse_sensor_spec(spec)


def test_spec_round_trip_and_profile_key_filter():
    spec = parse_sensor_spec(" ina3221@/a/hwmon*/in1_input , /a/hwmon*/curr1_input ")
    assert (spec.device_name, spec.pattern, spec.current) == (
        "ina3221",
        "/a/hwmon*/in1_input",
        "curr1_input",
    )
    assert str(spec) == "ina3221@/a/hwmon*/in1_input,curr1_input"
    specs = hwmon_specs({"rapl": "/p/energy_uj", "pmic": "cmd:x", "vin": "ina219@power1_input"})
    assert list(specs) == ["vin"]
    with pytest.raises(ValueError, match="power_sensors.bad"):
        hwmon_specs({"bad": "/x/in1_input"})


def test_a_bare_path_is_never_read_in_the_wrong_unit(tmp_path):
    f = tmp_path / "in1_input"
    f.write_text("5000\n")
    with pytest.raises(ValueError, match="not a hwmon power sensor"):
        HwmonPowerSource([f])
    with pytest.raises(ValueError):
        HwmonChannel((tmp_path / "curr1_input", f))  # current first: refused


def test_auto_picks_the_named_sensor_from_a_profile_end_to_end(tree, tmp_path):
    board = load_board(
        str(_profile(tmp_path, f'vdd_in = "ina3221@{tree}/hwmon*/in1_input,curr1_input"'))
    )
    src = open_power_source("auto", board)
    assert src.kind == "hwmon" and src.measured is True
    assert src.describe() == f"hwmon:{tree}/hwmon1/in1_input,curr1_input"
    assert "amdgpu" not in src.describe() and "hwmon0" not in src.describe()
    assert src.read_power_w() == pytest.approx(10.0)
    assert open_power_source("hwmon", board).describe() == src.describe()
    assert sensor_paths(board) == {
        "vdd_in": [str(tree / "hwmon1/in1_input"), str(tree / "hwmon1/curr1_input")]
    }


def test_profile_naming_an_absent_device_falls_back_to_the_model(tree, tmp_path):
    board = load_board(str(_profile(tmp_path, f'vin = "ina226@{tree}/hwmon*/power1_input"')))
    src = open_power_source("auto", board)
    assert src.kind == "model" and src.measured is False
    with pytest.raises(OrbnodeError, match="ina226@") as exc:
        open_power_source("hwmon", board)
    assert "\n" not in str(exc.value)


def test_profile_with_a_generic_glob_is_a_one_line_error(tmp_path):
    board = load_board(str(_profile(tmp_path, 'hwmon = "/sys/class/hwmon/hwmon*/power1_input"')))
    for name in ("auto", "hwmon"):
        with pytest.raises(OrbnodeError, match="power_sensors.hwmon") as exc:
            open_power_source(name, board)
        assert "\n" not in str(exc.value)
    with pytest.raises(OrbnodeError):
        sensor_paths(board)


@pytest.mark.parametrize("name", BOARDS)
def test_shipped_profiles_name_only_their_own_sensors(name):
    board = load_board(name)
    specs = hwmon_specs(board.power_sensors)  # every entry parses
    assert all(s.device_name for s in specs.values())  # and pins its chip by name
    if name == "x86-workstation":
        assert set(board.power_sensors) == {"rapl"} and not specs
    elif name.startswith("rpi"):
        assert board.power_sensors == {}  # no hwmon power sensor on the board
    else:
        (spec,) = specs.values()
        assert (spec.device_name, Path(spec.pattern).name, spec.current) == (
            "ina3221",
            "in1_input",
            "curr1_input",
        )
        assert "/1-0040/" in spec.pattern  # VDD_IN of the module's own INA3221


@pytest.mark.parametrize("name", ["rpi4", "rpi5", "jetson-orin-nano"])
def test_auto_on_a_board_without_its_sensor_here_is_the_model(name):
    """On this (non-Jetson) machine no host sensor, RAPL included, passes as the board's."""
    if name == "jetson-orin-nano" and Path("/sys/bus/i2c/drivers/ina3221/1-0040").exists():
        pytest.skip("this is a Jetson: its INA3221 is the board's own sensor")  # pragma: no cover
    src = open_power_source("auto", load_board(name))
    assert src.kind == "model" and not src.measured
