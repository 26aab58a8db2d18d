"""One mode policy: the envelope's "auto" schedule is the node's scheduler.

On random traces of illumination, charge and temperature, the modes the envelope
integrator chose — run as Python and compiled by numba, both built from
:func:`node.scheduler.policy_step` — equal those a fresh :class:`node.scheduler.Scheduler`
chooses from the same step-start states (what the bus reports to the node each tick).
A real :meth:`Envelope.simulate` in auto mode is replayed the same way, so the
envelope's own wiring (its kernel's thresholds, floor and powers, the initial latches,
the state carried from one call to the next) is checked too.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_stubs.constants import ZERO_C_K
from firmware_stubs.envelope import MODE_CODES, Envelope
from firmware_stubs.envelope_kernel import Kernel, KernelState, integrate
from node.boards import load_board
from node.scheduler import Scheduler

BOARD = load_board("rpi4")


def _kernel(bus_w: float) -> Kernel:
    return Kernel(eta_c=0.95, inv_eta_d=1.0 / 0.9, cap_j=2000.0, floor_j=1400.0,
                   release_j=1500.0, cb=40.0, cs=400.0, g=0.5, krad=1e-9, n_sub=1,
                   bus_by_mode=(bus_w, bus_w * 0.8, bus_w * 0.6),
                   node_by_mode=tuple(BOARD.modelled_power_w(m) for m in ("FULL", "ECO", "SAFE")),
                   policy=Scheduler.for_board(BOARD).policy_args())


steps = st.lists(st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 40.0), st.floats(-30.0, 40.0)),
                 min_size=1, max_size=200)


@settings(max_examples=150, deadline=None)
@given(trace=steps, e0=st.floats(1300.0, 2000.0), t0_c=st.floats(-20.0, 95.0),
       bus_w=st.floats(0.0, 15.0), compiled=st.booleans())
def test_envelope_auto_mode_is_the_node_scheduler(trace, e0, t0_c, bus_w, compiled):
    illum = [s[0] for s in trace]
    solar = [s[1] for s in trace]
    qenv = [s[2] for s in trace]
    n = len(trace)
    k = _kernel(bus_w)
    start = KernelState(e0, t0_c + ZERO_C_K, t0_c + ZERO_C_K, False,
                        Scheduler.for_board(BOARD).latches)
    out, _ = integrate(k, 10.0, solar, [0.0] * n, [0.0] * n, illum, qenv, start, -1,
                       compiled=compiled)
    node = Scheduler.for_board(BOARD)
    e, tb, shed = e0, t0_c + ZERO_C_K, False
    for i in range(n):
        decision = node.update(illumination=illum[i], soc=e / k.cap_j,
                               soc_floor=k.floor_j / k.cap_j, temp_c=tb - ZERO_C_K,
                               load_shed=shed)
        assert out["mode"][i] == MODE_CODES[decision.mode], f"step {i}"
        e, tb, shed = (out["battery_energy_j"][i], out["temp_k"][i], out["load_shed"][i])


@pytest.mark.parametrize("initial_soc, temps_c", [
    (1.0, None),  # eclipses: FULL and ECO
    (0.775, None),  # within the low latch's hysteresis band: its initial state decides
    (0.6, None),  # starts below the floor: shed, SAFE
    (1.0, (42.0, 42.0, 40.0)),  # warn = max: the warm and hot latches, SAFE when hot
])
def test_envelope_simulate_auto_is_the_node_scheduler(initial_soc, temps_c):
    board = load_board("rpi4")
    if temps_c is not None:
        board = replace(board, temp_warn_c=temps_c[0], temp_max_c=temps_c[1],
                        temp_resume_c=temps_c[2])
    env = Envelope.from_config(board=board, radiation="off", initial_soc=initial_soc)
    start = env.state()
    hours = 1.5 * env.period_s / 3600.0
    # two calls: the latches and the battery carry from one to the next
    runs = [env.simulate(hours, 10.0, mode="auto") for _ in range(2)]
    out = {k: np.concatenate([r[k] for r in runs]) for k in
           ("illumination", "soc", "soc_floor", "temp_c", "load_shed", "mode")}
    assert len(set(out["mode"].tolist())) >= 2  # the policy had something to decide
    node = Scheduler.for_board(board)
    soc, temp_c, shed = start.soc, start.temp_c, start.load_shed
    for i in range(out["mode"].size):
        decision = node.update(illumination=float(out["illumination"][i]), soc=soc,
                               soc_floor=float(out["soc_floor"][i]), temp_c=temp_c,
                               load_shed=shed)
        assert out["mode"][i] == MODE_CODES[decision.mode], f"step {i}"
        # the next step starts where this one ended
        soc, temp_c, shed = (float(out["soc"][i]), float(out["temp_c"][i]),
                             bool(out["load_shed"][i]))
