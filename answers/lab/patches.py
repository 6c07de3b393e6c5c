"""Universal adversarial patches [@brown2017adversarial]: one patch for a whole dataset, trained with its
placement (and, for the physical world, a simulated capture) sampled afresh at every step — Expectation over
Transformation [@athalye2018synthesizing] — so that it works wherever it lands and however it is seen.

Printability and smoothness terms follow the physical-world patch papers [@thys2019fooling]: total variation
keeps neighbouring pixels close (a printer and a camera both blur), and the non-printability score pulls every
pixel towards the nearest colour of a printer's palette (here a coarse 4×4×4 grid inside [0.1, 0.9], a stand-in
for a measured palette). The per-image patch attack is :class:`~answers.lab.attacks.PatchPGD`.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .progress import bar
from .transforms import Replayable


def positions(n: int, h: int, w: int, size: int, generator: torch.Generator | None = None
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-left corners of ``n`` squares of side ``size`` placed uniformly inside an ``h``×``w`` image."""
    return (torch.randint(0, h - size + 1, (n,), generator=generator),
            torch.randint(0, w - size + 1, (n,), generator=generator))


def paste(x: torch.Tensor, patch: torch.Tensor, top: torch.Tensor, left: torch.Tensor) -> torch.Tensor:
    """``x`` with ``patch`` — one ``(C, s, s)`` for every image, or one ``(N, C, s, s)`` per image — pasted at
    each image's ``top``/``left``; differentiable in ``patch``."""
    n, s = len(x), patch.shape[-1]
    block = patch.permute(1, 2, 0).expand(n, s, s, -1) if patch.dim() == 3 else patch.permute(0, 2, 3, 1)
    ar = torch.arange(s, device=x.device)
    rows = (top.to(x.device)[:, None] + ar)[:, :, None]      # (n, s, 1)
    cols = (left.to(x.device)[:, None] + ar)[:, None, :]     # (n, 1, s)
    out = x.clone()
    # advanced indices on dims 0, 2, 3 around a slice: the indexed block is (n, s, s, C)
    out[torch.arange(n, device=x.device)[:, None, None], :, rows, cols] = block
    return out


