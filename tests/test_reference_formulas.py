"""Reference checks for every formula with a constant in it (issue 24, point 2): each is recomputed here from an
independent source — scipy's own implementation of the same quantity, a direct enumeration of the distribution,
a textbook constant, or a case worked by hand in the comments — at several points, so that an off-by-a-constant
bug (σ/2 for σ, α for α/2, a one-sided level for a two-sided one, an off-by-one order statistic) fails here.

The randomized-smoothing reference is Cohen et al.'s own code (locuslab/smoothing, ``core.py``):
``radius = sigma * norm.ppf(pABar)`` with ``pABar = proportion_confint(nA, n, alpha=2 * alpha, method="beta")[0]``,
i.e. the lower end of a *two-sided* Clopper–Pearson interval at level 1 − 2α, which is the *one-sided* (1 − α)
lower bound; ``_two_sided_cp`` below is that interval through ``scipy.stats.binomtest``."""
from __future__ import annotations

import math
from fractions import Fraction
from itertools import product

import numpy as np
import pytest
import torch
from scipy.stats import beta as beta_dist
from scipy.stats import binom, binomtest, norm, t as t_dist, ttest_1samp
from torch import nn

from answers.kb import evidence as ev
from answers.lab import ensembles, patchcleanser as pc
from answers.lab.instrument import count_calls
from answers.lab.smoothing import (ABSTAIN, ABSTAIN_ALPHA, Smoothed, binomial_p_value,
                                   clopper_pearson_lower)


def _two_sided_cp(k: int, n: int, confidence: float) -> tuple[float, float]:
    ci = binomtest(k, n).proportion_ci(confidence_level=confidence, method="exact")
    return float(ci.low), float(ci.high)


def _one_sided_cp_lower(k: int, n: int, alpha: float) -> float:
    """The one-sided (1 − α) Clopper–Pearson lower bound, as scipy computes it for a one-sided test."""
    return float(binomtest(k, n, alternative="greater").proportion_ci(confidence_level=1 - alpha,
                                                                       method="exact").low)


# ================================================================ randomized smoothing

class _FixedVotes(Smoothed):
    """A smoothed classifier whose vote tables are given: CERTIFY's first call (the guess, ``n0`` samples) gets
    ``guess``, its second (the estimate, ``n`` samples) gets ``estimate``."""

    def __init__(self, guess: torch.Tensor, estimate: torch.Tensor, sigma: float):
        super().__init__(nn.Identity(), sigma)
        self.tables = [guess, estimate]

    def counts(self, x, n, generator=None):
        table = self.tables.pop(0)
        assert int(table.sum(1)[0]) == n
        return table


def _certify_one(na: int, n: int, sigma: float, alpha: float) -> tuple[int, float]:
    """CERTIFY on one image whose guess is class 0 and whose ``n`` estimation votes give class 0 ``na`` times."""
    guess = torch.tensor([[8, 0, 0]])
    estimate = torch.tensor([[na, n - na, 0]])
    labels, radius = _FixedVotes(guess, estimate, sigma).certify(torch.zeros(1, 1), n0=8, n=n, alpha=alpha)
    return int(labels[0]), float(radius[0])


@pytest.mark.parametrize("sigma", [0.12, 0.25, 0.5, 1.0])
@pytest.mark.parametrize("na,n,alpha", [(990, 1000, 0.001), (600, 1000, 0.001), (9000, 10000, 0.001),
                                        (100, 100, 0.001), (75, 100, 0.01), (60, 100, 0.05), (9, 10, 0.1)])
def test_certified_radius_is_sigma_times_the_normal_quantile_of_the_one_sided_cp_bound(sigma, na, n, alpha):
    # Cohen et al. (2019), Theorem 1 with p_B = 1 − p_A: R = σ·Φ⁻¹(p_A_lower); their code's p_A_lower is the
    # two-sided Clopper–Pearson interval at 1 − 2α. A radius of σ/2·Φ⁻¹(p) (the general form's ½ kept after
    # substituting p_B) or a bound at α/2 or 2α fails here.
    p_lower = _two_sided_cp(na, n, 1 - 2 * alpha)[0]
    assert p_lower == pytest.approx(_one_sided_cp_lower(na, n, alpha), rel=1e-9, abs=1e-12)
    label, radius = _certify_one(na, n, sigma, alpha)
    if p_lower > 0.5:
        assert label == 0
        assert radius == pytest.approx(sigma * norm.ppf(p_lower), rel=1e-5)
    else:
        assert (label, radius) == (ABSTAIN, 0.0)


def test_certify_abstains_when_the_bound_does_not_clear_one_half():
    # 52 of 100: the 99.9% lower bound is ≈ 0.37 < ½ → abstain, radius 0 (Cohen's CERTIFY)
    assert _one_sided_cp_lower(52, 100, ABSTAIN_ALPHA) < 0.5
    assert _certify_one(52, 100, 0.25, ABSTAIN_ALPHA) == (ABSTAIN, 0.0)


