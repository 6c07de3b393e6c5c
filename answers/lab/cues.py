"""Seeded procedural images where every class has both a *shape* and a *texture*, for cue-conflict tests in
the spirit of [@geirhos2019imagenet]: train where the two agree, then show the shape of class A filled with the
texture of class B and see which one the model follows. Introduced for q01.

Shapes are the ten sign silhouettes of :mod:`answers.lab.data`; textures are ten two-colour periodic or random
patterns (stripes in four orientations, checkerboard, dots, grid, speckle, blotches, waves) with a random
phase, period jitter and colours, so that neither colour nor position tells the class.
"""
from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F

from .data import IMAGE_SIZE, NUM_CLASSES, Split, add_pixel_noise, backgrounds, fingerprint, sign_alpha, visible_colour

TEXTURE_NAMES = ("h-stripes", "v-stripes", "diag-stripes", "anti-diag", "checker", "dots", "grid", "speckle",
                 "blotches", "waves")


def _crisp(wave: torch.Tensor) -> torch.Tensor:
    """A soft two-level pattern from a wave in [-1, 1] (hard edges alias at 32 px, so keep them soft)."""
    return torch.sigmoid(4 * wave)


def texture_pattern(labels: torch.Tensor, size: int, g: torch.Generator) -> torch.Tensor:
    """``(n, 1, size, size)`` patterns in [0, 1], one per texture label, with random phase and period."""
    n = len(labels)
    pix = torch.arange(size, dtype=torch.float32)
    yy, xx = torch.meshgrid(pix, pix, indexing="ij")
    # shift and period jitter per image: the texture is recognisable from its local structure only
    x = xx + torch.rand(n, 1, 1, generator=g) * 16
    y = yy + torch.rand(n, 1, 1, generator=g) * 16
    period = 4.0 + 1.0 * torch.rand(n, 1, 1, generator=g)
    k = 2 * math.pi / period
    speckle = (torch.rand(n, size, size, generator=g) < 0.5).float()
    blotches = F.interpolate(torch.rand(n, 1, size // 4, size // 4, generator=g), size=(size, size),
                             mode="nearest")[:, 0]
    patterns = [
        _crisp(torch.sin(k * y)),
        _crisp(torch.sin(k * x)),
        _crisp(torch.sin(k * (x + y) / math.sqrt(2))),
        _crisp(torch.sin(k * (x - y) / math.sqrt(2))),
        _crisp(torch.sin(k * x) * torch.sin(k * y) * 2),
        _crisp(torch.cos(k * x) + torch.cos(k * y) - 1.0),
        _crisp(torch.maximum(torch.cos(k * x), torch.cos(k * y)) * 2 - 1.4),
        speckle,
        (blotches > 0.5).float(),
        _crisp(torch.sin(k * y + 2.5 * torch.sin(2 * math.pi * x / 9))),
    ]
    out = torch.empty(n, size, size)
    for t, pattern in enumerate(patterns):
        idx = labels == t
        out[idx] = pattern[idx]
    return out.unsqueeze(1)


def render(shapes: torch.Tensor | None, textures: torch.Tensor | None, seed: int,
           size: int = IMAGE_SIZE) -> torch.Tensor:
    """Images ``(n, 3, size, size)`` in [0, 1]: the silhouette of each ``shapes`` class filled with the pattern
    of each ``textures`` class, over a random background. ``shapes=None`` fills the whole image with the texture
    (no silhouette: texture only); ``textures=None`` paints the silhouette in one flat colour (shape only)."""
    labels = shapes if shapes is not None else textures
    if labels is None:
        raise ValueError("render needs shapes, textures or both")
    n = len(labels)
    g = torch.Generator().manual_seed(seed)
    images = backgrounds(n, size, g)
    alpha = sign_alpha(shapes, size, g) if shapes is not None else torch.ones(n, 1, size, size)
    pattern = texture_pattern(textures, size, g) if textures is not None else torch.zeros(n, 1, size, size)
    light = visible_colour(images, g)
    dark = light * 0.25  # the pattern's second colour: same hue, a quarter of the brightness
    fill = light[:, :, None, None] * (1 - pattern) + dark[:, :, None, None] * pattern
    return add_pixel_noise(images * (1 - alpha) + fill * alpha, g)


def _balanced(n: int, g: torch.Generator) -> torch.Tensor:
    return (torch.arange(n) % NUM_CLASSES)[torch.randperm(n, generator=g)]


@lru_cache(maxsize=4)
def cue_split(n_train: int, n_test: int, seed: int = 0, textures: str = "agree") -> Split:
    """Training data for the cue-conflict study. ``textures="agree"``: each class's shape always wears its own
    texture (both cues predict the label); ``"random"``: the texture is drawn independently of the label, so
    only the shape predicts it (the analogue of training on Stylized-ImageNet). The test half always agrees."""
    if textures not in ("agree", "random"):
        raise ValueError(f"textures must be 'agree' or 'random', not {textures!r}")
    g = torch.Generator().manual_seed(seed)
    y = _balanced(n_train + n_test, g)
    tex = y.clone()
    if textures == "random":
        tex[:n_train] = torch.randint(0, NUM_CLASSES, (n_train,), generator=g)
    x = render(y, tex, seed)
    return Split(f"cues-{textures}", x[:n_train], y[:n_train], x[n_train:], y[n_train:], NUM_CLASSES,
                 fingerprint(x, y, tex))


def cue_conflict(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n`` cue-conflict images with their shape and texture classes (always different)."""
    g = torch.Generator().manual_seed(seed)
    shapes = _balanced(n, g)
    textures = (shapes + torch.randint(1, NUM_CLASSES, (n,), generator=g)) % NUM_CLASSES
    return render(shapes, textures, seed + 1), shapes, textures
