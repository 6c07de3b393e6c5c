"""Metrics every answer reports: clean accuracy, robust accuracy, certified accuracy, attack success rate.
Introduced for q08."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .attacks import in_batches


@torch.inference_mode()
def predict(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Labels predicted by ``model`` (a module returning logits), in batches."""
    out = [model(x[i:i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)]
    return torch.cat(out) if out else torch.empty(0, dtype=torch.long)


def accuracy(pred: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of ``pred`` equal to ``y`` (abstentions, -1, count as wrong)."""
    return float((pred == y).float().mean()) if len(y) else float("nan")


def clean_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> float:
    return accuracy(predict(model, x, batch_size), y)


def robust_accuracy(model: nn.Module, attack: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                    x: torch.Tensor, y: torch.Tensor, batch_size: int = 256,
                    defended: Callable[[torch.Tensor], torch.Tensor] | None = None) -> float:
    """Accuracy on ``attack(x, y)``. The attack is crafted against ``model``; ``defended`` (if given) is what
    classifies the adversarial images — a non-adaptive attacker who ignores the defense."""
    adv = in_batches(attack, x, y, batch_size)
    return accuracy(predict(defended or model, adv, batch_size), y)


def certified_accuracy(pred: torch.Tensor, certified: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of inputs both correctly predicted and certified (a lower bound on accuracy under any attack
    within the certificate's threat model)."""
    return float(((pred == y) & certified).float().mean()) if len(y) else float("nan")


def attack_success_rate(pred_adv: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None = None,
                        pred_clean: torch.Tensor | None = None) -> float:
    """Untargeted: fraction of (originally correct, if ``pred_clean`` given) inputs that are misclassified;
    targeted: fraction classified as ``target``."""
    keep = torch.ones_like(y, dtype=torch.bool) if pred_clean is None else pred_clean == y
    if target is not None:
        keep = keep & (y != target)
        hit = pred_adv == target
    else:
        hit = pred_adv != y
    return float(hit[keep].float().mean()) if keep.any() else float("nan")
