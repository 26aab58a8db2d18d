"""Bench artifacts: ``bench.json`` (everything), a Markdown table, a PNG chart, and the
comparison of two bench files.

``bench.json`` records the machine, the versions, the settings and every repetition,
so a figure in a report can be traced to the windows it came from; the Markdown and
the chart are made from it alone (``orbnode bench --from bench.json`` redraws them).
"""

from __future__ import annotations

import json
import math
import platform
import time
from pathlib import Path

from bench.stats import ALPHA, compare
from node.errors import OrbnodeError
from node.machine import machine

KIND = "orbnode-bench"
FORMAT = 1
RUNTIME_TARGET = 0.98  # node runtime over bare onnxruntime, median over repetitions
# (key in a point, label, unit scale, format) for the tables.
COLUMNS = (("inferences_per_s", "inf/s", 1.0, "{:,.0f}"),
           ("latency_p50_ms", "p50 ms", 1.0, "{:.3f}"),
           ("latency_p99_ms", "p99 ms", 1.0, "{:.3f}"),
           ("watts", "W", 1.0, "{:.2f}"),
           ("inferences_per_s_per_w", "inf/s/W", 1.0, "{:,.1f}"),
           ("joules_per_inference", "mJ/inf", 1e3, "{:.3f}"))


def versions() -> dict:
    import numpy
    import onnx
    import onnxruntime

    from node import __version__

    return {"orbnode": __version__, "python": platform.python_version(),
            "onnxruntime": onnxruntime.__version__, "numpy": numpy.__version__,
            "onnx": onnx.__version__}


def new_report(settings: dict) -> dict:
    return {"kind": KIND, "format": FORMAT,
            "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": machine(), "versions": versions(), "settings": settings,
            "points": [], "runtime_vs_bare": [], "orbit": [], "notes": []}


