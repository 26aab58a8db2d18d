"""A streaming, JSON-ready summary of envelope runs (energy balance, extremes, shares)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from firmware_stubs.constants import SECONDS_PER_DAY
from node.scheduler import MODES

if TYPE_CHECKING:
    from firmware_stubs.envelope import Envelope


class RunSummary:
    """Streaming summary of consecutive :meth:`Envelope.simulate` chunks (JSON-ready)."""

    def __init__(self, env: Envelope, step_s: float) -> None:
        self.env = env
        self.dt = float(step_s)
        self.e_start: float | None = None
        self.e_end = 0.0
        self.steps = 0
        self.beta_start = self.beta_end = float("nan")
        self.sums = dict.fromkeys(
            (
                "solar",
                "shunt",
                "node",
                "bus",
                "unserved",
                "loss",
                "eclipse",
                "illumination",
                "shed",
                "saa",
                "upsets",
            ),
            0.0,
        )
        self.mode_counts = np.zeros(3)
        self.ext = {
            "soc_min": np.inf,
            "soc_max": -np.inf,
            "temp_min_c": np.inf,
            "temp_max_c": -np.inf,
            "structure_temp_min_c": np.inf,
            "structure_temp_max_c": -np.inf,
            "beta_min_deg": np.inf,
            "beta_max_deg": -np.inf,
        }
        self.soc_end = float("nan")

    def update(self, out: dict[str, np.ndarray]) -> None:
        """Add one chunk of :meth:`Envelope.simulate` output."""
        dt = self.dt
        if self.e_start is None:
            self.e_start = float(out["battery_energy_start_j"])
            self.beta_start = float(out["beta_deg"][0])
        self.e_end = float(out["battery_energy_j"][-1])
        self.soc_end = float(out["soc"][-1])
        self.beta_end = float(out["beta_deg"][-1])
        self.steps += int(out["t_s"].size)
        add = self.sums
        add["solar"] += float(np.sum(out["solar_power_w"])) * dt
        add["shunt"] += float(np.sum(out["shunt_power_w"])) * dt
        add["node"] += float(np.sum(out["node_power_drawn_w"])) * dt
        add["bus"] += float(np.sum(out["bus_power_w"])) * dt
        add["unserved"] += float(np.sum(out["unserved_power_w"])) * dt
        add["loss"] += float(np.sum(out["battery_loss_w"])) * dt
        add["eclipse"] += float(np.sum(out["in_eclipse"]))
        add["illumination"] += float(np.sum(out["illumination"]))
        add["shed"] += float(np.sum(out["load_shed"])) * dt
        add["saa"] += float(np.sum(out["in_saa"])) * dt
        add["upsets"] += float(np.sum(out["upset_rate_per_bit_day"])) * dt / SECONDS_PER_DAY
        self.mode_counts += np.bincount(out["mode"].astype(int), minlength=3)[:3]
        x = self.ext
        x["soc_min"] = min(x["soc_min"], float(np.min(out["soc"])))
        x["soc_max"] = max(x["soc_max"], float(np.max(out["soc"])))
        x["temp_min_c"] = min(x["temp_min_c"], float(np.min(out["temp_c"])))
        x["temp_max_c"] = max(x["temp_max_c"], float(np.max(out["temp_c"])))
        x["structure_temp_min_c"] = min(
            x["structure_temp_min_c"], float(np.min(out["structure_temp_c"]))
        )
        x["structure_temp_max_c"] = max(
            x["structure_temp_max_c"], float(np.max(out["structure_temp_c"]))
        )
        x["beta_min_deg"] = min(x["beta_min_deg"], float(np.min(out["beta_deg"])))
        x["beta_max_deg"] = max(x["beta_max_deg"], float(np.max(out["beta_deg"])))

    def result(self) -> dict[str, object]:
        env, s, n = self.env, self.sums, max(self.steps, 1)
        e0 = self.e_start if self.e_start is not None else 0.0
        delta = self.e_end - e0
        # As integrated (and dissipated in the structure); the balance
        # solar - shunt - node - bus - loss = delta is then a check, not a definition.
        loss = s["loss"]
        upsets = s["upsets"]
        res: dict[str, object] = {
            "hours": self.steps * self.dt / 3600.0,
            "step_s": self.dt,
            "steps": self.steps,
            "board": env.board.name,
            "spacecraft": env.spacecraft.name,
            "radiation": env.radiation.name,
            "shadow": env.shadow,
            "altitude_km": round(env.mean_altitude_km, 3),
            "period_s": env.period_s,
            "beta_deg_start": self.beta_start,
            "beta_deg_end": self.beta_end,
            "eclipse_fraction_analytic": env.eclipse_fraction,
            "eclipse_fraction": s["eclipse"] / n,
            "mean_illumination": s["illumination"] / n,
            "soc_end": self.soc_end,
            "soc_floor": env.battery.soc_floor,
            "battery_capacity_j": env.battery.capacity_j,
            "load_shed_s": s["shed"],
            "board_temp_limit_c": env.board.temp_max_c,
            "energy_solar_j": s["solar"],
            "energy_shunt_j": s["shunt"],
            "energy_node_j": s["node"],
            "energy_bus_j": s["bus"],
            "energy_battery_loss_j": loss,
            "energy_battery_delta_j": delta,
            "energy_unserved_j": s["unserved"],
            "mode_share": {m: float(c) / n for m, c in zip(MODES, self.mode_counts, strict=True)},
            "time_in_saa_s": s["saa"],
            "time_in_saa_fraction": s["saa"] / (n * self.dt),
            "upsets_per_bit": upsets,
            "upsets_expected_per_mbit": upsets * 1e6,
        }
        res.update(self.ext)
        return res


def summarize(env: Envelope, out: dict[str, np.ndarray], step_s: float) -> dict[str, object]:
    """A JSON-ready summary of one :meth:`Envelope.simulate` run."""
    acc = RunSummary(env, step_s)
    acc.update(out)
    return acc.result()
