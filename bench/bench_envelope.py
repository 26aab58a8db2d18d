"""Envelope speed: 24 h at 1 s steps, orbit + shadow + power + thermal + radiation together.

Target (issue 3): under 0.5 s on one core. This is a benchmark, not a timed test:
``make bench`` reports the time, ``make test`` (``--benchmark-disable``) runs it once
and checks only the physics of the result.
"""

from __future__ import annotations

import numpy as np
import pytest

from firmware_stubs.envelope import Envelope


def _day_at_one_second() -> dict[str, np.ndarray]:
    env = Envelope.from_config(board="rpi4", radiation="leo")
    return env.simulate(24.0, 1.0, None, "auto")


def test_envelope_24h_at_1s(benchmark):
    out = benchmark(_day_at_one_second)
    assert out["t_s"].size == 86400
    assert np.mean(out["in_eclipse"]) == pytest.approx(0.372, abs=0.005)
    assert np.all(out["soc"] >= out["soc_floor"])
    assert np.all(np.isfinite(out["temp_c"]))


def _day_fixed_mode_step_loop() -> float:
    env = Envelope.from_config(board="jetson-orin-nano", radiation="leo")
    return env.simulate(24.0, 1.0, 12.0, "ECO")["battery_energy_j"][-1]


def test_envelope_24h_at_1s_fixed_power(benchmark):
    assert benchmark(_day_fixed_mode_step_loop) > 0
