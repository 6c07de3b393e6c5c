"""Model-side defenses that retrain a given model on a small clean set: fine-tuning and fine-pruning
[@liu2018fine] (prune the last conv layer's channels that stay dormant on clean data, then fine-tune).
Introduced for q08, which times them; the backdoor answers reuse them."""
from __future__ import annotations

import copy

import torch
from torch import nn

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


class ChannelMask(nn.Module):
    """Zeroes pruned channels of a layer's output (kept as a forward hook so fine-tuning cannot revive them)."""

    def __init__(self, layer: nn.Module, channels: int):
        super().__init__()
        self.register_buffer("keep", torch.ones(channels))
        self.handle = layer.register_forward_hook(lambda m, a, out: out * self.keep.view(1, -1, 1, 1))


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
    mask = ChannelMask(layer, len(activity))
    base = clean_accuracy(model, x, y)
    n_step = max(1, int(step * len(order)))
    pruned = 0
    for n in range(n_step, len(order), n_step):
        mask.keep[order[:n]] = 0
        if clean_accuracy(model, x, y) < base - max_drop:
            mask.keep[order[pruned:n]] = 1
            break
        pruned = n
    fine_tune(model, x, y, epochs=epochs, lr=lr, seed=seed, progress=progress)
    return model, pruned / len(order)


def copy_model(model: nn.Module) -> nn.Module:
    return copy.deepcopy(model)
