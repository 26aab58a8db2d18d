"""The one interface every power source implements.

A power source reports the average electrical power over the interval since its
previous reading, and always says what it is: ``kind`` is one of the
``enums.power_source`` names in the packet definitions (model, hwmon, rapl, pmic)
and ``name`` says exactly which sensor or model, so no figure is ever presented
as measured when it was modelled.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod


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
