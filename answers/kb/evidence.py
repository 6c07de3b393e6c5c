"""The evidence a *finding* carries: how many units it rests on, exact tests and confidence intervals.

A finding is a statement about the world (not an invariant of the code), decided where readers see it. Its
rule is evaluated on the measured point values; the evidence says whether that verdict is *decided*:

* every test's two-sided p-value is below ``alpha`` (e.g. McNemar's exact test on the images where two
  classifiers disagree), and
* the rule gives the same verdict at every corner of the confidence intervals given for its values (each
  named value replaced by its lower or upper bound).

Decided and true → "holds"; decided and false → "fails"; otherwise "inconclusive". The constructors here
build the usual kinds from raw measurements; scipy.stats is imported on use (it costs most of a second).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

ALPHA = 0.05


@dataclass(frozen=True)
class Evidence:
    """``n``: the units the finding rests on (images, repeats, channels); ``tests``: name → two-sided p-value;
    ``intervals``: value name → (low, high) confidence interval; ``method``: how they were obtained, in words."""

    n: int
    tests: Mapping[str, float] = field(default_factory=dict)
    intervals: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    method: str = ""
    alpha: float = ALPHA

    def __add__(self, other: "Evidence") -> "Evidence":
        """Both pieces of evidence at once (a finding resting on two comparisons needs both decided)."""
        clash = (set(self.tests) & set(other.tests)) | (set(self.intervals) & set(other.intervals))
        if clash:
            raise ValueError(f"evidence names {sorted(clash)} twice")
        return Evidence(min(self.n, other.n) if self.n and other.n else max(self.n, other.n),
                        {**self.tests, **other.tests}, {**self.intervals, **other.intervals},
                        "; ".join(m for m in (self.method, other.method) if m), min(self.alpha, other.alpha))

    def decided(self, verdict: Callable[[Mapping[str, Any]], bool], values: Mapping[str, Any]) -> bool:
        """Whether every test is significant and ``verdict`` agrees at every corner of the intervals."""
        if any(not p < self.alpha for p in self.tests.values()):
            return False
        point = verdict(values)
        names = list(self.intervals)
        for corner in itertools.product(*(self.intervals[n] for n in names)):
            if verdict({**values, **dict(zip(names, corner))}) != point:
                return False
        return True

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "tests": {k: float(v) for k, v in self.tests.items()},
                "intervals": {k: [float(a), float(b)] for k, (a, b) in self.intervals.items()},
                "method": self.method, "alpha": self.alpha}

    def describe(self) -> str:
        """One line for a page: n, p-values and intervals."""
        parts = [f"n = {self.n}"]
        parts += [f"{name} p = {_p(p)}" for name, p in self.tests.items()]
        parts += [f"{name} ∈ [{_num(lo)}, {_num(hi)}]" for name, (lo, hi) in self.intervals.items()]
        return "; ".join(parts)


def _p(p: float) -> str:
    return f"{p:.2g}" if p >= 1e-4 else "< 1e-4"


def _num(v: float) -> str:
    return f"{v:.3g}"


def _as_bools(xs) -> list[bool]:
    return [bool(v) for v in (xs.tolist() if hasattr(xs, "tolist") else xs)]


def mcnemar(correct_a, correct_b, name: str = "McNemar") -> Evidence:
    """Paired comparison of two classifiers (or two conditions) on the same images: the exact McNemar test,
    a two-sided binomial test on the images where exactly one of them is right."""
    from scipy.stats import binomtest
    a, b = _as_bools(correct_a), _as_bools(correct_b)
    if len(a) != len(b):
        raise ValueError(f"paired evidence needs the same images: {len(a)} vs {len(b)}")
    only_a = sum(x and not y for x, y in zip(a, b))
    only_b = sum(y and not x for x, y in zip(a, b))
    p = binomtest(only_a, only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0
    return Evidence(len(a), {name: p},
                    method=f"{name}: exact binomial test on the {only_a + only_b} discordant images "
                           f"({only_a} vs {only_b})")


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


def spread(value: str, low: float, high: float, repeats: int) -> Evidence:
    """The inter-quartile range of repeated timings as the interval of a time or a ratio of times."""
    return Evidence(repeats, intervals={value: (float(low), float(high))},
                    method=f"{value}: inter-quartile range over {repeats} timed repeats")


def per_round(value: str, values: Sequence[float]) -> Evidence:
    """The inter-quartile range of a statistic computed in every round of interleaved timing (a method's time ÷
    the baseline's time *in the same round*, or a fit of such ratios): pairing within a round cancels the load
    both calls felt, which crossing two timings' quartiles (:func:`ratio_spread`) does not."""
    from answers.lab.timing import quartiles
    xs = [float(v) for v in values]
    if len(xs) < 2:
        return Evidence(len(xs), intervals={value: (-math.inf, math.inf)}, method=f"{value}: too few rounds")
    q1, _, q3 = quartiles(xs)
    return Evidence(len(xs), intervals={value: (q1, q3)},
                    method=f"{value}: inter-quartile range of its per-round values over {len(xs)} interleaved rounds")


def ratio_spread(value: str, num, den) -> Evidence:
    """Interval of the ratio of two :class:`~answers.lab.timing.Timing` medians from their quartiles:
    (q1 of the numerator / q3 of the denominator, q3 / q1)."""
    return spread(value, num.q1_s / den.q3_s, num.q3_s / den.q1_s, min(num.repeats, den.repeats))


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
