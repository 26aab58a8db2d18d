"""One mode policy: the envelope's "auto" schedule is the node's scheduler.

On random traces of illumination, charge and temperature, the modes the envelope
integrator chose — run as Python and compiled by numba, both built from
:func:`node.scheduler.policy_step` — equal those a fresh :class:`node.scheduler.Scheduler`
chooses from the same step-start states (what the bus reports to the node each tick).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_stubs.constants import ZERO_C_K
from firmware_stubs.envelope import MODE_CODES
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
