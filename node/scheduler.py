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


def policy_step(
    eclipse: bool, hot: bool, warm: bool, low: bool, reserve: bool,
    illumination: float, headroom: float, temp_c: float, load_shed: bool,
    eclipse_enter: float, eclipse_exit: float, temp_max_c: float, temp_resume_c: float,
    temp_warn_c: float, safe_margin: float, eco_margin: float, hysteresis: float,
    warm_hysteresis_c: float,
) -> tuple[int, bool, bool, bool, bool, bool]:
    """The mode policy as a pure function of the five latches and the bus's report.

    Returns (mode code 0=FULL 1=ECO 2=SAFE, eclipse, hot, warm, low, reserve). Plain
    scalars and no calls, so the envelope can compile this very function (numba)
    while :class:`Scheduler` runs it as Python: one policy, two speeds.
    """
    if low:
        low = headroom < safe_margin + hysteresis
    else:
        low = headroom <= safe_margin
    if hot:
        hot = temp_c > temp_resume_c
    else:
        hot = temp_c >= temp_max_c
    if eclipse:
        eclipse = illumination < eclipse_exit
    else:
        eclipse = illumination <= eclipse_enter
    if reserve:
        reserve = headroom < eco_margin + hysteresis
    else:
        reserve = headroom <= eco_margin
    if warm:
        warm = temp_c > temp_warn_c - warm_hysteresis_c
    else:
        warm = temp_c >= temp_warn_c
    if load_shed or low or hot:
        mode = 2
    elif eclipse or reserve or warm:
        mode = 1
    else:
        mode = 0
    return mode, eclipse, hot, warm, low, reserve


@dataclass
class Latch:
    """A hysteresis latch's state: on at ``enter``, off at ``leave`` (see :func:`policy_step`)."""

    enter: float
    leave: float
    rising: bool  # the condition is value >= enter (temperature); else value <= enter
    on: bool = False


@dataclass(frozen=True)
class SchedulerConfig:
    """The policy's thresholds: the board's temperatures, and defaults that are design
    choices of this repository (their reasoning: docs/sources.md, "Scheduler thresholds")."""

    temp_warn_c: float
    temp_max_c: float
    temp_resume_c: float
    eclipse_enter: float = 0.3  # illumination below which the node is in eclipse
    eclipse_exit: float = 0.7
    safe_margin: float = 0.05  # state of charge above floor
    eco_margin: float = 0.15
    hysteresis: float = 0.05
    warm_hysteresis_c: float = 5.0  # the warm latch is left this far below temp_warn_c


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
        self._temp_warm = Latch(c.temp_warn_c, c.temp_warn_c - c.warm_hysteresis_c, rising=True)
        self._soc_low = Latch(c.safe_margin, c.safe_margin + c.hysteresis, rising=False)
        self._soc_eco = Latch(c.eco_margin, c.eco_margin + c.hysteresis, rising=False)

    @classmethod
    def for_board(cls, board) -> Scheduler:
        return cls(SchedulerConfig(board.temp_warn_c, board.temp_max_c, board.temp_resume_c))

    @property
    def latches(self) -> tuple[bool, bool, bool, bool, bool]:
        """(eclipse, hot, warm, low, reserve): the whole state :func:`policy_step` needs."""
        return (self._eclipse.on, self._temp_hot.on, self._temp_warm.on, self._soc_low.on,
                self._soc_eco.on)

    def policy_args(self) -> tuple[float, ...]:
        """The thresholds :func:`policy_step` takes after the report."""
        c = self.config
        return (c.eclipse_enter, c.eclipse_exit, c.temp_max_c, c.temp_resume_c, c.temp_warn_c,
                c.safe_margin, c.eco_margin, c.hysteresis, c.warm_hysteresis_c)

    def update(self, *, illumination: float, soc: float, soc_floor: float, temp_c: float,
               load_shed: bool = False) -> Decision:
        headroom = soc - soc_floor
        code, *latches = policy_step(*self.latches, illumination, headroom, temp_c,
                                     bool(load_shed), *self.policy_args())
        for latch, on in zip((self._eclipse, self._temp_hot, self._temp_warm, self._soc_low,
                              self._soc_eco), latches, strict=True):
            latch.on = on
        safe = [why for why, on in (("load shed", load_shed), ("battery low", latches[3]),
                                    ("too hot", latches[1])) if on]
        eco = [why for why, on in (("eclipse", latches[0]), ("battery reserve", latches[4]),
                                   ("warm", latches[2])) if on]
        self.mode = MODES[code]
        return Decision(self.mode, tuple(safe) if code == 2 else tuple(eco) if code == 1 else ())