@pytest.mark.parametrize("sigma", [0.25, 0.5, 1.0])
def test_certified_radius_at_worked_values(sigma):
    # When all n votes go to the top class the one-sided Clopper–Pearson bound solves p^n = α: p_A_lower = α^(1/n).
    # Choosing α = q^n makes p_A_lower = q, so the radius is σ times a textbook normal quantile:
    #   q = 0.975            → Φ⁻¹ = 1.959964 (the "1.96" of every two-sided 95% interval)
    #   q = Φ(1) = 0.841345  → Φ⁻¹ = 1 exactly: radius σ
    for q, z in ((0.975, 1.959964), (0.8413447460685429, 1.0)):
        label, radius = _certify_one(10, 10, sigma, q ** 10)
        assert label == 0 and radius == pytest.approx(sigma * z, rel=1e-5)
    # the largest radius Cohen et al.'s setting (n = 100,000, α = 0.001) can certify, every vote for the top class:
    # σ·Φ⁻¹(0.001^(1/100000)) = σ·Φ⁻¹(1 − 6.9075e-5) ≈ 3.8102·σ
    assert _certify_one(100_000, 100_000, sigma, 0.001)[1] == pytest.approx(3.8102 * sigma, rel=1e-3)


class _Linear(nn.Module):
    """f(x) = class 0 where w·x > b, else class 1, on inputs shaped (N, 1, 1, 2)."""

    def __init__(self, w: tuple[float, float], b: float):
        super().__init__()
        self.w, self.b = torch.tensor(w), b

    def forward(self, x):
        s = x.flatten(1) @ self.w - self.b
        return torch.stack([s, -s], 1)


def test_certified_radius_of_a_linear_classifier_is_its_distance_to_the_boundary():
    # Cohen et al. (2019), Sec. 3.1: for a linear base classifier the smoothed classifier is the same linear
    # classifier, p_A = Φ(d/σ) with d the distance to the boundary, and the certificate σ·Φ⁻¹(p_A) = d is tight.
    # With n = 100,000 samples the certified radius (from a lower bound on p_A) is just below d.
    w, b, sigma = (0.6, 0.8), 0.1, 0.5          # |w| = 1: w·x − b is the signed distance
    d = torch.tensor([0.1, 0.3, 0.6])
    x = (b + d)[:, None] * torch.tensor(w)[None]   # points at distance d on class 0's side
    sm = Smoothed(_Linear(w, b), sigma, batch=100_000)
    labels, radius = sm.certify(x.view(3, 1, 1, 2), n0=64, n=100_000, alpha=0.001,
                                generator=torch.Generator().manual_seed(0))
    assert labels.tolist() == [0, 0, 0]
    assert ((radius <= d + 0.005) & (radius >= d - 0.02)).all(), (radius, d)


@pytest.mark.parametrize("na,nb", [(10, 0), (9, 1), (30, 20), (20, 30), (60, 40), (5, 5), (0, 0), (100, 3),
                                   (513, 487), (1, 1000)])
def test_the_abstain_test_is_the_two_sided_binomial_test(na, nb):
    # PREDICT's test (Cohen et al., after Hung & Fithian): two-sided binomial test of na of na + nb at ½
    ref = binomtest(na, na + nb, 0.5).pvalue if na + nb else 1.0
    assert binomial_p_value(na, nb) == pytest.approx(ref, rel=1e-9, abs=1e-300)
    decided = Smoothed.decide(torch.tensor([[na, nb, 0], [nb, na, 0]]), alpha=0.01)
    for got, top in zip(decided.tolist(), (0 if na >= nb else 1, 0 if nb > na else 1)):
        assert got == (top if ref <= 0.01 else ABSTAIN)


@pytest.mark.parametrize("alpha", [0.001, 0.01, 0.05, 0.2])
@pytest.mark.parametrize("k,n", [(1, 10), (5, 10), (10, 10), (37, 50), (480, 500), (999, 1000)])
def test_clopper_pearson_lower_is_the_one_sided_bound(k, n, alpha):
    ref = _one_sided_cp_lower(k, n, alpha)
    assert float(clopper_pearson_lower(k, n, alpha)) == pytest.approx(ref, rel=1e-9)
    assert ref == pytest.approx(beta_dist.ppf(alpha, k, n - k + 1), rel=1e-9)


@pytest.mark.parametrize("alpha", [0.01, 0.1])
def test_clopper_pearson_lower_covers_at_its_level_and_no_wider(alpha):
    # exact coverage, by enumerating every outcome: P_p(lower(K) ≤ p) ≥ 1 − α for every p; and the bound is not
    # needlessly loose: somewhere the coverage is within α/2 of the level (a bound at α/2 covers ≥ 1 − α/2 everywhere)
    n = 40
    lowers = clopper_pearson_lower(np.arange(n + 1), n, alpha)
    assert lowers[0] == 0.0 and float(clopper_pearson_lower(0, n, alpha)) == 0.0   # no successes: the bound is 0
    coverages = [float(binom.pmf(np.arange(n + 1), n, p)[lowers <= p].sum()) for p in np.linspace(0.02, 0.98, 97)]
    assert min(coverages) >= 1 - alpha - 1e-9
    assert min(coverages) < 1 - alpha / 2


# ================================================================ confidence intervals of the evidence

