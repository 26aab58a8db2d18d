"""A live status line for ``orbnode sim`` on a terminal; silent anywhere else.

One line, rewritten in place at most every ``interval_s``: simulated time and
orbit, power mode, throughput, state of charge, temperature, upsets, and the link
counters (packets each way, frames dropped, telecommands the node rejected, ground
clients). When the stream is not a terminal (a pipe, a log file, CI) only the
:meth:`LiveConsole.announce` lines are written, each once and plain, so captured
output stays clean yet says what a long wait is for.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

CLEAR_LINE = "\r\x1b[K"


class LiveConsole:
    def __init__(self, stream: TextIO | None = None, interval_s: float = 0.25) -> None:
        self.stream = stream if stream is not None else sys.stderr
        try:
            self.enabled = self.stream.isatty()
        except (AttributeError, ValueError):
            self.enabled = False
        self.interval_s = interval_s
        self.period_s: float | None = None
        self.link = None    # node.link.Link: its stats are shown
        self.ground = None  # firmware_stubs.ground.tcp.GroundServer, if serving
        self._last = 0.0
        self._shown = False

    def status(self, text: str) -> None:
        """A state line (waiting for the node, stopped) shown until the next update."""
        self._write(text)

    def announce(self, text: str) -> None:
        """A state worth a line anywhere (waiting for the node, up to a minute): the
        status line on a terminal, one plain line elsewhere."""
        if self.enabled:
            self._write(text)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()

    def on_tick(self, row: dict) -> None:
        """Simulator ``on_tick`` callback: one archived housekeeping row."""
        now = time.monotonic()
        if not self.enabled or now - self._last < self.interval_s:
            return
        self._last = now
        self._write(self.render(row))

    def render(self, row: dict) -> str:
        orbit = f" orbit {row['t_s'] / self.period_s:5.2f}" if self.period_s else ""
        parts = [f"t {row['t_s']:7.0f} s{orbit}", f"{row['mode']:4s}",
                 f"{row['throughput_per_s']:7.0f} inf/s", f"SoC {row['soc'] * 100:5.1f}%",
                 f"{row['temp_c']:5.1f}°C", f"upsets {row['upsets']}"]
        if self.link is not None:
            s = self.link.stats
            parts.append(f"link in {s.packets_in} out {s.packets_out} "
                         f"bad {s.frames_bad + s.packets_bad}")
        parts.append(f"tc rejected {row['tc_rejected']}")
        if self.ground is not None:
            parts.append(f"ground clients {self.ground.client_count}")
        return " | ".join(parts)

    def _write(self, text: str) -> None:
        if not self.enabled:
            return
        self.stream.write(CLEAR_LINE + text)
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        if self.enabled and self._shown:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = False
