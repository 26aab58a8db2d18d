"""A log line per reason at most once a period, with how often it happened meanwhile.

A noisy line or someone sending forged telecommands can make the node refuse
hundreds of frames a second; logging each would flood the journal and slow the
serve loop, logging none hides it. :class:`RateLimitedLog` says the first one at
once, then at most one line per ``period_s`` per reason carrying the count since
the last line, and :meth:`flush` says what is left (each serve-loop turn, and when
the node stops), so every occurrence is counted in the log.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Reason:
    said_at: float | None = None  # when a line was last said for this reason
    pending: int = 0     # occurrences since then, not yet said
    text: str = ""       # the newest occurrence's text


class RateLimitedLog:
    def __init__(self, say: Callable[[str], None], period_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.say = say
        self.period_s = period_s
        self.clock = clock
        self._reasons: dict[str, _Reason] = {}

    def note(self, reason: str, text: str, count: int = 1) -> None:
        """``count`` more occurrences of ``reason``; ``text`` describes the newest."""
        now = self.clock()
        r = self._reasons.setdefault(reason, _Reason())
        r.pending += count
        r.text = text
        if r.said_at is None or now - r.said_at >= self.period_s:
            self._say(r, now)

    def flush(self, force: bool = False) -> None:
        """Say every reason with occurrences pending whose period is up (all: ``force``)."""
        now = self.clock()
        for r in self._reasons.values():
            if r.pending and (force or r.said_at is None or now - r.said_at >= self.period_s):
                self._say(r, now)

    def _say(self, r: _Reason, now: float) -> None:
        if r.pending > 1:
            since = "" if r.said_at is None else f" in {now - r.said_at:.1f} s"
            self.say(f"{r.text} [{r.pending} times{since}]")
        else:
            self.say(r.text)
        r.pending = 0
        r.said_at = now
