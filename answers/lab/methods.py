"""Training methods as small classes over the one trainer (:func:`answers.lab.train.fit`), in the spirit of
torchattacks: the base owns nothing but the contract, each method writes its constructor and ``update`` — one
minibatch's contribution to training — and says how many forward+backward passes it spends per minibatch.

* :class:`Standard` — plain cross-entropy on the clean batch;
* :class:`FixedStatistics` — the same with batch norm's running statistics kept (a frozen feature extractor);
* :class:`Perturbed` — train on ``perturb(model, x, y)`` (noise, cutout, transforms; crafted with BN frozen);
* :class:`PGDTraining` — PGD-AT [@madry2018towards]: k-step L∞ PGD from a random start;
* :class:`FGSMRandomStart` — "fast is better than free" [@wong2020fast]: one FGSM step of size α from a uniform
  random start, projected to the ε-ball;
* :class:`FreeAT` — "adversarial training for free" [@shafahi2019adversarial]: each minibatch is replayed
  ``replays`` times; every backward pass updates the weights *and* the perturbation, which carries over from
  one minibatch to the next.

Introduced by the lab issue for q06 (the cost of adversarial training); :class:`EpochCurve` records the
per-epoch loss, training wall time and clean/robust accuracy that q06's "loss against time" curves need.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

Perturb = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
Step = Callable[[], None]  # the trainer's optimizer (and schedule) step


class TrainMethod:
    """Base. ``update(model, opt, step, x, y)`` trains on one minibatch (the model is in train mode; call
    ``opt.zero_grad`` / ``loss.backward`` / ``step()`` as the method needs) and returns the mean training loss.
    ``replays``: optimizer steps per minibatch (the trainer sizes its schedule by it); ``passes``: forward +
    backward passes per minibatch, the method's cost relative to standard training's one."""

    replays: int = 1

    @property
    def passes(self) -> int:
        return 1

    def update(self, model: nn.Module, opt: torch.optim.Optimizer, step: Step, x: torch.Tensor,
               y: torch.Tensor) -> float:
        raise NotImplementedError

    @staticmethod
    def replica(model: nn.Module) -> nn.Module:
        """The model itself inside a DistributedDataParallel wrapper: what an attack differentiates through.
        (Through the wrapper, a backward that computes no weight gradients would leave DDP waiting for them.)"""
        return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model

    @staticmethod
    def _train_on(model: nn.Module, opt: torch.optim.Optimizer, step: Step, x: torch.Tensor,
                  y: torch.Tensor) -> float:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        step()
        return loss.item()


class Standard(TrainMethod):
    def update(self, model, opt, step, x, y):
        return self._train_on(model, opt, step, x, y)


class FixedStatistics(TrainMethod):
    """Plain cross-entropy with the model in eval mode: batch norm keeps its running statistics (the training of a
    new last layer on a frozen feature extractor)."""

    def update(self, model, opt, step, x, y):
        model.eval()
        return self._train_on(model, opt, step, x, y)


class Perturbed(TrainMethod):
    """Train on ``perturb(model, x, y)``, made with the model in eval mode (fixed BN statistics)."""

    def __init__(self, perturb: Perturb, passes: int = 1):
        self.perturb, self._passes = perturb, passes

    @property
    def passes(self) -> int:
        return self._passes

    def update(self, model, opt, step, x, y):
        model.eval()
        x = self.perturb(self.replica(model), x, y).detach()
        model.train()
        return self._train_on(model, opt, step, x, y)


class PGDTraining(Perturbed):
    """PGD-AT. Args: eps (L∞ radius), steps (k), alpha (default 2.5·ε/k); k + 1 passes per minibatch."""

    def __init__(self, eps: float, steps: int, alpha: float | None = None):
        from .attacks import PGD
        steps = max(1, steps)
        alpha = alpha if alpha is not None else 2.5 * eps / steps
        super().__init__(lambda m, x, y: PGD(m, eps=eps, alpha=alpha, steps=steps, random_start=True)(x, y),
                         passes=steps + 1)


class FGSMRandomStart(TrainMethod):
    """FGSM-RS. Args: eps (L∞ radius), alpha (step, default 1.25·ε as in Wong et al.), random_start (False
    gives plain FGSM training, prone to catastrophic overfitting); 2 passes per minibatch."""

    def __init__(self, eps: float, alpha: float | None = None, random_start: bool = True):
        self.eps, self.alpha, self.random_start = eps, alpha if alpha is not None else 1.25 * eps, random_start

    @property
    def passes(self) -> int:
        return 2

    def update(self, model, opt, step, x, y):
        delta = torch.empty_like(x).uniform_(-self.eps, self.eps) if self.random_start else torch.zeros_like(x)
        delta = ((x + delta).clamp(0, 1) - x).requires_grad_(True)
        model.eval()
        grad, = torch.autograd.grad(F.cross_entropy(self.replica(model)(x + delta), y), delta)
        model.train()
        delta = (delta.detach() + self.alpha * grad.sign()).clamp(-self.eps, self.eps)
        return self._train_on(model, opt, step, (x + delta).clamp(0, 1), y)


class FreeAT(TrainMethod):
    """Free-AT. Args: eps (L∞ radius, also the perturbation's step), replays (m). Each replay is one forward +
    backward pass that updates the weights and the perturbation; train for epochs / m to match the cost of
    standard training."""

    def __init__(self, eps: float, replays: int = 4):
        self.eps, self.replays = eps, max(1, replays)
        self.delta: torch.Tensor | None = None

    @property
    def passes(self) -> int:
        return self.replays

    def update(self, model, opt, step, x, y):
        if self.delta is None or self.delta.shape[1:] != x.shape[1:] or len(self.delta) < len(x):
            self.delta = torch.zeros_like(x)
        delta = self.delta[:len(x)]
        total = 0.0
        for _ in range(self.replays):
            d = delta.clone().requires_grad_(True)
            loss = F.cross_entropy(model((x + d).clamp(0, 1)), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            step()
            delta = (delta + self.eps * d.grad.sign()).clamp(-self.eps, self.eps)
            total += loss.item()
        self.delta[:len(x)] = delta.detach()
        return total / self.replays


class EpochCurve:
    """A ``fit`` callback: at every checkpoint (after every epoch, or ``checkpoints`` times per epoch), the epochs
    done, the mean training loss since the previous checkpoint, the training wall time so far (the
    callback's own evaluation excluded) and which held-out images are classified correctly, clean and under L∞
    PGD (``eps``, ``steps`` steps of ε/4 from a random start; ``eps=0``: clean only). Its randomness never
    disturbs the training's (a private RNG stream). ``rows`` holds one dict per checkpoint; ``clean`` / ``robust``
    the per-image correctness (bool tensors) behind them, for paired tests between epochs or methods.

    :func:`answers.lab.train.trained_model` caches a curve with the weights it was recorded for (``state`` /
    ``restore``), keyed by ``config``."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, eps: float = 0.0, steps: int = 0, seed: int = 0):
        self.x, self.y, self.eps, self.steps, self.seed = x, y, eps, steps, seed
        self.rows: list[dict] = []
        self.clean: list[torch.Tensor] = []
        self.robust: list[torch.Tensor] = []

    @property
    def config(self) -> dict:
        from .data import fingerprint
        return {"images": len(self.x), "data": fingerprint(self.x, self.y), "eps": self.eps, "steps": self.steps,
                "seed": self.seed}

    def __call__(self, epoch: float, model: nn.Module, loss: float, seconds: float) -> None:
        from .attacks import PGD, in_batches
        from .metrics import predict
        was_training = model.training
        model.eval()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed + len(self.rows))
            clean = (predict(model, self.x) == self.y).cpu()
            robust = None
            if self.eps and self.steps:
                adv = in_batches(PGD(model, eps=self.eps, alpha=self.eps / 4, steps=self.steps), self.x, self.y)
                robust = (predict(model, adv) == self.y).cpu()
        model.train(was_training)
        self._add(epoch, loss, seconds, clean, robust)

    def _add(self, epoch: float, loss: float, seconds: float, clean: torch.Tensor,
             robust: torch.Tensor | None) -> None:
        row = {"epoch": float(epoch), "loss": float(loss), "train_seconds": float(seconds),
               "clean_acc": float(clean.float().mean())}
        self.clean.append(clean)
        if robust is not None:
            row["robust_acc"] = float(robust.float().mean())
            self.robust.append(robust)
        self.rows.append(row)

    def state(self) -> dict[str, torch.Tensor]:
        """The recorded curve as tensors (what the weight cache stores beside the weights)."""
        out = {"curve.epoch": torch.tensor([r["epoch"] for r in self.rows], dtype=torch.float64),
               "curve.loss": torch.tensor([r["loss"] for r in self.rows], dtype=torch.float64),
               "curve.train_seconds": torch.tensor([r["train_seconds"] for r in self.rows], dtype=torch.float64),
               "curve.clean": torch.stack(self.clean)}
        if self.robust:
            out["curve.robust"] = torch.stack(self.robust)
        return out

    def restore(self, state: dict[str, torch.Tensor]) -> None:
        """Replace what was recorded by the curve in ``state`` (from :meth:`state`)."""
        self.rows, self.clean, self.robust = [], [], []
        robust = state.get("curve.robust")
        columns = zip(state["curve.epoch"].tolist(), state["curve.loss"].tolist(), state["curve.train_seconds"].tolist())
        for i, (epoch, loss, seconds) in enumerate(columns):
            self._add(epoch, loss, seconds, state["curve.clean"][i], None if robust is None else robust[i])
