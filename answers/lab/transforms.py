"""Random image transformations on kornia: the proactive defenses of q03 (and the augmentations a model is
fine-tuned on), and the simulated camera capture of the physical-world answers. All work on batches
``(N, C, H, W)`` in [0, 1] and are differentiable, so an adaptive attacker can average gradients over them
(Expectation over Transformation [@athalye2018synthesizing]).

:class:`Augmentation` wraps a kornia augmentation (a :class:`Replayable`; :class:`Chain` runs several) so that
its parameters are *sampled* apart from being *applied*, from an explicit ``torch.Generator``: the same generator
state gives the same parameters, the global RNG is left untouched, and one draw can be applied to several batches
(the clean and the patched image through the same capture, say).

* random resize + pad [@xie2018mitigating]; rotation and flip; brightness/contrast jitter;
* :func:`capture`: viewpoint (perspective, affine), lighting (colour jitter), focus and motion blur, sensor
  noise and (differentiable) JPEG, at a severity in [0, 1]; :func:`cloth`: a thin-plate-spline warp of a patch
  alone, as cloth folds a patch printed on a T-shirt [@xu2020adversarial].
"""
from __future__ import annotations

from typing import Any, Callable

import kornia.augmentation as K
import kornia.geometry.transform as KT
import torch
from torch import nn

Params = Any  # kornia's parameter dict (one augmentation) or list of ParamItem (a sequence)


class Replayable(nn.Module):
    """A random transformation whose parameters are drawn apart from being applied:
    ``forward(x, generator) = apply(x, sample(x, generator))``."""

    def sample(self, x: torch.Tensor, generator: torch.Generator | None = None) -> Params:
        raise NotImplementedError

    def apply(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.apply(x, self.sample(x, generator))


class Augmentation(Replayable):
    """A kornia augmentation with replayable parameters.

    ``grey=True`` pads geometric warps with neutral grey (0.5) instead of black, as a camera would see more of
    the scene rather than a black border."""

    def __init__(self, augmentation: nn.Module, grey: bool = False):
        super().__init__()
        self.augmentation, self.grey = augmentation, grey

    def sample(self, x: torch.Tensor, generator: torch.Generator | None = None) -> Params:
        """Parameters for a batch shaped like ``x``, drawn from ``generator`` (the global RNG when None, as a
        plain kornia call would)."""
        if generator is None:
            return self.augmentation.forward_parameters(x.shape)
        # kornia draws from the global RNG: draw a seed from our generator and sample in a private RNG state
        seed = int(torch.randint(0, 2 ** 62, (1,), generator=generator))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.augmentation.forward_parameters(x.shape)

    def apply(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        if self.grey:
            return self.augmentation(x - 0.5, params=params) + 0.5
        return self.augmentation(x, params=params).clamp(0, 1)


def resize_pad(min_scale: float = 0.8) -> Replayable:
    """Shrink to a random size in [min_scale, 1] of the side and shift within the room left, on grey."""
    room = (1 - min_scale) / 2
    return Augmentation(K.RandomAffine(degrees=0, translate=(room, room), scale=(min_scale, 1.0), p=1.0), grey=True)


def rotation(degrees: float = 15.0) -> Replayable:
    return Augmentation(K.RandomRotation(degrees=degrees, p=1.0), grey=True)


def flip(p: float = 0.5) -> Replayable:
    return Augmentation(K.RandomHorizontalFlip(p=p))


def brightness_contrast(strength: float = 0.3) -> Replayable:
    """Brightness (additive) and contrast (multiplicative) factors drawn within 1 ± ``strength``."""
    return Augmentation(K.ColorJiggle(brightness=strength, contrast=strength, p=1.0))


def rotate(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """``x`` rotated by a fixed angle (degrees, counter-clockwise) on grey: rotation as an attacker's tool."""
    angle = torch.full((len(x),), float(degrees), device=x.device, dtype=x.dtype)
    return KT.rotate(x - 0.5, angle) + 0.5


class Chain(Replayable):
    """Replayable stages applied in turn; the parameters are one draw per stage."""

    def __init__(self, *stages: Replayable):
        super().__init__()
        self.stages = nn.ModuleList(stages)

    def sample(self, x: torch.Tensor, generator: torch.Generator | None = None) -> list:
        return [stage.sample(x, generator) for stage in self.stages]

    def apply(self, x: torch.Tensor, params: list) -> torch.Tensor:
        for stage, p in zip(self.stages, params):
            x = stage.apply(x, p)
        return x


def capture(severity: float = 1.0) -> Chain:
    """A simulated camera capture of a whole scene at ``severity`` in [0, 1] (0: the identity up to JPEG at
    quality 95): viewpoint and distance (perspective, rotation, scale; what comes into view is grey), then
    lighting (brightness, contrast, saturation), focus and motion blur, sensor noise and JPEG (kornia's
    differentiable codec). Severity 1 is strong for 32-pixel images but leaves a model trained on it accurate."""
    if not 0 <= severity <= 1:
        raise ValueError(f"severity must be in [0, 1], got {severity}")
    s = float(severity)
    viewpoint = K.AugmentationSequential(
        K.RandomPerspective(distortion_scale=max(0.2 * s, 1e-3), p=1.0),
        K.RandomAffine(degrees=10 * s, scale=(1 - 0.15 * s, 1.0), p=1.0))
    optics = K.AugmentationSequential(
        K.ColorJiggle(brightness=0.2 * s, contrast=0.2 * s, saturation=0.2 * s, p=1.0),
        K.RandomGaussianBlur((3, 3), (0.1, 0.1 + 0.6 * s), p=1.0),
        K.RandomMotionBlur(3, angle=45.0, direction=0.5, p=0.3 * s),
        K.RandomGaussianNoise(std=0.02 * s, p=1.0),
        K.RandomJPEG(jpeg_quality=(95 - 30 * s, 95.0), p=1.0))
    return Chain(Augmentation(viewpoint, grey=True), Augmentation(optics))


def cloth(strength: float = 0.15) -> Replayable:
    """A thin-plate-spline warp of each copy of a patch (control points moved by up to ``strength`` of its
    side): cloth folding a printed patch, applied to the patch before it is placed in the scene."""
    return Augmentation(K.RandomThinPlateSpline(scale=strength, p=1.0), grey=True)


#: the random transformations q03 tries as proactive defenses (and fine-tunes models on), by stable key
RANDOM_TRANSFORMS: dict[str, Callable[[], Replayable]] = {
    "resize_pad": resize_pad,
    "rotation": rotation,
    "flip": flip,
    "brightness_contrast": brightness_contrast,
}

#: what a camera-fed model is trained on (zoo recipe "camera"): captures of every severity up to the strongest
CAMERA: dict[str, Callable[[], Replayable]] = {"capture": lambda: capture(1.0)}
