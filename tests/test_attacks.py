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


class _Linear(nn.Module):
    """A linear classifier of two classes on the flattened image, its gradients as small as ``scale`` makes them."""

    def __init__(self, pixels: int, scale: float = 1.0):
        super().__init__()
        self.w = nn.Parameter(torch.randn(2, pixels, generator=torch.Generator().manual_seed(1)) * scale)

    def forward(self, x):
        return x.flatten(1) @ self.w.T


class _Seeing(_Linear):
    """:class:`_Linear` that keeps every input it is given (``seen``)."""

    def __init__(self, pixels: int):
        super().__init__(pixels)
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return super().forward(x)


def _black_and_white() -> tuple[torch.Tensor, torch.Tensor]:
    """Images at both ends of the pixel range (a step that leaves [0, 1] shows in what the model is given)."""
    return torch.cat([torch.zeros(4, 3, 8, 8), torch.ones(4, 3, 8, 8)]), torch.zeros(8, dtype=torch.long)


def test_pgd_random_start_is_uniform_in_the_linf_ball_and_every_iterate_stays_an_image():
    model, (x, y) = _Seeing(3 * 64), _black_and_white()
    torch.manual_seed(0)
    PGD(model, eps=8 / 255, alpha=2 / 255, steps=3)(x, y)
    assert len(model.seen) == 3 and all(float(s.min()) >= 0 and float(s.max()) <= 1 for s in model.seen)
    start = PGD(_Linear(3 * 64), eps=0.1, steps=0)(torch.full((64, 3, 8, 8), 0.5), torch.zeros(64, dtype=torch.long))
    delta = start - 0.5
    # uniform in [-ε, ε]: both signs, spread over the interval, hardly any at the bound (a clipped Gaussian puts a
    # third of its draws there)
    assert float(delta.min()) < -0.09 and float(delta.max()) > 0.09 and float(delta.abs().max()) <= 0.1 + 1e-6
    assert float((delta.abs() >= 0.1 - 1e-6).float().mean()) < 0.01
    assert abs(float(delta.abs().mean()) - 0.05) < 0.005      # the mean |δ| of a uniform draw is ε / 2


def test_one_l2_step_has_the_step_size_whatever_the_gradients_scale():
    x, y = torch.full((4, 3, 8, 8), 0.5), torch.zeros(4, dtype=torch.long)
    for scale in (1e-4, 1.0, 1e3):
        adv = PGD(_Linear(3 * 64, scale), eps=1.0, alpha=0.25, steps=1, norm="L2", random_start=False)(x, y)
        assert torch.allclose((adv - x).flatten(1).norm(dim=1), torch.full((4,), 0.25), atol=1e-4)


def test_l2_projection_keeps_a_perturbation_inside_the_ball_and_shrinks_one_outside_onto_it():
    pgd = PGD(_Linear(12), eps=0.5, norm="L2")
    inside = torch.full((1, 3, 2, 2), 0.05)          # norm 0.17
    assert torch.allclose(pgd._project(inside), inside)
    outside = torch.full((1, 3, 2, 2), 1.0)          # norm 3.46
    assert torch.allclose(pgd._project(outside).flatten(1).norm(dim=1), torch.tensor([0.5]))


def test_fgsm_leaves_the_pixels_the_model_ignores_and_eot_averages_its_passes():
    from answers.lab.attacks import FGSM

    class LeftHalf(_Linear):
        def forward(self, x):
            return super().forward(x * (torch.arange(x.shape[-1]) < x.shape[-1] // 2))
    x, y = torch.full((2, 1, 4, 4), 0.5), torch.zeros(2, dtype=torch.long)
    adv = FGSM(LeftHalf(16), eps=0.1)(x, y)
    assert torch.equal(adv[..., 2:], x[..., 2:]) and torch.allclose((adv - x)[..., :2].abs(), torch.tensor(0.1))

    class Noisy(_Linear):
        def forward(self, x):
            return super().forward(x + torch.randn_like(x))
    model, xx = Noisy(16), torch.rand(2, 1, 4, 4)
    attack = FGSM(model, eot=3)
    torch.manual_seed(5)
    got = attack.loss_grad(xx, y)
    torch.manual_seed(5)
    passes = []
    for _ in range(3):
        xi = xx.clone().requires_grad_(True)
        passes.append(torch.autograd.grad(torch.nn.functional.cross_entropy(model(xi), y, reduction="sum"), xi)[0])
    assert torch.allclose(got, torch.stack(passes).mean(0))


@pytest.mark.parametrize("targeted", [False, True])
def test_patch_pgd_keeps_of_its_tries_the_patch_with_the_attackers_best_loss(targeted):
    """With no steps the patches are the random starts: replayed from the attack's own generator, the one kept for
    each image is the try with the highest loss (untargeted) or the lowest loss on the target (targeted); only the
    square changes, and what the model is shown stays an image."""
    from answers.lab.attacks import PatchPGD, square_mask
    model = _Linear(3 * 64, 0.3)
    x, y = torch.rand(16, 3, 8, 8, generator=torch.Generator().manual_seed(2)), torch.ones(16, dtype=torch.long)
    adv = PatchPGD(model, size=3, steps=0, tries=3, seed=4, targeted=targeted)(x, y)
    g = torch.Generator().manual_seed(4)
    tries = []
    for _ in range(3):
        mask = square_mask(16, 8, 8, 3, g)
        tries.append(x * (1 - mask) + torch.rand(x.shape, generator=g) * mask)
    losses = torch.stack([torch.nn.functional.cross_entropy(model(t), y, reduction="none") for t in tries])
    pick = (losses.argmin(0) if targeted else losses.argmax(0))
    assert torch.allclose(adv, torch.stack(tries)[pick, torch.arange(16)])
    assert bool(((adv != x).flatten(1).sum(1) <= 3 * 9).all())


def test_patch_pgd_steps_move_only_the_patch_and_stay_in_the_pixel_range():
    from answers.lab.attacks import PatchPGD
    model, (x, y) = _Seeing(3 * 64), _black_and_white()
    adv = PatchPGD(model, size=3, steps=4, alpha=0.3, tries=1, seed=0)(x, y)
    assert len(model.seen) > 0 and all(float(s.min()) >= 0 and float(s.max()) <= 1 for s in model.seen)
    changed = (adv != x).any(1)                       # (n, h, w): the pixels the attack touched
    assert bool((changed.flatten(1).sum(1) <= 9).all()) and bool(changed.any())


def test_in_batches_attacks_a_single_image_too():
    from answers.lab.attacks import FGSM, in_batches
    x, y = torch.full((1, 1, 4, 4), 0.5), torch.zeros(1, dtype=torch.long)
    adv = in_batches(FGSM(_Linear(16), eps=0.1), x, y)
    assert adv.shape == x.shape and not torch.equal(adv, x)
    assert in_batches(FGSM(_Linear(16)), x[:0], y[:0]).shape == (0, 1, 4, 4)
