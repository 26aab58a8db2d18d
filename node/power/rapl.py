"""Measured power from Intel/AMD RAPL energy counters (/sys/class/powercap)."""

from __future__ import annotations

from pathlib import Path

from node.power.base import PowerSource, readable_int_files


def find_rapl(pattern: str = "/sys/class/powercap/intel-rapl:*/energy_uj") -> list[Path]:
    """Package-level RAPL counters that this process can read."""
    return readable_int_files([pattern])


class RaplPowerSource(PowerSource):
    kind = "rapl"
    measured = True

    def __init__(self, counters: list[Path]) -> None:
        super().__init__("+".join(str(c.parent.name) for c in counters))
        self.counters = counters
        self._max = [self._read_max(c) for c in counters]
        self._last = [self._read(c) for c in counters]

    @staticmethod
    def _read(path: Path) -> int:
        return int(path.read_text())

    @staticmethod
    def _read_max(path: Path) -> int:
        try:
            return int((path.parent / "max_energy_range_uj").read_text())
        except (OSError, ValueError):
            return 2**32

    def _energy_since_last_j(self, dt_s: float) -> float:
        total_uj = 0
        for i, c in enumerate(self.counters):
            now = self._read(c)
            delta = now - self._last[i]
            if delta < 0:  # counter wrapped
                delta += self._max[i]
            self._last[i] = now
            total_uj += delta
        return total_uj * 1e-6
