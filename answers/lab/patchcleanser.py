"""PatchCleanser double masking [@xiang2022patchcleanser], in two implementations that must agree exactly:
a mask-by-mask loop (one model call per masked image) and a batched one (all masked images of a round in one
forward pass). Introduced for q08.

Mask set: ``k × k`` square masks of side ``m = p + s - 1`` at stride ``s = ⌈(n - p + 1)/k⌉`` so that any
``p × p`` patch in an ``n × n`` image lies wholly inside at least one mask. Masked pixels take ``fill``.

Double masking (the paper's Algorithm 1): round one classifies the ``k²`` one-mask images and takes the
majority label (ties → smaller label). Each mask that disagrees is tried in turn (mask order): its second
round classifies the ``k²`` images masked by it and by every mask; if all agree with it, its label is
returned; if none succeeds the majority is returned. Certification: an image is certified (for label ``y``)
when every two-mask prediction — ``k²(k²+1)/2`` of them — equals ``y``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import torch
from torch import nn


@dataclass(frozen=True)
class MaskSet:
    image_size: int
    patch_size: int
    k: int

    def __post_init__(self) -> None:
        if not 1 <= self.patch_size <= self.image_size or self.k < 1:
            raise ValueError(f"need 1 ≤ patch ≤ image and k ≥ 1, got {self}")

    @property
    def stride(self) -> int:
        return math.ceil((self.image_size - self.patch_size + 1) / self.k)

    @property
    def mask_size(self) -> int:
        return min(self.image_size, self.patch_size + self.stride - 1)

    @property
    def starts(self) -> list[int]:
        last = self.image_size - self.mask_size
        return sorted({min(i * self.stride, last) for i in range(self.k)})

    @cached_property
    def masks(self) -> torch.Tensor:
        """``(M, H, W)`` bool, True where masked; row-major over (top, left) starts."""
        n, m = self.image_size, self.mask_size
        out = []
        for top in self.starts:
            for left in self.starts:
                mk = torch.zeros(n, n, dtype=torch.bool)
                mk[top:top + m, left:left + m] = True
                out.append(mk)
        return torch.stack(out)

    def __len__(self) -> int:
        return len(self.starts) ** 2


def worst_case_calls(k: int, num_classes: int) -> int:
    """Most model calls double masking can make: ``k² + (k² − ⌈k²/C⌉)·k²`` (the majority holds ≥ ⌈k²/C⌉ masks)."""
    m = k * k
    return m + (m - math.ceil(m / num_classes)) * m


def certification_calls(k: int) -> int:
    """Two-mask predictions needed to certify one image: ``k²(k²+1)/2`` (pairs with repetition)."""
    m = k * k
    return m * (m + 1) // 2


def apply_masks(x: torch.Tensor, masks: torch.Tensor, fill: float) -> torch.Tensor:
    """``x`` (C, H, W) or (N, C, H, W) broadcast against ``masks`` (..., H, W) → masked images."""
    mk = masks.unsqueeze(-3).to(x.device)
    return torch.where(mk, torch.full((), fill, dtype=x.dtype, device=x.device), x)


def _majority(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    counts = torch.nn.functional.one_hot(labels, num_classes).sum(-2)
    return counts.argmax(-1)  # argmax returns the first maximum: ties go to the smaller label


@torch.inference_mode()
def double_masking_loop(model: nn.Module, x: torch.Tensor, masks: MaskSet, fill: float = 0.5) -> torch.Tensor:
    """Robust prediction, one model call per masked image (batch size 1)."""
    mk = masks.masks
    out = []
    for img in x:
        logits = torch.cat([model(apply_masks(img, mk[i], fill)[None]) for i in range(len(mk))])
        first = logits.argmax(1)
        maj = int(_majority(first, logits.shape[1]))
        label = maj
        for i in (first != maj).nonzero().flatten().tolist():
            second = [int(model(apply_masks(img, mk[i] | mk[j], fill)[None]).argmax(1)) for j in range(len(mk))]
            if all(s == int(first[i]) for s in second):
                label = int(first[i])
                break
        out.append(label)
    return torch.tensor(out, dtype=torch.long)


def _logits(model: nn.Module, images: torch.Tensor, chunk: int) -> torch.Tensor:
    return torch.cat([model(images[i:i + chunk]) for i in range(0, len(images), chunk)])


def _classify(model: nn.Module, images: torch.Tensor, chunk: int) -> torch.Tensor:
    return _logits(model, images, chunk).argmax(1)


@torch.inference_mode()
def double_masking_batched(model: nn.Module, x: torch.Tensor, masks: MaskSet, fill: float = 0.5,
                           chunk: int = 256) -> torch.Tensor:
    """Same predictions as the loop, with each round's masked images of all images in one forward pass.

    Second rounds run in waves: wave t tries the t-th disagreeing mask of every image still undecided, so
    the set of model calls is exactly the loop's — only grouped into large batches."""
    mk = masks.masks
    n, m = len(x), len(mk)
    if n == 0:
        return torch.empty(0, dtype=torch.long)
    logits = _logits(model, apply_masks(x[:, None], mk[None], fill).flatten(0, 1), chunk)
    first = logits.argmax(1).view(n, m)
    label = _majority(first, logits.shape[1])
    disagree = first != label[:, None]
    # each image's disagreeing masks in mask order, padded with m
    order = torch.where(disagree, torch.arange(m).expand(n, m), torch.full((n, m), m)).sort(1).values
    undecided = disagree.any(1)
    for t in range(int(disagree.sum(1).max())):
        rows = (undecided & (order[:, t] < m)).nonzero().flatten()
        if len(rows) == 0:
            break
        first_mask = order[rows, t]
        pair_masks = mk[first_mask][:, None] | mk[None]                      # (r, M, H, W)
        imgs = apply_masks(x[rows][:, None], pair_masks, fill).flatten(0, 1)
        second = _classify(model, imgs, chunk).view(len(rows), m)
        mine = first[rows, first_mask]
        ok = (second == mine[:, None]).all(1)
        label[rows[ok]] = mine[ok]
        undecided[rows[ok]] = False
    return label