@pytest.mark.parametrize("confidence", [0.8, 0.9, 0.95, 0.99])
@pytest.mark.parametrize("k,n", [(0, 10), (3, 10), (10, 10), (12, 100), (60, 100), (400, 1000), (999, 1000)])
def test_proportion_is_the_two_sided_clopper_pearson_interval(k, n, confidence):
    lo, hi = ev.proportion(k, n, "x", confidence).intervals["x"]
    assert (lo, hi) == pytest.approx(_two_sided_cp(k, n, confidence), rel=1e-9, abs=1e-12)
    # the same from the Beta quantiles directly, α split evenly between the two tails
    a = (1 - confidence) / 2
    ref_lo = 0.0 if k == 0 else beta_dist.ppf(a, k, n - k + 1)
    ref_hi = 1.0 if k == n else beta_dist.ppf(1 - a, k + 1, n - k)
    assert (lo, hi) == pytest.approx((ref_lo, ref_hi), rel=1e-7, abs=1e-12)


@pytest.mark.parametrize("confidence", [0.8, 0.95])
def test_proportion_interval_covers_at_its_level(confidence):
    # exact coverage at a grid of true proportions, every outcome enumerated: ≥ the level everywhere (exact
    # intervals are conservative), and within half the miss rate of it somewhere (not a 1 − α/2 interval)
    n = 30
    intervals = [ev.proportion(k, n, "x", confidence).intervals["x"] for k in range(n + 1)]
    coverages = [sum(binom.pmf(k, n, p) for k, (lo, hi) in enumerate(intervals) if lo <= p <= hi)
                 for p in np.linspace(0.02, 0.98, 49)]
    assert min(coverages) >= confidence - 1e-9
    assert min(coverages) < confidence + (1 - confidence) / 2


@pytest.mark.parametrize("n", [300, 600])
@pytest.mark.parametrize("k", [1, 3, 5, 6])
def test_the_weakest_of_k_is_decided_below_a_bound_at_most_alpha_of_the_time_when_all_sit_on_it(n, k):
    # k proportions of n, every true value on the bound 1/2; the smallest observed is picked and called below the
    # bound when its interval at ev.picked_of(k) lies below it. Exactly, by the binomial law of the minimum: a false
    # call at most α of the time, and not a far more cautious rule (an interval at 1 − α/k would stay near α/2)
    conf = ev.picked_of(k)
    below = max(x for x in range(n + 1) if ev.proportion(x, n, "v", conf).intervals["v"][1] < 0.5)
    false_call = 1 - binom.sf(below, n, 0.5) ** k
    assert 0.6 * ev.ALPHA < false_call <= ev.ALPHA
    with pytest.raises(ValueError):
        ev.picked_of(0)


@pytest.mark.parametrize("confidence,band", [(0.6, (0.5, 0.7)), (0.95, (0.9, 0.99))])
def test_bootstrap_interval_covers_a_known_mean_at_its_level(confidence, band):
    # a percentile bootstrap of the mean of 40 draws from N(1, 1), 200 times with fixed seeds: the share of
    # intervals holding the true mean is near the level, and the mean width near the normal theory's 2·z·σ/√n
    rng = np.random.default_rng(2024)
    hits, widths = 0, []
    for rep in range(200):
        data = rng.normal(1.0, 1.0, 40)
        lo, hi = ev.bootstrap(lambda idx: float(data[idx].mean()), data, "m", seed=rep,
                              confidence=confidence).intervals["m"]
        hits += lo <= 1.0 <= hi
        widths.append(hi - lo)
    assert band[0] <= hits / 200 <= band[1]
    theory = 2 * norm.ppf(0.5 + confidence / 2) / math.sqrt(40)
    assert float(np.mean(widths)) == pytest.approx(theory, rel=0.15)


@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
@pytest.mark.parametrize("xs", [[1.0, 2.0, 3.0, 4.0, 5.0], [0.12, 0.31, 0.08, 0.22],
                                [2.5, 2.7, 1.9, 3.3, 2.2, 2.9, 3.1]])
def test_mean_interval_is_the_student_t_interval(xs, confidence):
    lo, hi = ev.mean_interval(xs, "m", confidence).intervals["m"]
    sem = np.std(xs, ddof=1) / math.sqrt(len(xs))
    ref = t_dist.interval(confidence, len(xs) - 1, loc=np.mean(xs), scale=sem)
    assert (lo, hi) == pytest.approx(ref, rel=1e-9)
    ci = ttest_1samp(xs, 0.0).confidence_interval(confidence)
    assert (lo, hi) == pytest.approx((ci.low, ci.high), rel=1e-9)


def test_mean_interval_by_hand():
    # [1, 2, 3, 4, 5]: mean 3, s = √2.5 = 1.58114, s/√5 = 0.707107; t(0.975; 4 df) = 2.776445 (the t table's 2.776)
    # → 3 ± 1.963243
    assert ev.mean_interval([1, 2, 3, 4, 5], "m").intervals["m"] == pytest.approx((1.036757, 4.963243), abs=1e-6)


