"""Modelled power: board profile idle/load power scaled by this process's CPU use.

P = P_idle + (P_load - P_idle) * u,  u = CPU seconds of this process over the
interval / (interval * cores). The process's own CPU time (psutil) is used rather
than whole-machine load so that, in `orbnode run`, the simulator sharing the
machine is not billed to the node. It is a model: reported as ``model``.
"""

from __future__ import annotations

import os

import psutil

from node.power.base import PowerSource


class ModelPowerSource(PowerSource):
    kind = "model"
    measured = False

    def __init__(self, board_name: str, idle_w: float, load_w: float) -> None:
        super().__init__(f"{board_name} profile x process CPU (psutil)")
        self.idle_w = idle_w
        self.load_w = load_w
        self.cores = os.cpu_count() or 1
        self._proc = psutil.Process()
        self._cpu_last = self._cpu_s()
        self.last_util = 0.0

    def _cpu_s(self) -> float:
        t = self._proc.cpu_times()
        return t.user + t.system

    def _energy_since_last_j(self, dt_s: float) -> float:
        cpu = self._cpu_s()
        util = min(max((cpu - self._cpu_last) / (dt_s * self.cores), 0.0), 1.0)
        self._cpu_last = cpu
        self.last_util = util
        return (self.idle_w + (self.load_w - self.idle_w) * util) * dt_s
