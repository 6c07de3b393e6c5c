"""One evaluation of defenses against attacks, in the spirit of RobustBench's single entry point:
``evaluate(defenses, attacks, x, y)`` keeps, for every defense and attack, which images the defense still
classifies correctly — so accuracies, the per-image worst case over several attacks and paired tests (McNemar)
all come from the same data — and how many model calls per image each attack made (instrumented).

An attack is given either as an :class:`~answers.lab.attacks.Attack` bound to a model — a *non-adaptive*
attacker: its adversarial images are crafted once and shown to every defense — or as a function of the
:class:`Defense` returning an attack, crafted per defense (an adaptive attacker differentiating through
``defense.through``, or one aimed at ``defense.base``). Introduced for the lab issue; used by q03, q07, q08.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence, Union

import torch
from torch import nn

from .attacks import Attack, Transfer, in_batches
from .instrument import count_calls

Classify = Callable[[torch.Tensor], torch.Tensor]  # images -> labels (-1 = abstain, counted wrong)


@dataclass(frozen=True)
class Defense:
    """A classifier under a defense.

    ``key``: stable ASCII key (rows are looked up by it); ``label``: what tables show; ``classify``: images →
    labels; ``base``: the model whose calls are counted and which a non-adaptive attacker attacks;
    ``through``: what an adaptive attacker differentiates through (the defense itself, or an approximation of
    its non-differentiable steps); ``randomized``: the adaptive attacker needs EOT; ``threat``: the threat
    model the defense is meant for ("linf", "l2", "patch" or "any")."""

    key: str
    label: str
    classify: Classify
    base: nn.Module
    through: nn.Module
    randomized: bool = False
    threat: str = "any"


AttackPlan = Union[Attack, Callable[[Defense], Attack]]


def queried_model(attack: Attack) -> nn.Module:
    """The model an attack queries (for a transfer attack, the attacker's own surrogate)."""
    return attack.attack.model if isinstance(attack, Transfer) else attack.model


@dataclass
class Evaluation:
    """Per-image correctness ``correct[defense][attack]`` (bool tensors over the same images), clean
    correctness ``clean[defense]``, the attacker's model calls per image ``calls[defense][attack]`` and the
    images of every shared (non-adaptive) attack, ``adversarial[attack]``, for controls shown the same images."""

    clean: dict[str, torch.Tensor] = field(default_factory=dict)
    correct: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    calls: dict[str, dict[str, float]] = field(default_factory=dict)
    adversarial: dict[str, torch.Tensor] = field(default_factory=dict)

    def accuracy(self, defense: str, attack: str | None = None) -> float:
        """Accuracy of ``defense`` under ``attack`` (clean when None)."""
        hits = self.clean[defense] if attack is None else self.correct[defense][attack]
        return float(hits.float().mean())

    def worst_case(self, defense: str, attacks: Sequence[str] | None = None) -> torch.Tensor:
        """Per image: correct under *every* one of ``attacks`` (all of them when None) — the attacker needs only
        one that works."""
        names = list(self.correct[defense]) if attacks is None else list(attacks)
        return torch.stack([self.correct[defense][a] for a in names]).all(0)


def evaluate(defenses: Sequence[Defense], attacks: Mapping[str, AttackPlan], x: torch.Tensor, y: torch.Tensor,
             *, batch: int = 256) -> Evaluation:
    """Every defense on clean ``x`` and under every attack. A shared attack (an ``Attack``) is run once and its
    images shown to each defense; a per-defense plan is built and run for each defense."""
    result = Evaluation()
    shared: dict[str, tuple[torch.Tensor, float]] = {}
    for name, plan in attacks.items():
        if isinstance(plan, Attack):
            shared[name] = _craft(plan, x, y, batch)
            result.adversarial[name] = shared[name][0]
    for d in defenses:
        result.clean[d.key] = d.classify(x) == y
        result.correct[d.key], result.calls[d.key] = {}, {}
        for name, plan in attacks.items():
            adv, calls = shared[name] if name in shared else _craft(plan(d), x, y, batch)
            result.correct[d.key][name] = d.classify(adv) == y
            result.calls[d.key][name] = calls
    return result


def _craft(attack: Attack, x: torch.Tensor, y: torch.Tensor, batch: int) -> tuple[torch.Tensor, float]:
    """Adversarial images and the attacker's model calls per image."""
    with count_calls(queried_model(attack)) as calls:
        adv = in_batches(attack, x, y, batch)
    return adv, calls.images / max(1, len(x))
