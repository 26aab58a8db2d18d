"""What a campaign found: outcome counts, rates with confidence intervals, breakdowns.

Everything is computed from the database (GROUP BY queries), so the summary of a
resumed or half-finished campaign is as valid as that of a finished one: it covers
the faults that have a result. Rates come with Wilson intervals at ``confidence``
(:mod:`radiation.campaign.stats`); the whole-population rates of a stratified
campaign are population-weighted (see :func:`stats.stratified`).

Speed keys: ``faults_per_s`` is end to end (this session's faults over its wall
time: worker start-up, classification and database writes included);
``worker_faults_per_s`` and ``clean_inferences_per_s`` are the workers' own trial and
clean-inference rates, timed side by side (summed over workers), and
``fault_rate_over_clean_rate`` their ratio. A resume that ran nothing reports the
last session that did (``rates_from_session``).

Breakdowns per tensor, per bit and per field (and per stratum, and the tensor × field
table of the report's heat map) are conditional rates: "of the faults that hit this
tensor, what share became an SDC". With the default proportional plan each such
group is itself a uniform sample of its sites.

Mitigations (``mitigations``): every mitigation ran on the same planned faults; per
mitigation the outcome counts, SDC and DUE rates with intervals (weighted as the
main rates), what the mitigation reported (``details``) and its measured cost. The
top-level counts, rates and breakdowns are those of ``headline_mitigation``: ``none``
(the unprotected model) whenever it was run, else the first listed.

Shortcuts (``shortcuts``): how the source session's fast path decided its trials —
masked at the faulted node, masked further down, a difference reaching an output, a
failed run, or left to the whole-graph path — how many ran grouped or batched, the
nodes (or Conv weights) where batching was checked unequal and single runs were used
instead, and the intra-op threads per worker (:mod:`radiation.propagate`); ``mode``
(``auto``: per tensor, the faster path; ``on``; ``off``) and, per tensor, the path
chosen with the seconds per trial measured on each (``paths``,
:mod:`radiation.campaign.choice`).

Reuse (``reuse``): the cuts at which the graph tail did not reproduce the whole
graph bit for bit, so whole-graph runs were used there (:mod:`radiation.trials`).
"""

from __future__ import annotations

from radiation.campaign import stats
from radiation.campaign.store import CampaignStore
from radiation.outcome import OUTCOMES


def _group(counts: dict, confidence: float) -> dict:
    n = sum(counts.get(k, 0) for k in OUTCOMES)
    sdc = counts.get("sdc", 0)
    ci = stats.wilson(sdc, n, confidence)
    return {"planned": counts.get("planned", n), "faults": n,
            "outcomes": {k: counts.get(k, 0) for k in OUTCOMES},
            "sdc_rate": sdc / n if n else None, "sdc_ci": list(ci) if ci else None}


def _rates(outcomes: dict, done: int, strata: list[dict], confidence: float,
           keys: tuple[str, ...] = OUTCOMES) -> dict:
    out = {}
    for k in keys:
        if len(strata) > 1:
            est = stats.stratified([(s["outcomes"][k], s["faults"], s["population"])
                                    for s in strata], confidence)
            out[k] = (None if est is None else
                      {"rate": est[0], "ci_low": est[1], "ci_high": est[2],
                       "method": stats.STRATIFIED_METHOD})
        else:
            ci = stats.wilson(outcomes[k], done, confidence)
            out[k] = (None if ci is None else
                      {"rate": outcomes[k] / done, "ci_low": ci[0], "ci_high": ci[1],
                       "method": "Wilson score"})
    return out


def _rate_source(store: CampaignStore, session: dict | None) -> dict | None:
    """This session's rates if it ran faults, else the latest session that did."""
    if session and session.get("faults_run"):
        return session
    for s in reversed(store.sessions()):
        if s.faults_run:
            return s.as_dict()
    return None


def headline(mitigations: list[str]) -> str:
    """The mitigation the top-level figures describe: ``none`` if run, else the first."""
    return "none" if "none" in mitigations else mitigations[0]


