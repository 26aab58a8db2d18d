"""The record one envelope step reports: the environment at the end of the step."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from node.scheduler import MODES


@dataclass(frozen=True)
class EnvelopeState:
    """The environment at the end of a step (geometry and powers: at its midpoint)."""

    t_s: float  # simulated seconds since start
    orbits: float  # orbits elapsed (t_s / period_s)
    illumination: float  # 0 (umbra) .. 1 (full sun)
    in_eclipse: bool  # illumination < 0.5
    solar_power_w: float  # array output
    node_power_w: float  # what the node drew this step (input echoed)
    bus_power_w: float  # other spacecraft loads
    battery_energy_j: float
    battery_capacity_j: float
    soc: float  # 0..1 of (faded) capacity
    soc_floor: float  # 1 - allowed depth of discharge
    load_shed: bool  # the battery hit its floor and the node load was cut
    temp_c: float  # node (board) temperature
    latitude_deg: float
    longitude_deg: float
    in_saa: bool
    upset_rate_per_bit_day: float  # from radenvlib for this position and environment
    # extras (defaults keep the positional API above unchanged)
    structure_temp_c: float = float("nan")
    battery_voltage_v: float = float("nan")
    beta_deg: float = float("nan")
    mode: str = "FULL"
    shunt_power_w: float = 0.0  # array power not used (battery full)
    node_power_drawn_w: float = float("nan")  # 0 while shed, else node_power_w


def state_at(out: dict[str, np.ndarray], i: int) -> EnvelopeState:
    """Row ``i`` of :meth:`Envelope.simulate` output as a record."""
    return EnvelopeState(
        t_s=float(out["t_s"][i]),
        orbits=float(out["orbits"][i]),
        illumination=float(out["illumination"][i]),
        in_eclipse=bool(out["in_eclipse"][i]),
        solar_power_w=float(out["solar_power_w"][i]),
        node_power_w=float(out["node_power_w"][i]),
        bus_power_w=float(out["bus_power_w"][i]),
        battery_energy_j=float(out["battery_energy_j"][i]),
        battery_capacity_j=float(out["battery_capacity_j"][i]),
        soc=float(out["soc"][i]),
        soc_floor=float(out["soc_floor"][i]),
        load_shed=bool(out["load_shed"][i]),
        temp_c=float(out["temp_c"][i]),
        latitude_deg=float(out["latitude_deg"][i]),
        longitude_deg=float(out["longitude_deg"][i]),
        in_saa=bool(out["in_saa"][i]),
        upset_rate_per_bit_day=float(out["upset_rate_per_bit_day"][i]),
        structure_temp_c=float(out["structure_temp_c"][i]),
        battery_voltage_v=float(out["battery_voltage_v"][i]),
        beta_deg=float(out["beta_deg"][i]),
        mode=MODES[int(out["mode"][i])],
        shunt_power_w=float(out["shunt_power_w"][i]),
        node_power_drawn_w=float(out["node_power_drawn_w"][i]),
    )
