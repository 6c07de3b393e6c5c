"""Seeded procedural data: 32×32 RGB traffic-sign-like symbols, no download needed.

Each class is a sign shape (circle, ring, square, …) drawn from a signed-distance function with soft edges,
at a random position, scale, small rotation and colour, over a random two-colour gradient background with
low-frequency blotches and pixel noise. Generation is vectorised in torch: 10,000 images take well under a
second on a 2-core CPU. Introduced for q08; shared by every answer.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F

CLASS_NAMES = ("circle", "ring", "square", "diamond", "triangle_up", "triangle_down", "octagon", "plus",
               "cross", "no_entry")
NUM_CLASSES = len(CLASS_NAMES)
IMAGE_SIZE = 32
NOISE_SIGMA_MAX = 0.06  # each image gets Gaussian pixel noise with σ drawn uniformly from [0, this]


def _plus(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return torch.minimum(torch.maximum(u.abs() - 0.3, v.abs() - 0.9), torch.maximum(v.abs() - 0.3, u.abs() - 0.9))


def _triangle(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    # apex at v = -0.9, base at v = 0.7 (image y grows downwards, so this one points up)
    edge = (u.abs() - 0.575 * (v + 0.9)) / math.hypot(1, 0.575)
    return torch.maximum(v - 0.7, edge)


def shape_distance(cls: int, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Signed distance (in units of the sign's radius; negative inside) of class ``cls`` at local coords (u, v)."""
    r = torch.sqrt(u * u + v * v)
    if cls == 0:
        return r - 1
    if cls == 1:
        return torch.maximum(r - 1, 0.55 - r)
    if cls == 2:
        return torch.maximum(u.abs(), v.abs()) - 0.8
    if cls == 3:
        return (u.abs() + v.abs() - 1.1) / math.sqrt(2)
    if cls == 4:
        return _triangle(u, v)
    if cls == 5:
        return _triangle(u, -v)
    if cls == 6:
        return torch.maximum(torch.maximum(u.abs(), v.abs()), (u.abs() + v.abs()) / math.sqrt(2)) - 0.85
    if cls == 7:
        return _plus(u, v)
    if cls == 8:
        s = math.sqrt(0.5)
        return _plus(s * (u - v), s * (u + v))
    if cls == 9:
        return torch.maximum(r - 1, -torch.maximum(u.abs() - 0.7, v.abs() - 0.2))
    raise ValueError(f"class {cls} is not in 0..{NUM_CLASSES - 1}")


def backgrounds(n: int, size: int, g: torch.Generator) -> torch.Tensor:
    """``n`` random two-colour gradients with low-frequency blotches, ``(n, 3, size, size)``."""
    c0, c1 = torch.rand(n, 3, 1, 1, generator=g), torch.rand(n, 3, 1, 1, generator=g)
    angle = torch.rand(n, 1, 1, generator=g) * 2 * math.pi
    lin = torch.linspace(-1, 1, size)
    yy, xx = torch.meshgrid(lin, lin, indexing="ij")
    t = ((xx * torch.cos(angle) + yy * torch.sin(angle)) * 0.5 + 0.5).unsqueeze(1)
    blotches = F.interpolate(torch.rand(n, 3, 4, 4, generator=g) - 0.5, size=(size, size), mode="bilinear",
                             align_corners=False)
    return c0 + (c1 - c0) * t + 0.3 * blotches


def sign_alpha(labels: torch.Tensor, size: int, g: torch.Generator) -> torch.Tensor:
    """Soft coverage ``(n, 1, size, size)`` in [0, 1] of each label's sign shape at a random pose drawn from ``g``:
    centre offset, radius in pixels and a small rotation (big ones would confuse plus and cross)."""
    n = len(labels)
    centre = (torch.rand(n, 2, generator=g) - 0.5) * 0.35 * size
    radius = size * (0.22 + 0.16 * torch.rand(n, generator=g))
    theta = (torch.rand(n, generator=g) - 0.5) * math.radians(30)
    pix = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    yy, xx = torch.meshgrid(pix, pix, indexing="ij")
    dx = xx - centre[:, 0, None, None]
    dy = yy - centre[:, 1, None, None]
    cos, sin = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    u = (cos * dx + sin * dy) / radius[:, None, None]
    v = (-sin * dx + cos * dy) / radius[:, None, None]
    dist = torch.empty(n, size, size)
    for c in range(NUM_CLASSES):
        idx = labels == c
        dist[idx] = shape_distance(c, u[idx], v[idx])
    return torch.sigmoid(-dist * radius[:, None, None] * 2.0).unsqueeze(1)


