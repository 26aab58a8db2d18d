"""The run summary, computed from the telemetry archive alone.

Because it reads only ``telemetry.sqlite``, a summary can be recomputed after a
crash or a kill from whatever rows were archived.

Figures and what they mean:
Every derived figure is computable from figures in the same summary, and its name
carries its basis (``_env``: environment seconds; ``_wall``: the node's wall seconds):

* ``throughput_sunlit_per_s = inferences_sunlit / node_wall_sunlit_s`` (likewise
  eclipse): inferences per wall second (node work is real), over the intervals the
  environment had the spacecraft in sunlight / in eclipse.
* ``inferences_windowed = inferences_sunlit + inferences_eclipse``: the inferences
  in the housekeeping intervals the throughput and energy cover.
* ``energy_env_j``: node energy over the simulated mission, as the EPS integrated it:
  the power it supplied (the node's reported power, 0 while the node was shed) x
  environment seconds. It drives the battery; no per-joule figure is derived from it
  (the node did its work in wall time, not environment time).
* ``energy_wall_j``: the node's reported power x the node's wall seconds: the energy
  the board actually spent on the work it did.
* ``node_wall_s = node_wall_sunlit_s + node_wall_eclipse_s``;
  ``mean_power_w = energy_wall_j / node_wall_s``.
* ``inferences_per_joule_wall = inferences_windowed / energy_wall_j``: the board's
  real work per joule over the same window as the throughput.
* ``upsets_expected``: the mean upset count for the run, sum over ticks of the
  environment's rate per bit-day (as the tick carried it) x dt_s / 86400 x ``upset_acceleration`` x
  ``exposed_bits`` (the Poisson mean the node draws from; 0 with radiation off).
* ``power_source``: which sensor or model every power figure came from.
* ``temp_orbit_mean_c``: the board temperature averaged over each complete orbit
  (time-weighted); ``temp_orbit_mean_change_max_c`` the largest orbit-to-orbit change,
  under 1 °C when the run started at the orbit's periodic equilibrium
  (``thermal_start``).
* ``auth``: ``on`` when the node checked every telecommand, ``insecure`` when it
  ran without a key and obeyed anything on the line.
* the line: ``frames_bad_node`` / ``frames_bad_host`` (frames and packets each end
  refused), ``retries`` (ticks sent again), ``gaps`` (node packets missing from its
  sequence count), ``resets`` (bus watchdog power cycles), ``tc_repeated`` (repeated
  ticks the node answered without re-running), ``stored`` / ``store_overflow`` /
  ``stored_hk`` (telemetry kept on board out of contact, pushed out unsent, and
  stored housekeeping received). Outage intervals covered by stored housekeeping
  count in ``inferences`` but not in the throughput and energy windows.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from firmware_stubs.telemetry_db import TelemetryDB


def summarise(db: TelemetryDB, period_s: float | None = None) -> dict[str, Any]:
    rows = db.hk_rows()
    meta = db.meta()
    period_s = period_s or meta.get("period_s")
    if not rows:
        return {"ticks": 0, "complete": False, **{k: meta[k] for k in meta if k != "config"}}
    sim_s = rows[-1]["t_s"]
    mode_s: dict[str, float] = defaultdict(float)
    sun = {"inf": 0, "wall": 0.0}
    ecl = {"inf": 0, "wall": 0.0}
    eclipse_s = 0.0
    energy_sim_j = 0.0
    energy_wall_j = 0.0
    for r in rows:
        mode_s[r["mode"]] += r["dt_s"]
        bucket = ecl if r["in_eclipse"] else sun
        bucket["inf"] += r["inferences_delta"]
        bucket["wall"] += r["node_wall_dt_s"]
        if r["in_eclipse"]:
            eclipse_s += r["dt_s"]
        drawn = r["node_power_drawn_w"]
        energy_sim_j += (r["node_power_w"] if drawn is None else drawn) * r["dt_s"]
        energy_wall_j += r["node_power_w"] * r["node_wall_dt_s"]
    inferences = rows[-1]["inferences"] - (rows[0]["inferences"] - rows[0]["inferences_delta"])
    correct = rows[-1]["correct"]
    sources = sorted({r["power_source"] for r in rows})
    last = rows[-1]
    final = {**{k: last.get(k) or 0 for k in (
        "upsets", "scrub_repairs", "scrub_detected", "tc_rejected", "frames_bad", "tc_repeated",
        "stored", "store_overflow")}, **meta.get("final_counters", {})}
    host = meta.get("host_counters", {})
    windowed_inferences = sum(r["inferences_delta"] for r in rows)
    node_wall_s = sun["wall"] + ecl["wall"]
    summary = {
        "orbits": sim_s / period_s if period_s else None,
        "sim_seconds": sim_s,
        "wall_seconds": last["wall_s"],
        "ticks": len(rows),
        "inferences": inferences,
        # Top-1 accuracy on the labelled inputs over the whole run (upsets included).
        "accuracy": (correct / last["inferences"]
                     if meta.get("labelled") and last["inferences"] else None),
        "eclipse_fraction": eclipse_s / sim_s if sim_s else 0.0,
        "eclipse_fraction_analytic": meta.get("eclipse_fraction_analytic"),
        "inferences_sunlit": sun["inf"],
        "inferences_eclipse": ecl["inf"],
        "inferences_windowed": windowed_inferences,
        "node_wall_sunlit_s": sun["wall"],
        "node_wall_eclipse_s": ecl["wall"],
        "node_wall_s": node_wall_s,
        "throughput_sunlit_per_s": sun["inf"] / sun["wall"] if sun["wall"] else 0.0,
        "throughput_eclipse_per_s": ecl["inf"] / ecl["wall"] if ecl["wall"] else 0.0,
        "energy_env_j": energy_sim_j,
        "energy_wall_j": energy_wall_j,
        "inferences_per_joule_wall": (windowed_inferences / energy_wall_j
                                      if energy_wall_j else 0.0),
        "mean_power_w": energy_wall_j / node_wall_s if node_wall_s else 0.0,
        "power_source": meta.get("power_source") or ",".join(sources),
        "power_measured": bool(meta.get("power_measured", False)),
        "min_soc": min(r["soc"] for r in rows),
        "soc_floor": last["soc_floor"],
        "battery_below_floor": any(r["soc"] < r["soc_floor"] - 1e-9 for r in rows),
        "load_shed_ticks": sum(r["load_shed"] for r in rows),
        "max_temp_c": max(r["temp_c"] for r in rows),
        "mode_seconds": dict(sorted(mode_s.items())),
        "upsets": final["upsets"],
        "scrub_detected": final["scrub_detected"],
        "scrub_repairs": final["scrub_repairs"],
        "frames_bad_node": final["frames_bad"],
        "tc_rejected": final["tc_rejected"],
        # What the node said of its telecommand check: "on", or "insecure" (no key).
        "auth": meta.get("auth", "unknown"),
        "frames_bad_host": host.get("frames_bad_host", meta.get("frames_bad_host", 0)),
        "retries": host.get("retries", 0),
        "gaps": host.get("gaps", 0),
        "resets": host.get("resets", 0),
        "duplicates": host.get("duplicates", 0),
        "tc_repeated": final["tc_repeated"],
        "stored": final["stored"],
        "store_overflow": final["store_overflow"],
        "stored_hk": host.get("stored_hk", 0),
    }
    summary["upsets_expected"] = _upsets_expected(rows, meta)
    summary.update(_orbit_means(rows, period_s))
    for k in ("thermal_start", "board", "model", "radiation", "altitude_km", "beta_deg", "speedup",
              "spacecraft", "complete", "stopped_because", "level",
              "exposed_bits", "upset_acceleration", "shielding_mm_al", "solar"):
        if k in meta:
            summary[k] = meta[k]
    return summary


def _upsets_expected(rows: list[dict[str, Any]], meta: dict[str, Any]) -> float | None:
    """Poisson mean of the upsets over the run (None before the node said its bits)."""
    if meta.get("radiation") == "off":
        return 0.0
    if "exposed_bits" not in meta:
        return None
    # Tick t carries the state before it (row t-1) and the interval that ended (row t):
    # the node applies row t-1's rate over row t's dt_s (the first tick: its own rate).
    rates = [r.get("upset_rate_per_bit_day") or 0.0 for r in rows]
    bit_days = sum(rate * r["dt_s"] for rate, r in zip([rates[0], *rates[:-1]], rows,
                                                        strict=True)) / 86400
    return bit_days * float(meta.get("upset_acceleration", 1.0)) * meta["exposed_bits"]


def _orbit_means(rows: list[dict[str, Any]], period_s: float | None) -> dict[str, Any]:
    """Time-weighted board temperature per complete orbit, and its largest change."""
    if not period_s:
        return {}
    sums: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for r in rows:
        k = int(r["t_s"] // period_s)
        sums[k][0] += r["temp_c"] * r["dt_s"]
        sums[k][1] += r["dt_s"]
    means = [sums[k][0] / sums[k][1] for k in sorted(sums)
             if sums[k][1] >= 0.98 * period_s]
    changes = [abs(b - a) for a, b in zip(means[:-1], means[1:], strict=True)]
    return {"temp_orbit_mean_c": means,
            "temp_orbit_mean_change_max_c": max(changes) if changes else None}