@pytest.mark.parametrize("confidence", [0.9, 0.95])
@pytest.mark.parametrize("null", [0.0, 0.1])
def test_over_runs_is_a_one_sample_t_test_with_its_interval(null, confidence):
    xs = [0.1, 0.2, 0.15, 0.12, 0.31]
    e = ev.over_runs([{"d": v} for v in xs], "d", null=null, confidence=confidence)
    ref = ttest_1samp(xs, null)
    assert e.tests["t-test over runs (d)"] == pytest.approx(ref.pvalue, rel=1e-9)
    ci = ref.confidence_interval(confidence)
    assert e.intervals["d"] == pytest.approx((ci.low, ci.high), rel=1e-9)


def _median_interval_by_enumeration(xs, confidence):
    """The largest k with P(x₍ₖ₎ ≤ median ≤ x₍ₙ₋ₖ₊₁₎) = Σ_{j=k}^{n−k} C(n, j)/2ⁿ ≥ confidence, in exact fractions."""
    xs, n = sorted(xs), len(xs)
    best = 0
    for k in range(1, n // 2 + 1):
        cover = Fraction(sum(math.comb(n, j) for j in range(k, n - k + 1)), 2 ** n)
        if cover >= Fraction(confidence).limit_denominator(10 ** 9):
            best = k
    return (xs[best - 1], xs[n - best]) if best else (-math.inf, math.inf)


@pytest.mark.parametrize("confidence", [0.8, 0.9, 0.95, 0.99, 1 - 0.05 / 3])
def test_median_interval_is_the_widest_order_statistic_pair_reaching_the_level(confidence):
    rng = np.random.default_rng(7)
    for n in range(1, 41):
        xs = rng.permutation(np.arange(n) * 1.5 + 1).tolist()
        assert ev.median_interval(xs, confidence) == _median_interval_by_enumeration(xs, confidence), n
    # worked by hand: n = 10 at 95%: P(X ≤ 1) = 11/1024 = 0.0107 ≤ 0.025 < P(X ≤ 2) = 56/1024 → k = 2, the 2nd and
    # 9th order statistics, coverage 1 − 22/1024 = 97.9%
    assert ev.median_interval([float(v) for v in range(1, 11)], 0.95) == (2.0, 9.0)


def _binomial_two_sided_p(k: int, n: int, p0: float) -> float:
    """The exact two-sided binomial p-value by enumeration: every outcome no more likely than the one observed."""
    pmf = [math.comb(n, j) * p0 ** j * (1 - p0) ** (n - j) for j in range(n + 1)]
    return min(1.0, sum(q for q in pmf if q <= pmf[k] * (1 + 1e-7)))


@pytest.mark.parametrize("xs,bound", [([2, 3, 4, 5, 0.5, 1.0], 1.0), ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 2.5),
                                      ([0.9, 1.1] * 6 + [1.2] * 3, 1.0), ([5.0] * 8, 1.0)])
def test_sign_test_by_enumeration(xs, bound):
    above, below = sum(v > bound for v in xs), sum(v < bound for v in xs)
    assert ev.sign_test(xs, bound) == pytest.approx(_binomial_two_sided_p(above, above + below, 0.5), rel=1e-9)


@pytest.mark.parametrize("both,only_a,only_b,neither", [(50, 9, 1, 40), (10, 2, 12, 6), (0, 0, 7, 3),
                                                        (30, 5, 5, 10), (5, 20, 8, 0), (3, 1, 0, 3)])
def test_mcnemar_by_enumeration_on_fixed_tables(both, only_a, only_b, neither):
    # exact McNemar: only the discordant pairs count; p = 2·P(Bin(b + c, ½) ≤ min(b, c)), at most 1
    a = [1] * both + [1] * only_a + [0] * only_b + [0] * neither
    b = [1] * both + [0] * only_a + [1] * only_b + [0] * neither
    m = only_a + only_b
    ref = min(1.0, 2 * sum(math.comb(m, j) for j in range(min(only_a, only_b) + 1)) / 2 ** m) if m else 1.0
    assert ev.mcnemar(a, b).tests["McNemar"] == pytest.approx(ref, rel=1e-9)
    assert ev.mcnemar(b, a).tests["McNemar"] == pytest.approx(ref, rel=1e-9)   # symmetric
    # the concordant images carry no evidence: the same discordant counts among more agreeing images, same p
    assert ev.mcnemar(a + [1] * 100, b + [1] * 100).tests["McNemar"] == pytest.approx(ref, rel=1e-9)


@pytest.mark.parametrize("k,n,p0", [(7, 20, 0.1), (3, 20, 0.5), (15, 40, 0.3), (0, 12, 0.2), (50, 60, 0.9)])
def test_binomial_by_enumeration(k, n, p0):
    assert ev.binomial(k, n, p0, "b").tests["b"] == pytest.approx(_binomial_two_sided_p(k, n, p0), rel=1e-7)


