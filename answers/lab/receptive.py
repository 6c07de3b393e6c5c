"""What a unit of a layer can see: theoretical receptive fields by arithmetic, effective ones by gradients
[@luo2016understanding], and the layer activations themselves. Introduced for q01.

The theoretical receptive field of a unit is the input window that can influence it at all; the effective one
is where the influence (|∂unit/∂pixel|) actually concentrates, which for trained CNNs is a blob much smaller than
the window.
"""
from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from .seeding import isolated_rng


@dataclass(frozen=True)
class Field:
    """Receptive-field arithmetic after one layer: side ``size`` in pixels, ``jump`` (input pixels between
    neighbouring units) and ``start`` (input coordinate of the first unit's centre)."""

    size: float
    jump: float
    start: float

    def centre(self, index: int) -> float:
        """Input coordinate (pixels, may be a half) of the centre of unit ``index``'s field."""
        return self.start + index * self.jump

    def window(self, index: int, image_size: int) -> tuple[int, int]:
        """First and last input pixel of unit ``index``'s field, clipped to the image."""
        c, half = self.centre(index), (self.size - 1) / 2
        return max(0, round(c - half)), min(image_size - 1, round(c + half))


def _pair(v) -> int:
    return v[0] if isinstance(v, tuple) else v


def theoretical_fields(model: nn.Module, layers: list[str]) -> dict[str, Field]:
    """The field after each named layer, from the kernel/stride/padding of every convolution and pooling
    before it. Assumes the model applies its modules in definition order (a chain such as ``SmallCNN``)."""
    field, out = Field(1.0, 1.0, 0.0), {}
    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            k, s, p = _pair(module.kernel_size), _pair(module.stride), _pair(module.padding)
            d = _pair(getattr(module, "dilation", 1))
            k_eff = d * (k - 1) + 1
            field = Field(field.size + (k_eff - 1) * field.jump, field.jump * s,
                          field.start + ((k_eff - 1) / 2 - p) * field.jump)
        if name in layers:
            out[name] = field
    missing = [n for n in layers if n not in out]
    if missing:
        raise ValueError(f"no layer named {missing} in {type(model).__name__}")
    return out


@contextmanager
def layer_outputs(model: nn.Module, layers: list[str]):
    """Within the block, ``acts[name]`` holds the output of each named layer from the last forward pass."""
    acts: dict[str, torch.Tensor] = {}
    modules = dict(model.named_modules())
    handles = [modules[n].register_forward_hook(lambda m, i, o, n=n: acts.__setitem__(n, o)) for n in layers]
    try:
        yield acts
    finally:
        for h in handles:
            h.remove()


@dataclass(frozen=True)
class GradientMap:
    """Mean over images of |∂unit/∂input| summed over colour channels, ``(H, W)``; the unit is the sum over
    channels at the centre position ``index`` of a ``side``×``side`` feature map (for a classifier's output:
    the logit of the predicted class, ``side`` = 0)."""

    map: torch.Tensor
    index: int
    side: int
    per_image: torch.Tensor | None = None   # (N, H, W) the same map for each image, for resampling


def gradient_maps(model: nn.Module, x: torch.Tensor, layers: list[str]) -> dict[str, GradientMap]:
    """The gradient map of each named layer's centre unit ("" names the model's output)."""
    model.eval()
    out = {}
    for layer in layers:
        xi = x.detach().clone().requires_grad_(True)
        with layer_outputs(model, [layer] if layer else []) as acts, torch.enable_grad():
            logits = model(xi)
            a = acts[layer] if layer else logits
            if a.dim() == 4:
                index, side = a.shape[-1] // 2, a.shape[-1]
                unit = a[:, :, index, index].sum()
            else:
                index, side = 0, 0
                unit = a.max(1).values.sum()
            grad, = torch.autograd.grad(unit, xi)
        per_image = grad.abs().sum(1)
        out[layer] = GradientMap(per_image.mean(0), index, side, per_image)
    return out


def support_side(grad_map: torch.Tensor) -> int:
    """Side of the bounding box of the pixels with any gradient at all (the measured theoretical field)."""
    rows, cols = torch.nonzero(grad_map > 0, as_tuple=True)
    if len(rows) == 0:
        return 0
    return int(max(rows.max() - rows.min(), cols.max() - cols.min())) + 1


def effective_side(grad_map: torch.Tensor, centre: float, mass: float = 0.9) -> float:
    """Side of the smallest square around ``centre`` (pixels) holding ``mass`` of the gradient magnitude."""
    h, w = grad_map.shape
    rows = torch.arange(h, dtype=torch.float32)[:, None]
    cols = torch.arange(w, dtype=torch.float32)[None, :]
    dist = torch.maximum((rows - centre).abs(), (cols - centre).abs()).flatten()
    order = torch.argsort(dist)
    cumulative = torch.cumsum(grad_map.flatten()[order], 0) / grad_map.sum()
    reached = int(torch.searchsorted(cumulative, torch.tensor(mass)))
    return float(2 * dist[order][min(reached, len(order) - 1)] + 1)


def untrained_copy(model: nn.Module, seed: int) -> nn.Module:
    """The same network with its initial weights drawn afresh from ``seed`` (every layer's own initialisation,
    batch-norm statistics reset) and the caller's random stream left as it was: the reference Luo et al. measure a
    trained network's effective field against."""
    fresh = copy.deepcopy(model)
    with isolated_rng():
        torch.manual_seed(seed)
        for m in fresh.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
            if hasattr(m, "reset_running_stats"):
                m.reset_running_stats()
    return fresh.eval()
