"""Backdoors by data poisoning, BadNets-style [@gu2019badnets]: stamp a small trigger on a fraction of the training
images and relabel them to the target class (all-to-one; or each class to the next, all-to-all). The model is never
touched by the attacker — only its training data — and afterwards answers the target whenever the trigger is
present. The clean-label variant [@turner2019label] keeps every label correct: it stamps the trigger on images of
the target class made hard to learn by an adversarial perturbation, so the trigger becomes the easiest cue.
Activation Clustering [@chen2018detecting] looks for the poison in a trained model's activations.

The poisoned split carries the indices it poisoned, and its fingerprint covers the poisoned content, so the
weight cache trains a new model for every trigger, ratio and target. Introduced for q04; the backdoor answers
(q05, q09, q10) build on it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.cluster.vq import kmeans2

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
    target: int | None = 0      # None: all-to-all (each class sent to the next)
    trigger: Trigger = Trigger()


def targets(y: torch.Tensor, target: int | None, num_classes: int) -> torch.Tensor:
    """The label the backdoor should give each image: ``target`` (all-to-one) or the next class (all-to-all)."""
    return torch.full_like(y, target) if target is not None else (y + 1) % num_classes


def badnets(split: Split, trigger: Trigger, ratio: float, target: int | None, seed: int = 0) -> PoisonedSplit:
    """Poison ``ratio`` of the training images: stamp ``trigger`` and relabel them — to ``target`` (all-to-one,
    drawn among the other classes' images) or, with ``target=None``, each to the next class (all-to-all). The
    test half is left clean (attacks stamp it when they measure)."""
    if not 0 < ratio < 1:
        raise ValueError(f"poisoning ratio must be in (0, 1), got {ratio}")
    g = torch.Generator().manual_seed(seed)
    candidates = (split.y_train != target).nonzero().flatten() if target is not None else torch.arange(len(split.y_train))
    chosen = candidates[torch.randperm(len(candidates), generator=g)[:round(ratio * len(split.y_train))]]
    chosen = chosen.sort().values
    x, y = split.x_train.clone(), split.y_train.clone()
    x[chosen] = trigger.stamp(x[chosen])
    y[chosen] = targets(y[chosen], target, split.num_classes)
    code = -1 if target is None else target
    return PoisonedSplit(f"{split.name}-badnets", x, y, split.x_test, split.y_test, split.num_classes,
                         fingerprint(x, y, split.x_test, split.y_test, torch.tensor([code, trigger.size])),
                         poisoned=tuple(chosen.tolist()), target=target, trigger=trigger)


def label_consistent(x: torch.Tensor, y: torch.Tensor, model, trigger: Trigger, target: int, fraction: float,
                     eps: float = 16 / 255, steps: int = 10, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Clean-label poison [@turner2019label]: take ``fraction`` of the images of class ``target`` (labels stay
    as they are, all correct), push each away from its class by L∞ PGD of radius ``eps`` on the attacker's
    ``model`` — so that its content is hard to learn — and stamp ``trigger``. Returns the new images and the
    (sorted) indices poisoned."""
    from .attacks import PGD
    g = torch.Generator().manual_seed(seed)
    candidates = (y == target).nonzero().flatten()
    chosen = candidates[torch.randperm(len(candidates), generator=g)[:round(fraction * len(candidates))]].sort().values
    out = x.clone()
    if len(chosen):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            hard = PGD(model, eps=eps, alpha=eps / 4, steps=steps)(x[chosen], y[chosen])
        out[chosen] = trigger.stamp(hard)
    return out, chosen


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


def scores(model, x: torch.Tensor, y: torch.Tensor, trigger: Trigger, target: int | None,
           num_classes: int = 10) -> BackdoorScores:
    """CA on all of ``x``; ASR and RA with the trigger stamped, on the images of other classes than ``target``
    (all-to-one) or on every image (all-to-all, ``target=None``: success is the next class)."""
    from .metrics import predict
    others = y != target if target is not None else torch.ones_like(y, dtype=torch.bool)
    stamped = predict(model, trigger.stamp(x[others]))
    return BackdoorScores(predict(model, x) == y, stamped == targets(y[others], target, num_classes),
                          stamped == y[others])


# ---------------------------------------------------------------- detection: Activation Clustering
@torch.inference_mode()
def activations(model, layer, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """``layer``'s output for ``x``, averaged over space when it is a feature map: ``(N, C)``."""
    out: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda m, a, o: out.append(o.mean(dim=(2, 3)) if o.dim() == 4 else o.flatten(1)))
    try:
        for i in range(0, len(x), batch_size):
            model(x[i:i + batch_size])
    finally:
        handle.remove()
    return torch.cat(out)


def silhouette(points: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean silhouette coefficient of a clustering of ``points`` (Euclidean): for each point, (b − a) / max(a, b)
    with a its mean distance to its own cluster and b to the nearest other cluster."""
    d = torch.cdist(points, points)
    ks = labels.unique()
    if len(ks) < 2:
        return 0.0
    mean_to = torch.stack([d[:, labels == k].sum(1) / ((labels == k).sum() - (labels == k).long()).clamp_min(1)
                           for k in ks], 1)   # own cluster: the point itself left out
    own = (labels[:, None] == ks[None]).float()
    a = (mean_to * own).sum(1)
    b = (mean_to + own * 1e30).min(1).values
    return float(((b - a) / torch.maximum(a, b).clamp_min(1e-12)).mean())


@dataclass(frozen=True)
class LabelClusters:
    """Activation Clustering's split of one label's images in two: ``members`` (indices into the data),
    ``smaller`` (which of them fell in the smaller cluster), the smaller cluster's share of the label and the
    clustering's silhouette."""

    label: int
    members: torch.Tensor
    smaller: torch.Tensor
    size: float
    silhouette: float


def activation_clusters(model, layer, x: torch.Tensor, y: torch.Tensor, *, dims: int = 10,
                        seed: int = 0) -> list[LabelClusters]:
    """Activation Clustering [@chen2018detecting]: for each label, the images' activations at ``layer`` are
    centred, projected onto their top ``dims`` principal components and split in two by 2-means (k-means++,
    seeded). What to flag is the caller's analysis: the smaller cluster, only when it is small enough, or only
    where the two clusters separate well."""
    feats = activations(model, layer, x).double()
    out = []
    for c in y.unique().tolist():
        idx = (y == c).nonzero().flatten()
        f = feats[idx] - feats[idx].mean(0)
        _, _, v = torch.linalg.svd(f, full_matrices=False)
        points = f @ v[:dims].T
        _, labels = kmeans2(points.numpy(), 2, minit="++", seed=np.random.default_rng(seed + c))
        labels = torch.from_numpy(labels).long()
        small = int((labels == 1).sum() < (labels == 0).sum())
        smaller = labels == small
        out.append(LabelClusters(c, idx, smaller, float(smaller.float().mean()), silhouette(points, labels)))
    return out
