"""Measured power from Linux hwmon sensors named in the board profile.

Two kinds of hwmon sensor (kernel Documentation/hwmon/sysfs-interface.rst) give a
board's power:

* ``power<N>_input`` -- power in microwatts (INA219/INA226 via ina2xx, some PMICs);
* ``in<N>_input`` + ``curr<N>_input`` -- the voltage (millivolts) and current
  (milliamperes) of one channel, P = V * I; the INA3221 on Jetson exports only these.
  Reading ``in1_input`` as if it were ``power1_input`` would turn 5000 mV into 5 mW,
  so a file is only ever read as the unit its name says.

Profile format: every entry of ``[power_sensors]`` except ``rapl`` is one spec::

    "[NAME@]FILE[,CURRENT]"

``FILE`` is a glob of ``power<N>_input`` files, or of ``in<N>_input`` files when a
``CURRENT`` (``curr<N>_input``, same channel, same directory; a ``*`` channel takes
the voltage file's) follows the comma. ``NAME@`` keeps only hwmon devices whose
``name`` file reads NAME (the chip driver: ``ina3221``, ``ina219``, ...); a relative
``FILE`` is then looked for in every ``/sys/class/hwmon/hwmon*`` device of that name.
Without ``NAME@`` the path itself must pin the device (for example the INA3221 at
I2C 1-0040 under ``/sys/bus/i2c/drivers/ina3221``): a bare
``/sys/class/hwmon/hwmon*/power1_input`` is refused, because it would report
whatever else has a power sensor there (a GPU, a laptop battery) as the board's
measured power. Values starting with ``cmd:`` are commands, not hwmon sensors;
they are not implemented and are skipped by :func:`node.power.open_power_source`.

All matching channels are summed, so a spec names exactly the rails that make up
the board input (INA3221 channel 1 is VDD_IN on the Orin Nano; its channels 2 and 3
are rails inside it and would be counted twice). A reading is instantaneous, so the
interval average is the mean of the samples at the two ends (trapezoidal).
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from node.power.base import PowerSource, readable_int_files

HWMON_ROOT = "/sys/class/hwmon"  # where relative NAME@FILE specs are looked for

_POWER = re.compile(r"power(\d+|\*)_input")
_VOLT = re.compile(r"in(\d+|\*)_input")
_CURR = re.compile(r"curr(\d+|\*)_input")


@dataclass(frozen=True)
class SensorSpec:
    """One parsed ``[power_sensors]`` hwmon entry (module doc)."""

    pattern: str  # glob of power<N>_input or in<N>_input files; relative: under HWMON_ROOT
    device_name: str | None = None  # required content of the device's ``name`` file
    current: str | None = None  # curr<N>_input (N may be "*"): a voltage/current pair

    def glob(self) -> str:
        """The absolute glob of the power or voltage files."""
        if os.path.isabs(self.pattern):
            return self.pattern
        return os.path.join(HWMON_ROOT, "hwmon*", self.pattern)

    def __str__(self) -> str:
        text = self.pattern + (f",{self.current}" if self.current else "")
        return f"{self.device_name}@{text}" if self.device_name else text


def parse_sensor_spec(spec: str) -> SensorSpec:
    """Parse ``"[NAME@]FILE[,CURRENT]"``; ValueError (one line) says what is wrong."""
    text = spec.strip()
    if text.startswith("cmd:"):
        raise ValueError(f"{spec!r} is a command, not a hwmon sensor")
    name = None
    if not text.startswith("/") and "@" in text:
        name, text = (part.strip() for part in text.split("@", 1))
        if not name or "/" in name or any(c.isspace() for c in name):
            raise ValueError(f"{spec!r}: bad hwmon device name {name!r}")
    parts = [p.strip() for p in text.split(",")]
    if len(parts) > 2 or not all(parts):
        raise ValueError(f"{spec!r}: expected FILE or VOLTAGE_FILE,CURRENT_FILE")
    first = parts[0]
    if not os.path.isabs(first) and name is None:
        raise ValueError(f"{spec!r}: a relative path needs the device name, NAME@{first}")
    if name is None and first.startswith(HWMON_ROOT + "/") and glob.has_magic(first):
        raise ValueError(
            f"{spec!r} matches any hwmon device; name the chip (NAME@...) or pin its path"
        )
    base = os.path.basename(first)
    if len(parts) == 1:
        if not _POWER.fullmatch(base):
            raise ValueError(f"{spec!r}: a single file must be power<N>_input (microwatts)")
        return SensorSpec(first, name)
    current = parts[1]
    if "/" in current:
        if os.path.dirname(current) != os.path.dirname(first):
            raise ValueError(f"{spec!r}: the current file must be in the voltage file's directory")
        current = os.path.basename(current)
    volt_m, curr_m = _VOLT.fullmatch(base), _CURR.fullmatch(current)
    if not volt_m or not curr_m:
        raise ValueError(f"{spec!r}: a pair must be in<N>_input (mV),curr<N>_input (mA)")
    if volt_m.group(1) != curr_m.group(1):
        raise ValueError(f"{spec!r}: voltage and current must be the same channel")
    return SensorSpec(first, name, current)


def hwmon_specs(power_sensors: Mapping[str, str]) -> dict[str, SensorSpec]:
    """The hwmon entries of a profile's ``[power_sensors]``: all but ``rapl`` and ``cmd:``.

    ValueError (one line, naming the key) for a malformed entry, so that a typo in a
    profile is reported rather than silently falling back to the model.
    """
    specs = {}
    for key, value in power_sensors.items():
        if key == "rapl" or value.strip().startswith("cmd:"):
            continue
        try:
            specs[key] = parse_sensor_spec(value)
        except ValueError as exc:
            raise ValueError(f"power_sensors.{key}: {exc}") from None
    return specs


@dataclass(frozen=True)
class HwmonChannel:
    """One measured rail: ``(power_file,)`` in µW, or ``(voltage_file, current_file)``."""

    files: tuple[Path, ...]

    def __post_init__(self) -> None:
        names = [f.name for f in self.files]
        ok = (len(names) == 1 and _POWER.fullmatch(names[0])) or (
            len(names) == 2 and _VOLT.fullmatch(names[0]) and _CURR.fullmatch(names[1])
        )
        if not ok:  # never read a file in a unit its name does not say
            raise ValueError(f"not a hwmon power sensor: {', '.join(map(str, self.files))}")

    def read_w(self) -> float:
        """Power now: µW * 1e-6, or mV * mA (= µW) * 1e-6."""
        values = [int(f.read_text()) for f in self.files]
        product = values[0] if len(values) == 1 else values[0] * values[1]
        return product * 1e-6

    def __str__(self) -> str:
        if len(self.files) == 1:
            return str(self.files[0])
        volt, curr = self.files
        return f"{volt},{curr.name}"  # the current file sits beside the voltage file


def _device_name(directory: Path) -> str | None:
    try:
        return (directory / "name").read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def find_hwmon(specs: Iterable[str | SensorSpec]) -> list[HwmonChannel]:
    """The channels of ``specs`` present here that answer with integers, each rail once.

    A file reached through two paths (``/sys/bus/...`` and ``/sys/class/hwmon/...``) or
    two specs is counted once (by real path), since channels are summed.
    """
    found: list[HwmonChannel] = []
    seen: set[str] = set()
    for item in specs:
        spec = parse_sensor_spec(item) if isinstance(item, str) else item
        for first in readable_int_files([spec.glob()]):
            if spec.device_name is not None and _device_name(first.parent) != spec.device_name:
                continue
            if spec.current is None:
                if not _POWER.fullmatch(first.name):
                    continue
                files: tuple[Path, ...] = (first,)
            else:
                m = _VOLT.fullmatch(first.name)
                if not m:
                    continue
                curr = first.parent / spec.current.replace("*", m.group(1))
                if not readable_int_files([glob.escape(str(curr))]):
                    continue
                files = (first, curr)
            key = os.path.realpath(first)
            if key in seen:
                continue
            seen.add(key)
            found.append(HwmonChannel(files))
    return found


class HwmonPowerSource(PowerSource):
    """Sum of hwmon channels; ``describe()`` lists every file read."""

    kind = "hwmon"
    measured = True

    def __init__(self, sensors: Sequence[HwmonChannel | Path]) -> None:
        channels = [s if isinstance(s, HwmonChannel) else HwmonChannel((Path(s),)) for s in sensors]
        if not channels:
            raise ValueError("no hwmon channels to read")
        super().__init__("+".join(str(c) for c in channels))
        self.sensors = channels
        self._last_w = self._sample_w()

    def _sample_w(self) -> float:
        return sum(c.read_w() for c in self.sensors)

    def _energy_since_last_j(self, dt_s: float) -> float:
        now_w = self._sample_w()
        energy = 0.5 * (now_w + self._last_w) * dt_s
        self._last_w = now_w
        return energy
