"""The campaign report: one page an engineer attaches to a design review.

:func:`write_report` reads a campaign database and writes, into one directory:

``report.md`` / ``report.html``  the same sections, Markdown and standalone HTML (its
    figures embedded as data URIs):
    model, environment, plan, outcome rates with intervals, per-layer × field heat
    map, per-bit profile, mitigation comparison, time and cost;
``heatmap.png``, ``bits.png``, ``mitigations.png``  the figures (matplotlib, Agg);
``faults.csv``  every fault record (one row per fault and mitigation);
``faults.parquet``  the same, when ``pyarrow`` is installed (``pip install .[report]``).

Everything comes from the database and :func:`radiation.campaign.summary.summarize`,
so the report of a half-finished campaign covers the faults that have a result and
says so.
"""

from __future__ import annotations

import base64
import csv
import html
from dataclasses import dataclass, field
from pathlib import Path

from radiation.campaign.store import CampaignStore, SessionRow
from radiation.outcome import OUTCOMES

SECTIONS = ("Model", "Environment", "Plan", "Outcome rates", "Layer × field heat map",
            "Per-bit profile", "Mitigation comparison", "Time and cost")


@dataclass
class Section:
    """A titled block: paragraphs, then one table (header + rows), then one image."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    image: str | None = None


@dataclass(frozen=True)
class ReportFiles:
    """What :func:`write_report` wrote."""

    markdown: Path
    html: Path
    figures: list[Path]
    csv: Path
    parquet: Path | None


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.3g} %"


def _interval(r: dict | None) -> str:
    return "–" if not r else f"[{_pct(r['ci_low'])}, {_pct(r['ci_high'])}]"


def _group_ci(g: dict) -> str:
    return "–" if not g.get("sdc_ci") else f"[{_pct(g['sdc_ci'][0])}, {_pct(g['sdc_ci'][1])}]"


# --------------------------------------------------------------------- figures
def _figures(s: dict, out: Path) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt
    import numpy as np

    paths: dict[str, Path] = {}
    heat = s["by_tensor_field"]
    tensors = list(heat)
    fields = [f for f in ("sign", "exponent", "mantissa", "magnitude", "word")
              if any(f in row for row in heat.values())]
    grid = np.full((len(tensors), len(fields)), np.nan)
    for i, t in enumerate(tensors):
        for j, f in enumerate(fields):
            g = heat[t].get(f)
            if g and g["faults"]:
                grid[i, j] = 100.0 * (g["outcomes"]["sdc"] + g["outcomes"]["due"]) / g["faults"]
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(fields), 1.0 + 0.32 * len(tensors)))
    im = ax.imshow(grid, aspect="auto", cmap="magma_r", vmin=0, vmax=max(1.0, np.nanmax(grid)
                                                                       if np.isfinite(grid).any()
                                                                       else 1.0))
    ax.set_xticks(range(len(fields)), fields)
    ax.set_yticks(range(len(tensors)), tensors, fontsize=7)
    ax.set_title("SDC + DUE rate (%) by tensor × field")
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    paths["heatmap"] = out / "heatmap.png"
    fig.savefig(paths["heatmap"], dpi=110)
    plt.close(fig)

    bits = sorted(s["by_bit"], key=int)
    fig, ax = plt.subplots(figsize=(8, 3))
    bottom = np.zeros(len(bits))
    for outcome, colour in (("sdc", "tab:red"), ("due", "tab:purple"),
                            ("tolerable", "tab:orange")):
        vals = np.array([100.0 * s["by_bit"][b]["outcomes"][outcome] /
                         max(s["by_bit"][b]["faults"], 1) for b in bits])
        ax.bar([int(b) for b in bits], vals, bottom=bottom, color=colour, label=outcome)
        bottom += vals
    ax.set_xlabel("bit (0 = LSB)")
    ax.set_ylabel("% of faults")
    ax.set_title("Per-bit profile")
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths["bits"] = out / "bits.png"
    fig.savefig(paths["bits"], dpi=110)
    plt.close(fig)

    names = list(s["mitigations"])
    fig, ax = plt.subplots(figsize=(1.5 + 1.2 * len(names), 3))
    for k, (key, colour) in enumerate((("sdc", "tab:red"), ("due", "tab:purple"))):
        rates = [s["mitigations"][n]["rates"].get(key) or {} for n in names]
        mid = [100.0 * (r.get("rate") or 0.0) for r in rates]
        lo = [m - 100.0 * (r.get("ci_low") or 0.0) for m, r in zip(mid, rates, strict=True)]
        hi = [100.0 * (r.get("ci_high") or 0.0) - m for m, r in zip(mid, rates, strict=True)]
        x = np.arange(len(names)) + (k - 0.5) * 0.35
        ax.bar(x, mid, width=0.35, color=colour, label=f"{key.upper()} rate",
               yerr=[lo, hi], capsize=3)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel(f"% of faults ({100 * s['confidence']:g} % intervals)")
    ax.set_title("Mitigations on the same faults")
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths["mitigations"] = out / "mitigations.png"
    fig.savefig(paths["mitigations"], dpi=110)
    plt.close(fig)
    return paths


# --------------------------------------------------------------------- sections
def _session_machine(se: SessionRow) -> str:
    """Where and how a session ran: its rates mean little without it."""
    how = (f"Session {se.id}: executor **{se.executor}**, {se.workers} worker(s) × "
           f"{se.stats.get('threads', '?')} intra-op thread(s)")
    m = se.stats.get("machine")
    if not m:
        return how + "; machine not recorded (a campaign from an older orbnode)."
    return (f"{how} on {m.get('cpu') or 'an unnamed CPU'} ({m.get('logical_cores')} logical "
            f"cores), {m.get('system')}.")


def sections(store: CampaignStore, s: dict, figures: dict[str, Path]) -> list[Section]:
    """The report's sections (:data:`SECTIONS`, in order) from a summary ``s``."""
    conf = f"{100 * s['confidence']:g} %"
    out: list[Section] = []
    sec = Section("Model", [f"`{s['model']}` (sha256 `{s['model_sha256'][:16]}…`), "
                           f"level **{s['level']}**, target **{s['target']}**."])
    sec.header = ["tensor", "dtype", "shape"]
    sec.rows = [[n, t["dtype"], "×".join(map(str, t["shape"]))]
                for n, t in store.population["tensors"].items()]
    if s["not_live"]:
        sec.paragraphs.append("Not injected (not live): " + ", ".join(
            f"{n} ({why})" for n, why in s["not_live"].items()))
    out.append(sec)
    out.append(Section("Environment", [f"Created {store.created}.",
                                       *(_session_machine(se) for se in store.sessions())],
                       ["component", "version"],
                       [[k, str(v)] for k, v in store.versions.items()]))
    ss = s["sample_size"]
    plan = Section("Plan", [
        f"{s['faults_planned']} faults ({s['fault']['kind']}, span {s['fault']['span']}) drawn "
        f"from seed {s['seed']} over {ss['population']:,} fault sites, on {s['samples']} "
        f"input sample(s); strata: **{s['stratum']}**; mitigations: "
        f"{', '.join(s['mitigations'])}. {s['faults_done']} done"
        + ("." if s["complete"] else " (incomplete: continue with `--resume`)."),
        f"Sample size ({ss['method']}): {ss['faults_needed']:,} faults for a "
        f"{_pct(ss['margin'])} margin at {conf}."
        + (f" Achieved margin {_pct(ss['achieved_margin'])}." if ss["achieved_margin"] else ""),
        f"Outcome rule: {s['outcome_rule']}; SDC = not tolerable, finite; DUE = non-finite, "
        "failed, or detected by a mitigation."])
    plan.header = ["stratum", "population", "planned", "Leveugle size", "done"]
    plan.rows = [[name, f"{g['population']:,}", str(g["planned"]), str(g["faults_needed"]),
                  str(g["faults"])] for name, g in s["strata"].items()]
    out.append(plan)
    rates = Section("Outcome rates", [
        f"Outcomes under `{s.get('headline_mitigation') or next(iter(s['mitigations']))}` "
        f"with {conf} intervals; "
        f"method: {s['sdc_rate']['method'] if s['sdc_rate'] else '–'}."],
        ["outcome", "count", "rate", f"{conf} interval"])
    for k in OUTCOMES:
        r = s["rates"].get(k)
        rates.rows.append([k, str(s["outcomes"][k]), _pct(r["rate"] if r else None),
                           _interval(r)])
    out.append(rates)
    heat = Section("Layer × field heat map", [
        "SDC + DUE share of the faults in each tensor × bit field (conditional rates)."],
        ["tensor", "field", "faults", "sdc", "due", "SDC rate", f"{conf} interval"],
        image=figures["heatmap"].name)
    for t, row in s["by_tensor_field"].items():
        for f, g in row.items():
            heat.rows.append([t, f, str(g["faults"]), str(g["outcomes"]["sdc"]),
                              str(g["outcomes"]["due"]), _pct(g["sdc_rate"]), _group_ci(g)])
    out.append(heat)
    bits = Section("Per-bit profile", [], ["bit", "faults", "masked", "tolerable", "sdc", "due",
                                           "SDC rate", f"{conf} interval"],
                   image=figures["bits"].name)
    for b in sorted(s["by_bit"], key=int):
        g = s["by_bit"][b]
        bits.rows.append([b, str(g["faults"]), *(str(g["outcomes"][k]) for k in OUTCOMES),
                          _pct(g["sdc_rate"]), _group_ci(g)])
    out.append(bits)
    mit = Section("Mitigation comparison", [
        "Every planned fault ran under each mitigation; time is per inference relative to "
        "none, measured side by side; scrub and secded time a full software pass per "
        "inference (an upper bound: hardware ECC costs no time)."],
        ["mitigation", *OUTCOMES, "SDC rate", f"{conf} interval", "DUE rate",
         f"{conf} interval", "time ×", "memory (bytes)", "what it did"],
        image=figures["mitigations"].name)
    for name, m in s["mitigations"].items():
        c = m["cost"] or {}
        mit.rows.append([name, *(str(m["outcomes"][k]) for k in OUTCOMES),
                         _pct((m["rates"].get("sdc") or {}).get("rate")),
                         _interval(m["rates"].get("sdc")),
                         _pct((m["rates"].get("due") or {}).get("rate")),
                         _interval(m["rates"].get("due")),
                         f"{c['time_ratio']:.2f}" if c.get("time_ratio") else "–",
                         f"{c['overhead_bytes']:,}" if c.get("overhead_bytes") is not None
                         else "–",
                         ", ".join(f"{k} {v}" for k, v in m["details"].items()) or "–"])
    out.append(mit)
    cost = Section("Time and cost", [s["reuse"]["note"] + (
        ": " + ", ".join(s["reuse"]["fallback_cuts"]) if s["reuse"]["fallback_cuts"] else ".")],
        ["session", "started", "executor", "workers", "reuse", "faults", "wall (s)",
         "faults/s", "worker faults/s", "clean inferences/s"])
    for se in store.sessions():
        cost.rows.append([str(se.id), se.started, se.executor, str(se.workers),
                          "on" if se.reuse else "off", str(se.faults_run),
                          f"{se.wall_s or 0:.2f}",
                          *(f"{se.stats.get(k) or 0:,.0f}" for k in (
                              "faults_per_s", "worker_faults_per_s",
                              "clean_inferences_per_s"))])
    out.append(cost)
    assert [x.title for x in out] == list(SECTIONS)
    return out


