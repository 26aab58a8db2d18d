"""Modelled power: board profile idle/load power scaled by this process's CPU use.

P = P_idle + (P_load - P_idle) * u,  u = min(CPU seconds of this process over the
interval / (interval * cores of the BOARD), 1) -- the share of the board's cores the
node's work keeps busy, the same quantity the board profile's ``modelled_power_w``
uses, so the envelope and the node agree. The process's own CPU time (``times(2)``,
all threads) is used rather than whole-machine load so that, in `orbnode run`, the
simulator sharing the machine is not billed to the node. It is a model: reported as
``model``. ``times(2)`` rather than ``/proc/self/stat`` (psutil): QEMU user-mode
emulation (``orbnode board-emu``) answers the latter with zero CPU times.
"""

from __future__ import annotations

import os
import time

from node.power.base import PowerSource


class ProcessCpuMeter:
    """CPU seconds this process spent per wall second, as a share of ``cores``."""

    def __init__(self, cores: int) -> None:
        self.cores = max(int(cores), 1)
        self._cpu_last = self._cpu_s()
        self._t_last = time.monotonic()

    def _cpu_s(self) -> float:
        t = os.times()
        return t.user + t.system

    def read(self, dt_s: float | None = None) -> float:
        """Utilisation over the interval since the previous read, 0..1."""
        now, cpu = time.monotonic(), self._cpu_s()
        dt = dt_s if dt_s is not None else max(now - self._t_last, 1e-9)
        util = (cpu - self._cpu_last) / (dt * self.cores)
        self._cpu_last, self._t_last = cpu, now
        return min(max(util, 0.0), 1.0)


class ModelPowerSource(PowerSource):
    kind = "model"
    measured = False

    def __init__(self, board_name: str, idle_w: float, load_w: float, cores: int) -> None:
        super().__init__(f"{board_name} profile x process CPU time")
        self.idle_w = idle_w
        self.load_w = load_w
        self.cores = cores
        self._meter = ProcessCpuMeter(cores)
        self.last_util = 0.0

    def _energy_since_last_j(self, dt_s: float) -> float:
        util = self._meter.read(dt_s)
        self.last_util = util
        return (self.idle_w + (self.load_w - self.idle_w) * util) * dt_s
