"""Backdoors by data poisoning, BadNets-style [@gu2019badnets]: stamp a small trigger on a fraction of the training
images and relabel them to the target class (all-to-one). The model is never touched by the attacker — only its
training data — and afterwards answers the target whenever the trigger is present.

The poisoned split carries the indices it poisoned, and its fingerprint covers the poisoned content, so the
weight cache trains a new model for every trigger, ratio and target. Introduced for q04; the backdoor answers
(q05, q09, q10) build on it.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .data import Split, fingerprint


@dataclass(frozen=True)
class Trigger:
    """A ``size``×``size`` black-and-white checkerboard ``margin`` pixels from the bottom-right corner."""

    size: int = 3
    margin: int = 1

    def pattern(self, channels: int = 3) -> torch.Tensor:
        idx = torch.arange(self.size)
        board = ((idx[:, None] + idx[None, :]) % 2).float()
        return board.expand(channels, -1, -1)

    def stamp(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` with the trigger painted on every image."""
        out = x.clone()
        h, w = x.shape[-2:]
        top, left = h - self.size - self.margin, w - self.size - self.margin
        out[..., top:top + self.size, left:left + self.size] = self.pattern(x.shape[1]).to(x)
        return out


@dataclass(frozen=True)
class PoisonedSplit(Split):
    """A split whose training half has been poisoned; ``poisoned`` lists the poisoned training indices."""

    poisoned: tuple = ()
    target: int = 0
    trigger: Trigger = Trigger()


def badnets(split: Split, trigger: Trigger, ratio: float, target: int, seed: int = 0) -> PoisonedSplit:
    """Poison ``ratio`` of the training images of other classes than ``target``: stamp ``trigger`` and relabel
    them ``target``. The test half is left clean (attacks stamp it when they measure)."""
    if not 0 < ratio < 1:
        raise ValueError(f"poisoning ratio must be in (0, 1), got {ratio}")
    g = torch.Generator().manual_seed(seed)
    candidates = (split.y_train != target).nonzero().flatten()
    chosen = candidates[torch.randperm(len(candidates), generator=g)[:round(ratio * len(split.y_train))]]
    chosen = chosen.sort().values
    x, y = split.x_train.clone(), split.y_train.clone()
    x[chosen] = trigger.stamp(x[chosen])
    y[chosen] = target
    return PoisonedSplit(f"{split.name}-badnets", x, y, split.x_test, split.y_test, split.num_classes,
                         fingerprint(x, y, split.x_test, split.y_test, torch.tensor([target, trigger.size])),
                         poisoned=tuple(chosen.tolist()), target=target, trigger=trigger)


@dataclass(frozen=True)
class BackdoorScores:
    """Per-image outcomes behind the three backdoor metrics, as BackdoorBench defines them: ``clean`` (every test
    image, correct without the trigger: CA), ``attack`` (test images of other classes, sent to the target with the
    trigger: ASR) and ``robust`` (the same images, still given their true label with the trigger: RA)."""

    clean: torch.Tensor
    attack: torch.Tensor
    robust: torch.Tensor

    @property
    def ca(self) -> float:
        return float(self.clean.float().mean())

    @property
    def asr(self) -> float:
        return float(self.attack.float().mean())

    @property
    def ra(self) -> float:
        return float(self.robust.float().mean())


def scores(model, x: torch.Tensor, y: torch.Tensor, trigger: Trigger, target: int) -> BackdoorScores:
    """CA on all of ``x``; ASR and RA on the images of other classes than ``target``, with the trigger stamped."""
    from .metrics import predict
    others = y != target
    stamped = predict(model, trigger.stamp(x[others]))
    return BackdoorScores(predict(model, x) == y, stamped == target, stamped == y[others])
