"""Measured power from a Linux hwmon sensor (power*_input in microwatts).

Covers INA2xx/INA3221 shunt monitors on Jetson and Pi HATs and some PMICs that
export hwmon. The reading is instantaneous, so the interval average is the mean
of the samples taken at each read (trapezoidal between reads).
"""

from __future__ import annotations

from pathlib import Path

from node.power.base import PowerSource, readable_int_files


def find_hwmon(patterns: list[str]) -> list[Path]:
    """hwmon power sensors (microwatts) named by the board profile that answer."""
    return readable_int_files(patterns)


class HwmonPowerSource(PowerSource):
    kind = "hwmon"
    measured = True

    def __init__(self, sensors: list[Path]) -> None:
        super().__init__("+".join(str(s) for s in sensors))
        self.sensors = sensors
        self._last_w = self._sample_w()

    def _sample_w(self) -> float:
        return sum(int(s.read_text()) for s in self.sensors) * 1e-6

    def _energy_since_last_j(self, dt_s: float) -> float:
        now_w = self._sample_w()
        energy = 0.5 * (now_w + self._last_w) * dt_s
        self._last_w = now_w
        return energy