# --------------------------------------------------------------------- writers
def _markdown(title: str, secs: list[Section]) -> str:
    lines = [f"# {title}", ""]
    for sec in secs:
        lines += [f"## {sec.title}", ""]
        for p in sec.paragraphs:
            lines += [p, ""]
        if sec.image:
            lines += [f"![{sec.title}]({sec.image})", ""]
        if sec.header:
            lines.append("| " + " | ".join(sec.header) + " |")
            lines.append("|" + "---|" * len(sec.header))
            lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |"
                      for r in sec.rows]
            lines.append("")
    return "\n".join(lines)


def _inline(text: str) -> str:
    """Markdown's ``code`` and **bold** as HTML, everything else escaped."""
    import re

    t = html.escape(text)
    t = re.sub(r"`([^`]*)`", r"<code>\1</code>", t)
    return re.sub(r"\*\*([^*]*)\*\*", r"<strong>\1</strong>", t)


def _data_uri(png: Path) -> str:
    """A figure inside the page, so report.html is one file to attach to a review."""
    return "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")


def _html(title: str, secs: list[Section], figures_dir: Path) -> str:
    parts = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'>",
             f"<title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;max-width:72em;margin:2em auto}"
             "table{border-collapse:collapse;font-size:90%}td,th{border:1px solid #ccc;"
             "padding:2px 6px;text-align:right}td:first-child,th:first-child{text-align:left}"
             "img{max-width:100%}</style></head><body>", f"<h1>{html.escape(title)}</h1>"]
    for sec in secs:
        parts.append(f"<section><h2>{html.escape(sec.title)}</h2>")
        parts += [f"<p>{_inline(p)}</p>" for p in sec.paragraphs]
        if sec.image:
            parts.append(f"<img src='{_data_uri(figures_dir / sec.image)}' "
                         f"alt='{html.escape(sec.title)}'>")
        if sec.header:
            parts.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>"
                                                 for h in sec.header) + "</tr>")
            parts += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                      for r in sec.rows]
            parts.append("</table>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _exports(store: CampaignStore, out: Path) -> tuple[Path, Path | None]:
    csv_path = out / "faults.csv"
    cols = list(store.RECORD_COLUMNS)
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        w.writerows(store.records())
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ModuleNotFoundError:
        return csv_path, None
    data = list(zip(*store.records(), strict=True)) or [[] for _ in cols]
    table = pa.table({c: list(v) for c, v in zip(cols, data, strict=True)})
    pq_path = out / "faults.parquet"
    pq.write_table(table, pq_path)
    return csv_path, pq_path


def write_report(store: CampaignStore, out_dir: str | Path, *, summary: dict | None = None,
                 confidence: float | None = None) -> ReportFiles:
    """Write the report of the campaign in ``store`` into ``out_dir`` (created)."""
    from radiation.campaign.summary import summarize

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    s = summary or summarize(store, confidence=confidence or store.config.get("confidence",
                                                                              0.99),
                             margin=store.config.get("margin", 0.01))
    figures = _figures(s, out)
    secs = sections(store, s, figures)
    title = f"Fault-injection campaign: {Path(s['model']).name}, {s['target']}"
    md, ht = out / "report.md", out / "report.html"
    md.write_text(_markdown(title, secs))
    ht.write_text(_html(title, secs, out))
    csv_path, pq_path = _exports(store, out)
    return ReportFiles(md, ht, list(figures.values()), csv_path, pq_path)
