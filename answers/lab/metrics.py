"""Predictions and accuracy, in batches: what every answer's evaluation reads. (Robust and certified accuracies
and attack success rates are computed where their attacks and certificates are: lab.evaluate, lab.smoothing,
lab.backdoor.)"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn


@torch.inference_mode()
def predict(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Labels predicted by ``model`` (a module returning logits), in batches."""
    out = [model(x[i:i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)]
    return torch.cat(out) if out else torch.empty(0, dtype=torch.long)


def accuracy(pred: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of ``pred`` equal to ``y`` (abstentions, -1, count as wrong)."""
    return float((pred == y).float().mean()) if len(y) else float("nan")


def clean_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> float:
    """Accuracy of ``model`` on clean ``x`` (``batch_size`` bounds memory only)."""
    return accuracy(predict(model, x, batch_size), y)
