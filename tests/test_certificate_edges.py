"""The edges of randomized smoothing and PatchCleanser that the reference checks (test_reference_formulas.py) do
not reach: ties and empty votes, a bound or p-value exactly at its threshold, a bound of 1, reproducible noise,
and PatchCleanser's argument checks. Written against the mutants of ``lab/smoothing.py`` and
``lab/patchcleanser.py`` that survived the rest of the suite (the equivalent ones are listed in
docs/contributing.md)."""
from __future__ import annotations

import pytest
import torch
from scipy.stats import binomtest
from torch import nn

from answers.lab import patchcleanser as pc
from answers.lab import smoothing
from answers.lab.smoothing import ABSTAIN, Smoothed, binomial_p_value


class Linear(nn.Module):
    """A fixed linear classifier of 2-pixel images: class 0 when x₀ > x₁, else class 1."""

    def forward(self, x):
        flat = x.flatten(1)
        return torch.stack([flat[:, 0] - flat[:, 1], flat[:, 1] - flat[:, 0]], 1)


def test_binomial_p_value_of_ties_and_of_no_votes_is_one():
    assert binomial_p_value(0, 0) == 1.0
    for n in range(1, 40):
        assert binomial_p_value(n, n) == 1.0                      # a tie
        for k in range(n + 1):
            assert binomial_p_value(k, n - k) == pytest.approx(binomtest(k, n, 0.5).pvalue, rel=1e-9, abs=1e-300)
            assert 0 < binomial_p_value(k, n - k) <= 1


#: images on the classifier's boundary: every noisy vote is a coin flip, so only the generator fixes the outcome
BOUNDARY = torch.full((12, 1, 1, 2), 0.5)


def test_the_generator_fixes_every_draw_of_predict_and_certify():
    sm = Smoothed(Linear(), sigma=0.2)
    votes = sm.counts(BOUNDARY, 9, torch.Generator().manual_seed(11))
    assert torch.equal(sm.predict(BOUNDARY, 9, alpha=0.999, generator=torch.Generator().manual_seed(11)),
                       Smoothed.decide(votes, 0.999))
    # CERTIFY's guess comes from the first n0 draws of the same generator
    guess = sm.counts(BOUNDARY, 9, torch.Generator().manual_seed(4)).argmax(1)
    labels, _ = sm.certify(BOUNDARY, n0=9, n=9, alpha=0.999999, generator=torch.Generator().manual_seed(4))
    assert torch.equal(labels[labels != ABSTAIN], guess[labels != ABSTAIN])
    both = [sm.certify(BOUNDARY, n0=9, n=9, alpha=0.5, generator=torch.Generator().manual_seed(4))[0] for _ in range(2)]
    assert torch.equal(both[0], both[1])


def test_predict_is_decide_on_its_own_votes():
    x = torch.tensor([[[[0.9, 0.1]]], [[[0.52, 0.48]]]])
    sm = Smoothed(Linear(), sigma=0.1)
    votes = sm.counts(x, 60, torch.Generator().manual_seed(3))
    assert votes.sum(1).tolist() == [60, 60]
    got = sm.predict(x, 60, alpha=0.01, generator=torch.Generator().manual_seed(3))
    assert torch.equal(got, Smoothed.decide(votes, 0.01))
    assert got[0] == 0                                          # far from the boundary: decided
    assert torch.equal(sm.predict(x, 60, 0.5, torch.Generator().manual_seed(3)), Smoothed.decide(votes, 0.5))
    assert sm.predict(x, generator=torch.Generator().manual_seed(3)).shape == (2,)


def test_decide_abstains_only_above_alpha(monkeypatch):
    votes = torch.tensor([[30, 10, 0]])
    monkeypatch.setattr(smoothing, "binomial_p_value", lambda na, nb: 0.01)
    assert Smoothed.decide(votes, alpha=0.01).tolist() == [0]     # p = α: separated
    monkeypatch.setattr(smoothing, "binomial_p_value", lambda na, nb: 0.0100001)
    assert Smoothed.decide(votes, alpha=0.01).tolist() == [ABSTAIN]


def test_certify_is_reproducible_and_certifies_only_above_one_half(monkeypatch):
    x = torch.tensor([[[[0.9, 0.1]]], [[[0.55, 0.45]]]])
    sm = Smoothed(Linear(), sigma=0.2)
    once = sm.certify(x, n0=8, n=64, alpha=0.01, generator=torch.Generator().manual_seed(5))
    again = sm.certify(x, n0=8, n=64, alpha=0.01, generator=torch.Generator().manual_seed(5))
    assert torch.equal(once[0], again[0]) and torch.equal(once[1], again[1])
    other = [sm.certify(x, n0=8, n=64, alpha=0.01, generator=torch.Generator().manual_seed(s))[1] for s in range(6, 9)]
    assert any(not torch.equal(once[1], r) for r in other)          # the noise comes from the generator
    monkeypatch.setattr(smoothing, "clopper_pearson_lower", lambda na, n, alpha: [0.5] * len(na))
    labels, radius = sm.certify(x, n0=8, n=64)
    assert labels.tolist() == [ABSTAIN, ABSTAIN] and radius.tolist() == [0.0, 0.0]   # p_A ≥ ½ is not enough
    monkeypatch.setattr(smoothing, "clopper_pearson_lower", lambda na, n, alpha: [1.0] * len(na))
    labels, radius = sm.certify(x, n0=8, n=64)                      # a bound of 1: a large but finite radius
    assert labels.tolist() == [0, 0] and all(6.5 * 0.2 < r < 7.5 * 0.2 for r in radius.tolist())


def test_smoothed_defaults_are_cohen_et_al_s_and_batching_does_not_move_votes():
    sm = Smoothed(Linear())
    assert sm.sigma == 0.25
    x = torch.rand(5, 1, 1, 2, generator=torch.Generator().manual_seed(0))
    whole = Smoothed(Linear(), 0.3).counts(x, 40, torch.Generator().manual_seed(1))
    assert torch.equal(whole, Smoothed(Linear(), 0.3, batch=1024).counts(x, 40, torch.Generator().manual_seed(1)))


def test_mask_set_refuses_impossible_geometry():
    for bad in (dict(image_size=8, patch_size=0, k=2), dict(image_size=8, patch_size=9, k=2),
                dict(image_size=8, patch_size=3, k=0)):
        with pytest.raises(ValueError, match=r"^need 1 ≤ patch ≤ image and k ≥ 1, got MaskSet\("):
            pc.MaskSet(**bad)


def test_certification_calls_is_an_integer_count():
    assert [pc.certification_calls(k) for k in (1, 2, 3, 6)] == [1, 10, 45, 666]
    assert all(type(pc.certification_calls(k)) is int for k in range(1, 8))


def test_majority_counts_every_class_even_unvoted_ones():
    # votes for class 1 only, in a 3-class problem: the vote counts still have one column per class
    labels = torch.tensor([[1, 1, 1], [0, 2, 2]])
    assert pc._majority(labels, 3).tolist() == [1, 2]
    assert pc._majority(torch.tensor([[0, 0]]), 4).tolist() == [0]
