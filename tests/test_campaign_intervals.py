"""Intervals a review can quote, and the tolerance rule (issue 12)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from orbnode.cli import main
from radiation.campaign import stats
from radiation.outcome import Golden, Tolerance


def test_zero_events_stratified_interval_is_strictly_positive():
    parts = [(0, 300, 1000), (0, 300, 1000), (0, 300, 1000)]
    rate, lo, hi = stats.stratified(parts, 0.99)
    assert rate == lo == 0.0 and hi > 0.0
    # Proportional allocation: Kish's n_eff is the total n, so the bound is Wilson's.
    assert hi == pytest.approx(stats.wilson(0, 900, 0.99)[1])
    # Each stratum's own bound is wider than the pooled one, never narrower than zero.
    assert 0 < hi < stats.wilson(0, 300, 0.99)[1]
    # Unequal weights: fewer effective trials, a wider interval, still positive.
    _, _, hi2 = stats.stratified([(0, 300, 100), (0, 300, 10000)], 0.99)
    assert hi2 > stats.wilson(0, 600, 0.99)[1]


def test_interval_contains_the_rate_and_stays_in_bounds():
    rng = np.random.default_rng(3)
    for _ in range(200):
        ns, pops = rng.integers(1, 200, 4), rng.integers(200, 10_000, 4)
        parts = [(int(rng.integers(0, n + 1)), int(n), int(p))
                 for n, p in zip(ns, pops, strict=True)]
        rate, lo, hi = stats.stratified(parts, 0.95)
        assert 0.0 <= lo <= rate <= hi <= 1.0 and hi > lo


def test_zero_sdc_stratified_campaign_quotes_a_positive_bound(tmp_path, capsys):
    assert main(["campaign", "--db", str(tmp_path / "z.db"), "--stratum", "bit", "--bits", "0-3",
                 "--faults", "400", "--json", "--no-progress"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["outcomes"]["sdc"] == 0 and len(s["strata"]) == 4
    sdc = s["sdc_rate"]
    assert sdc["rate"] == 0.0 and sdc["ci_high"] > 0.0
    assert "Wilson" in sdc["method"] and "Kish" in sdc["method"]
    per_stratum = [g["sdc_ci"][1] for g in s["strata"].values()]
    assert all(h > 0 for h in per_stratum) and sdc["ci_high"] <= max(per_stratum)


def test_tolerance_parsing():
    assert Tolerance.parse("1e-3") == Tolerance(1e-3, 0.0)
    assert Tolerance.parse("abs=0.5, rel=0.01") == Tolerance(0.5, 0.01)
    assert Tolerance.parse(None) is None
    for bad in ("", "x", "abs=", "rel=-1", "nan", "inf", "tol=1"):
        with pytest.raises(Exception, match="bad --tolerance"):
            Tolerance.parse(bad)


@given(st.floats(min_value=0, allow_infinity=False), st.floats(min_value=0, allow_infinity=False))
def test_tolerance_text_round_trips(a, r):
    t = Tolerance(a, r)
    assert Tolerance.parse(str(t)) == t
    assert Tolerance.parse(repr(a)) == Tolerance(a, 0.0)


@given(st.sampled_from([["tensor", "bit"], ["tensor", "field"]]).flatmap(st.permutations),
       st.integers(1, 2))
def test_stratum_products_parse_in_any_order(dims, k):
    from radiation.campaign.plan import parse_stratum

    assert parse_stratum(",".join(dims[:k])) == tuple(dims[:k])
    assert parse_stratum(" , ".join(dims[:k]) + ",") == tuple(dims[:k])


def test_tolerance_rule_on_a_regression_output():
    golden = [np.array([[1.0, -2.0, 3.0]], np.float32)]
    near = [np.array([[1.0, -2.0, 3.001]], np.float32)]
    far = [np.array([[1.0, -2.5, 3.0]], np.float32)]  # top-1 unchanged
    assert Golden(golden).classify(far) == "tolerable"  # classifier rule: top-1 only
    g = Golden(golden, Tolerance(abs_tol=0.01))
    assert g.classify(near) == "tolerable" and g.classify(far) == "sdc"
    assert g.verdict(far).outcome == "sdc" and g.verdict(far).top1_changed == 0
    assert Golden(golden, Tolerance(rel_tol=0.25)).classify(far) == "tolerable"  # 0.5 <= 0.25·2
    assert g.classify([np.array([[np.nan, 0, 0]], np.float32)]) == "due"


def test_campaign_tolerance_zero_makes_every_visible_change_an_sdc(tmp_path, capsys):
    common = ["--faults", "200", "--bits", "0-30", "--seed", "8", "--json", "--no-progress"]
    assert main(["campaign", "--db", str(tmp_path / "a.db"), *common]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main(["campaign", "--db", str(tmp_path / "b.db"), "--tolerance", "0", *common]) == 0
    strict = json.loads(capsys.readouterr().out)
    o, p = strict["outcomes"], plain["outcomes"]
    assert o["tolerable"] == 0 and p["tolerable"] > 0
    assert o["sdc"] == p["sdc"] + p["tolerable"] and o["masked"] == p["masked"]
    assert "within abs=0.0,rel=0.0" in strict["outcome_rule"]
