"""Ensembles: combining several models' answers, and Deep Partition Aggregation [@levine2021deep], the ensemble
with a guarantee against poisoning — every training sample goes to exactly one of ``k`` partitions (by a hash of
its content, so the assignment does not depend on the order or on the other samples), one model is trained per
partition, and the prediction is the plurality vote. A poisoned sample can only sway the one model whose
partition it falls in, so a vote won by a wide enough margin cannot be changed by a few of them.
Introduced for q10.
"""
from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Sequence

import torch
from torch import nn

from .data import Split, fingerprint


def partition_of(x: torch.Tensor, k: int) -> torch.Tensor:
    """The partition (0 … k−1) of every sample of ``x``: a SHA-256 hash of its quantised pixels, modulo ``k``
    (the paper hashes the sum of the pixel values; any hash of the sample alone gives the same guarantee)."""
    if k < 1:
        raise ValueError(f"need at least one partition, got k={k}")
    pixels = (x * 255).round().to(torch.uint8)
    return torch.tensor([int.from_bytes(hashlib.sha256(p.numpy().tobytes()).digest()[:8], "big") % k
                         for p in pixels])


_ASSIGNED: dict[tuple[str, int], torch.Tensor] = {}


def partition(split: Split, k: int, i: int) -> Split:
    """The training samples of ``split`` in partition ``i`` of ``k`` (the test half is kept whole). A poisoned
    split's ``poisoned`` indices are renumbered to the partition's samples."""
    if not 0 <= i < k:
        raise ValueError(f"partition {i} does not exist among {k}")
    key = (split.fingerprint, k)
    if key not in _ASSIGNED:                   # k members ask for the same assignment
        _ASSIGNED[key] = partition_of(split.x_train, k)
    keep = _ASSIGNED[key] == i
    x, y = split.x_train[keep], split.y_train[keep]
    extra = {}
    if hasattr(split, "poisoned"):
        renumber = torch.cumsum(keep.long(), 0) - 1
        extra["poisoned"] = tuple(int(renumber[j]) for j in split.poisoned if keep[j])
    return replace(split, name=f"{split.name}-part{i}of{k}", x_train=x, y_train=y,
                   fingerprint=fingerprint(x, y, split.x_test, split.y_test), **extra)


@torch.inference_mode()
def votes(models: Sequence[nn.Module], x: torch.Tensor, num_classes: int, batch_size: int = 256) -> torch.Tensor:
    """``(N, num_classes)`` counts of the members' predicted classes for every image."""
    vote = plurality_vote(models, num_classes)
    return torch.cat([vote(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]).long().cpu()


def plurality(counts: torch.Tensor) -> torch.Tensor:
    """The most voted class; a tie goes to the smaller class index (DPA's rule)."""
    return counts.argmax(1)   # argmax returns the first of equal maxima


def certified_poisons(counts: torch.Tensor) -> torch.Tensor:
    """DPA's certificate for every image: the number of training samples that may be inserted or removed (the
    size of the symmetric difference of the training sets) without changing the plurality vote,
    ⌊(n_top − max over c ≠ top of (n_c + [c < top])) / 2⌋ — each such change moves at most one member's vote,
    which can take one vote from the winner and give one to the runner-up."""
    top = plurality(counts)
    classes = torch.arange(counts.shape[1])
    challenger = counts + (classes[None, :] < top[:, None]).long()       # ties break towards smaller indices
    challenger[torch.arange(len(counts)), top] = -1
    return ((counts.gather(1, top[:, None]).squeeze(1) - challenger.max(1).values) // 2).clamp_min(0)


def plurality_vote(models: Sequence[nn.Module], num_classes: int) -> nn.Module:
    """The plurality vote as a module: its "logits" are the vote counts, so ``argmax`` is :func:`plurality`
    (ties to the smaller class) and metrics take it like any model."""
    return _Vote(list(models), num_classes)


class _Vote(nn.Module):
    def __init__(self, members: list[nn.Module], num_classes: int):
        super().__init__()
        self.members, self.num_classes = nn.ModuleList(members), num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sum(nn.functional.one_hot(m(x).argmax(1), self.num_classes) for m in self.members).float()


def logit_average(models: Sequence[nn.Module]) -> nn.Module:
    """An ensemble that averages its members' logits (a module: attacks and metrics take it like any model)."""
    return _Average(list(models))


class _Average(nn.Module):
    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x) for m in self.members]).mean(0)
