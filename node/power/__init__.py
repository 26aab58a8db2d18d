"""Power sources, chosen by name: ``auto`` prefers a real sensor, then the model.

Backends: ``rapl`` (powercap energy counters), ``hwmon`` (power*_input sensors
named in the board profile), ``model`` (board profile x process CPU use).
"""

from __future__ import annotations

from node.errors import OrbnodeError
from node.power.base import PowerSource
from node.power.hwmon import HwmonPowerSource, find_hwmon
from node.power.model import ModelPowerSource
from node.power.rapl import RaplPowerSource, find_rapl

SOURCES = ("auto", "rapl", "hwmon", "model")

__all__ = ["PowerSource", "SOURCES", "open_power_source"]


def open_power_source(name: str, board) -> PowerSource:
    """Open the power source ``name`` for ``board`` (a node.boards.BoardProfile)."""
    if name not in SOURCES:
        raise OrbnodeError(f"unknown power source {name!r}; choose one of {', '.join(SOURCES)}")
    sensors = dict(getattr(board, "power_sensors", {}) or {})
    if name in ("auto", "rapl"):
        counters = find_rapl(sensors.get("rapl", "/sys/class/powercap/intel-rapl:*/energy_uj"))
        if counters:
            return RaplPowerSource(counters)
        if name == "rapl":
            raise OrbnodeError("no readable RAPL counters under /sys/class/powercap")
    if name in ("auto", "hwmon"):
        patterns = [v for k, v in sensors.items() if k != "rapl"]
        found = find_hwmon(patterns) if patterns else []
        if found:
            return HwmonPowerSource(found)
        if name == "hwmon":
            raise OrbnodeError(f"no readable hwmon power sensor for board {board.name}")
    return ModelPowerSource(board.name, board.idle_w, board.load_w)