def summarize(store: CampaignStore, *, confidence: float = 0.99, margin: float = 0.01,
              session: dict | None = None) -> dict:
    """The JSON-ready summary of the campaign in ``store`` (see ``orbnode campaign``)."""
    cfg = store.config
    planned, done = store.planned(), store.done()
    head = headline(store.mitigations)
    strata_counts = store.group_counts("stratum", head)
    by_outcome = {k: sum(g.get(k, 0) for g in strata_counts.values()) for k in OUTCOMES}
    strata = []
    for st in store.strata():
        g = _group(strata_counts.get(st.id, {"planned": st.planned}), confidence)
        g.update(name=st.name, population=st.population, planned=st.planned,
                 faults_needed=stats.leveugle_sample_size(st.population, margin, confidence),
                 achieved_margin=stats.achieved_margin(g["faults"], st.population,
                                                       confidence))
        strata.append(g)
    sites = sum(s["population"] for s in strata)
    rates = _rates(by_outcome, done, strata, confidence)
    src = _rate_source(store, session)

    def table(column: str, key=str) -> dict:  # noqa: ANN001
        groups = store.group_counts(column, head)
        return {key(g): _group(c, confidence) for g, c in sorted(groups.items())}

    strata_rows = store.strata()
    costs = store.costs()
    mitigations = {}
    for m in store.mitigations:
        counts = store.group_counts("stratum", m)
        per = [dict(_group(counts.get(st.id, {"planned": st.planned}), confidence),
                    population=st.population) for st in strata_rows]
        outcomes = {k: sum(g["outcomes"][k] for g in per) for k in OUTCOMES}
        mitigations[m] = {
            "faults": sum(g["faults"] for g in per), "outcomes": outcomes,
            "rates": _rates(outcomes, sum(g["faults"] for g in per), per, confidence,
                            ("sdc", "due")),
            "details": store.details(m),
            "cost": costs[m]._asdict() if m in costs else None}
    fallbacks = sorted({t for se in store.sessions()
                        for t in se.stats.get("reuse_fallbacks") or []})
    heat = {}
    for (tensor, fld), c in sorted(store.group_counts(("tensor", "field"), head).items()):
        heat.setdefault(tensor, {})[fld] = _group(c, confidence)

    return {
        "db": str(store.path),
        "model": cfg["model"], "model_sha256": store.model_sha256,
        "target": cfg["target"], "level": cfg["level"],
        "fault": {"kind": cfg["fault"], "span": cfg["span"]},
        "seed": cfg["seed"], "samples": cfg["samples"], "stratum": cfg["stratum"],
        "tolerance": cfg.get("tolerance"),
        "outcome_rule": (f"tolerable: every output element within {cfg['tolerance']} "
                         "(|y - y0| <= abs + rel |y0|)" if cfg.get("tolerance") else
                         "tolerable: top-1 class of every row unchanged"),
        "faults_planned": planned, "faults_done": done, "complete": done == planned,
        "headline_mitigation": head,
        "outcomes": by_outcome,
        "rates": rates,
        "sdc_rate": rates["sdc"],
        "confidence": confidence,
        "faults_per_s": src.get("faults_per_s") if src else None,
        "clean_inferences_per_s": src.get("clean_inferences_per_s") if src else None,
        "worker_faults_per_s": src.get("worker_faults_per_s") if src else None,
        "fault_rate_over_clean_rate": src.get("fault_rate_over_clean_rate") if src else None,
        "session": session,
        "rates_from_session": src.get("id") if src else None,
        "sample_size": {
            "method": "Leveugle et al. 2009 (p = 0.5, finite population)",
            "margin": margin, "confidence": confidence, "t": stats.quantile(confidence),
            "population": sites,
            "faults_needed": stats.leveugle_sample_size(sites, margin, confidence),
            "faults_needed_infinite_population": stats.leveugle_sample_size(
                None, margin, confidence),
            "faults_needed_per_stratum": {s["name"]: s["faults_needed"] for s in strata},
            "achieved_margin": (stats.achieved_margin(done, sites, confidence)
                                if len(strata) == 1 else None),
        },
        "not_live": store.population.get("not_live", {}),
        "strata": {s.pop("name"): s for s in strata},
        "by_tensor": table("tensor"),
        "by_bit": table("bit"),
        "by_field": table("field"),
        "by_tensor_field": heat,
        "mitigations": mitigations,
        "shortcuts": _shortcuts(src),
        "reuse": {"fallback_cuts": fallbacks,
                  "note": ("graph tail exact at every cut used" if not fallbacks else
                           f"graph tail not bit-exact at {len(fallbacks)} cut(s); whole-graph "
                           "runs used there")},
    }


def _shortcuts(src: dict | None) -> dict | None:
    if not src or "shortcuts" not in src:
        return None
    enabled = src.get("shortcuts_on", True)
    return {"enabled": enabled, "mode": src.get("shortcuts_mode", "on" if enabled else "off"),
            "batching": src.get("batch_on", True), "threads": src.get("threads"),
            "decided": src["shortcuts"], "batch_fallbacks": src.get("batch_fallbacks", []),
            "paths": src.get("paths", {})}


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.3g} %"


def _ci(ci: list | None) -> str:
    return "" if not ci else f"[{_pct(ci[0])}, {_pct(ci[1])}]"