def load(path: str | Path) -> dict:
    p = Path(path)
    try:
        report = json.loads(p.read_text("utf-8"))
    except OSError as exc:
        raise OrbnodeError(f"cannot read {p}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise OrbnodeError(f"{p} is not valid JSON: {exc}") from None
    if not isinstance(report, dict) or report.get("kind") != KIND:
        raise OrbnodeError(f"{p} is not an orbnode bench file")
    if report.get("format") != FORMAT:
        raise OrbnodeError(f"{p}: bench format {report.get('format')!r} is not {FORMAT}")
    return report


def _fmt(spread: dict, scale: float, fmt: str) -> str:
    if not spread or not spread.get("n"):
        return "–"
    med, lo, hi = (spread[k] * scale for k in ("median", "min", "max"))
    if any(math.isnan(v) for v in (med, lo, hi)):
        return "–"
    return f"{fmt.format(med)} [{fmt.format(lo)}–{fmt.format(hi)}]"


def markdown(report: dict) -> str:
    """The tables: per model and provider, each mode's figures as median [min–max]."""
    s = report["settings"]
    lines = [f"# orbnode bench — {report['settings'].get('board')}", "",
             f"{report['created_utc']}; {report['machine']['cpu'] or report['machine']['machine']}"
             f", {report['machine']['logical_cores']} logical cores; onnxruntime "
             f"{report['versions']['onnxruntime']}, Python {report['versions']['python']}.",
             f"Each figure: median [min–max] of {s['repetitions']} repetitions of "
             f"{s['duration_s']:g} s each after {s['warmup_s']:g} s warm-up (not measured); "
             f"power from **{s['power_source']}** "
             f"({'measured' if s['power_measured'] else 'MODELLED, not measured'}), sampled "
             f"every {s['power_sample_s']:g} s over the same window.", ""]
    groups: dict[tuple[str, str], list[dict]] = {}
    for p in report["points"]:
        groups.setdefault((p["model"], p["provider"]), []).append(p)
    for (model, provider), points in groups.items():
        lines += [f"## {model} on {provider}", "",
                  "| mode | threads × workers, duty | " + " | ".join(c[1] for c in COLUMNS) + " |",
                  "|---|---|" + "---:|" * len(COLUMNS)]
        for p in points:
            cells = [_fmt(p[key], scale, fmt) for key, _, scale, fmt in COLUMNS]
            lines.append(f"| {p['mode']} | {p['threads']} × {p['workers']}, {p['duty']:g} | "
                         + " | ".join(cells) + " |")
        lines.append("")
    if report["runtime_vs_bare"]:
        lines += ["## Node runtime against bare onnxruntime", "",
                  f"Interleaved slices (ABBA) of the node's job loop and a plain "
                  f"`session.run` loop, one thread; target ≥ {RUNTIME_TARGET} (median).", "",
                  "| model | provider | node inf/s | bare inf/s | runtime / bare | target |",
                  "|---|---|---:|---:|---:|---|"]
        for r in report["runtime_vs_bare"]:
            med = r["runtime_vs_bare"]["median"]
            lines.append(f"| {r['model']} | {r['provider']} | "
                         f"{_fmt(r['node_inferences_per_s'], 1, '{:,.0f}')} | "
                         f"{_fmt(r['bare_inferences_per_s'], 1, '{:,.0f}')} | "
                         f"{_fmt(r['runtime_vs_bare'], 1, '{:.3f}')} | "
                         f"{'met' if med >= RUNTIME_TARGET else 'NOT met'} |")
        lines.append("")
    if report["orbit"]:
        o0 = report["orbit"][0]["settings"]
        lines += [f"## The orbit figure: {o0['altitude_km']:g} km, β = {o0['beta_deg']:g}°, "
                  "node scheduler (auto modes)", "",
                  "Measured per-mode rates weighed by the seconds per orbit the scheduler "
                  "spends in each mode with the node powered (envelope over "
                  f"{o0['orbits']:g} orbits); node energy is the board profile's model.", "",
                  "| model | provider | s/orbit FULL · ECO · SAFE · shed | solar Wh/orbit | "
                  "inferences/orbit | inferences per solar Wh | inferences per node Wh |",
                  "|---|---|---|---:|---:|---:|---:|"]
        for o in report["orbit"]:
            ms = o["mode_seconds_per_orbit"]
            lines.append(
                f"| {o['model']} | {o['provider']} | {ms['FULL']:.0f} · {ms['ECO']:.0f} · "
                f"{ms['SAFE']:.0f} · {o['shed_seconds_per_orbit']:.0f} | "
                f"{o['solar_wh_per_orbit']:.1f} | "
                f"{_fmt(o['inferences_per_orbit'], 1, '{:,.0f}')} | "
                f"{_fmt(o['inferences_per_solar_wh'], 1, '{:,.0f}')} | "
                f"{_fmt(o['inferences_per_node_wh'], 1, '{:,.0f}')} |")
        lines.append("")
    for note in report.get("notes", []):
        lines.append(f"- {note}")
    return "\n".join(lines).rstrip() + "\n"


def chart(report: dict, path: Path) -> None:
    """Inferences per second and per joule per mode, bars at the median, whiskers min–max."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = report["points"]
    models = sorted({p["model"] for p in points})
    labels = [f"{p['provider'].removesuffix('ExecutionProvider')} {p['mode']}" for p in points]
    if len(models) > 1:
        labels = [f"{p['model'].removesuffix('.onnx')}\n{label}"
                  for p, label in zip(points, labels, strict=True)]
    fig, axes = plt.subplots(1, 3, figsize=(max(10.0, 1.2 * len(points) * 3), 4.2))
    for ax, (key, title, scale) in zip(axes, (
            ("inferences_per_s", "inferences / s", 1.0),
            ("inferences_per_s_per_w", "inferences / s / W", 1.0),
            ("latency_p99_ms", "latency p99 (ms)", 1.0)), strict=True):
        med = [p[key]["median"] * scale for p in points]
        lo = [m - p[key]["min"] * scale for m, p in zip(med, points, strict=True)]
        hi = [p[key]["max"] * scale - m for m, p in zip(med, points, strict=True)]
        ax.bar(range(len(points)), med, yerr=[lo, hi], capsize=4, color="#4878a8")
        ax.set_xticks(range(len(points)), labels, fontsize=7,
                      rotation=30 if len(models) > 1 else 0, ha="right" if len(models) > 1
                      else "center")
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    s = report["settings"]
    fig.suptitle(f"orbnode bench — {', '.join(models)} on {s.get('board')}; median of "
                 f"{s['repetitions']} × "
                 f"{s['duration_s']:g} s, whiskers min–max; power "
                 f"{'measured' if s['power_measured'] else 'MODELLED'}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def target_verdicts(report: dict) -> list[str]:
    """One line per runtime-against-bare row: its median and range against
    :data:`RUNTIME_TARGET`, and whether the target is met."""
    lines = []
    for r in report["runtime_vs_bare"]:
        s = r["runtime_vs_bare"]
        lines.append(f"target: node runtime >= {RUNTIME_TARGET} of bare onnxruntime on "
                     f"{r['model']} ({r['provider']}): median {s['median']:.3f} "
                     f"[{s['min']:.3f}–{s['max']:.3f}] "
                     f"{'met' if s['median'] >= RUNTIME_TARGET else 'NOT met'}")
    return lines


def write(report: dict, out: Path) -> list[Path]:
    """bench.json, bench.md and (with matplotlib) bench.png into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "bench.json", out / "bench.md"]
    (out / "bench.json").write_text(json.dumps(report, indent=2) + "\n", "utf-8")
    (out / "bench.md").write_text(markdown(report), "utf-8")
    try:
        chart(report, out / "bench.png")
        written.append(out / "bench.png")
    except ModuleNotFoundError:
        pass  # a board's base install: no matplotlib; --from bench.json on the host draws it
    return written