def visible_colour(images: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """A random colour per image ``(n, 3)``, pushed away from the image's mean colour so a sign stays visible."""
    colour = torch.rand(len(images), 3, generator=g)
    bg_mean = images.mean(dim=(2, 3))
    return torch.where((colour - bg_mean).abs() < 0.35, (bg_mean + 0.5) % 1.0, colour)


def add_pixel_noise(images: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Gaussian pixel noise with σ drawn per image from [0, ``NOISE_SIGMA_MAX``], clamped to [0, 1]."""
    sigma = NOISE_SIGMA_MAX * torch.rand(len(images), 1, 1, 1, generator=g)
    return (images + sigma * torch.randn(images.shape, generator=g)).clamp_(0, 1)


def make_signs(n: int, seed: int, size: int = IMAGE_SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` images ``(n, 3, size, size)`` in [0, 1] and balanced labels ``(n,)``, fully determined by ``seed``."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % NUM_CLASSES
    labels = labels[torch.randperm(n, generator=g)]
    images = backgrounds(n, size, g)
    alpha = sign_alpha(labels, size, g)
    fg = visible_colour(images, g)
    images = images * (1 - alpha) + fg[:, :, None, None] * alpha
    return add_pixel_noise(images, g), labels


def fingerprint(*tensors: torch.Tensor) -> str:
    """Short content hash of tensors (data identity for the weight cache)."""
    h = hashlib.sha256()
    for t in tensors:
        h.update(str(tuple(t.shape)).encode())
        h.update((t * 255).round().to(torch.uint8).numpy().tobytes() if t.is_floating_point()
                 else t.numpy().tobytes())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Split:
    """Train/test tensors of one dataset and a fingerprint of their content."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    fingerprint: str


@lru_cache(maxsize=8)
def signs(n_train: int, n_test: int, seed: int = 0, size: int = IMAGE_SIZE) -> Split:
    """The sign dataset: ``n_train`` + ``n_test`` images of ``size`` pixels generated from one seed, split
    without overlap."""
    x, y = make_signs(n_train + n_test, seed, size)
    return Split("signs" if size == IMAGE_SIZE else f"signs{size}", x[:n_train], y[:n_train], x[n_train:],
                 y[n_train:], NUM_CLASSES, fingerprint(x, y))


class DataMissing(FileNotFoundError):
    """A dataset that is read from the user's disk is not there (nothing is ever downloaded)."""


DATA_DIR_ENV = "ANSWERS_DATA_DIR"


def data_dir() -> str:
    """The user's local data folder (``answers run --data-dir``, i.e. ``ANSWERS_DATA_DIR``)."""
    import os
    root = os.environ.get(DATA_DIR_ENV, "")
    if not root:
        raise DataMissing("this run reads CIFAR-10 from your disk: pass --data-dir DIR (the folder that holds "
                          "cifar-10-batches-py; set ANSWERS_DATA_DIR outside the command line)")
    return root


@lru_cache(maxsize=1)
def cifar10(root: str) -> Split:
    """CIFAR-10 from a local folder (torchvision's loader, ``download=False``): 50,000 + 10,000 images in [0, 1].
    Raises :class:`DataMissing` in one line when ``root`` does not hold ``cifar-10-batches-py``."""
    from torchvision.datasets import CIFAR10
    try:
        train, test = CIFAR10(root, train=True, download=False), CIFAR10(root, train=False, download=False)
    except RuntimeError:  # torchvision: "Dataset not found or corrupted"
        raise DataMissing(f"CIFAR-10 is not in {root}: expected {root}/cifar-10-batches-py (the python version from "
                          "https://www.cs.toronto.edu/~kriz/cifar.html, unpacked; it is never downloaded)") from None

    def tensors(ds) -> tuple[torch.Tensor, torch.Tensor]:
        return (torch.from_numpy(ds.data).permute(0, 3, 1, 2).float().div_(255),
                torch.tensor(ds.targets, dtype=torch.long))
    (x_train, y_train), (x_test, y_test) = tensors(train), tensors(test)
    return Split("cifar10", x_train, y_train, x_test, y_test, 10, fingerprint(x_train, y_train, x_test, y_test))


def first(split: Split, n: int) -> Split:
    """The same split with only its first ``n`` training images (``n`` = 0: all of them)."""
    if not n or n >= len(split.y_train):
        return split
    return Split(f"{split.name}[:{n}]", split.x_train[:n], split.y_train[:n], split.x_test, split.y_test,
                 split.num_classes, fingerprint(split.x_train[:n], split.y_train[:n], split.x_test, split.y_test))
