"""The run's timeline plot: illumination, charge, temperature, mode, throughput."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from firmware_stubs.telemetry_db import TelemetryDB  # noqa: E402
from node.packets import PACKETS  # noqa: E402

MODE_LEVEL = {"SAFE": 0, "ECO": 1, "FULL": 2}


def plot_timeline(db: TelemetryDB, path: str | Path, title: str = "") -> Path:
    rows = db.hk_rows()
    if not rows:
        raise ValueError("no telemetry to plot")
    period = db.meta().get("period_s") or 1.0
    t = np.array([r["t_s"] for r in rows]) / period
    col = {k: np.array([r[k] for r in rows], dtype=float)
           for k in ("illumination", "soc", "soc_floor", "temp_c", "throughput_per_s",
                     "node_power_w")}
    mode = np.array([MODE_LEVEL.get(r["mode"], -1) for r in rows])
    source = rows[-1]["power_source"]
    fig, ax = plt.subplots(6, 1, figsize=(11, 12), sharex=True)
    ax[0].fill_between(t, col["illumination"], step="pre", color="gold", alpha=0.6)
    ax[0].set_ylabel("illumination")
    ax[0].set_ylim(-0.05, 1.05)
    ax[1].plot(t, col["soc"] * 100, color="tab:green", label="state of charge")
    ax[1].plot(t, col["soc_floor"] * 100, "--", color="tab:red", label="DoD floor")
    ax[1].set_ylabel("SoC [%]")
    ax[1].legend(loc="lower left", fontsize=8)
    ax[2].plot(t, col["temp_c"], color="tab:orange")
    ax[2].set_ylabel("board temp [°C]")
    ax[3].step(t, mode, where="pre", color="tab:purple")
    ax[3].set_yticks([0, 1, 2], ["SAFE", "ECO", "FULL"])
    ax[3].set_ylabel("power mode")
    ax[4].plot(t, col["throughput_per_s"], color="tab:blue", lw=0.8, label="inferences / s")
    ax[4].set_ylabel("inferences / s")
    ax4b = ax[4].twinx()
    ax4b.plot(t, col["node_power_w"], color="grey", lw=0.6, alpha=0.7,
              label=f"node power ({source})")
    ax4b.set_ylabel(f"node power [W]\n({source})", fontsize=8)
    _legend_both(ax[4], ax4b)
    _radiation_panel(ax[5], db, rows, t, period)
    ax[5].set_xlabel("orbits")
    for a in ax:
        a.grid(alpha=0.3)
    accel = db.meta().get("upset_acceleration")
    fig.suptitle((title or "orbnode run")
                 + (f"  (upset rate x{accel:g})" if accel not in (None, 1, 1.0) else ""))
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def _legend_both(left: plt.Axes, right: plt.Axes) -> None:
    """One legend for a dual-axis panel (each axis's lines say which scale they use)."""
    h1, l1 = left.get_legend_handles_labels()
    h2, l2 = right.get_legend_handles_labels()
    left.legend(h1 + h2, l1 + l2, loc="upper right", fontsize=8)


def _radiation_panel(ax: plt.Axes, db: TelemetryDB, rows: list[dict], t: np.ndarray,
                     period: float) -> None:
    """Cumulative upsets on the node, each upset and each scrub repair marked in time."""
    ids = PACKETS.enums["event"]
    events = db.events()
    upset_t = np.array([e["t_s"] for e in events if e["event_id"] == ids["upset"]]) / period
    scrub_t = np.array([e["t_s"] for e in events if e["event_id"] == ids["scrub"]]) / period
    upsets = np.array([r["upsets"] or 0 for r in rows], dtype=float)
    repairs = np.array([r["scrub_repairs"] or 0 for r in rows], dtype=float)
    ax.step(t, upsets, where="post", color="tab:red", label=f"upsets (total {upsets[-1]:.0f})")
    ax.step(t, repairs, where="post", color="tab:green",
            label=f"words repaired by scrub (total {repairs[-1]:.0f})")
    top = max(float(upsets.max()), 1.0)
    if upset_t.size:
        ax.plot(upset_t, np.full(upset_t.size, top * 1.08), "|", color="tab:red", ms=8,
                label="upset event")
    if scrub_t.size:
        ax.plot(scrub_t, np.full(scrub_t.size, top * 1.16), "v", color="tab:green", ms=5,
                label="scrub repair")
    ax.set_ylim(-0.05 * top, top * 1.25)
    ax.set_ylabel("radiation")
    ax.legend(loc="upper left", fontsize=8)