@pytest.mark.parametrize("k1,n1,k2,n2", [(8, 10, 2, 10), (3, 12, 9, 11), (0, 5, 5, 5), (20, 40, 10, 35), (1, 9, 1, 9)])
def test_fisher_by_enumeration_of_the_hypergeometric(k1, n1, k2, n2):
    # all tables with the observed margins; two-sided p: every table no more likely than the one observed
    total = k1 + k2

    def prob(a):   # a of the total successes fall in sample 1
        return math.comb(n1, a) * math.comb(n2, total - a) / math.comb(n1 + n2, total)
    tables = [a for a in range(max(0, total - n2), min(total, n1) + 1)]
    ref = min(1.0, sum(prob(a) for a in tables if prob(a) <= prob(k1) * (1 + 1e-7)))
    assert ev.fisher(k1, n1, k2, n2, "F").tests["F"] == pytest.approx(ref, rel=1e-7)


@pytest.mark.parametrize("a,b", [([1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30],
                                  [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]),
                                 ([3.1, 2.0, 5.2, 4.4, 1.0, 6.3, 2.9], [3.0, 2.3, 4.1, 4.8, 0.2, 5.0, 3.6]),
                                 ([1, 2, 3, 4, 5, 6], [1.5, 2.75, 3.25, 4.125, 5.0625, 6.03125])])
def test_wilcoxon_by_enumeration_of_the_signed_rank_distribution(a, b):
    # no ties and no zero differences: the exact null distribution of W+ (sum of the ranks of positive differences)
    # by all 2ⁿ sign patterns; two-sided p = 2·min(P(W+ ≤ w), P(W+ ≥ w)), at most 1
    d = [x - y for x, y in zip(a, b)]
    order = sorted(range(len(d)), key=lambda i: abs(d[i]))
    rank = {i: r + 1 for r, i in enumerate(order)}
    w = sum(rank[i] for i in range(len(d)) if d[i] > 0)
    null = [sum(r for r, s in zip(range(1, len(d) + 1), signs) if s) for signs in product((0, 1), repeat=len(d))]
    ref = min(1.0, 2 * min(sum(v <= w for v in null), sum(v >= w for v in null)) / len(null))
    assert ev.wilcoxon(a, b).tests["Wilcoxon"] == pytest.approx(ref, rel=1e-9)


