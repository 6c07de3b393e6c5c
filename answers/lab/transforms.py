"""Random input transformations used as proactive defenses (and as training augmentation), kornia-style:
parameters are sampled apart from being applied, so a run can be replayed and tested. All work on batches
``(N, C, H, W)`` in [0, 1]; the geometric ones are differentiable (an adaptive attacker can use EOT through them
directly). Introduced for q03.

* random resize + pad [@xie2018mitigating]; rotation and flip; brightness/contrast jitter.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .defenses import JPEG, BitDepth, MedianFilter, PixelDeflection


class RandomTransform(nn.Module):
    """Base: ``forward(x) = apply(x, sample(len(x)))``."""

    def sample(self, n: int, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def apply(self, x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.apply(x, self.sample(len(x)))


def _affine(x: torch.Tensor, theta: torch.Tensor, fill: float = 0.5) -> torch.Tensor:
    grid = F.affine_grid(theta.to(x), list(x.shape), align_corners=False)
    # grid_sample pads with zeros: shift so the padding is the neutral grey ``fill``
    return F.grid_sample(x - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + fill


class RandomResizePad(RandomTransform):
    """Shrink to a random size in [min_scale, 1] of the side and paste at a random place on grey."""

    def __init__(self, min_scale: float = 0.8):
        super().__init__()
        self.min_scale = min_scale

    def sample(self, n, generator=None):
        scale = self.min_scale + (1 - self.min_scale) * torch.rand(n, generator=generator)
        room = 1 - scale
        shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * room[:, None]
        return {"scale": scale, "shift": shift}

    def apply(self, x, params):
        s, t = params["scale"], params["shift"]
        theta = torch.zeros(len(x), 2, 3)
        theta[:, 0, 0] = theta[:, 1, 1] = 1 / s
        theta[:, :, 2] = -t / s[:, None]
        return _affine(x, theta)


class RandomRotation(RandomTransform):
    def __init__(self, degrees: float = 15.0):
        super().__init__()
        self.degrees = degrees

    def sample(self, n, generator=None):
        return {"angle": (torch.rand(n, generator=generator) * 2 - 1) * self.degrees}

    def apply(self, x, params):
        a = params["angle"] * math.pi / 180
        theta = torch.zeros(len(x), 2, 3)
        theta[:, 0, 0], theta[:, 0, 1] = torch.cos(a), -torch.sin(a)
        theta[:, 1, 0], theta[:, 1, 1] = torch.sin(a), torch.cos(a)
        return _affine(x, theta)


class RandomFlip(RandomTransform):
    def __init__(self, p: float = 0.5):
        super().__init__()
        self.p = p

    def sample(self, n, generator=None):
        return {"flip": torch.rand(n, generator=generator) < self.p}

    def apply(self, x, params):
        return torch.where(params["flip"].to(x.device)[:, None, None, None], x.flip(-1), x)


class ColorJitter(RandomTransform):
    """Brightness and contrast, each drawn uniformly within ± ``strength``."""

    def __init__(self, strength: float = 0.3):
        super().__init__()
        self.strength = strength

    def sample(self, n, generator=None):
        u = (torch.rand(n, 2, generator=generator) * 2 - 1) * self.strength
        return {"brightness": u[:, 0], "contrast": 1 + u[:, 1]}

    def apply(self, x, params):
        b = params["brightness"].to(x)[:, None, None, None]
        c = params["contrast"].to(x)[:, None, None, None]
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        return ((x - mean) * c + mean + b).clamp(0, 1)


#: name -> (factory, differentiable?, randomized?) — q03 compares all of them
PROACTIVE = {
    "resize_pad": (RandomResizePad, True, True),
    "rotation": (RandomRotation, True, True),
    "flip": (RandomFlip, True, True),
    "brightness_contrast": (ColorJitter, True, True),
    "jpeg": (lambda: JPEG(75), False, False),
    "bit_depth": (lambda: BitDepth(3), False, False),
    "median": (lambda: MedianFilter(3), True, False),
    "pixel_deflection": (PixelDeflection, False, True),
}


def build(name: str) -> nn.Module:
    try:
        return PROACTIVE[name][0]()
    except KeyError:
        raise ValueError(f"unknown transform {name!r}; choose one of: {', '.join(PROACTIVE)}") from None
