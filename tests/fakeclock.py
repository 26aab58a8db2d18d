"""A clock the test moves by hand, for code that takes a ``clock() -> seconds`` callable."""

from __future__ import annotations


class FakeClock:
    """Reads ``t``; fakes advance it instead of taking time."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t