def _average_ranks(xs):
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    ranks = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for m in range(i, j + 1):
            ranks[order[m]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


@pytest.mark.parametrize("a,b", [([1, 2, 3, 4, 5, 6, 7, 8], [2, 1, 4, 3, 6, 5, 8, 7]),
                                 ([0.3, 0.1, 0.4, 0.1, 0.5, 0.9, 0.2, 0.6, 0.5, 0.3], [5, 3, 6, 2, 7, 9, 1, 8, 6, 4]),
                                 ([1, 2, 3, 4, 5, 6], [6, 4, 5, 3, 1, 2])])
def test_spearman_is_pearson_on_average_ranks_with_its_t_test(a, b):
    ra, rb = _average_ranks(a), _average_ranks(b)
    r = float(np.corrcoef(ra, rb)[0, 1])
    n = len(a)
    p = 2 * t_dist.sf(abs(r) * math.sqrt((n - 2) / (1 - r * r)), n - 2)
    rho, e = ev.spearman(a, b, "rho")
    assert rho == pytest.approx(r, rel=1e-9) and e.tests["rho"] == pytest.approx(p, rel=1e-7)


def test_paired_rounds_split_alpha_over_looks():
    # α = 0.05 over 3 looks: each test and the median interval at 0.05/3; 7 rounds all above the bound give a
    # sign-test p of 2/2⁷ = 0.0156 < 0.0167 (decided), and the interval is (x₍₁₎, x₍₇₎): P(X ≤ 0) = 1/128 ≤ 0.0083
    xs = [2.0, 2.1, 1.9, 2.2, 2.0, 2.05, 2.3]
    e = ev.paired_rounds("r", xs, [1.0], looks=3)
    assert e.alpha == pytest.approx(0.05 / 3)
    assert list(e.tests.values()) == pytest.approx([2 / 2 ** 7])
    assert e.intervals["r"] == (1.9, 2.3) == ev.median_interval(xs, 1 - 0.05 / 3)
    # at one look the same rounds give the 95% interval: P(X ≤ 1) = 8/128 > 0.025, still k = 1
    assert ev.paired_rounds("r", xs, [1.0]).intervals["r"] == (1.9, 2.3)
    # at 14 rounds and 2 looks (α/2 = 0.025 → tail 0.0125): P(X ≤ 2) = 0.0065 ≤ 0.0125 < P(X ≤ 3) = 0.0287 → k = 3
    ys = [float(v) for v in range(1, 15)]
    assert ev.paired_rounds("r", ys, [0.0], looks=2).intervals["r"] == (3.0, 12.0)


# ================================================================ PatchCleanser

@pytest.mark.parametrize("k,classes,calls", [
    (1, 10, 1),        # one mask: the first round is all there is
    (2, 2, 12),        # m = 4, majority ≥ ⌈4/2⌉ = 2: 4 + (4 − 2)·4
    (2, 3, 12),        # ⌈4/3⌉ = 2: 4 + 2·4
    (2, 10, 16),       # ⌈4/10⌉ = 1: 4 + 3·4
    (3, 4, 63),        # m = 9, ⌈9/4⌉ = 3: 9 + 6·9
    (3, 10, 81),       # ⌈9/10⌉ = 1: 9 + 8·9
    (4, 10, 240),      # m = 16, ⌈16/10⌉ = 2: 16 + 14·16
    (6, 10, 1188),     # m = 36, ⌈3.6⌉ = 4: 36 + 32·36
    (6, 37, 1296),     # ⌈36/37⌉ = 1: 36 + 35·36
])
def test_worst_case_calls_by_hand(k, classes, calls):
    assert pc.worst_case_calls(k, classes) == calls


@pytest.mark.parametrize("k,classes", [(2, 2), (2, 3), (3, 4), (3, 10)])
def test_the_disagreeing_model_costs_exactly_the_worst_case(k, classes):
    ms = pc.MaskSet(16, 3, k)
    model = pc.DisagreeingModel(ms, classes)
    with count_calls(model) as c:
        pc.double_masking_loop(model, torch.full((1, 3, 16, 16), 0.25), ms)
    assert c.images == pc.worst_case_calls(k, classes)


@pytest.mark.parametrize("k,calls", [(1, 1), (2, 10), (3, 45), (4, 136), (6, 666)])
def test_certification_calls_by_hand(k, calls):
    # pairs with repetition of k² masks: k²(k² + 1)/2 (k = 2: 4 one-mask pairs (i, i) and 6 two-mask pairs)
    assert pc.certification_calls(k) == calls


class _Recorder(nn.Module):
    """Records which masks' regions are wholly grey in every image it sees; answers 1 when exactly one region is
    (a one-mask image), else 0."""

    def __init__(self, masks: pc.MaskSet):
        super().__init__()
        self.regions, self.seen = masks.masks, []

    def forward(self, x):
        grey = (x == 0.5).all(1)
        covered = ~(self.regions[None] & ~grey[:, None]).flatten(2).any(2)
        self.seen += [frozenset(row.nonzero().flatten().tolist()) for row in covered]
        return nn.functional.one_hot((covered.sum(1) == 1).long(), 2).float()


@pytest.mark.parametrize("certify", [pc.certify_loop, pc.certify_batched])
def test_certification_checks_every_pair_of_masks_once_including_a_mask_with_itself(certify):
    # n = 8, p = 3, k = 2: stride ⌈6/2⌉ = 3, masks 5×5 at (0,0), (0,3), (3,0), (3,3); no union of two covers a third
    ms = pc.MaskSet(8, 3, 2)
    model = _Recorder(ms)
    x = torch.full((1, 3, 8, 8), 0.2)
    certified = certify(model, x, torch.zeros(1, dtype=torch.long), ms)
    assert sorted(map(sorted, model.seen)) == sorted([[i] if i == j else [i, j]
                                                      for i in range(4) for j in range(i, 4)])
    assert len(model.seen) == pc.certification_calls(2)
    assert not certified.item()      # the one-mask images (i, i) say 1: not certified for 0


@pytest.mark.parametrize("n,p,k,stride,size,starts", [
    (32, 5, 6, 5, 9, [0, 5, 10, 15, 20, 23]),          # s = ⌈28/6⌉ = 5, m = 5 + 5 − 1; the last start 32 − 9
    (224, 32, 6, 33, 64, [0, 33, 66, 99, 132, 160]),   # s = ⌈193/6⌉ = 33, m = 64; last start 224 − 64
    (16, 3, 2, 7, 9, [0, 7]),                          # s = ⌈14/2⌉ = 7, m = 9
    (32, 3, 6, 5, 7, [0, 5, 10, 15, 20, 25]),          # s = ⌈30/6⌉ = 5, m = 7; 25 ≤ 32 − 7
    (10, 10, 3, 1, 10, [0]),                           # the patch is the image: one mask, the whole image
    (8, 1, 8, 1, 1, list(range(8))),                   # one-pixel patches: every pixel its own mask
])
def test_mask_set_geometry_by_hand(n, p, k, stride, size, starts):
    ms = pc.MaskSet(n, p, k)
    assert (ms.stride, ms.mask_size, ms.starts, len(ms)) == (stride, size, starts, len(starts) ** 2)
    assert (ms.masks.flatten(1).sum(1) == size * size).all()
    # R-covering: along each axis every patch start t has a mask start a with a ≤ t and t + p ≤ a + m
    assert all(any(a <= t and t + p <= a + size for a in starts) for t in range(n - p + 1))


# ================================================================ DPA

def _plurality(counts):
    return max(range(len(counts)), key=lambda c: (counts[c], -c))


def _compositions(total, parts):
    if parts == 1:
        yield (total,)
        return
    for first in range(total + 1):
        for rest in _compositions(total - first, parts - 1):
            yield (first, *rest)


@pytest.mark.parametrize("members,classes", [(7, 3), (6, 4), (9, 3), (5, 5)])
def test_dpa_certificate_is_the_fewest_vote_changes_that_flip_the_plurality_minus_one(members, classes):
    # Levine & Feizi (2021): a poisoned (inserted or removed) sample changes at most one member's vote. Brute force
    # over every vote table: the fewest member changes to reach a table with another winner (ties to the smaller
    # class) is half the L1 distance; the certificate is one less.
    tables = list(_compositions(members, classes))
    for counts in tables:
        top = _plurality(counts)
        flips = min(sum(abs(a - b) for a, b in zip(counts, other)) // 2
                    for other in tables if _plurality(other) != top)
        got = ensembles.certified_poisons(torch.tensor([counts]))
        assert int(got[0]) == flips - 1, counts


def test_dpa_certificate_by_hand():
    counts = torch.tensor([[3, 3, 4, 0],   # top 2; challengers 3 + 1, 3 + 1 (smaller classes win ties): ⌊0/2⌋ = 0
                           [2, 0, 0, 6],   # top 3; class 0: 2 + 1 = 3 → ⌊3/2⌋ = 1 (two moves tie 4–4: 0 wins)
                           [0, 6, 6, 0],   # tie: class 1 wins; class 2 needs no extra vote: 6 + 0 → 0
                           [1, 9, 2, 2],   # top 1; class 0: 1 + 1 = 2, classes 2, 3: 2 → ⌊7/2⌋ = 3
                           [4, 0, 0, 0]])  # top 0; every challenger 0 + 0 → ⌊4/2⌋ = 2
    assert ensembles.plurality(counts).tolist() == [2, 3, 1, 1, 0]
    assert ensembles.certified_poisons(counts).tolist() == [0, 1, 0, 3, 2]


def test_holm_matches_a_worked_example_and_the_step_down_definition():
    # worked by hand: sorted p = .01, .02, .03, .04 → ×4, ×3, ×2, ×1 = .04, .06, .06, .04 → monotone .04 .06 .06 .06
    assert ev.holm([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert ev.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])         # capped at 1
    assert ev.holm([0.01]) == pytest.approx([0.01])                   # one arm: no adjustment
    # never below Bonferroni's first step nor above Bonferroni: min(1, m·p) ≥ Holm ≥ p
    ps = [0.001, 0.2, 0.03, 0.04, 0.5]
    for p, a in zip(ps, ev.holm(ps)):
        assert p <= a <= min(1.0, len(ps) * p)


def test_per_arm_evidence_is_decided_only_when_every_adjusted_arm_is_significant():
    arms = {"a": ev.binomial(18, 20, 0.5, "sign"), "b": ev.binomial(17, 20, 0.5, "sign")}
    e = ev.per_arm(arms)
    assert sorted(e.tests) == ["a: sign (Holm)", "b: sign (Holm)"]
    assert e.decided(lambda v: True, {})
    raw_a, raw_b = (ev.binomial(k, 20, 0.5, "sign").tests["sign"] for k in (18, 17))
    assert raw_a < raw_b and e.tests["a: sign (Holm)"] == pytest.approx(2 * raw_a)   # smallest p: × m
    assert e.tests["b: sign (Holm)"] == pytest.approx(raw_b)                          # last step: × 1
    weak = ev.per_arm({**arms, "c": ev.binomial(12, 20, 0.5, "sign")})   # one arm not significant: not "every"
    assert not weak.decided(lambda v: True, {})
    with pytest.raises(ValueError):
        ev.per_arm({"a": arms["a"] + ev.binomial(3, 20, 0.5, "other")})
    with pytest.raises(ValueError, match="same interval"):       # one arm's interval would overwrite another's
        ev.per_arm({k: ev.binomial(9, 20, 0.5, "sign") + ev.proportion(9, 20, "share") for k in "ab"})


def test_mcnemar_over_runs_sums_each_runs_discordant_images():
    from scipy.stats import binomtest

    def run(only_a: int, only_b: int, both: int, neither: int):
        a = [True] * only_a + [False] * only_b + [True] * both + [False] * neither
        b = [False] * only_a + [True] * only_b + [True] * both + [False] * neither
        return a, b
    runs = [run(8, 2, 30, 10), run(5, 1, 20, 4)]
    e = ev.mcnemar_over_runs(runs, "rise", seeds=[0, 1000])
    assert e.tests["McNemar stratified by run (rise)"] == pytest.approx(binomtest(13, 16, 0.5).pvalue)
    assert e.n == 80 and e.design["seeds"] == [0, 1000]
    assert [r["rise"] for r in e.runs] == pytest.approx([6 / 50, 4 / 30])    # each run's own difference
    # the same as McNemar's on the runs' images side by side (the stratified sum), never a test of one run alone
    a, b = (sum((r[i] for r in runs), []) for i in (0, 1))
    assert e.tests["McNemar stratified by run (rise)"] == pytest.approx(ev.mcnemar(a, b).tests["McNemar"])
    assert ev.mcnemar_over_runs([run(0, 0, 5, 5)] * 2, "rise").tests["McNemar stratified by run (rise)"] == 1.0
    # one run pointing the other way leaves the finding undecided, however strong the sum
    against = ev.mcnemar_over_runs([run(40, 2, 5, 5), run(1, 3, 5, 5)], "rise")
    assert against.tests["McNemar stratified by run (rise)"] < 1e-6
    assert not against.decided(lambda v: v["rise"] > 0, {"rise": 0.3})
    with pytest.raises(ValueError):
        ev.mcnemar_over_runs([run(8, 2, 30, 10)], "rise")
    with pytest.raises(ValueError):
        ev.mcnemar_over_runs([([True, False], [True]), run(1, 1, 1, 1)], "rise")


def test_per_arm_over_runs_keeps_every_run_of_every_arm():
    seeds = [0, 1000, 2000]
    up = ev.over_runs([{"rise_a": v} for v in (0.5, 0.6, 0.55)], "rise_a", seeds=seeds)
    mixed = ev.over_runs([{"rise_b": v} for v in (0.5, -0.02, 0.6)], "rise_b", seeds=seeds)
    e = ev.per_arm({"a": up, "b": ev.over_runs([{"rise_b": v} for v in (0.4, 0.45, 0.5)], "rise_b", seeds=seeds)})
    assert e.runs == ({"rise_a": 0.5, "rise_b": 0.4}, {"rise_a": 0.6, "rise_b": 0.45}, {"rise_a": 0.55, "rise_b": 0.5})
    assert e.design["seeds"] == seeds
    rule = lambda v: v["rise_a"] > 0 and v["rise_b"] > 0
    assert e.decided(rule, {"rise_a": 0.55, "rise_b": 0.45})
    # one run of one arm pointing the other way: not decided, however small the other arms' p-values
    assert not ev.per_arm({"a": up, "b": mixed}).decided(rule, {"rise_a": 0.55, "rise_b": 0.36})
    with pytest.raises(ValueError, match="same runs"):
        ev.per_arm({"a": up, "b": ev.over_runs([{"rise_b": v} for v in (0.4, 0.5)], "rise_b", seeds=[0, 1000])})
    with pytest.raises(ValueError, match="same runs"):                 # an arm over images beside arms over runs
        ev.per_arm({"a": up, "b": ev.binomial(18, 20, 0.5, "sign")})


def test_arms_holding_counts_only_arms_decided_in_the_stated_direction():
    arms = {"a": ev.binomial(18, 20, 0.5, "sign"), "b": ev.binomial(2, 20, 0.5, "sign"),
            "c": ev.binomial(11, 20, 0.5, "sign")}
    k, e = ev.arms_holding(arms, {"a": True, "b": False, "c": True})
    assert k == 1 and e.design["holding"] == ["a"]          # b is significant the other way, c is not significant
    k, _ = ev.arms_holding(arms, {"a": True, "b": True, "c": True})
    assert k == 2
    assert e.design["adjusted_p"] == pytest.approx(ev.holm(e.design["raw_p"]))
    assert "1 of 3 arms significant after Holm (a)" in e.describe()
    # the count's bounds: a is decided for it, b against it, c undecided — so between 1 and 2 of 3
    k, e = ev.arms_holding(arms, {"a": True, "b": False, "c": True}, count="k")
    assert e.intervals["k"] == (1.0, 2.0) and e.design["against"] == ["b"]
    assert not e.decided(lambda v: 2 * v["k"] > 3, {"k": k})             # "more than half": 1 or 2 — undecided
    assert e.decided(lambda v: v["k"] < 3, {"k": k})                      # "not all": b is decided against
    weak = {f"w{i}": ev.binomial(11, 20, 0.5, "sign") for i in range(4)}  # nothing decided: no verdict either way
    k, e = ev.arms_holding(weak, dict.fromkeys(weak, True), count="k")
    assert k == 0 and not e.decided(lambda v: 2 * v["k"] > 4, {"k": 0})


class _OnePixel(nn.Module):
    """Reads one pixel: red → class 0, blue → class 1, grey (masked) → a tie, which argmax gives to class 0. Any
    patch over that pixel decides its class."""

    def forward(self, x):
        r, b = x[:, 0, 12, 12], x[:, 2, 12, 12]   # inside only the last of the nine masks
        return torch.stack([r - b, b - r], 1)


@pytest.mark.parametrize("certify", [pc.certify_loop, pc.certify_batched])
def test_a_certified_image_keeps_its_label_under_every_patch_position_and_only_certified_ones_are_claimed(certify):
    # PatchCleanser's guarantee: certified for y ⇒ double masking returns y whatever a patch of the mask set's size
    # does. Red images are certified (the masked pixel ties to class 0); blue ones are not (masking the pixel says 0).
    # A blue 3×3 patch over the pixel flips the bare model, never the defended one: a double masking without its
    # second round, or a certifier that checks too few pairs, fails here
    ms = pc.MaskSet(16, 3, 3)
    red, blue = torch.tensor([0.9, 0.1, 0.1]), torch.tensor([0.1, 0.1, 0.9])
    x = torch.stack([red, blue])[:, :, None, None].expand(2, 3, 16, 16).clone()
    y = torch.tensor([0, 1])
    model = _OnePixel()
    assert certify(model, x, y, ms).tolist() == [True, False]
    flipped = 0
    for top in range(16 - 3 + 1):
        for left in range(16 - 3 + 1):
            attacked = x[:1].clone()
            attacked[:, :, top:top + 3, left:left + 3] = blue[:, None, None]
            flipped += int(model(attacked).argmax(1)) != 0
            assert pc.double_masking_batched(model, attacked, ms).tolist() == [0]
            assert pc.double_masking_loop(model, attacked, ms).tolist() == [0]
    assert flipped == 9          # the nine positions that cover the pixel fool the bare model
