"""Model-side defenses that retrain a given model on a small clean set: fine-tuning and fine-pruning
[@liu2018fine] (prune the last conv layer's channels that stay dormant on clean data, then fine-tune).
Introduced for q08, which times them; the backdoor answers reuse them."""
from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils import prune

from .metrics import clean_accuracy
from .train import fit


@torch.inference_mode()
def channel_activity(model: nn.Module, layer: nn.Module, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Mean activation of each output channel of ``layer`` over ``x``."""
    acts = []
    handle = layer.register_forward_hook(lambda m, a, out: acts.append(out.mean(dim=(0, 2, 3)) * len(out)))
    try:
        for i in range(0, len(x), batch_size):
            model(x[i:i + batch_size])
    finally:
        handle.remove()
    return torch.stack(acts).sum(0) / len(x)


def prune_channels(layer: nn.Module) -> list[torch.Tensor]:
    """Make ``layer``'s output channels prunable through ``torch.nn.utils.prune``: the last convolution and
    batch norm in it get all-ones masks on their weight and bias (channels on the first axis). Returns those
    masks; :func:`set_channels` writes them, and a channel whose masks are 0 outputs 0 (filter, bias and BN
    scale and shift all masked), through fine-tuning too. The masks are module buffers, so they survive
    ``state_dict``, ``deepcopy`` and ``.to()``."""
    convs = [m for m in layer.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in layer.modules() if isinstance(m, nn.BatchNorm2d)]
    if not convs:
        raise ValueError(f"{type(layer).__name__} has no convolution to prune")
    masks = []
    for module in (convs[-1], *norms[-1:]):
        for name in ("weight", "bias"):
            if getattr(module, name, None) is not None:
                prune.custom_from_mask(module, name, torch.ones_like(getattr(module, name)))
                masks.append(getattr(module, f"{name}_mask"))
    return masks


def set_channels(masks: list[torch.Tensor], channels: torch.Tensor, keep: bool) -> None:
    """Prune (``keep=False``) or restore the given output channels in every mask of :func:`prune_channels`."""
    for mask in masks:
        mask[channels] = float(keep)


def fine_tune(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int = 2, lr: float = 0.01,
              seed: int = 0, progress: bool | None = None) -> nn.Module:
    """Continue training ``model`` (in place) on clean data at a small constant learning rate."""
    fit(model, x, y, epochs=epochs, lr=lr, seed=seed, progress=progress, desc="fine-tune", schedule=False)
    return model


def fine_prune(model: nn.Module, layer: nn.Module, x: torch.Tensor, y: torch.Tensor, *, max_drop: float = 0.04,
               step: float = 0.05, epochs: int = 2, lr: float = 0.01, seed: int = 0,
               progress: bool | None = None) -> tuple[nn.Module, float]:
    """Prune ``layer``'s channels in order of increasing clean activity, ``step`` of them at a time, while clean
    accuracy on ``(x, y)`` stays within ``max_drop`` of the start; then fine-tune. Works on ``model`` in place;
    returns it and the pruned fraction."""
    activity = channel_activity(model, layer, x)
    order = activity.argsort()
    masks = prune_channels(layer)
    base = clean_accuracy(model, x, y)
    n_step = max(1, int(step * len(order)))
    pruned = 0
    for n in range(n_step, len(order), n_step):
        set_channels(masks, order[:n], keep=False)
        if clean_accuracy(model, x, y) < base - max_drop:
            set_channels(masks, order[pruned:n], keep=True)
            break
        pruned = n
    fine_tune(model, x, y, epochs=epochs, lr=lr, seed=seed, progress=progress)
    return model, pruned / len(order)


def copy_model(model: nn.Module) -> nn.Module:
    return copy.deepcopy(model)
