"""Attacks beyond plain PGD: agreement with torchattacks, EOT, BPDA and transfer."""
from __future__ import annotations

import os

import pytest
import torch
from torch import nn

from answers.lab import metrics, models, zoo
from answers.lab.attacks import BPDA, PGD, Transfer
from answers.lab.defenses import JPEG, Defended
from answers.lab.instrument import count_calls


@pytest.fixture(scope="module")
def trained():
    """A healthy model — the zoo's tiny standard one, trained once into the weight cache and shared with the answers'
    tests: an attack compared or counted on a model at chance (what this fixture trained before) proves little."""
    model = zoo.model("standard", "tiny")
    split = zoo.split("tiny")
    x, y = split.x_test[:200], split.y_test[:200]
    assert metrics.clean_accuracy(model, x, y) > 0.8
    return model, x, y


def test_our_pgd_agrees_with_torchattacks(trained):
    if os.environ.get("CI"):
        import torchattacks
    else:
        torchattacks = pytest.importorskip("torchattacks")
    model, x, y = trained
    ours = PGD(model, eps=4 / 255, alpha=1 / 255, steps=10, random_start=False)
    peer = torchattacks.PGD(model, eps=4 / 255, alpha=1 / 255, steps=10, random_start=False)
    acc_ours = metrics.accuracy(metrics.predict(model, ours(x, y)), y)
    acc_peer = metrics.accuracy(metrics.predict(model, peer(x, y)), y)
    assert metrics.clean_accuracy(model, x, y) > acc_ours  # the attack does something
    assert abs(acc_ours - acc_peer) <= 0.01


def test_eot_averages_over_that_many_passes(trained):
    model, x, y = trained
    with count_calls(model) as c:
        PGD(model, eps=4 / 255, steps=3, eot=5)(x[:8], y[:8])
    assert c.forwards == 3 * 5


def test_bpda_forwards_the_transform_and_backpropagates_identity():
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    out = BPDA(JPEG(50))(x)
    assert torch.allclose(out, JPEG(50)(x.detach()))
    weights = torch.randn_like(x)
    (out * weights).sum().backward()
    assert torch.allclose(x.grad, weights)


def test_bpda_makes_pgd_adaptive_to_jpeg(trained):
    model, x, y = trained
    defended = Defended(model, JPEG(75)).eval()
    x, y = x[:100], y[:100]
    naive = metrics.accuracy(metrics.predict(defended, PGD(model, eps=8 / 255, steps=10)(x, y)), y)
    adaptive = metrics.accuracy(metrics.predict(defended, PGD(Defended(model, BPDA(JPEG(75))), eps=8 / 255,
                                                              steps=10)(x, y)), y)
    assert adaptive <= naive


def test_transfer_never_queries_the_target(trained):
    model, x, y = trained
    surrogate = models.build("small_cnn", width=8).eval()
    attack = Transfer(model, PGD(surrogate, eps=4 / 255, steps=2))
    with count_calls(model) as c:
        adv = attack(x[:4], y[:4])
    assert c.forwards == 0 and adv.shape == x[:4].shape and (adv - x[:4]).abs().max() <= 4 / 255 + 1e-6


class _Noisy(nn.Module):
    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x + 0.1 * torch.randn_like(x))


def test_attacks_accept_randomized_models(trained):
    model, x, y = trained
    adv = PGD(_Noisy(model), eps=4 / 255, steps=2, eot=3)(x[:4], y[:4])
    assert (adv - x[:4]).abs().max() <= 4 / 255 + 1e-6


def test_square_masks_are_one_size_by_size_square_anywhere_in_the_image():
    from answers.lab.attacks import square_mask
    n, h, w, size = 3000, 8, 6, 3
    m = square_mask(n, h, w, size, torch.Generator().manual_seed(0))
    assert m.shape == (n, 1, h, w) and bool(((m == 0) | (m == 1)).all())
    rows, cols = m[:, 0].amax(2), m[:, 0].amax(1)          # which rows and columns each square covers
    # exactly size × size pixels, in size consecutive rows and columns: one square, never cut by the border
    assert bool((m.sum((1, 2, 3)) == size * size).all())
    assert bool((rows.sum(1) == size).all()) and bool((cols.sum(1) == size).all())
    # every position is possible, the first and the last included
    assert set(rows.argmax(1).tolist()) == set(range(h - size + 1))
    assert set(cols.argmax(1).tolist()) == set(range(w - size + 1))
