"""Power sources, chosen by name: ``auto`` prefers a real sensor, then the model.

Backends: ``rapl`` (powercap energy counters), ``hwmon`` (``power<N>_input`` or
``in<N>_input``/``curr<N>_input`` sensors named in the board profile; format in
:mod:`node.power.hwmon`), ``model`` (board profile x process CPU use).

``auto`` only uses sensors the board profile names: a sensor that merely exists on
this machine (the host's RAPL package counter, a GPU's hwmon power file) measures
something other than the board, and reporting it as the board's measured power
would be wrong. An explicit ``rapl`` without a profile entry still reads this
machine's package counters, and says so in ``describe()``.
"""

from __future__ import annotations

from node.errors import OrbnodeError
from node.power.base import PowerSource
from node.power.hwmon import HwmonPowerSource, find_hwmon, hwmon_specs
from node.power.model import ModelPowerSource
from node.power.rapl import RaplPowerSource, find_rapl

SOURCES = ("auto", "rapl", "hwmon", "model")
DEFAULT_RAPL = "/sys/class/powercap/intel-rapl:*/energy_uj"

__all__ = ["PowerSource", "SOURCES", "open_power_source"]


def open_power_source(name: str, board) -> PowerSource:
    """Open the power source ``name`` for ``board`` (a node.boards.BoardProfile).

    Raises :class:`OrbnodeError` (one line) for an unknown name, a sensor asked for by
    name that cannot be read, or a malformed ``[power_sensors]`` entry.
    """
    if name not in SOURCES:
        raise OrbnodeError(f"unknown power source {name!r}; choose one of {', '.join(SOURCES)}")
    sensors = dict(getattr(board, "power_sensors", {}) or {})
    if name == "rapl" or (name == "auto" and "rapl" in sensors):
        counters = find_rapl(sensors.get("rapl", DEFAULT_RAPL))
        if counters:
            return RaplPowerSource(counters)
        if name == "rapl":
            raise OrbnodeError("no readable RAPL counters under /sys/class/powercap")
    if name in ("auto", "hwmon"):
        try:
            specs = hwmon_specs(sensors)
        except ValueError as exc:
            raise OrbnodeError(f"board {board.name}: {exc}") from None
        found = find_hwmon(specs.values())
        if found:
            return HwmonPowerSource(found)
        if name == "hwmon":
            looked = ", ".join(str(s) for s in specs.values()) or "its profile names none"
            raise OrbnodeError(f"no readable hwmon power sensor for board {board.name} ({looked})")
    return ModelPowerSource(board.name, board.idle_w, board.load_w, board.cores)