def comparison(old: dict, new: dict, alpha: float = ALPHA) -> list[dict]:
    """Every figure both runs have: medians, ratio and whether it beats the spread
    significantly at level ``alpha``."""
    rows = []

    def add(what: str, figure: str, a: list[float], b: list[float]) -> None:
        c = compare(a, b)
        rows.append({"what": what, "figure": figure, "old": c.old, "new": c.new,
                     "ratio": c.ratio, "separated": c.separated, "p_value": c.p_value,
                     "n_old": c.n_old, "n_new": c.n_new, "p_min": c.p_min,
                     "significant": c.significant(alpha), "verdict": c.verdict(alpha)})

    old_points = {(p["model"], p["provider"], p["mode"]): p for p in old["points"]}
    for p in new["points"]:
        q = old_points.get((p["model"], p["provider"], p["mode"]))
        if q is None:
            continue
        for key, *_ in COLUMNS:
            add(f"{p['model']} {p['provider']} {p['mode']}", key,
                [r[key] for r in q["repetitions"]], [r[key] for r in p["repetitions"]])
    old_rt = {(r["model"], r["provider"]): r for r in old["runtime_vs_bare"]}
    for r in new["runtime_vs_bare"]:
        q = old_rt.get((r["model"], r["provider"]))
        if q is not None:
            add(f"{r['model']} {r['provider']}", "runtime_vs_bare",
                [x["runtime_vs_bare"] for x in q["repetitions"]],
                [x["runtime_vs_bare"] for x in r["repetitions"]])
    return rows


def comparison_markdown(rows: list[dict], old_name: str, alpha: float = ALPHA) -> str:
    counts = sorted({(r["n_old"], r["n_new"], r["p_min"]) for r in rows})
    lines = [f"## Change against {old_name}", "",
             f"Significant only when p < {alpha:g}, p being the exact two-sided probability "
             "(Mann–Whitney) that the repetitions of the two runs separate this far by "
             "chance; they must not overlap at all. Smallest p the repetition counts allow: "
             + ", ".join(f"{p:.3g} at {a} against {b}" for a, b, p in counts) + ".", "",
             "| point | figure | old | new | change | verdict |", "|---|---|---:|---:|---:|---|"]
    for r in rows:
        change = f"{(r['ratio'] - 1) * 100:+.1f} %" if math.isfinite(r["ratio"]) else "–"
        verdict = r["verdict"]
        lines.append(f"| {r['what']} | {r['figure']} | {r['old']:.4g} | {r['new']:.4g} | "
                     f"{change} | {verdict} |")
    return "\n".join(lines) + "\n"

