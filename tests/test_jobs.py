"""The job loop: real inference, duty cycle, mode switches, correctness counting."""

from __future__ import annotations

import time

import numpy as np

from node.engine import Engine
from node.jobs import JobLoop
from node.models import DEFAULT_MODEL, DEFAULT_SAMPLE


def sample():
    d = np.load(DEFAULT_SAMPLE)
    return d["x"], d["y"]


def rate(loop, seconds=0.3):
    a = loop.counters()
    t0 = time.monotonic()
    time.sleep(seconds)
    b = loop.counters()
    return (b.inferences - a.inferences) / (time.monotonic() - t0), b.busy_s - a.busy_s


def test_loop_runs_real_inference_and_counts_correct():
    x, y = sample()
    loop = JobLoop(Engine(DEFAULT_MODEL), x, y, threads=1, duty=1.0)
    loop.start()
    time.sleep(0.3)
    loop.stop()
    c = loop.counters()
    assert c.inferences > 100
    assert c.correct / c.inferences > 0.9  # the digits CNN really classifies
    assert loop.error is None


def test_duty_cycle_limits_busy_time():
    x, y = sample()
    loop = JobLoop(Engine(DEFAULT_MODEL), x, y, threads=1, duty=1.0)
    loop.start()
    try:
        time.sleep(0.1)
        _, busy_full = rate(loop, 0.4)
        loop.set_mode(1, 0.1)
        time.sleep(0.05)
        _, busy_low = rate(loop, 0.4)
        loop.set_mode(1, 0.0)
        time.sleep(0.1)
        r_off, _ = rate(loop, 0.2)
    finally:
        loop.stop()
    assert busy_low < 0.5 * busy_full
    assert r_off * 0.2 <= 1  # parked: at most the one inference already under way


def test_thread_switch_keeps_live_weights():
    x, y = sample()
    engine = Engine(DEFAULT_MODEL)
    loop = JobLoop(engine, x, y, threads=1, duty=1.0)
    loop.start()
    time.sleep(0.1)
    loop.set_mode(2, 1.0)
    time.sleep(0.2)
    loop.stop()
    assert engine.threads == 2
    assert loop.error is None
