"""What each kind of evidence records — its units, tests, intervals, design and the line a page prints — and the
edges of every constructor (no data, ties, a p-value exactly at α, bounds that only a cap decides). The JSON of a
result and the findings index show these records, so a constructor that drops its unit count, mislabels its
method or keeps a test at α is a wrong page even when the verdicts come out right. Written to kill the mutants
of ``answers/kb/evidence.py`` that the reference checks (test_reference_formulas.py) leave alive; the ones that
cannot change any output are listed as equivalent in docs/contributing.md."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import bootstrap as scipy_bootstrap

from answers.kb import evidence as ev


# ---------------------------------------------------------------- records of the constructors
def test_mcnemar_records_its_discordant_images():
    a = [True] * 7 + [False] * 2 + [True] * 3
    b = [False] * 7 + [True] * 2 + [True] * 3
    e = ev.mcnemar(a, b, "M")
    assert e.n == 12 and list(e.tests) == ["M"]
    assert e.method == "M: exact binomial test on the 9 discordant images (7 vs 2)"
    assert ev.mcnemar(a, b).method.startswith("McNemar: ")
    assert ev.mcnemar([True, False], [True, False]).tests == {"McNemar": 1.0}      # nothing discordant
    with pytest.raises(ValueError, match="the same images: 2 vs 1"):
        ev.mcnemar([True, False], [True])


def test_mcnemar_over_runs_records_its_runs_and_seeds():
    pairs = [([True, True, False], [False, True, True]), ([True, False], [False, False])]
    e = ev.mcnemar_over_runs(pairs, "gain", seeds=[0, 1000])
    assert e.design == {"runs": 2, "seeds": [0, 1000]}
    assert ev.mcnemar_over_runs(pairs, "gain").design == {"runs": 2}                 # no seeds given: none recorded
    assert e.method == ("gain: 2 independent runs, each on its own images: exact McNemar test on the 3 discordant "
                        "images summed over the runs (2 vs 1), stratified by run; every run must point the same way")
    with pytest.raises(ValueError, match="at least two runs, got 1"):
        ev.mcnemar_over_runs(pairs[:1], "gain")
    with pytest.raises(ValueError, match="same, non-empty images: 0 vs 0"):
        ev.mcnemar_over_runs([([], []), pairs[0]], "gain")


def test_binomial_over_runs_sums_each_runs_own_units():
    from scipy.stats import binomtest
    e = ev.binomial_over_runs([92, 63, 93], [100, 100, 100], 0.5, "acc", seeds=[0, 1000, 2000])
    name = "binomial test stratified by run (acc)"
    assert e.n == 300 and e.tests[name] == pytest.approx(binomtest(248, 300, 0.5).pvalue)
    assert e.runs == ({"acc": 0.92}, {"acc": 0.63}, {"acc": 0.93})
    assert e.design == {"runs": 3, "seeds": [0, 1000, 2000]}
    assert ev.binomial_over_runs([5, 6], [10, 10], 0.5, "acc").design == {"runs": 2}
    assert e.method == ("acc: 3 independent runs, each on its own units: exact binomial test of the 248/300 successes "
                        "summed over the runs against 0.5; every run must point the same way")
    # strong in sum, but one run on the other side of p0: not decided
    mixed = ev.binomial_over_runs([95, 45], [100, 100], 0.5, "acc")
    assert mixed.tests["binomial test stratified by run (acc)"] < 1e-4
    assert not mixed.decided(lambda v: v["acc"] > 0.5, {"acc": 0.7})
    assert e.decided(lambda v: v["acc"] > 0.5, {"acc": 0.827})
    with pytest.raises(ValueError, match="at least two runs, got 1"):
        ev.binomial_over_runs([5], [10], 0.5, "acc")
    with pytest.raises(ValueError, match="2 counts, 3 sizes"):
        ev.binomial_over_runs([5, 6], [10, 10, 10], 0.5, "acc")
    with pytest.raises(ValueError, match=r"0 ≤ successes ≤ units and some units, got \[\(11, 10\), \(5, 10\)\]"):
        ev.binomial_over_runs([11, 5], [10, 10], 0.5, "acc")
    with pytest.raises(ValueError, match="0 ≤ successes ≤ units"):
        ev.binomial_over_runs([-1, 5], [10, 10], 0.5, "acc")
    # none and all are counts like any other, and p0 is the tested proportion
    edge = ev.binomial_over_runs([0, 10], [10, 10], 0.1, "acc")
    assert edge.runs == ({"acc": 0.0}, {"acc": 1.0})
    assert edge.tests["binomial test stratified by run (acc)"] == pytest.approx(binomtest(10, 20, 0.1).pvalue)
    with pytest.raises(ValueError, match="some units"):
        ev.binomial_over_runs([0, 5], [0, 10], 0.5, "acc")


def test_proportion_record_and_no_data():
    e = ev.proportion(3, 10, "share")
    assert e.n == 10 and e.method == "share: 95% Clopper–Pearson interval (3/10)"
    empty = ev.proportion(0, 0, "share")
    assert (empty.n, dict(empty.intervals), empty.method) == (0, {"share": (0.0, 1.0)}, "share: no data")
    one = ev.proportion(1, 1, "share")               # one unit is data, not "no data"
    assert one.n == 1 and one.intervals["share"][1] == 1.0 and one.intervals["share"][0] == pytest.approx(0.025)


def test_binomial_fisher_wilcoxon_spearman_records():
    b = ev.binomial(7, 10, 0.5, "B")
    assert b.n == 10 and b.method == "B: exact binomial test of 7/10 against 0.5"
    assert ev.binomial(0, 0, 0.5, "B").tests == {"B": 1.0}
    f = ev.fisher(8, 10, 2, 12)
    assert list(f.tests) == ["Fisher"] and f.n == 10
    assert f.method == "Fisher: Fisher's exact test, 8/10 vs 2/12"
    assert ev.fisher(0, 0, 3, 5).tests == {"Fisher": 1.0}
    w = ev.wilcoxon([1, 2, 3, 4, 5, 6], [0, 0, 1, 1, 2, 2], "W")
    assert w.n == 6 and w.method == "W: signed-rank test on 6 paired values"
    assert ev.wilcoxon([1, 2], [1, 2], "W").tests == {"W": 1.0}                      # no differences at all
    with pytest.raises(ValueError, match="the same units: 2 vs 1"):
        ev.wilcoxon([1, 2], [1])
    rho, s = ev.spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5], "rho")
    assert rho == pytest.approx(0.8) and s.n == 5 and s.method == "rho: Spearman rank correlation, 5 pairs"


def test_sign_test_without_informative_values_is_one():
    assert ev.sign_test([2.0, 2.0, 2.0], 2.0) == 1.0
    assert ev.sign_test([1.0, 3.0], 2.0) == 1.0                 # one above, one below


# ---------------------------------------------------------------- intervals
def test_bootstrap_is_scipys_percentile_bootstrap_with_its_defaults():
    data = np.array([0.1, 0.4, 0.35, 0.8, 0.5, 0.9, 0.2, 0.65, 0.3, 0.75])
    e = ev.bootstrap(lambda idx: float(data[idx].mean()), data, "mean")
    ref = scipy_bootstrap((data,), np.mean, n_resamples=200, confidence_level=0.95, method="percentile",
                          random_state=np.random.default_rng(0)).confidence_interval
    assert e.intervals["mean"] == pytest.approx((ref.low, ref.high), rel=1e-12)
    assert e == ev.bootstrap(lambda idx: float(data[idx].mean()), data, "mean", seed=0, resamples=200, confidence=0.95)
    assert e.n == 10 and e.method == "mean: 95% percentile bootstrap over 10 units, 200 resamples"


def test_mean_interval_edges():
    one = ev.mean_interval([0.5], "m")
    assert (one.n, dict(one.intervals), one.method) == (1, {"m": (-math.inf, math.inf)}, "m: too few samples")
    two = ev.mean_interval([1, 3], "m")                          # two values are enough for a t-interval
    assert two.n == 2 and all(math.isfinite(v) for v in two.intervals["m"]) and two.intervals["m"][0] < 2 < two.intervals["m"][1]
    assert two.method == "m: 95% t-interval of the mean over 2 units"
    assert ev.mean_interval([True, False, True, True], "m").intervals["m"] == pytest.approx(
        ev.mean_interval([1.0, 0.0, 1.0, 1.0], "m").intervals["m"])


@pytest.mark.parametrize("n", range(1, 16))
def test_median_interval_at_every_level_and_at_a_tail_hit_exactly(n):
    from fractions import Fraction
    xs = [float(v) for v in range(n)]
    for confidence in (0.05, 0.3, 0.5, 0.7, 0.9, 0.95):
        best = 0
        for k in range(1, n // 2 + 1):       # coverage of (x₍ₖ₎, x₍ₙ₋ₖ₊₁₎): P(k ≤ Bin(n, ½) ≤ n − k)
            if Fraction(sum(math.comb(n, j) for j in range(k, n - k + 1)), 2 ** n) >= Fraction(confidence):
                best = k
        assert ev.median_interval(xs, confidence) == ((xs[best - 1], xs[n - best]) if best else (-math.inf, math.inf))
    # a level whose tail is exactly P(Bin(n, ½) ≤ 0) = 2⁻ⁿ: the extreme pair covers it, exactly
    if n >= 2:
        assert ev.median_interval(xs, 1 - 2 * 0.5 ** n) == (xs[0], xs[-1])
    assert ev.median_interval(xs) == ev.median_interval(xs, 0.95)
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="confidence"):
            ev.median_interval(xs, bad)


def test_paired_rounds_records_its_looks_and_level():
    # 12 rounds: at 95% k = 3 (P(X ≤ 2) = 0.019 ≤ 0.025), at 97.5% k = 2 (0.019 > 0.0125)
    xs = [1.2, 1.3, 1.25, 1.4, 1.1, 1.35, 1.32, 1.28, 1.31, 1.27, 1.33, 1.29]
    e = ev.paired_rounds("r", xs, [1.0, 1.5], looks=2, clock="cpu")
    assert e.n == 12 and e.alpha == 0.025
    assert e.intervals["r"] == ev.median_interval(xs, 1 - 0.025) != ev.median_interval(xs, 0.95)
    assert e.design == {"r_rounds": 12, "r_looks": 2, "r_clock": "cpu"}
    assert e.method == ("r: its value in each of 12 interleaved rounds (cpu time), a two-sided sign test against 1, 1.5 "
                        "and a distribution-free 97.5% interval for the median (α = 0.05 split over 2 planned looks)")
    assert ev.paired_rounds("r", xs, [1.0]) == ev.paired_rounds("r", xs, [1.0], looks=1, clock="wall")
    six = [1.2, 1.3, 1.25, 1.4, 1.1, 1.35]      # P(X ≤ 0) = 1/64: inside 95% (tail 0.025), not 97.5% (0.0125)
    assert ev.rounds_decide(six, [1.0]) and not ev.rounds_decide(six, [1.0], looks=2)
    # 7 rounds all above 1: decided at one look and at α split over 3 looks (tail 0.0083 ≥ 2⁻⁷ = 0.0078, so the
    # interval is the extreme pair), not over 4 looks (tail 0.00625 < 2⁻⁷: no interval at all)
    seven = [1.2, 1.3, 1.25, 1.4, 1.1, 1.35, 1.3]
    assert ev.rounds_decide(seven, [1.0]) and ev.rounds_decide(seven, [1.0], looks=3)
    assert not ev.rounds_decide(seven, [1.0], looks=4)


# ---------------------------------------------------------------- over runs
def test_over_runs_records_and_its_equal_runs_rule():
    e = ev.over_runs([{"d": 0.1}, {"d": 0.3}, {"d": 0.2}], "d", null=0.05, seeds=[0, 1000, 2000])
    assert e.n == 3 and e.design == {"runs": 3, "seeds": [0, 1000, 2000]}
    assert e.method == ("d: 3 independent runs as the units: t-test against 0.05 and a 95% t-interval of the mean; "
                        "every run must point the same way")
    assert ev.over_runs([{"d": 0.1}, {"d": 0.3}], "d").design == {"runs": 2}
    with pytest.raises(ValueError, match="at least two runs, got 1"):
        ev.over_runs([{"d": 0.1}], "d")
    sign = "t-test over runs (d)"
    # equal runs away from the null: the sign test's 2·2⁻ⁿ, however near (rtol = 0) or far the null is
    assert ev.over_runs([{"d": 0.9}] * 3, "d", null=0.5).tests[sign] == 0.25
    assert ev.over_runs([{"d": 10.00005}] * 3, "d", null=10.0).tests[sign] == 0.25
    assert ev.over_runs([{"d": 0.5}] * 3, "d", null=0.5).tests[sign] == 1.0
    assert ev.over_runs([{"d": 0.5000005}] * 3, "d", null=0.5).tests[sign] == 1.0       # at the null to 1e-6
    # "equal" is relative to the values' size (1e-6 of the largest, at least 1e-6): ratios near 10 that differ by
    # 5e-6 are equal; accuracies near 1 that differ by 1.5e-6 are not (the t-test decides them)
    assert ev.over_runs([{"d": 10.0}, {"d": 10.000005}, {"d": 10.0}], "d", null=1.0).tests[sign] == 0.25
    assert ev.over_runs([{"d": 1.0}, {"d": 1.0 - 1.5e-6}, {"d": 1.0}], "d", null=0.5).tests[sign] < 1e-6
    assert ev.over_runs([{"d": 0.0}, {"d": 1e-6}, {"d": 0.0}], "d", null=0.5).tests[sign] == 0.25


def test_over_run_rows_tests_against_zero_by_default():
    rows = [{"seed": 0, "d": 0.2, "x": 1}, {"seed": 1000, "d": 0.25, "x": 2}, {"seed": 2000, "d": 0.22, "x": 3}]
    assert ev.over_run_rows(rows, "d") == ev.over_runs([{"d": 0.2}, {"d": 0.25}, {"d": 0.22}], "d", null=0.0,
                                                       seeds=[0, 1000, 2000])
    assert ev.over_run_rows(rows, "d", "x").runs[2] == {"d": 0.22, "x": 3.0}


def test_holm_caps_at_one():
    assert ev.holm([0.6, 0.9]) == [1.0, 1.0]          # 2 × 0.6 = 1.2 is no probability


# ---------------------------------------------------------------- combining evidence
def test_adding_evidence_keeps_both_records():
    a = ev.Evidence(5, {"t1": 0.01}, {"v1": (0.0, 1.0)}, "first", 0.05, ({"r": 1.0}, {"r": 2.0}), {"seeds": [0, 1]})
    b = ev.Evidence(3, {"t2": 0.02}, {"v2": (1.0, 2.0)}, "second", 0.025, (), {"looks": 2})
    c = a + b
    assert c.n == 3 and c.alpha == 0.025 and c.method == "first; second"
    assert c.runs == a.runs and c.design == {"seeds": [0, 1], "looks": 2}
    assert (b + a).runs == a.runs
    assert (ev.Evidence(0) + b).n == 3 and (b + ev.Evidence(0)).n == 3      # no units on one side: the other's
    assert (ev.Evidence(0, method="") + b).method == "second"
    both = a + ev.Evidence(2, runs=({"s": 5.0}, {"s": 6.0}))
    assert both.runs == ({"r": 1.0, "s": 5.0}, {"r": 2.0, "s": 6.0})
    assert (ev.Evidence(1) + ev.Evidence(2)).runs == ()
    with pytest.raises(ValueError, match=r"evidence names \['t1'\] twice"):
        a + ev.Evidence(1, {"t1": 0.5})
    with pytest.raises(ValueError, match=r"evidence names \['v1'\] twice"):
        a + ev.Evidence(1, intervals={"v1": (0.0, 1.0)})
    with pytest.raises(ValueError, match="over 2 and 1 runs cannot be joined"):
        a + ev.Evidence(1, runs=({"s": 1.0},))


def test_a_test_exactly_at_alpha_does_not_decide():
    assert not ev.Evidence(10, {"t": 0.05}).decided(lambda v: True, {})
    assert ev.Evidence(10, {"t": 0.0499}).decided(lambda v: True, {})


def test_per_arm_records():
    arms = {"a": ev.binomial(18, 20, 0.5, "sign") + ev.Evidence(0, intervals={"va": (0.6, 0.9)}),
            "b": ev.binomial(15, 30, 0.5, "sign")}
    e = ev.per_arm(arms)
    assert e.n == 20 and dict(e.intervals) == {"va": (0.6, 0.9)}
    assert e.method == (f"one test per arm, Holm-adjusted over 2 arms: a: {arms['a'].method}; b: {arms['b'].method}")
    with pytest.raises(ValueError, match="^per-arm evidence needs at least one arm$"):
        ev.per_arm({})
    with pytest.raises(ValueError, match=r"arm 'c' must carry exactly one test, has \[\]"):
        ev.per_arm({"c": ev.Evidence(3)})


def test_per_arm_merges_single_runs_and_refuses_other_seeds():
    one = {"a": ev.Evidence(3, {"t": 0.01}, runs=({"x": 1.0},)), "b": ev.Evidence(3, {"t": 0.01}, runs=({"y": 2.0},))}
    assert ev.per_arm(one).runs == ({"x": 1.0, "y": 2.0},)
    same_count = {"a": ev.over_runs([{"x": 1.0}, {"x": 2.0}], "x", seeds=[0, 1]),
                  "b": ev.over_runs([{"y": 1.0}, {"y": 2.0}], "y", seeds=[5, 6])}
    with pytest.raises(ValueError, match=r"^either every arm or none is decided over runs, and all over the same runs \(seeds\)$"):
        ev.per_arm(same_count)
    clash = {"a": ev.over_runs([{"x": 1.0}, {"x": 2.0}], "x"), "b": ev.Evidence(2, {"u": 0.01}, runs=({"x": 1.0}, {"x": 2.0}))}
    with pytest.raises(ValueError, match=r"same per-run value twice \(\['x', 'x'\]\)"):
        ev.per_arm(clash)


def test_arms_holding_at_exactly_alpha_and_without_a_count():
    # two arms with raw p = 0.025: Holm's adjusted p is exactly 0.05, which does not decide
    arms = {"a": ev.Evidence(5, {"t": 0.025}), "b": ev.Evidence(5, {"t": 0.025})}
    k, e = ev.arms_holding(arms, {"a": True, "b": False})
    assert k == 0 and e.design["holding"] == [] and e.design["against"] == []
    assert dict(e.intervals) == {} and e.n == 5
    assert e.method.startswith("0 of 2 arms significant (Holm) in the stated direction, 0 against it; one test per arm")


# ---------------------------------------------------------------- what a page and the JSON show
def test_describe_and_to_dict():
    e = ev.Evidence(12, {"t": 0.00001, "u": 0.0312}, {"v": (0.12345, 2.5)}, alpha=0.025,
                    runs=({"d": 0.1, "e": 1.0}, {"d": 0.2, "e": 2.0}), design={"arms": ["a", "b", "c"], "holding": ["a", "c"]})
    assert e.describe() == ("n = 12; t p < 1e-4; u p = 0.031; v ∈ [0.123, 2.5]; 2 of 3 arms significant after Holm (a, c); "
                            "2 runs: d 0.1, e 1 | d 0.2, e 2; α = 0.025")
    assert ev.Evidence(3, {"t": 0.0001}).describe() == "n = 3; t p = 0.0001"
    assert ev.Evidence(3, design={"arms": ["a"], "holding": []}).describe() == "n = 3; 0 of 1 arms significant after Holm"
    assert e.to_dict() == {"n": 12, "tests": {"t": 0.00001, "u": 0.0312}, "intervals": {"v": [0.12345, 2.5]},
                           "method": "", "alpha": 0.025, "runs": [{"d": 0.1, "e": 1.0}, {"d": 0.2, "e": 2.0}],
                           "design": {"arms": ["a", "b", "c"], "holding": ["a", "c"]}}
    assert ev.Evidence(1).to_dict() == {"n": 1, "tests": {}, "intervals": {}, "method": "", "alpha": 0.05}


def test_paired_outcomes_may_be_tensors_or_lists():
    a, b = torch.tensor([True, True, False, True]), torch.tensor([False, True, False, False])
    assert ev.mcnemar(a, b) == ev.mcnemar(a.tolist(), b.tolist())