def render(s: dict, *, width: int = 24) -> str:
    """The summary as text for a person (``--json`` gives everything)."""
    conf = f"{100 * s['confidence']:g} %"
    o = s["outcomes"]
    done = max(s["faults_done"], 1)
    head = s.get("headline_mitigation", "none")
    under = f" under {head}" if len(s["mitigations"]) > 1 or head != "none" else ""
    lines = [
        f"campaign {s['db']}: {s['target']} ({s['fault']['kind']}, level {s['level']}) in "
        f"{s['model'].rsplit('/', 1)[-1]}, seed {s['seed']}, strata: {s['stratum']}",
        f"  faults: {s['faults_planned']} planned, {s['faults_done']} done"
        + ("" if s["complete"] else " (incomplete: continue with --resume)"),
        f"  outcomes{under}: " + ", ".join(f"{k} {o[k]} ({100 * o[k] / done:.3g} %)"
                                          for k in o),
    ]
    sdc = s["sdc_rate"]
    if sdc:
        lines.append(f"  SDC rate{under} {_pct(sdc['rate'])} "
                     f"{_ci([sdc['ci_low'], sdc['ci_high']])} ({conf}, {sdc['method']})")
    ss = s["sample_size"]
    lines.append(f"  sample size, {ss['method']}: {ss['faults_needed']} faults for a "
                 f"{_pct(ss['margin'])} margin at {conf} over {ss['population']} sites"
                 + (f"; achieved margin {_pct(ss['achieved_margin'])}"
                    if ss["achieved_margin"] is not None else ""))
    if s["faults_per_s"]:
        lines.append(
            f"  speed: {s['faults_per_s']:,.0f} faults/s end to end; workers "
            f"{s['worker_faults_per_s'] or 0:,.0f} faults/s vs "
            f"{s['clean_inferences_per_s'] or 0:,.0f} clean inferences/s side by side "
            f"(ratio {s['fault_rate_over_clean_rate'] or 0:.2f})")
    sc = s.get("shortcuts")
    if sc and sc["paths"]:
        chosen = {p: [t for t, c in sc["paths"].items() if c["path"] == p]
                  for p in ("node", "tail")}
        lines.append(f"  shortcuts {sc['mode']}: node by node for {len(chosen['node'])} "
                     f"tensor(s), graph tail for {len(chosen['tail'])} (faster there; "
                     f"{sc['decided'].get('tail_chosen', 0)} trials)")
    if sc and sc["decided"].get("trials"):
        d = sc["decided"]
        lines.append(
            f"  shortcuts ({sc['threads']} thread(s) per worker): of {d['trials']} trials "
            f"{d['masked_at_fault']} masked at the faulted node, {d['masked_downstream']} "
            f"further down, {d['reached_output']} reached an output, {d['failed']} failed "
            f"runs; {d['grouped']} grouped, {d['batched']} node evaluations batched"
            + (f"; {d['whole_graph']} left to the whole graph" if d["whole_graph"] else ""))
        if sc["batch_fallbacks"]:
            lines.append("  batching not bit-exact (single runs used) at: "
                         + ", ".join(sc["batch_fallbacks"]))
    elif sc and sc["threads"]:
        lines.append(f"  shortcuts {'on' if sc['enabled'] else 'off'}, "
                     f"{sc['threads']} thread(s) per worker")
    if s["reuse"]["fallback_cuts"]:
        lines.append(f"  reuse: {s['reuse']['note']}: " + ", ".join(s["reuse"]["fallback_cuts"]))
    if s.get("tolerance"):
        lines.append(f"  outcome rule: {s['outcome_rule']}")
    if len(s["mitigations"]) > 1:
        lines.append(f"  {'mitigation':12s} {'masked':>7s} {'tol.':>6s} {'sdc':>5s} {'due':>5s}  "
                     f"{'SDC rate':>9s} {conf + ' interval':22s} {'DUE rate':>9s}  "
                     f"{'time':>6s} {'memory':>10s}")
        for name, m in s["mitigations"].items():
            mo, r, c = m["outcomes"], m["rates"], m["cost"] or {}
            sdc_r, due_r = r.get("sdc") or {}, r.get("due") or {}
            lines.append(
                f"    {name:10s} {mo['masked']:7d} {mo['tolerable']:6d} {mo['sdc']:5d} "
                f"{mo['due']:5d}  {_pct(sdc_r.get('rate')):>9s} "
                f"{_ci([sdc_r['ci_low'], sdc_r['ci_high']]) if sdc_r else '':22s} "
                f"{_pct(due_r.get('rate')):>9s}  "
                + (f"{c['time_ratio']:5.2f}x {c['overhead_bytes']:>9,d} B"
                   if c.get("time_ratio") is not None else ""))
        lines.append("    time: measured per inference relative to none, side by side; scrub "
                     "and secded time a full software pass per inference (an upper bound; "
                     "hardware ECC costs no time)")
    for title, table in (("stratum", s["strata"] if len(s["strata"]) > 1 else {}),
                         ("tensor", s["by_tensor"]), ("field", s["by_field"]),
                         ("bit", s["by_bit"])):
        if not table:
            continue
        head = f"by {title}:"
        lines.append(f"  {head:{width + 2}s} {'faults':>7s} {'sdc':>5s} {'due':>5s} "
                     f"{'SDC rate':>9s}  {conf} interval")
        for name, g in table.items():
            label = str(name) if len(str(name)) <= width else "…" + str(name)[-width + 1:]
            lines.append(f"    {label:{width}s} {g['faults']:7d} {g['outcomes']['sdc']:5d} "
                         f"{g['outcomes']['due']:5d} {_pct(g['sdc_rate']):>9s}  {_ci(g['sdc_ci'])}")
    return "\n".join(lines)
