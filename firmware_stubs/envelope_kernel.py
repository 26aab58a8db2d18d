"""The envelope's sequential part: battery, thermal nodes and the mode policy, step by step.

The loop is assembled from the library's own scalar functions — the battery step of
:func:`firmware_stubs.epslib.battery_step`, the two thermal nodes of
:func:`firmware_stubs.thermallib.two_node_step` and the node's mode policy
:func:`node.scheduler.policy_step` — so the physics the tests check is the physics
that runs. :func:`make_loop` builds it twice from the same functions: as plain
Python (:data:`python_loop`, the stepwise reference) and, when ``numba`` is installed,
compiled (:func:`compiled_loop`, built on first use, a few seconds). Both give the
same numbers to rounding (``bench/bench_envelope_year.py`` measures it).

Per step (energy in J, temperatures in K; the module doc of :mod:`envelope`)::

    mode   = policy(latches, illumination, SoC - floor, T_board, shed)   (auto only)
    P_net  = P_solar - P_bus(mode) - P_node(mode)     while shed: node cut, bus SAFE
    E, shunt, unserved, loss = battery_step(E, P_net, dt, charge limit and taper)
    T_b, T_s = two_node_step(T_b, T_s, P_node, Q_env + P_bus - unserved + loss)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from firmware_stubs.constants import ZERO_C_K
from firmware_stubs.epslib import battery_step
from firmware_stubs.thermallib import two_node_step
from node.scheduler import policy_step

# Rows of the output block: one float per step each.
OUT_ROWS = ("battery_energy_j", "temp_k", "structure_temp_k", "load_shed",
            "node_power_drawn_w", "bus_power_w", "shunt_power_w", "unserved_power_w",
            "battery_loss_w", "mode")
COMPILE_MIN_STEPS = 20_000  # below this the Python loop is faster than compiling


@dataclass
class Kernel:
    """Constants of the recurrence (SI, kelvin); ``policy``: the scheduler's thresholds."""

    eta_c: float
    inv_eta_d: float
    cap_j: float
    floor_j: float
    release_j: float
    cb: float
    cs: float
    g: float
    krad: float
    n_sub: int
    bus_by_mode: tuple[float, float, float]
    node_by_mode: tuple[float, float, float]
    policy: tuple[float, ...]  # Scheduler.policy_args()
    max_charge_w: float = float("inf")  # battery charge limit (Battery.max_charge_w)
    taper_j: float = 0.0  # energy below full over which the charge limit tapers to 0


@dataclass
class KernelState:
    """What carries from one step to the next."""

    energy_j: float
    board_k: float
    structure_k: float
    shed: bool
    latches: tuple[bool, bool, bool, bool, bool]  # Scheduler.latches order


def make_loop(policy: Callable, battery: Callable, thermal: Callable) -> Callable:
    """The step loop over arrays, calling the three given scalar functions (plain or
    numba-jitted: the loop is the same text either way)."""

    def loop(dt, solar, node, heater, illum, qenv, mode, eta_c, inv_d, cap, floor_j, release,
             cb, cs, g, krad, n_sub, bus_m, node_m, pol, max_charge, taper_j, e, tb, ts, shed,
             l0, l1, l2, l3, l4, out):
        h_b = dt / n_sub / cb
        h_s = dt / n_sub / cs
        floor_soc = floor_j / cap
        auto = mode < 0
        for i in range(solar.shape[0]):
            if auto:
                m, l0, l1, l2, l3, l4 = policy(
                    l0, l1, l2, l3, l4, illum[i], e / cap - floor_soc, tb - ZERO_C_K, shed,
                    pol[0], pol[1], pol[2], pol[3], pol[4], pol[5], pol[6], pol[7], pol[8])
                pn = node_m[m]
            else:
                m = mode
                pn = node[i]
            pb = bus_m[m] + heater[i]
            if shed and e >= release:
                shed = False
            net = solar[i] - pb - pn
            if not shed:
                d_e = net * eta_c * dt if net > 0.0 else net * inv_d * dt
                if d_e < 0.0 and e + d_e < floor_j:
                    shed = True
            if shed:  # the floor policy: node cut, the bus to its SAFE (survival) loads
                pn = 0.0
                pb = bus_m[2] + heater[i]
                net = solar[i] - pb
            e, shunt, unserved, loss = battery(e, net, dt, eta_c, inv_d, cap, max_charge,
                                               taper_j)
            tb, ts = thermal(tb, ts, pn, qenv[i] + pb - unserved + loss, g, krad, h_b, h_s,
                             n_sub)
            out[0, i] = e
            out[1, i] = tb
            out[2, i] = ts
            out[3, i] = 1.0 if shed else 0.0
            out[4, i] = pn
            out[5, i] = pb - unserved
            out[6, i] = shunt
            out[7, i] = unserved
            out[8, i] = loss
            out[9, i] = m
        return e, tb, ts, shed, l0, l1, l2, l3, l4

    return loop


python_loop = make_loop(policy_step, battery_step, two_node_step)
_compiled = None


def compiled_loop() -> Callable | None:
    """The same loop compiled by numba (None without numba); built once per process."""
    global _compiled
    if _compiled is None:
        try:
            import numba
        except ImportError:  # pragma: no cover - numba is a dependency, but optional in spirit
            return None
        jit = numba.njit(cache=False, nogil=True)
        _compiled = numba.njit(nogil=True)(
            make_loop(jit(policy_step), jit(battery_step), jit(two_node_step))
        )
    return _compiled


def integrate(
    k: Kernel,
    dt: float,
    solar: np.ndarray,
    node: np.ndarray,
    heater: np.ndarray,
    illum: np.ndarray,
    qenv: np.ndarray,
    state: KernelState,
    mode: int,
    compiled: bool | None = None,
) -> tuple[dict[str, np.ndarray], KernelState]:
    """Advance ``len(solar)`` steps; ``mode`` a fixed code or -1 for the node's policy.

    ``compiled`` None: compiled from :data:`COMPILE_MIN_STEPS` steps on (if numba is
    there), True/False: force it. Returns one array per :data:`OUT_ROWS` name.
    """
    n = len(solar)
    arrays = [np.ascontiguousarray(a, dtype=np.float64) for a in (solar, node, heater, illum,
                                                                  qenv)]
    out = np.empty((len(OUT_ROWS), n))
    use = compiled if compiled is not None else n >= COMPILE_MIN_STEPS
    loop = (compiled_loop() if use else None) or python_loop
    res = loop(float(dt), *arrays, int(mode), k.eta_c, k.inv_eta_d, k.cap_j, k.floor_j,
               k.release_j, k.cb, k.cs, k.g, k.krad, int(k.n_sub),
               np.asarray(k.bus_by_mode, dtype=np.float64),
               np.asarray(k.node_by_mode, dtype=np.float64),
               np.asarray(k.policy, dtype=np.float64), float(k.max_charge_w), float(k.taper_j),
               float(state.energy_j), float(state.board_k), float(state.structure_k),
               bool(state.shed), *(bool(x) for x in state.latches), out)
    e, tb, ts, shed, *latches = res
    rows = dict(zip(OUT_ROWS, out, strict=True))
    rows["load_shed"] = rows["load_shed"].astype(bool)
    rows["mode"] = rows["mode"].astype(np.int8)
    return rows, KernelState(float(e), float(tb), float(ts), bool(shed),
                             tuple(bool(x) for x in latches))  # type: ignore[arg-type]
