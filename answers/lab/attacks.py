"""Evasion attacks with one small interface, in the spirit of torchattacks: the base class owns the device,
the [0, 1] input range, targeted mode and restoring the model's train/eval mode; each attack writes only its
constructor and ``perturb``. All attacks are batched (no Python loop over images).

Shape: images ``(N, C, H, W)`` in [0, 1], labels ``(N,)``; the result has the same shape and range.
Introduced for q08 (PGD to measure what preprocessing buys, a patch attack for PatchCleanser); EOT, BPDA and
the transfer attack were added for the adaptive-attack answers (q03, q07).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Attack:
    """Base: ``attack(images, labels)`` returns adversarial images. ``targeted=True`` makes ``labels`` the
    target classes (the attack then lowers their loss instead of raising the true class's). ``eot`` > 1 averages
    every gradient over that many forward passes — Expectation over Transformation [@athalye2018synthesizing],
    the adaptive attack on a randomized defense."""

    def __init__(self, model: nn.Module, targeted: bool = False, eot: int = 1):
        self.model, self.targeted, self.eot = model, targeted, max(1, eot)

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        was_training = self.model.training
        self.model.eval()
        try:
            device = next(self.model.parameters()).device
        except StopIteration:
            device = images.device
        try:
            with torch.enable_grad():
                # clones: inputs made under inference_mode cannot enter autograd otherwise
                adv = self.perturb(images.detach().clone().to(device), labels.clone().to(device))
        finally:
            self.model.train(was_training)
        return adv.detach().clamp(0, 1)

    def perturb(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def loss_grad(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Gradient of the attacker's objective (ascend it) w.r.t. ``x``, averaged over ``eot`` passes."""
        grad = torch.zeros_like(x)
        for _ in range(self.eot):
            xi = x.clone().requires_grad_(True)
            loss = F.cross_entropy(self.model(xi), labels, reduction="sum")
            if self.targeted:
                loss = -loss
            grad += torch.autograd.grad(loss, xi)[0]
        return grad / self.eot


def in_batches(attack: "Attack", x: torch.Tensor, y: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """``attack(x, y)`` run ``batch`` images at a time (bounded memory for large evaluation sets)."""
    if len(x) == 0:
        return x
    return torch.cat([attack(x[i:i + batch], y[i:i + batch]) for i in range(0, len(x), batch)])


class FGSM(Attack):
    """Fast gradient sign method [@goodfellow2015explaining]; threat model L∞ ball of radius ``eps``.

    Args: eps (default 8/255)."""

    def __init__(self, model: nn.Module, eps: float = 8 / 255, targeted: bool = False, eot: int = 1):
        super().__init__(model, targeted, eot)
        self.eps = eps

    def perturb(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return images + self.eps * self.loss_grad(images, labels).sign()


class PGD(Attack):
    """Projected gradient descent [@madry2018towards] in the L∞ or L2 ball of radius ``eps``.

    Args: eps (8/255), alpha step size (2/255), steps (10), norm ("Linf" or "L2"), random_start (True),
    eot (1; > 1 for randomized defenses)."""

    def __init__(self, model: nn.Module, eps: float = 8 / 255, alpha: float = 2 / 255, steps: int = 10,
                 norm: str = "Linf", random_start: bool = True, targeted: bool = False, eot: int = 1):
        super().__init__(model, targeted, eot)
        if norm not in ("Linf", "L2"):
            raise ValueError(f"unknown norm {norm!r}; choose Linf or L2")
        self.eps, self.alpha, self.steps, self.norm, self.random_start = eps, alpha, steps, norm, random_start

    def _project(self, delta: torch.Tensor) -> torch.Tensor:
        if self.norm == "Linf":
            return delta.clamp(-self.eps, self.eps)
        norms = delta.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
        return delta * (self.eps / norms).clamp(max=1.0)

    def perturb(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        delta = torch.zeros_like(images)
        if self.random_start:
            if self.norm == "Linf":
                delta.uniform_(-self.eps, self.eps)
            else:
                delta = self._project(torch.randn_like(images) * self.eps)
        x = (images + delta).clamp(0, 1)
        for _ in range(self.steps):
            g = self.loss_grad(x, labels)
            if self.norm == "Linf":
                step = g.sign()
            else:
                step = g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
            x = (images + self._project(x + self.alpha * step - images)).clamp(0, 1)
        return x


def square_mask(n: int, h: int, w: int, size: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``(n, 1, h, w)`` masks of one ``size``×``size`` square each, placed uniformly at random (from
    ``generator``)."""
    top = torch.randint(0, h - size + 1, (n, 1, 1), generator=generator)
    left = torch.randint(0, w - size + 1, (n, 1, 1), generator=generator)
    rows, cols = torch.arange(h)[None, :, None], torch.arange(w)[None, None, :]
    return ((rows >= top) & (rows < top + size) & (cols >= left) & (cols < left + size))[:, None].float()


class PatchPGD(Attack):
    """A square adversarial patch [@brown2017adversarial] of ``size`` pixels at a random position per image,
    its pixels optimised by signed-gradient ascent (unbounded in value, bounded in area). One patch per image;
    :mod:`answers.lab.patches` trains one *universal* patch for a whole dataset.

    Positions come from a generator seeded once (``seed``) and advanced by every call, so successive batches get
    independent positions and a run is repeatable. ``eot`` > 1 averages each gradient over that many passes of a
    randomized model (e.g. ``Defended(model, capture())``).

    Args: size (patch side, pixels), steps (40), alpha (0.1), tries (random positions tried; the best kept)."""

    def __init__(self, model: nn.Module, size: int = 4, steps: int = 40, alpha: float = 0.1, tries: int = 2,
                 seed: int = 0, targeted: bool = False, eot: int = 1):
        super().__init__(model, targeted, eot)
        self.size, self.steps, self.alpha, self.tries = size, steps, alpha, tries
        self.generator = torch.Generator().manual_seed(seed)

    def perturb(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        n, _, h, w = images.shape
        best, best_loss = images.clone(), torch.full((n,), -float("inf"), device=images.device)
        for _ in range(self.tries):
            mask = square_mask(n, h, w, self.size, self.generator).to(images.device, images.dtype)
            x = images * (1 - mask) + torch.rand(images.shape, generator=self.generator).to(images) * mask
            for _ in range(self.steps):
                x = (x + self.alpha * self.loss_grad(x, labels).sign() * mask).clamp(0, 1)
            with torch.no_grad():
                loss = F.cross_entropy(self.model(x), labels, reduction="none")
                loss = -loss if self.targeted else loss
            better = loss > best_loss
            best[better], best_loss[better] = x[better], loss[better]
        return best


class Transfer(Attack):
    """A transfer attack [@papernot2016transferability]: craft the examples with ``attack`` on a ``surrogate``
    model the attacker owns, then use them unchanged against ``model`` (which the attacker never queries).

    Args: surrogate (nn.Module), attack (an Attack bound to the surrogate)."""

    def __init__(self, model: nn.Module, attack: Attack):
        super().__init__(model, attack.targeted)
        self.attack = attack

    def perturb(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.attack(images, labels)


class BPDA(nn.Module):
    """Backward Pass Differentiable Approximation [@athalye2018obfuscated]: forward through a (possibly
    non-differentiable) transform, backward as if it were the identity. Wrap a preprocessing defense in it and
    any gradient attack becomes adaptive to that defense: ``PGD(Defended(model, BPDA(JPEG())))``."""

    def __init__(self, transform: nn.Module):
        super().__init__()
        self.transform = transform

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            out = self.transform(x)
        return x + (out - x).detach()
