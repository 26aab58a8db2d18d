"""The one interface every power source implements.

A power source reports the average electrical power over the interval since its
previous reading, and always says what it is: ``kind`` is one of the
``enums.power_source`` names in the packet definitions (model, hwmon, rapl, pmic)
and ``name`` says exactly which sensor or model, so no figure is ever presented
as measured when it was modelled.
"""

from __future__ import annotations

import glob
import time
from abc import ABC, abstractmethod
from pathlib import Path


def readable_int_files(patterns: list[str]) -> list[Path]:
    """sysfs files matching ``patterns`` that this process can read as an integer.

    Sensors often exist but are root-only (RAPL since 2020) or absent on this board;
    only the ones that really answer are used.
    """
    found = []
    for pattern in patterns:
        for p in sorted(glob.glob(pattern)):
            try:
                int(Path(p).read_text())
            except (OSError, ValueError):
                continue
            found.append(Path(p))
    return found


class PowerSource(ABC):
    kind: str = "model"
    measured: bool = False

    def __init__(self, name: str) -> None:
        self.name = name
        self._t_last = time.monotonic()

    @abstractmethod
    def _energy_since_last_j(self, dt_s: float) -> float:
        """Energy drawn over the last ``dt_s`` seconds of wall time."""

    def read_power_w(self) -> float:
        """Average power since the previous call (or since creation)."""
        now = time.monotonic()
        dt_s = max(now - self._t_last, 1e-9)
        self._t_last = now
        return self._energy_since_last_j(dt_s) / dt_s

    def describe(self) -> str:
        return f"{self.kind}:{self.name}"
