"""Progress for long commands: a bar on a terminal, a few plain lines elsewhere.

A CI log or a journal must not fill with carriage-return updates, so when stderr
is not a terminal the bar becomes a line every ``every_pct`` percent (and one at
the end). Libraries report progress through a plain callback; only the command
line decides how it looks.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """``update(n)`` adds ``n`` units; ``close()`` finishes. Usable as a context manager."""

    def __init__(self, total: float, desc: str, unit: str = "it", *, initial: float = 0,
                 enabled: bool = True, stream: TextIO | None = None,
                 every_pct: float = 10.0) -> None:
        self.stream = stream or sys.stderr
        self.total, self.desc, self.unit = float(total), desc, unit
        self.done = float(initial)
        self.enabled = enabled
        self.every_pct = every_pct
        self._bar = None
        self._next_pct = every_pct
        self._t0 = time.monotonic()
        if enabled and self.stream.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=initial, desc=desc, unit=unit,
                             file=self.stream, dynamic_ncols=True)
        while self.total > 0 and self._pct() >= self._next_pct:
            self._next_pct += every_pct

    def _pct(self) -> float:
        return 100.0 * self.done / self.total if self.total > 0 else 100.0

    def update(self, n: float = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
            return
        if not self.enabled or self.total <= 0:
            return
        if self._pct() >= self._next_pct and self.done < self.total:
            self._line()
            while self._pct() >= self._next_pct:
                self._next_pct += self.every_pct

    def set_postfix(self, text: str) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(text)

    def write(self, text: str) -> None:
        """A message line that does not tear the bar."""
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def _line(self) -> None:
        elapsed = time.monotonic() - self._t0
        print(f"{self.desc}: {self.done:,.0f}/{self.total:,.0f} {self.unit} "
              f"({self._pct():.0f} %, {elapsed:.0f} s)", file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.enabled and self.total > 0 and self._next_pct is not None:
            self._line()
            self._next_pct = None  # type: ignore[assignment]

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
