"""The orbit figure: inferences per orbit and per watt-hour of solar energy.

The number an orbital data-centre planner asks for: with this model on this board,
in this orbit, under the node's own scheduler, how much work does one orbit (and one
watt-hour the arrays deliver) buy?

The envelope (:class:`firmware_stubs.envelope.Envelope`, ``mode="auto"``: the node's
:class:`node.scheduler.Scheduler` inside the integrator) flies ``orbits`` orbits in
steps of ``step_s`` and gives, per step, the mode the scheduler chose and whether the
EPS had cut the node (load shed). With ``t_m`` the seconds per orbit spent in mode
``m`` with the node powered, and ``R_m`` the bench's measured inference rate in that
mode::

    inferences per orbit     N = sum_m t_m R_m
    solar energy per orbit   E_sun = integral of the array output over the orbit
    inferences per Wh        N / E_sun  (of solar energy),  N / E_node (of node energy)

``R_m`` carries its spread: N is computed for every repetition's rates (repetition
k of every mode together), and reported as median and range. The node's energy in
the envelope is the board profile's modelled power per mode (the envelope's energy
balance needs the board's power, not this machine's), and is labelled so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from bench.stats import Spread
from node.scheduler import MODES


@dataclass(frozen=True)
class OrbitSettings:
    altitude_km: float = 550.0
    beta_deg: float = 0.0
    orbits: float = 3.0
    step_s: float = 10.0


@dataclass(frozen=True)
class OrbitFigure:
    board: str
    spacecraft: str
    settings: OrbitSettings
    period_s: float
    eclipse_fraction: float
    mode_seconds_per_orbit: dict[str, float]
    shed_seconds_per_orbit: float
    solar_wh_per_orbit: float
    node_wh_per_orbit_modelled: float
    inferences_per_orbit: Spread
    inferences_per_solar_wh: Spread
    inferences_per_node_wh: Spread

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("inferences_per_orbit", "inferences_per_solar_wh", "inferences_per_node_wh"):
            d[k] = getattr(self, k).to_dict()
        d["node_energy_source"] = "board profile model (per mode)"
        return d


def orbit_figure(board, rates_by_mode: dict[str, list[float]],
                 settings: OrbitSettings = OrbitSettings()) -> OrbitFigure:
    """Fly the envelope under the scheduler and weigh its mode time by measured rates.

    ``rates_by_mode``: inferences per second per repetition for each of FULL, ECO, SAFE.
    """
    from firmware_stubs.envelope import Envelope

    env = Envelope.from_config(altitude_km=settings.altitude_km, beta_deg=settings.beta_deg,
                               board=board, spacecraft=board.default_spacecraft, mode="ECO")
    hours = settings.orbits * env.period_s / 3600.0
    out = env.simulate(hours, settings.step_s, None, "auto")
    dt = settings.step_s
    orbits = out["t_s"].size * dt / env.period_s
    powered = ~np.asarray(out["load_shed"], dtype=bool)
    mode_s = {m: float(np.sum((out["mode"] == i) & powered)) * dt / orbits
              for i, m in enumerate(MODES)}
    solar_wh = float(np.sum(out["solar_power_w"])) * dt / 3600.0 / orbits
    node_wh = float(np.sum(out["node_power_drawn_w"])) * dt / 3600.0 / orbits
    reps = min(len(rates_by_mode[m]) for m in MODES)
    per_orbit = [sum(mode_s[m] * rates_by_mode[m][k] for m in MODES) for k in range(reps)]
    return OrbitFigure(
        board=board.name, spacecraft=env.spacecraft.name, settings=settings,
        period_s=env.period_s, eclipse_fraction=float(np.mean(out["in_eclipse"])),
        mode_seconds_per_orbit=mode_s,
        shed_seconds_per_orbit=float(np.sum(~powered)) * dt / orbits,
        solar_wh_per_orbit=solar_wh, node_wh_per_orbit_modelled=node_wh,
        inferences_per_orbit=Spread.of(per_orbit),
        inferences_per_solar_wh=Spread.of([n / solar_wh for n in per_orbit]),
        inferences_per_node_wh=Spread.of([n / node_wh for n in per_orbit] if node_wh > 0
                                         else []))
