"""Figures of ``orbnode orbit`` and ``orbnode envelope`` (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from node.errors import OrbnodeError


def plot_orbit(report: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    env = report["_env"]
    period = report["period_s"]
    t = np.arange(0.0, period, 1.0)
    series = report.get("_series")
    fig, ax = plt.subplots(2 if series else 1, 1, figsize=(9, 6 if series else 3.5), squeeze=False)
    for model, style in (("cylindrical", "--"), ("conical", "-")):
        env.shadow = model
        ax[0, 0].plot(t / 60.0, env.sample(t)["illumination"], style, label=model)
    ax[0, 0].set_xlabel("time [min]")
    ax[0, 0].set_ylabel("illumination")
    ax[0, 0].legend()
    ax[0, 0].set_title(
        f"{report['altitude_km']:.0f} km, beta {report['beta_deg']:.1f} deg, "
        f"eclipse {report['eclipse_min']:.1f} min"
    )
    if series:
        ax[1, 0].plot(series["t_days"], series["beta_deg"], label="beta [deg]")
        ax[1, 0].plot(
            series["t_days"], series["eclipse_fraction"] * period / 60.0, label="eclipse [min]"
        )
        ax[1, 0].axhline(report["beta_star_deg"], ls=":", color="grey", label="beta*")
        ax[1, 0].set_xlabel("days from epoch")
        ax[1, 0].legend()
    fig.tight_layout()
    save_figure(fig, path)


def plot_envelope(summary: dict, series: dict[str, np.ndarray], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    th = series["t_s"] / 3600.0
    fig, ax = plt.subplots(5, 1, figsize=(11, 11), sharex=True)
    ax[0].plot(th, series["solar_power_w"], color="goldenrod", label="solar array")
    ax[0].plot(th, series["node_power_drawn_w"], color="tab:blue", label="node")
    ax[0].plot(th, series["bus_power_w"], color="tab:gray", label="bus")
    ax[0].set_ylabel("power [W]")
    ax[0].legend(loc="upper right", fontsize=8)
    ax[1].plot(th, series["soc"] * 100.0, color="tab:green", label="state of charge")
    ax[1].plot(th, series["soc_floor"] * 100.0, "--", color="tab:red", label="DoD floor")
    ax[1].set_ylabel("SoC [%]")
    ax[1].legend(loc="lower left", fontsize=8)
    ax[2].plot(th, series["temp_c"], color="tab:orange", label="board")
    ax[2].plot(th, series["structure_temp_c"], color="tab:brown", label="structure")
    ax[2].axhline(summary["board_temp_limit_c"], ls=":", color="tab:red", label="board limit")
    ax[2].set_ylabel("temp [°C]")
    ax[2].legend(loc="upper right", fontsize=8)
    ax[3].step(th, 2 - series["mode"], where="post", color="tab:purple")
    ax[3].set_yticks([0, 1, 2], ["SAFE", "ECO", "FULL"])
    ax[3].set_ylabel("mode")
    ax[4].semilogy(th, np.maximum(series["upset_rate_per_bit_day"], 1e-12), color="tab:red")
    ax[4].set_ylabel("upsets/bit/day")
    ax[4].set_xlabel("time [h]")
    fig.suptitle(
        f"orbnode envelope — {summary['board']} on {summary['spacecraft']}, "
        f"{summary['altitude_km']:.0f} km, beta {summary['beta_deg_start']:.1f}°"
    )
    fig.tight_layout()
    save_figure(fig, path)


def save_figure(fig: object, path: str) -> None:
    import matplotlib.pyplot as plt

    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    except OSError as exc:
        raise OrbnodeError(f"cannot write plot {path}: {exc.strerror}") from None
    finally:
        plt.close(fig)
