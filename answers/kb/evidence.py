"""The evidence a *finding* carries: how many units it rests on, exact tests and confidence intervals.

A finding is a statement about the world (not an invariant of the code), decided where readers see it. Its
rule is evaluated on the measured point values; the evidence says whether that verdict is *decided*:

* every test's two-sided p-value is below ``alpha`` (e.g. McNemar's exact test on the images where two
  classifiers disagree), and
* the rule gives the same verdict at every corner of the confidence intervals given for its values (each
  named value replaced by its lower or upper bound), and
* where the finding rests on independent runs (training seeds, patch optimisations), the rule gives that verdict
  on every run's own values too: no run points the other way.

Decided and true → "holds"; decided and false → "fails"; otherwise "inconclusive". The constructors here
build the usual kinds from raw measurements; scipy.stats is imported on use (it costs most of a second).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

ALPHA = 0.05
#: "costs about n times" (a cost ratio against the count of passes or steps it should approach): within this
#: factor of n, either way
ABOUT = 1.5


#: A choice made on a run's units (which arms leave room to rise, which transforms cost accuracy) must not be
#: tested on those units again: the arms that happened to come out extreme there would drift back on any other
#: units (regression to the mean) and that drift would be counted as the effect. Choose on the even-numbered
#: units, let the run take part in the test with its odd-numbered ones.
CHOOSE, DECIDE = slice(0, None, 2), slice(1, None, 2)


def about(count: float) -> tuple[float, float]:
    """The bounds of "about ``count``": ``count`` ÷ :data:`ABOUT` and ``count`` × :data:`ABOUT`; a rule states
    them as ``n / ABOUT < x < n * ABOUT`` over a value ``n`` = ``count``, so it compares exactly these numbers."""
    return count / ABOUT, count * ABOUT


def picked_of(k: int, alpha: float = ALPHA) -> float:
    """The two-sided confidence of an interval for a value picked out of ``k`` as the most extreme (the weakest run,
    the smallest gain), tested on one side: that side at ``alpha / k`` (Bonferroni). Were all ``k`` values at the
    bound, the chance that the picked one still looks beyond it stays ≤ ``alpha``."""
    if k < 1:
        raise ValueError(f"picked out of {k} values: need at least one")
    return 1 - 2 * alpha / k


@dataclass(frozen=True)
class Evidence:
    """``n``: the units the finding rests on (images, rounds, runs); ``tests``: name → two-sided p-value;
    ``intervals``: value name → (low, high) confidence interval; ``method``: how they were obtained, in words;
    ``runs``: one mapping of values per independent run (each must give the point's verdict); ``design``: how
    the units were gathered (rounds and looks of a timing, the seeds of the runs), for the JSON record."""

    n: int
    tests: Mapping[str, float] = field(default_factory=dict)
    intervals: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    method: str = ""
    alpha: float = ALPHA
    runs: tuple[Mapping[str, Any], ...] = ()
    design: Mapping[str, Any] = field(default_factory=dict)

    def __add__(self, other: "Evidence") -> "Evidence":
        """Both pieces of evidence at once (a finding resting on two comparisons needs both decided)."""
        clash = (set(self.tests) & set(other.tests)) | (set(self.intervals) & set(other.intervals))
        if clash:
            raise ValueError(f"evidence names {sorted(clash)} twice")
        if self.runs and other.runs and len(self.runs) != len(other.runs):
            raise ValueError(f"evidence over {len(self.runs)} and {len(other.runs)} runs cannot be joined")
        runs = (tuple({**a, **b} for a, b in zip(self.runs, other.runs)) if self.runs and other.runs
                else self.runs or other.runs)
        return Evidence(min(self.n, other.n) if self.n and other.n else max(self.n, other.n),
                        {**self.tests, **other.tests}, {**self.intervals, **other.intervals},
                        "; ".join(m for m in (self.method, other.method) if m), min(self.alpha, other.alpha),
                        runs, {**self.design, **other.design})

    def decided(self, verdict: Callable[[Mapping[str, Any]], bool], values: Mapping[str, Any]) -> bool:
        """Whether every test is significant and ``verdict`` agrees at every corner of the intervals."""
        if any(not p < self.alpha for p in self.tests.values()):
            return False
        point = verdict(values)
        if any(verdict({**values, **run}) != point for run in self.runs):
            return False
        names = list(self.intervals)
        for corner in itertools.product(*(self.intervals[n] for n in names)):
            if verdict({**values, **dict(zip(names, corner))}) != point:
                return False
        return True

    def to_dict(self) -> dict[str, Any]:
        out = {"n": self.n, "tests": {k: float(v) for k, v in self.tests.items()},
               "intervals": {k: [float(a), float(b)] for k, (a, b) in self.intervals.items()},
               "method": self.method, "alpha": self.alpha}
        if self.runs:
            out["runs"] = [{k: float(v) for k, v in run.items()} for run in self.runs]
        if self.design:
            out["design"] = dict(self.design)
        return out

    def describe(self) -> str:
        """One line for a page: n, p-values and intervals."""
        parts = [f"n = {self.n}"]
        parts += [f"{name} p {_p(p)}" for name, p in self.tests.items()]
        parts += [f"{name} ∈ [{_num(lo)}, {_num(hi)}]" for name, (lo, hi) in self.intervals.items()]
        if "holding" in self.design:
            holding, arms = self.design["holding"], self.design["arms"]
            parts.append(f"{len(holding)} of {len(arms)} arms significant after Holm"
                         + (f" ({', '.join(holding)})" if holding else ""))
        if self.runs:
            parts.append(f"{len(self.runs)} runs: " + " | ".join(
                ", ".join(f"{k} {_num(v)}" for k, v in run.items()) for run in self.runs))
        if self.alpha != ALPHA:
            parts.append(f"α = {self.alpha:.3g}")
        return "; ".join(parts)


def _p(p: float) -> str:
    return f"= {p:.2g}" if p >= 1e-4 else "< 1e-4"


def _num(v: float) -> str:
    return f"{v:.3g}"


def _as_bools(xs) -> list[bool]:
    return [bool(v) for v in (xs.tolist() if hasattr(xs, "tolist") else xs)]


def _discordant(a: Sequence[bool], b: Sequence[bool]) -> tuple[int, int]:
    """The paired images only ``a`` gets right, and those only ``b`` gets right."""
    return sum(x and not y for x, y in zip(a, b)), sum(y and not x for x, y in zip(a, b))


def mcnemar(correct_a, correct_b, name: str = "McNemar") -> Evidence:
    """Paired comparison of two classifiers (or two conditions) on the same images: the exact McNemar test,
    a two-sided binomial test on the images where exactly one of them is right."""
    from scipy.stats import binomtest
    a, b = _as_bools(correct_a), _as_bools(correct_b)
    if len(a) != len(b):
        raise ValueError(f"paired evidence needs the same images: {len(a)} vs {len(b)}")
    only_a, only_b = _discordant(a, b)
    p = binomtest(only_a, only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0
    return Evidence(len(a), {name: p},
                    method=f"{name}: exact binomial test on the {only_a + only_b} discordant images "
                           f"({only_a} vs {only_b})")


def mcnemar_over_runs(pairs: Sequence[tuple[Any, Any]], value: str, seeds: Sequence[int] = ()) -> Evidence:
    """Two arms compared in each of several independent runs, each run on its own images (one paired outcome
    per image): the exact McNemar test stratified by run. Given each run's discordant images, under no difference
    each run's count for ``a`` is Binomial(dᵢ, ½), so their sum is Binomial(Σdᵢ, ½) — the Mantel–Haenszel test
    for matched pairs, which never pools images of one run with another's as if they were one sample. Every
    run's difference (share right under ``a`` minus under ``b``) is kept as ``value`` and must give the point's
    verdict (no run pointing the other way)."""
    from scipy.stats import binomtest
    if len(pairs) < 2:
        raise ValueError(f"evidence over runs needs at least two runs, got {len(pairs)}")
    only_a = only_b = n = 0
    runs = []
    for correct_a, correct_b in pairs:
        a, b = _as_bools(correct_a), _as_bools(correct_b)
        if len(a) != len(b) or not a:
            raise ValueError(f"each run's paired evidence needs the same, non-empty images: {len(a)} vs {len(b)}")
        run_a, run_b = _discordant(a, b)
        only_a, only_b, n = only_a + run_a, only_b + run_b, n + len(a)
        runs.append({value: (sum(a) - sum(b)) / len(a)})
    p = binomtest(only_a, only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0
    return Evidence(n, {f"McNemar stratified by run ({value})": p},
                    method=f"{value}: {len(runs)} independent runs, each on its own images: exact McNemar test on the "
                           f"{only_a + only_b} discordant images summed over the runs ({only_a} vs {only_b}), "
                           "stratified by run; every run must point the same way",
                    runs=tuple(runs), design={"runs": len(runs), **({"seeds": list(seeds)} if seeds else {})})


def binomial_over_runs(successes: Sequence[int], n: Sequence[int], p0: float, value: str,
                       seeds: Sequence[int] = ()) -> Evidence:
    """A proportion measured in each of several independent runs, each on its own units (a trained model's
    accuracy on its run's own test images), against ``p0``: the exact binomial test of the successes summed over
    the runs — under pᵢ = p0 in every run each count is Binomial(nᵢ, p0), so the sum is Binomial(Σnᵢ, p0) — the
    stratified form of :func:`binomial`, as :func:`mcnemar_over_runs` is of :func:`mcnemar`. Every run's proportion
    is kept as ``value`` and must give the point's verdict (no run on the other side of ``p0``)."""
    from scipy.stats import binomtest
    if len(successes) != len(n):
        raise ValueError(f"each run needs its count and its units: {len(successes)} counts, {len(n)} sizes")
    if len(successes) < 2:
        raise ValueError(f"evidence over runs needs at least two runs, got {len(successes)}")
    if any(not 0 <= k <= m or m == 0 for k, m in zip(successes, n)):
        raise ValueError(f"each run needs 0 ≤ successes ≤ units and some units, got {list(zip(successes, n))}")
    k, total = int(sum(successes)), int(sum(n))
    return Evidence(total, {f"binomial test stratified by run ({value})": binomtest(k, total, p0).pvalue},
                    method=f"{value}: {len(n)} independent runs, each on its own units: exact binomial test of the "
                           f"{k}/{total} successes summed over the runs against {p0:g}; every run must point the same way",
                    runs=tuple({value: kk / m} for kk, m in zip(successes, n)),
                    design={"runs": len(n), **({"seeds": list(seeds)} if seeds else {})})


def proportion(successes: int, n: int, value: str, confidence: float = 0.95) -> Evidence:
    """A Clopper–Pearson interval for the proportion named ``value`` (``successes`` of ``n``)."""
    from scipy.stats import binomtest
    if n == 0:
        return Evidence(0, intervals={value: (0.0, 1.0)}, method=f"{value}: no data")
    ci = binomtest(int(successes), int(n)).proportion_ci(confidence, method="exact")
    return Evidence(int(n), intervals={value: (float(ci.low), float(ci.high))},
                    method=f"{value}: {confidence:.0%} Clopper–Pearson interval ({successes}/{n})")


def binomial(successes: int, n: int, p0: float, name: str) -> Evidence:
    """Exact two-sided binomial test of ``successes`` of ``n`` against the proportion ``p0``."""
    from scipy.stats import binomtest
    p = binomtest(int(successes), int(n), p0).pvalue if n else 1.0
    return Evidence(int(n), {name: p}, method=f"{name}: exact binomial test of {successes}/{n} against {p0:g}")


def fisher(k1: int, n1: int, k2: int, n2: int, name: str = "Fisher") -> Evidence:
    """Two proportions from different samples (``k1/n1`` vs ``k2/n2``): Fisher's exact test."""
    from scipy.stats import fisher_exact
    p = fisher_exact([[k1, n1 - k1], [k2, n2 - k2]]).pvalue if n1 and n2 else 1.0
    return Evidence(min(n1, n2), {name: float(p)},
                    method=f"{name}: Fisher's exact test, {k1}/{n1} vs {k2}/{n2}")


def wilcoxon(a: Sequence[float], b: Sequence[float], name: str = "Wilcoxon") -> Evidence:
    """Paired measurements (per image, per channel): the Wilcoxon signed-rank test of ``a - b``."""
    from scipy.stats import wilcoxon as _wilcoxon
    a, b = list(map(float, a)), list(map(float, b))
    if len(a) != len(b):
        raise ValueError(f"paired evidence needs the same units: {len(a)} vs {len(b)}")
    diffs = [x - y for x, y in zip(a, b)]
    p = float(_wilcoxon(diffs).pvalue) if any(diffs) else 1.0
    return Evidence(len(a), {name: p}, method=f"{name}: signed-rank test on {len(a)} paired values")


def spearman(a: Sequence[float], b: Sequence[float], value: str) -> tuple[float, Evidence]:
    """Spearman's rank correlation (ties get their average rank) and its two-sided p-value."""
    from scipy.stats import spearmanr
    res = spearmanr(list(a), list(b))
    return float(res.statistic), Evidence(len(a), {value: float(res.pvalue)},
                                          method=f"{value}: Spearman rank correlation, {len(a)} pairs")


def bootstrap(statistic: Callable[..., float], data: Sequence, value: str, seed: int = 0,
              resamples: int = 200, confidence: float = 0.95) -> Evidence:
    """A percentile bootstrap interval for ``statistic(data)`` (``data`` indexed along its first axis)."""
    import numpy as np
    from scipy.stats import bootstrap as _bootstrap
    n = len(data)
    res = _bootstrap((np.arange(n),), lambda idx: statistic(idx.astype(int)), n_resamples=resamples,
                     confidence_level=confidence, method="percentile", vectorized=False,
                     random_state=np.random.default_rng(seed))
    ci = res.confidence_interval
    return Evidence(n, intervals={value: (float(ci.low), float(ci.high))},
                    method=f"{value}: {confidence:.0%} percentile bootstrap over {n} units, {resamples} resamples")


def median_interval(xs: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """A distribution-free interval for the median of ``xs``: the order statistics (x₍ₖ₎, x₍ₙ₋ₖ₊₁₎) with the
    largest k whose coverage, 1 − 2·P(Bin(n, ½) < k), is at least ``confidence`` (the sign test inverted);
    (−∞, ∞) when too few values reach that confidence."""
    from scipy.stats import binom
    if not 0 < confidence < 1:
        raise ValueError(f"a confidence level lies strictly between 0 and 1, got {confidence}")
    xs = sorted(float(v) for v in xs)
    n, tail = len(xs), (1 - confidence) / 2
    k = 0
    # P(X ≤ k) = P(X < k + 1); it reaches ½ > tail by k = n // 2, so k never passes the middle
    while binom.cdf(k, n, 0.5) <= tail:
        k += 1
    return (xs[k - 1], xs[n - k]) if k else (-math.inf, math.inf)


def sign_test(xs: Sequence[float], bound: float) -> float:
    """Two-sided exact sign test of "the median of ``xs`` is ``bound``" (values equal to it are dropped)."""
    from scipy.stats import binomtest
    above = sum(float(v) > bound for v in xs)
    below = sum(float(v) < bound for v in xs)
    return float(binomtest(above, above + below, 0.5).pvalue) if above + below else 1.0


def paired_rounds(value: str, xs: Sequence[float], bounds: Sequence[float], looks: int = 1,
                  alpha: float = ALPHA, clock: str = "wall") -> Evidence:
    """The evidence of a timing finding: ``xs`` holds its statistic once per interleaved round (a method's time
    ÷ the baseline's in the same round, or a fit of such ratios), ``bounds`` the numbers its rule compares the
    statistic with. A sign test against each bound and a distribution-free interval for the median of ``xs``;
    their α is ``alpha`` split evenly over the ``looks`` of the stopping rule that gathered the rounds
    (:func:`answers.lab.timing.time_rounds`), so stopping at the first look that decides keeps the error rate."""
    xs = [float(v) for v in xs]
    a = alpha / looks
    tests = {f"{value}: sign test vs {b:g}": sign_test(xs, b) for b in bounds}
    lo, hi = median_interval(xs, 1 - a)
    return Evidence(len(xs), tests, {value: (lo, hi)},
                    method=f"{value}: its value in each of {len(xs)} interleaved rounds ({clock} time), a two-sided "
                           f"sign test against {', '.join(f'{b:g}' for b in bounds)} and a distribution-free "
                           f"{1 - a:.1%} interval for the median (α = {alpha:g} split over {looks} planned looks)",
                    alpha=a, design={f"{value}_rounds": len(xs), f"{value}_looks": looks, f"{value}_clock": clock})


def rounds_decide(xs: Sequence[float], bounds: Sequence[float], looks: int = 1, alpha: float = ALPHA) -> bool:
    """Whether per-round values ``xs`` already decide on which side of every bound their median lies (the
    stopping rule of a timing: :func:`paired_rounds`'s interval excludes each bound)."""
    lo, hi = median_interval(xs, 1 - alpha / looks)
    return all(not lo <= b <= hi for b in bounds)


def over_runs(runs: Sequence[Mapping[str, float]], value: str, null: float = 0.0, confidence: float = 0.95,
              seeds: Sequence[int] = ()) -> Evidence:
    """Evidence whose units are independent runs (training seeds, patch optimisations), not the images of one
    run: ``runs`` holds each run's values (the names the rule uses); ``value`` is the one tested, a difference
    between two arms for a comparison. A one-sample t-test of its per-run values against ``null`` and a
    Student-t interval for their mean; every run's values are kept, and the rule must give the point's verdict
    on each of them (no run pointing the other way).

    Runs that agree to rounding (accuracies over the same number of images often do) leave the t-test without a
    spread: it would call two equal runs certain. There the p-value is the sign test's instead, the chance that
    every run lands on the same side of ``null`` if either side were as likely, 2 · 2⁻ⁿ (one at the null: 1) —
    three equal runs are not enough to decide."""
    import numpy as np
    from scipy.stats import t, ttest_1samp
    xs = np.asarray([float(r[value]) for r in runs])
    if len(xs) < 2:
        raise ValueError(f"evidence over runs needs at least two runs, got {len(xs)}")
    if np.ptp(xs) <= 1e-6 * max(1.0, float(np.abs(xs).max())):   # float32 accuracies: steps of ~3e-8
        p = 1.0 if np.isclose(xs.mean(), null, rtol=0, atol=1e-6) else 2 * 0.5 ** len(xs)   # n ≥ 2: at most ½
        half = 0.0
    else:
        p = float(ttest_1samp(xs, null).pvalue)
        half = float(t.ppf(0.5 + confidence / 2, len(xs) - 1) * xs.std(ddof=1) / np.sqrt(len(xs)))
    mean = float(xs.mean())
    return Evidence(len(xs), {f"t-test over runs ({value})": p}, {value: (mean - half, mean + half)},
                    method=f"{value}: {len(xs)} independent runs as the units: t-test against {null:g} and a "
                           f"{confidence:.0%} t-interval of the mean; every run must point the same way",
                    runs=tuple({k: float(v) for k, v in r.items()} for r in runs),
                    design={"runs": len(xs), **({"seeds": list(seeds)} if seeds else {})})


def over_run_rows(rows: Sequence[Mapping[str, Any]], value: str, *also: str, null: float = 0.0) -> Evidence:
    """:func:`over_runs` on the rows of a runs table, each with its ``seed``: every run keeps ``value`` and the
    values ``also`` names (the rule's other per-run values), and the seeds go into the design."""
    return over_runs([{k: r[k] for k in (value, *also)} for r in rows], value, null=null,
                     seeds=[r["seed"] for r in rows])


def mean_interval(samples: Sequence[float], value: str, confidence: float = 0.95) -> Evidence:
    """A Student-t interval for the mean of ``samples`` named ``value``."""
    import numpy as np
    from scipy.stats import t
    xs = np.asarray(list(samples), dtype=float)
    if len(xs) < 2:
        return Evidence(len(xs), intervals={value: (-np.inf, np.inf)}, method=f"{value}: too few samples")
    half = t.ppf(0.5 + confidence / 2, len(xs) - 1) * xs.std(ddof=1) / np.sqrt(len(xs))
    return Evidence(len(xs), intervals={value: (float(xs.mean() - half), float(xs.mean() + half))},
                    method=f"{value}: {confidence:.0%} t-interval of the mean over {len(xs)} units")


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of ``pvalues`` (in their order): the i-th smallest p is multiplied by the
    number of hypotheses not yet rejected (m − i + 1), made monotone, capped at 1. Rejecting where the adjusted
    p < α keeps the chance of any false rejection among them ≤ α."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * float(pvalues[i])))
        adjusted[i] = running
    return adjusted


def per_arm(arms: Mapping[str, Evidence]) -> Evidence:
    """One test per arm (defense, repair, transform, architecture), never one test pooling the arms' images:
    each arm's evidence holds exactly one test, its p-value is Holm-adjusted over the arms, and the finding is
    decided only if every adjusted p is below α — the "every" of its sentence. ``n`` is the smallest arm's."""
    if not arms:
        raise ValueError("per-arm evidence needs at least one arm")
    for arm, e in arms.items():
        if len(e.tests) != 1:
            raise ValueError(f"arm {arm!r} must carry exactly one test, has {sorted(e.tests)}")
    names = [f"{arm}: {next(iter(e.tests))}" for arm, e in arms.items()]
    raw = [next(iter(e.tests.values())) for e in arms.values()]
    adjusted = holm(raw)
    names_seen = [k for e in arms.values() for k in e.intervals]
    if len(names_seen) != len(set(names_seen)):
        raise ValueError(f"arms name the same interval twice ({sorted(names_seen)}): name each arm's value apart")
    intervals = {k: v for e in arms.values() for k, v in e.intervals.items()}
    return Evidence(min(e.n for e in arms.values()), {f"{name} (Holm)": p for name, p in zip(names, adjusted)},
                    intervals,
                    method=f"one test per arm, Holm-adjusted over {len(arms)} arms: "
                           + "; ".join(f"{arm}: {e.method}" for arm, e in arms.items()),
                    runs=_merged_runs(arms),
                    design={"arms": list(arms), "raw_p": [float(p) for p in raw],
                            "adjusted_p": [float(p) for p in adjusted],
                            **next((e.design for e in arms.values() if "seeds" in e.design), {})})


def _merged_runs(arms: Mapping[str, Evidence]) -> tuple[Mapping[str, Any], ...]:
    """The arms' runs side by side (run i of every arm in one mapping), so that every run must give the point's
    verdict on every arm at once; arms decided over runs must share their runs (the same seeds) and name their
    values apart."""
    over = [e for e in arms.values() if e.runs]
    if not over:
        return ()
    if len(over) != len(arms) or len({len(e.runs) for e in over}) != 1 \
            or len({tuple(e.design.get("seeds", ())) for e in over}) != 1:
        raise ValueError("either every arm or none is decided over runs, and all over the same runs (seeds)")
    names = [k for e in over for k in e.runs[0]]
    if len(names) != len(set(names)):
        raise ValueError(f"arms name the same per-run value twice ({sorted(names)}): name each arm's value apart")
    return tuple({k: v for e in over for k, v in e.runs[i].items()} for i in range(len(over[0].runs)))


def arms_holding(arms: Mapping[str, Evidence], directions: Mapping[str, bool],
                 count: str | None = None) -> tuple[int, Evidence]:
    """For a finding about how many arms hold ("most pairs", "k of n"): the number of arms whose own test is
    significant after Holm's adjustment over the arms *and* whose point estimate goes the sentence's way
    (``directions``), with evidence that records every arm's raw and adjusted p.

    The uncertainty is in the count: an arm counts only if its adjusted test decides it. With ``count`` (the
    name the rule gives the number) the evidence bounds it: at least the arms decided the sentence's way, at most
    all arms but those decided the other way — so "more than half" fails only when enough arms are decided
    against it, and an arm that merely lacks the power to decide leaves the finding inconclusive."""
    tested = per_arm(arms)
    adjusted = dict(zip(arms, tested.design["adjusted_p"]))
    holding = [a for a in arms if adjusted[a] < tested.alpha and directions[a]]
    against = [a for a in arms if adjusted[a] < tested.alpha and not directions[a]]
    bound = {count: (float(len(holding)), float(len(arms) - len(against)))} if count else {}
    return len(holding), Evidence(
        tested.n, intervals={**tested.intervals, **bound},
        method=f"{len(holding)} of {len(arms)} arms significant (Holm) in the stated direction, {len(against)} "
               "against it; " + tested.method,
        design={**tested.design, "holding": holding, "against": against})
