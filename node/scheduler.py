"""The node's power-mode scheduler: FULL, ECO or SAFE from what the bus reports.

Pure logic, no I/O. Each condition is a latch with separate enter and exit
thresholds (hysteresis), so a value hovering at a threshold does not make the
node flap between modes:

* SAFE  while the EPS sheds load, the state of charge is within ``safe_margin``
  of its floor (left only above ``safe_margin + hysteresis``), or the board is
  at ``temp_max_c`` (left only below ``temp_resume_c``);
* ECO   while in eclipse (illumination below ``eclipse_enter``, left above
  ``eclipse_exit``), the charge is within ``eco_margin`` of its floor, or the
  board is above ``temp_warn_c``;
* FULL  otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

MODES = ("FULL", "ECO", "SAFE")


@dataclass
class Latch:
    """A boolean that turns on at ``enter`` and off at ``leave`` (hysteresis).

    ``rising``: the condition is ``value >= enter`` (temperature); otherwise
    ``value <= enter`` (charge, illumination).
    """

    enter: float
    leave: float
    rising: bool
    on: bool = False

    def update(self, value: float) -> bool:
        if self.rising:
            self.on = value >= self.enter if not self.on else value > self.leave
        else:
            self.on = value <= self.enter if not self.on else value < self.leave
        return self.on


@dataclass(frozen=True)
class SchedulerConfig:
    temp_warn_c: float
    temp_max_c: float
    temp_resume_c: float
    eclipse_enter: float = 0.3  # illumination below which the node is in eclipse
    eclipse_exit: float = 0.7
    safe_margin: float = 0.05  # state of charge above floor
    eco_margin: float = 0.15
    hysteresis: float = 0.05


@dataclass(frozen=True)
class Decision:
    mode: str
    reasons: tuple[str, ...]


class Scheduler:
    def __init__(self, config: SchedulerConfig) -> None:
        c = config
        self.config = c
        self.mode = "FULL"
        self._eclipse = Latch(c.eclipse_enter, c.eclipse_exit, rising=False)
        self._temp_hot = Latch(c.temp_max_c, c.temp_resume_c, rising=True)
        self._temp_warm = Latch(c.temp_warn_c, c.temp_warn_c - 5.0, rising=True)
        self._soc_low = Latch(c.safe_margin, c.safe_margin + c.hysteresis, rising=False)
        self._soc_eco = Latch(c.eco_margin, c.eco_margin + c.hysteresis, rising=False)

    @classmethod
    def for_board(cls, board) -> Scheduler:
        return cls(SchedulerConfig(board.temp_warn_c, board.temp_max_c, board.temp_resume_c))

    def update(self, *, illumination: float, soc: float, soc_floor: float, temp_c: float,
               load_shed: bool = False) -> Decision:
        headroom = soc - soc_floor
        safe = []
        if load_shed:
            safe.append("load shed")
        if self._soc_low.update(headroom):
            safe.append("battery low")
        if self._temp_hot.update(temp_c):
            safe.append("too hot")
        eco = []
        if self._eclipse.update(illumination):
            eco.append("eclipse")
        if self._soc_eco.update(headroom):
            eco.append("battery reserve")
        if self._temp_warm.update(temp_c):
            eco.append("warm")
        if safe:
            self.mode, reasons = "SAFE", tuple(safe)
        elif eco:
            self.mode, reasons = "ECO", tuple(eco)
        else:
            self.mode, reasons = "FULL", ()
        return Decision(self.mode, reasons)