def total_variation(patch: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels (0 for a flat patch)."""
    return ((patch[:, 1:, :] - patch[:, :-1, :]).abs().mean() + (patch[:, :, 1:] - patch[:, :, :-1]).abs().mean())


def printer_palette(levels: int = 4, low: float = 0.1, high: float = 0.9) -> torch.Tensor:
    """``(levels³, 3)`` colours on a grid inside [low, high]: a coarse stand-in for a printer's gamut."""
    axis = torch.linspace(low, high, levels)
    return torch.tensor(list(itertools.product(axis.tolist(), repeat=3)))


def non_printability(patch: torch.Tensor, palette: torch.Tensor) -> torch.Tensor:
    """Mean over pixels of the distance to the nearest palette colour (0 when every pixel is printable)."""
    pixels = patch.flatten(1).T                                  # (s*s, 3)
    return torch.cdist(pixels, palette.to(patch), compute_mode="donot_use_mm_for_euclid_dist").min(1).values.mean()


def print_colours(patch: torch.Tensor, palette: torch.Tensor) -> torch.Tensor:
    """``patch`` as a printer limited to ``palette`` would print it: every pixel snapped to the nearest colour."""
    pixels = patch.flatten(1).T
    nearest = torch.cdist(pixels, palette.to(patch), compute_mode="donot_use_mm_for_euclid_dist").argmin(1)
    return palette.to(patch)[nearest].T.reshape(patch.shape)


@dataclass
class PatchTrainer:
    """Train one patch of side ``size`` on a model.

    ``target`` = a class: targeted (every patched image should become it); None: untargeted (away from the true
    label). ``capture`` (a :class:`~answers.lab.transforms.Replayable`, e.g. ``transforms.capture(0.7)``) is
    applied after pasting with fresh parameters every step (EOT over the simulated camera); ``deform`` (e.g.
    ``transforms.cloth()``) warps each copy of the patch before it is pasted; ``tv`` and
    ``printability`` weight the two physical-world terms. Adam on the patch's logits keeps pixels in (0, 1)."""

    model: nn.Module
    size: int
    target: int | None = None
    steps: int = 300
    batch: int = 64
    lr: float = 0.1
    capture: Replayable | None = None
    deform: Replayable | None = None
    tv: float = 0.0
    printability: float = 0.0
    seed: int = 0
    history: list[float] = field(default_factory=list)

    def loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.target is None:
            return -F.cross_entropy(logits, y)
        return F.cross_entropy(logits, torch.full_like(y, self.target))

    def objective(self, patch: torch.Tensor, x: torch.Tensor, y: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """The attack loss of one step (minimised): the patch in fresh scenes, seen through a fresh capture."""
        return self.loss(self.model(scene(x, patch, g, self.capture, self.deform)), y)

    def fit(self, x: torch.Tensor, y: torch.Tensor, progress: bool | None = None) -> torch.Tensor:
        """The trained patch ``(C, size, size)`` in [0, 1]; ``history`` holds the attack loss of every step."""
        g = torch.Generator().manual_seed(self.seed)
        logits = (torch.rand(x.shape[1], self.size, self.size, generator=g) * 2 - 1).to(x.device).requires_grad_(True)
        opt = torch.optim.Adam([logits], lr=self.lr)
        palette = printer_palette()
        was_training = self.model.training
        self.model.eval()
        keep = torch.ones_like(y, dtype=torch.bool) if self.target is None else y != self.target
        xs, ys = x[keep], y[keep]   # images already of the target class teach a targeted patch nothing
        self.history = []
        with bar(self.steps, f"patch {self.size}px", progress, unit="step") as b:
            for _ in range(self.steps):
                idx = torch.randint(0, len(xs), (min(self.batch, len(xs)),), generator=g)
                xb, yb = xs[idx], ys[idx]
                patch = torch.sigmoid(logits)
                attack = self.objective(patch, xb, yb, g)
                total = attack + self.tv * total_variation(patch) + self.printability * non_printability(patch, palette)
                # the patch is what is optimised here (the attack's variable), never the model: not a training
                opt.zero_grad()
                total.backward()
                opt.step()
                self.history.append(float(attack.detach()))
                b.update(1)
        self.model.train(was_training)
        return torch.sigmoid(logits).detach()


def scene(x: torch.Tensor, patch: torch.Tensor, generator: torch.Generator, capture: Replayable | None = None,
          deform: Replayable | None = None) -> torch.Tensor:
    """``x`` with ``patch`` at random positions — each copy warped by ``deform`` first, the whole scene seen
    through ``capture`` after — every random choice drawn from ``generator`` (same state, same scenes)."""
    top, left = positions(len(x), x.shape[-2], x.shape[-1], patch.shape[-1], generator)
    if deform is not None:
        patch = deform(patch.expand(len(x), *patch.shape), generator=generator)
    seen = paste(x, patch, top, left)
    return seen if capture is None else capture(seen, generator=generator)


@torch.inference_mode()
def apply_patch(x: torch.Tensor, patch: torch.Tensor, generator: torch.Generator,
                capture: Replayable | None = None, deform: Replayable | None = None) -> torch.Tensor:
    """:func:`scene` without gradients: what a model is shown at evaluation."""
    return scene(x, patch, generator, capture, deform)


def key_mark(size: int = 4, channels: int = 3) -> torch.Tensor:
    """The fixed "key" of a conditional patch: a plain ``size``×``size`` magenta sticker (not optimised — the
    attacker adds or removes it to switch the attack on or off)."""
    key = torch.zeros(channels, size, size)
    key[0], key[2] = 1.0, 1.0
    return key


def keyed_scene(x: torch.Tensor, patch: torch.Tensor, key: torch.Tensor, generator: torch.Generator, *,
                show_patch: bool = True, show_key: bool = True, capture: Replayable | None = None) -> torch.Tensor:
    """``x`` with the patch and, immediately to its right, its key — each shown or not. Positions are drawn the
    same way whatever is shown, so for one generator state the "on" (patch + key) and "off" (patch alone)
    scenes differ only by the key."""
    size, k = patch.shape[-1], key.shape[-1]
    top, left = positions(len(x), x.shape[-2], x.shape[-1] - k, size, generator)   # room for the key on the right
    seen = paste(x, patch, top, left) if show_patch else x
    if show_key:
        seen = paste(seen, key, top, left + size)
    return seen if capture is None else capture(seen, generator=generator)


@dataclass
class ConditionalPatchTrainer(PatchTrainer):
    """A patch that attacks only when its ``key`` sticker is beside it: in every step half the scenes show
    patch + key and are pushed to the target, the other half show the patch alone and are held to the
    prediction the model gives the unpatched image ("leave it alone"). ``off_weight`` balances the two."""

    key: torch.Tensor = field(default_factory=key_mark)
    off_weight: float = 1.0

    def objective(self, patch: torch.Tensor, x: torch.Tensor, y: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        half = len(x) // 2
        with torch.no_grad():
            clean = self.model(x[half:]).argmax(1)
        on = keyed_scene(x[:half], patch, self.key.to(x), g, capture=self.capture)
        off = keyed_scene(x[half:], patch, self.key.to(x), g, show_key=False, capture=self.capture)
        target = torch.full_like(y[:half], self.target)
        return F.cross_entropy(self.model(on), target) + self.off_weight * F.cross_entropy(self.model(off), clean)