def _pairs(m: int) -> tuple[torch.Tensor, torch.Tensor]:
    i, j = torch.triu_indices(m, m)
    return i, j


@torch.inference_mode()
def certify_loop(model: nn.Module, x: torch.Tensor, y: torch.Tensor, masks: MaskSet,
                 fill: float = 0.5) -> torch.Tensor:
    """Certified for ``y`` iff every two-mask prediction equals ``y``; one call per pair (no early exit, so
    the count is the certification cost)."""
    mk = masks.masks
    ii, jj = _pairs(len(mk))
    out = []
    for img, label in zip(x, y):
        preds = [int(model(apply_masks(img, mk[i] | mk[j], fill)[None]).argmax(1)) for i, j in zip(ii, jj)]
        out.append(all(p == int(label) for p in preds))
    return torch.tensor(out, dtype=torch.bool)


@torch.inference_mode()
def two_mask_predictions(model: nn.Module, x: torch.Tensor, masks: MaskSet, fill: float = 0.5,
                         chunk: int = 256) -> torch.Tensor:
    """``(N, k²(k²+1)/2)`` labels of every two-mask image (pairs with repetition), each image's pairs batched."""
    mk = masks.masks
    ii, jj = _pairs(len(mk))
    pair_masks = mk[ii] | mk[jj]                                             # (P, H, W)
    out = [_classify(model, apply_masks(img, pair_masks, fill), chunk) for img in x]
    return torch.stack(out) if out else torch.empty(0, len(ii), dtype=torch.long)


def certify_batched(model: nn.Module, x: torch.Tensor, y: torch.Tensor, masks: MaskSet, fill: float = 0.5,
                    chunk: int = 256) -> torch.Tensor:
    """Same certificates as :func:`certify_loop`, all pairs of an image in large forward passes."""
    return (two_mask_predictions(model, x, masks, fill, chunk) == y.to(x.device)[:, None]).all(1).cpu()


class DisagreeingModel(nn.Module):
    """A stand-in classifier built to make double masking as expensive as possible, for testing the worst
    case. It finds the lowest-index mask whose whole region is ``fill`` and answers ``index mod C``: the
    first round then spreads its votes as evenly as possible, and every second round contains a pair whose
    lowest covered mask is mask 0 (the majority's label), so no disagreeing mask is ever confirmed."""

    def __init__(self, masks: MaskSet, num_classes: int, fill: float = 0.5):
        super().__init__()
        self.register_buffer("regions", masks.masks.clone())
        self.num_classes, self.fill = num_classes, fill

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        is_fill = (x == self.fill).all(1)                                     # (N, H, W)
        covered = ~(self.regions[None] & ~is_fill[:, None]).flatten(2).any(2)  # (N, M)
        idx = torch.where(covered.any(1), covered.float().argmax(1), torch.zeros(len(x), dtype=torch.long))
        return torch.nn.functional.one_hot(idx % self.num_classes, self.num_classes).float()
