"""Randomized smoothing [@cohen2019certified]: classify by the majority vote of the base model over Gaussian
noise, and certify an L2 radius ``σ·Φ⁻¹(p_A)`` from a Clopper–Pearson lower bound on the top class's
probability. Batched over images and noise samples. Introduced for q08."""
from __future__ import annotations

from statistics import NormalDist

import numpy as np
import torch
from scipy.special import betainc, betaincinv  # scipy.stats would add most of a second to every start
from torch import nn

ABSTAIN = -1
#: the one abstain rule every page uses: PREDICT abstains unless a two-sided binomial test separates the top
#: two classes' votes at this level (Cohen et al.'s α); CERTIFY bounds p_A at the same level
ABSTAIN_ALPHA = 0.001


def binomial_p_value(na: int, nb: int) -> float:
    """Two-sided binomial test of ``na`` successes in ``na + nb`` fair trials (the p = ½ case is symmetric)."""
    n, k = na + nb, max(na, nb)
    if n == 0 or 2 * k <= n:
        return 1.0
    return min(1.0, 2 * float(betainc(k, n - k + 1, 0.5)))  # 2·P(X ≥ k), X ~ Bin(n, ½)


def clopper_pearson_lower(successes, n: int, alpha: float):
    """One-sided (1 − alpha) lower confidence bound on a binomial proportion (0 when there are no successes)."""
    # the Beta quantile is undefined at 0 successes (scipy gives NaN); the bound there is 0
    return np.nan_to_num(betaincinv(successes, n - successes + 1, alpha), nan=0.0)


class Smoothed:
    """``g(x) = argmax_c P(f(x + ε) = c)``, ``ε ~ N(0, σ²I)``.

    Args: base (classifier on [0, 1] images), sigma (noise level, 0.25), batch (noisy images per forward)."""

    def __init__(self, base: nn.Module, sigma: float = 0.25, batch: int = 1024):
        self.base, self.sigma, self.batch = base, sigma, batch

    @torch.inference_mode()
    def counts(self, x: torch.Tensor, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``(N, C)`` vote counts of ``n`` noisy copies of each image."""
        per = max(1, self.batch // n)
        out = []
        for i in range(0, len(x), per):
            xb = x[i:i + per].repeat_interleave(n, dim=0)
            noise = torch.randn(xb.shape, generator=generator).to(xb.device) * self.sigma
            logits = self.base(xb + noise)
            votes = torch.nn.functional.one_hot(logits.argmax(1), logits.shape[1])
            out.append(votes.view(-1, n, logits.shape[1]).sum(1))
        return torch.cat(out)

    def predict(self, x: torch.Tensor, n: int = 100, alpha: float = ABSTAIN_ALPHA,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Cohen et al.'s PREDICT: the top class if a binomial test separates it from the runner-up at level
        ``alpha``, else ``ABSTAIN``."""
        return self.decide(self.counts(x, n, generator), alpha)

    @staticmethod
    def decide(counts: torch.Tensor, alpha: float = ABSTAIN_ALPHA) -> torch.Tensor:
        """PREDICT's decision from vote ``counts`` ``(N, C)``: the top class, or ``ABSTAIN`` where a two-sided
        binomial test cannot separate it from the runner-up at level ``alpha``. (``counts.argmax(1)`` is the
        plain majority vote, which never abstains.)"""
        top2 = counts.topk(2, dim=1)
        out = top2.indices[:, 0].clone()
        for i, (na, nb) in enumerate(top2.values.tolist()):
            if binomial_p_value(na, nb) > alpha:
                out[i] = ABSTAIN
        return out

    def certify(self, x: torch.Tensor, n0: int = 32, n: int = 256, alpha: float = ABSTAIN_ALPHA,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Cohen et al.'s CERTIFY: guess the top class from ``n0`` samples, bound its probability from ``n``
        fresh samples; returns labels (``ABSTAIN`` where p_A's bound ≤ ½) and certified L2 radii."""
        guess = self.counts(x, n0, generator).argmax(1)
        c = self.counts(x, n, generator)
        na = c.gather(1, guess[:, None]).squeeze(1).cpu().numpy()
        p_lower = torch.as_tensor(clopper_pearson_lower(na, n, alpha), dtype=torch.float64)
        certified = p_lower > 0.5
        inv_cdf = NormalDist().inv_cdf
        radius = torch.tensor([self.sigma * inv_cdf(min(p, 1 - 1e-12)) if ok else 0.0
                               for p, ok in zip(p_lower.tolist(), certified.tolist())], dtype=torch.float64)
        return torch.where(certified, guess, torch.full_like(guess, ABSTAIN)), radius.float()
