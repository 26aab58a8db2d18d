"""The bus watchdog: power-cycles the node when its housekeeping stops.

A spacecraft bus supervises its payloads: when a payload's housekeeping stops for
longer than the watchdog time, the power-distribution unit switches its supply off
and on again (a latching current limiter or a PDU channel does the same on a real
bus). Here the power cycle is a hook:

* in ``orbnode run`` it kills the node process and starts a fresh one;
* on a bench, ``command_power_cycle`` runs a command you give (a USB relay or a
  switchable hub in front of the board, e.g. ``uhubctl -a cycle -p 2``); the
  reason is passed in the ``ORBNODE_RESET_REASON`` environment variable.

After ``max_resets`` power cycles without the node recovering for good, the bus
gives up and the run ends with the node declared lost.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from node.errors import OrbnodeError

# Switches the node off and on, given the reason; may return what it found (e.g. that
# the node process had already died), which goes into the archived reset event.
PowerCycle = Callable[[str], "str | None"]


@dataclass
class BusWatchdog:
    timeout_s: float           # wall seconds without housekeeping before a power cycle
    power_cycle: PowerCycle    # switches the node off and on; gets the reason
    max_resets: int = 3
    resets: int = 0

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise OrbnodeError("the watchdog time must be positive")


def command_power_cycle(command: str, timeout_s: float = 60.0) -> PowerCycle:
    """A bench power cycle: run ``command`` through the shell; a failure is one line."""

    def cycle(reason: str) -> str | None:
        try:
            res = subprocess.run(command, shell=True, capture_output=True, text=True,
                                 timeout=timeout_s,
                                 env={**os.environ, "ORBNODE_RESET_REASON": reason})
        except subprocess.TimeoutExpired:
            raise OrbnodeError(f"reset command did not finish within {timeout_s:g} s: "
                               f"{command}") from None
        if res.returncode != 0:
            tail = (res.stderr or res.stdout).strip().splitlines()[-1:] or [""]
            raise OrbnodeError(f"reset command failed (exit {res.returncode}): {tail[0]}")
        return f"ran {command!r}"

    return cycle
