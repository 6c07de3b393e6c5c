"""No attack or defense can silently do nothing (issue 24, point 3).

Every attack of :mod:`answers.lab.attacks` changes its input, stays within its budget, and lowers accuracy
more than random noise of the same size does; every input transformation of :mod:`answers.lab.defenses` changes
its input (pixel deflection moves as many pixels as it says, each to a value from its window); an optimised patch
beats a random one of the same size at the same places (the universal patch's test, untargeted and targeted, is in
``test_lab_evaluation.py``, on a healthier model).

The model is the zoo's tiny standard model (cached, shared with other tests); "accuracy" is agreement with its
own clean predictions on 64 test images, so clean accuracy is 1 and every drop is the attack's doing."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from answers.lab import data, metrics, models, zoo
from answers.lab.attacks import FGSM, PGD, PatchPGD, Transfer
from answers.lab.defenses import (PREPROCESSING, BitDepth, GaussianNoise, JPEG, MedianFilter, PixelDeflection,
                                  _haar, _ihaar, wavelet_denoise)

EPS = 8 / 255


@pytest.fixture(scope="module")
def victim():
    """The zoo's tiny standard model (healthy: the suite checks its clean accuracy) and 64 test images, labelled
    with its own clean predictions."""
    model = zoo.model("standard", "tiny")
    xt = zoo.split("tiny").x_test[:64]
    return model, xt, metrics.predict(model, xt)


def _acc(model, x, y) -> float:
    return metrics.accuracy(metrics.predict(model, x), y)


def _sign_noise(x: torch.Tensor, eps: float, seed: int = 0) -> torch.Tensor:
    """Random ±eps on every pixel: the same L∞ (and L2) size as an FGSM step, in a random direction."""
    g = torch.Generator().manual_seed(seed)
    return (x + (torch.randint(0, 2, x.shape, generator=g) * 2 - 1).float() * eps).clamp(0, 1)


def _l2_noise(x: torch.Tensor, eps: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    n = torch.randn(x.shape, generator=g)
    return (x + n / n.flatten(1).norm(dim=1).view(-1, 1, 1, 1) * eps).clamp(0, 1)


# ================================================================ attacks

def test_fgsm_moves_every_pixel_by_eps_and_beats_noise_of_that_size(victim):
    model, x, y = victim
    adv = FGSM(model, eps=EPS)(x, y)
    step = (adv - x).abs()
    assert step.max() <= EPS + 1e-6
    # a signed gradient step moves every pixel by exactly ε, except where [0, 1] clips it or the gradient is 0
    assert (step > EPS / 2).float().mean() > 0.5
    assert _acc(model, adv, y) < _acc(model, _sign_noise(x, EPS), y) - 0.3


def test_pgd_in_linf_beats_noise_of_that_size_and_fgsm(victim):
    model, x, y = victim
    torch.manual_seed(1)
    adv = PGD(model, eps=EPS, alpha=2 / 255, steps=5)(x, y)       # with its random start, as the answers run it
    assert (adv - x).abs().max() <= EPS + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    pgd, noise = _acc(model, adv, y), _acc(model, _sign_noise(x, EPS), y)
    assert pgd < noise - 0.4
    assert pgd <= _acc(model, FGSM(model, eps=EPS)(x, y), y)       # iterating does no worse than one step


def test_pgd_without_random_start_takes_real_steps(victim):
    # one step of size ε from the clean image is FGSM exactly; more steps move further from where it starts
    model, x, y = victim
    one = PGD(model, eps=EPS, alpha=EPS, steps=1, random_start=False)(x, y)
    assert torch.equal(one, FGSM(model, eps=EPS)(x, y))
    adv = PGD(model, eps=EPS, alpha=EPS / 4, steps=4, random_start=False)(x, y)
    assert (adv - x).abs().max() <= EPS + 1e-6 and (adv - x).abs().mean() > EPS / 4
    assert _acc(model, adv, y) < _acc(model, _sign_noise(x, EPS), y) - 0.3


def test_pgd_in_l2_uses_its_budget_and_beats_noise_of_that_norm(victim):
    model, x, y = victim
    eps = 1.0
    torch.manual_seed(2)
    adv = PGD(model, eps=eps, alpha=eps / 4, steps=5, norm="L2")(x, y)
    norms = (adv - x).flatten(1).norm(dim=1)
    assert (norms <= eps + 1e-4).all() and norms.mean() > eps / 2
    assert _acc(model, adv, y) < _acc(model, _l2_noise(x, eps), y) - 0.4


@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_targeted_attacks_reach_their_target_more_than_noise_does(victim, attack):
    model, x, y = victim
    target = (y + 1) % 10
    torch.manual_seed(3)
    make = {"fgsm": lambda: FGSM(model, eps=EPS, targeted=True),
            "pgd": lambda: PGD(model, eps=EPS, alpha=2 / 255, steps=5, targeted=True)}[attack]
    adv = make()(x, target)
    assert (adv - x).abs().max() <= EPS + 1e-6
    hit = _acc(model, adv, target)
    assert hit > _acc(model, _sign_noise(x, EPS), target) + 0.1
    # lowering the target's loss is not raising the true class's: the untargeted attack hits the target less
    untargeted = {"fgsm": FGSM(model, eps=EPS), "pgd": PGD(model, eps=EPS, alpha=2 / 255, steps=5)}[attack]
    assert hit > _acc(model, untargeted(x, y), target)


def test_patch_pgd_optimises_its_patch_beyond_a_random_one_at_the_same_places(victim):
    model, x, y = victim
    size = 8
    # steps = 0 is PatchPGD's own starting point: a random patch at the positions the same seed draws
    optimised = PatchPGD(model, size=size, steps=10, alpha=0.1, tries=1, seed=1)(x, y)
    random_patch = PatchPGD(model, size=size, steps=0, tries=1, seed=1)(x, y)
    where = (optimised != x).any(1)
    assert torch.equal(where, (random_patch != x).any(1) | where)          # the same squares
    changed = where.flatten(1).sum(1)
    assert (changed <= size * size).all() and changed.float().mean() > size * size / 2
    assert not torch.equal(optimised, random_patch)
    assert _acc(model, optimised, y) < _acc(model, random_patch, y) - 0.2


def test_transfer_hands_over_the_surrogate_attack_unchanged(victim):
    model, x, y = victim
    torch.manual_seed(4)
    surrogate = models.build("small_cnn", width=8).eval()
    inner = PGD(surrogate, eps=EPS, alpha=2 / 255, steps=3, random_start=False)
    adv = Transfer(model, inner)(x, y)
    assert torch.equal(adv, inner(x, y)) and (adv - x).abs().max() <= EPS + 1e-6 and (adv != x).any()
    # with the model itself as the surrogate the transfer attack is the white-box one: it does damage
    white_box = Transfer(model, FGSM(model, eps=EPS))(x, y)
    assert _acc(model, white_box, y) < _acc(model, _sign_noise(x, EPS), y) - 0.3


# ================================================================ defenses

@pytest.mark.parametrize("key", list(PREPROCESSING))
def test_every_preprocessing_defense_changes_its_input(key):
    p = PREPROCESSING[key]
    x, _ = data.make_signs(32, seed=1)
    torch.manual_seed(0)
    transform = p.make()
    for t in (transform, p.adaptive(transform)):
        out = t(x)
        change = (out - x).abs()
        assert out.shape == x.shape
        assert change.mean() > 0.005 and (change > 1e-3).float().mean() > 0.1, (key, t)


def _within_window(before: torch.Tensor, after: torch.Tensor, r: int) -> bool:
    """Every pixel of ``after`` (C, H, W) that differs from ``before`` took the values of a pixel of ``before``
    at most ``r`` rows and columns away."""
    _, h, w = before.shape
    for i, j in (after != before).any(0).nonzero().tolist():
        window = before[:, max(0, i - r):i + r + 1, max(0, j - r):j + r + 1]
        if not (window == after[:, i, j][:, None, None]).all(0).any():
            return False
    return True


@pytest.mark.parametrize("deflections,window", [(64, 5), (256, 5), (64, 1)])
def test_pixel_deflection_moves_the_pixels_it_says_from_its_window(deflections, window):
    # on an image whose pixels are all distinct, every deflection changes its pixel unless it draws itself as the
    # source (≤ 1/9 of draws at window 1, ≤ 1/121 at window 5, more at the borders) or lands on a pixel already
    # deflected; so between ~80% and 100% of `deflections` pixels change, each to a value from its window
    torch.manual_seed(0)
    x = torch.rand(16, 3, 32, 32)
    out = PixelDeflection(deflections, window, denoise=False)(x)
    changed = (out != x).any(1).flatten(1).sum(1)
    low = 0.7 if window == 1 else 0.8
    assert (changed <= deflections).all() and (changed >= low * deflections).all(), changed
    assert all(_within_window(a, b, window) for a, b in zip(x, out))
    # with the denoiser (the default) the output differs from the deflected image and from the input
    full = PixelDeflection(deflections, window)(x)
    assert (full != x).any(1).flatten(1).sum(1).min() > deflections


def test_haar_transform_is_orthonormal_and_inverts_exactly():
    x = torch.rand(4, 3, 32, 32, dtype=torch.float64)
    bands = _haar(x)
    assert torch.allclose(_ihaar(*bands), x, atol=1e-12)
    assert torch.allclose(sum(b.pow(2).sum((-2, -1)) for b in bands), x.pow(2).sum((-2, -1)))   # energy kept


def test_wavelet_denoising_removes_noise():
    # a smooth image plus N(0, 0.05²) noise: the denoised image is closer to the clean one than the noisy one is
    g = torch.Generator().manual_seed(0)
    ramp = torch.linspace(0.2, 0.8, 32)
    clean = (ramp[None, :] * ramp[:, None]).expand(4, 3, 32, 32).contiguous()
    noisy = clean + 0.05 * torch.randn(clean.shape, generator=g)
    denoised = wavelet_denoise(noisy)
    assert (denoised - clean).pow(2).mean() < 0.8 * (noisy - clean).pow(2).mean()


@pytest.mark.parametrize("size", [3, 5])
def test_median_filter_is_the_reflected_median(size):
    x = torch.rand(2, 3, 12, 12, dtype=torch.float64)
    ref = ndimage.median_filter(x.numpy(), size=(1, 1, size, size), mode="mirror")   # mirror = torch's "reflect"
    assert np.allclose(MedianFilter(size)(x).numpy(), ref)
    speck = torch.full((1, 1, 8, 8), 0.3)
    speck[..., 4, 4] = 1.0
    assert torch.equal(MedianFilter(size)(speck), torch.full_like(speck, 0.3))        # a lone speck is removed


@pytest.mark.parametrize("bits", [1, 3, 5])
def test_bit_depth_rounds_to_its_levels(bits):
    levels = 2 ** bits - 1
    x = torch.rand(2, 3, 16, 16)
    out = BitDepth(bits)(x)
    codes = out * levels
    assert torch.allclose(codes, codes.round(), atol=1e-5) and len(torch.unique(codes.round())) == levels + 1
    assert (out - x).abs().max() <= 0.5 / levels + 1e-6      # to the nearest level, not down


def test_jpeg_quality_sets_how_much_it_changes():
    x, _ = data.make_signs(16, seed=2)
    change = [float((JPEG(q)(x) - x).abs().mean()) for q in (10, 50, 95)]
    assert change[0] > change[1] > change[2] > 0


@pytest.mark.parametrize("sigma", [0.12, 0.5])
def test_gaussian_noise_has_its_sigma(sigma):
    torch.manual_seed(0)
    x = torch.rand(64, 3, 32, 32)
    d = GaussianNoise(sigma)(x) - x
    assert float(d.std()) == pytest.approx(sigma, rel=0.02) and abs(float(d.mean())) < 0.01 * sigma


def test_pixel_deflection_copies_pixels_from_anywhere_in_their_window_all_over_the_image():
    """Each deflected pixel takes the value of a neighbour at most ``window`` rows and columns away: on an image that
    encodes each pixel's own position, every offset of the window shows up, both signs, and destinations and
    sources reach every row and column, the borders included."""
    import torch

    from answers.lab.defenses import PixelDeflection
    h = w = 12
    r = 3
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    x = torch.stack([rows, cols, torch.zeros_like(rows)]).float()[None].repeat(300, 1, 1, 1)
    torch.manual_seed(0)
    out = PixelDeflection(deflections=20, window=r, denoise=False)(x)
    dr, dc = (out[:, 0] - rows).long(), (out[:, 1] - cols).long()
    moved = (dr != 0) | (dc != 0)
    assert int(dr.abs().max()) <= r and int(dc.abs().max()) <= r and bool(moved.any())
    assert set(dr[moved].unique().tolist()) == set(range(-r, r + 1)) == set(dc[moved].unique().tolist())
    every = set(range(h))
    assert set(rows.expand_as(moved)[moved].tolist()) == every == set(cols.expand_as(moved)[moved].tolist())
    assert set(out[:, 0][moved].long().tolist()) == every == set(out[:, 1][moved].long().tolist())


def test_pixel_deflection_output_keeps_the_images_range():
    import torch

    from answers.lab.defenses import PixelDeflection
    x = torch.zeros(8, 3, 32, 32)
    x[..., 16:] = 1.0                                  # black and white halves: both ends must survive
    torch.manual_seed(0)
    out = PixelDeflection()(x)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert float(out.min()) == 0.0 and float(out.max()) == 1.0
