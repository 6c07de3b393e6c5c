"""The one trainer (with progress bar) and the one way to get a trained model: ``trained_model(spec, split)``,
which trains on first use and then loads from the weight cache. Introduced for q08; shared by every answer."""
from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from types import ModuleType
from typing import Callable, Sequence

import torch
from torch import nn

from ..core.source import library_versions
from . import cache, data, distributed, methods, models
from .methods import FGSMRandomStart, FreeAT, Perturb, PGDTraining, Perturbed, Standard, TrainMethod
from .progress import bar as progress_bar


@dataclass(frozen=True)
class TrainSpec:
    """What to train and how. Every field goes into the cache key.

    Augmentations, each applied to a random half of every batch: ``noise_sigma`` > 0 adds Gaussian noise (the
    base classifier randomized smoothing needs [@cohen2019certified]); ``cutout`` > 0 paints a grey square of
    that side at a random place (so masked images stay classifiable, as PatchCleanser needs
    [@xiang2022patchcleanser]). ``adv_eps`` > 0 instead trains on L∞ PGD examples with ``adv_steps`` steps
    (PGD-AT, [@madry2018towards]); ``adv_method`` picks another way to make them: ``"fgsm_rs"`` (FGSM from a
    random start [@wong2020fast]), ``"fgsm"`` (without it), ``"free"`` (Free-AT with ``replays`` replays of each
    minibatch [@shafahi2019adversarial]); see :mod:`answers.lab.methods`. ``adv_step`` sets the FGSM methods' step as a
    multiple of ``adv_eps`` (0: Wong et al.'s 1.25). ``augment`` names a preprocessing defense of
    :data:`answers.lab.defenses.PREPROCESSING` (or the simulated camera of :data:`answers.lab.transforms.CAMERA`)
    applied to every training batch (training "on the same transforms" a preprocessing defense will apply).

    ``init`` starts from the weights of another spec's model (trained or cached first) instead of a random
    initialisation: adversarial or augmented *fine-tuning* of a standard model, which on our small models
    reaches healthy clean accuracy in a few epochs where training from scratch needs many more."""

    arch: str = "small_cnn"
    width: int = 16
    epochs: int = 8
    batch_size: int = 128
    lr: float = 0.05
    weight_decay: float = 5e-4
    noise_sigma: float = 0.0
    cutout: int = 0
    augment: str = ""
    adv_eps: float = 0.0
    adv_steps: int = 0
    adv_method: str = "pgd"
    replays: int = 1
    adv_step: float = 0.0
    seed: int = 0
    init: "TrainSpec | None" = None

    @property
    def name(self) -> str:
        adv = {"pgd": "pgdat", "fgsm_rs": "fgsmrs", "fgsm": "fgsm", "free": f"free{self.replays}"}.get(self.adv_method)
        if self.adv_eps and adv is None:
            raise ValueError(f"unknown adv_method {self.adv_method!r}; choose pgd, fgsm_rs, fgsm or free")
        kind = adv if self.adv_eps else ("aug" if self.noise_sigma or self.cutout else "std")
        return f"{self.arch}-{kind}" + (f"-{self.augment}" if self.augment else "") + ("-ft" if self.init else "")


def code_modules(spec: TrainSpec) -> list[ModuleType]:
    """The lab modules whose code a spec's weights depend on — the model, the trainer and its methods, the
    attacks when it trains adversarially, the defenses and transforms when it trains on one, and the same for
    the spec it starts from. (The data's content is covered by the split's fingerprint, not its code.)"""
    from . import attacks, defenses, transforms
    mods = [models, methods, sys.modules[__name__]]
    if spec.adv_eps:
        mods.append(attacks)
    if spec.augment:
        mods += [defenses, transforms]
    if spec.init is not None:
        mods += code_modules(spec.init)
    return list(dict.fromkeys(mods))


def libraries(spec: TrainSpec) -> tuple[str, ...]:
    """The libraries whose code a spec's training runs: torch, and kornia when it trains on a transform (its
    defenses and camera are kornia's), for it or for the spec it starts from. Their versions key its weights."""
    uses_kornia = spec.augment or (spec.init is not None and "kornia" in libraries(spec.init))
    return ("torch", "kornia") if uses_kornia else ("torch",)


def training_method(spec: TrainSpec) -> TrainMethod:
    """The :class:`~answers.lab.methods.TrainMethod` a spec trains with."""
    if spec.adv_eps:
        if spec.adv_method == "pgd":
            return PGDTraining(spec.adv_eps, spec.adv_steps)
        if spec.adv_method in ("fgsm_rs", "fgsm"):
            return FGSMRandomStart(spec.adv_eps, alpha=spec.adv_step * spec.adv_eps or None,
                                   random_start=spec.adv_method == "fgsm_rs")
        if spec.adv_method == "free":
            return FreeAT(spec.adv_eps, spec.replays)
        raise ValueError(f"unknown adv_method {spec.adv_method!r}; choose pgd, fgsm_rs, fgsm or free")
    perturb = batch_transform(spec)
    return Standard() if perturb is None else Perturbed(perturb)


def batch_transform(spec: TrainSpec) -> Perturb | None:
    """The per-batch input transformation a spec trains on (None for standard training)."""
    if spec.augment:
        from .defenses import PREPROCESSING
        from .transforms import CAMERA
        if spec.augment not in PREPROCESSING and spec.augment not in CAMERA:
            raise ValueError(f"unknown augment {spec.augment!r}; choose one of: {', '.join([*PREPROCESSING, *CAMERA])}")
        transform = PREPROCESSING[spec.augment].make() if spec.augment in PREPROCESSING else CAMERA[spec.augment]()

        def same_transform(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return transform(x)
        return same_transform
    if spec.noise_sigma or spec.cutout:
        sigma, side = spec.noise_sigma, spec.cutout

        def augment(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            n, _, h, w = x.shape
            rows, cols = torch.arange(h)[None, :, None], torch.arange(w)[None, None, :]
            x = x.clone()
            if sigma:
                noisy = torch.rand(n) < 0.5
                x[noisy] = x[noisy] + sigma * torch.randn_like(x[noisy])
            if side:
                # two boxes, like the two masks of PatchCleanser's second round
                for _ in range(2):
                    top = torch.randint(-side + 1, h, (n, 1, 1))
                    left = torch.randint(-side + 1, w, (n, 1, 1))
                    box = (rows >= top) & (rows < top + side) & (cols >= left) & (cols < left + side)
                    box &= (torch.rand(n) < 0.5)[:, None, None]
                    x = torch.where(box[:, None], torch.full_like(x, 0.5), x)
            return x
        return augment
    return None


Callback = Callable[[float, nn.Module, float, float], None]  # (epochs done, model, mean loss, training seconds so far)


def fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int, batch_size: int = 128,
        lr: float = 0.05, weight_decay: float = 5e-4, perturb: Perturb | None = None,
        method: TrainMethod | None = None, callbacks: Sequence[Callback] = (), checkpoints: int = 1,
        seed: int = 0, device: str = "cpu", progress: bool | None = None, desc: str = "train",
        schedule: bool | Callable[[int], float] = True, nesterov: bool = True) -> list[float]:
    """Train ``model`` in place with SGD + momentum (Nesterov's unless ``nesterov=False``); returns the mean loss
    of each epoch. ``schedule``: True, the one-cycle schedule up to ``lr``; False, ``lr`` throughout; a function,
    the learning rate of each epoch (``schedule(epoch)``, e.g. a step schedule). Only the parameters that require
    gradients train (a frozen feature extractor stays as it is). ``method`` says what one minibatch does (:mod:`answers.lab.methods`; default standard
    training); ``perturb(model, xb, yb)`` is a shorthand for ``Perturbed(perturb)``. ``checkpoints`` times per
    epoch (at evenly spaced minibatches; once by default, at its end) each callback gets (epochs done so far,
    model, mean loss since the previous checkpoint, training seconds so far — the callbacks' own time excluded).

    Under ``torchrun`` (:mod:`answers.lab.distributed`) the model is wrapped in DistributedDataParallel and each
    process trains on its share of every ``batch_size`` minibatch (the global batch); the losses are the global
    means. The caller makes the model and the data identical in every process (same seed)."""
    if perturb is not None and method is not None:
        raise ValueError("give perturb or method, not both")
    method = method or (Perturbed(perturb) if perturb is not None else Standard())
    g = torch.Generator().manual_seed(seed)
    model.to(device).train()
    # under torchrun: one replica per process, each on its share of every global minibatch (see distributed)
    net = model if distributed.world_size() == 1 else nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay, nesterov=nesterov)
    steps_per_epoch = max(1, -(-len(x) // batch_size))
    sched = (torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch * method.replays)
             if schedule is True else None)
    # the minibatches after which the callbacks run: the last of each of ``checkpoints`` equal runs
    checkpoints = max(1, min(checkpoints, steps_per_epoch))
    marks = {(steps_per_epoch * (c + 1)) // checkpoints - 1 for c in range(checkpoints)}

    def step() -> None:
        opt.step()
        if sched is not None:
            sched.step()

    losses, seconds = [], 0.0
    bar = progress_bar(epochs * steps_per_epoch, desc, progress if distributed.is_main() else False, unit="batch")
    for epoch in range(epochs):
        if callable(schedule):
            for group in opt.param_groups:
                group["lr"] = schedule(epoch)
        t0 = time.perf_counter()
        order = torch.randperm(len(x), generator=g)
        total = since = 0.0
        seen = 0
        for b, i in enumerate(range(0, len(x), batch_size)):
            batch = order[i:i + batch_size]
            idx = distributed.shard(batch)
            loss = method.update(net, opt, step, x[idx].to(device), y[idx].to(device)) * len(idx)
            total, since, seen = total + loss, since + loss, seen + len(batch)
            bar.update(1)
            if b in marks and callbacks:
                seconds += time.perf_counter() - t0
                mean = distributed.sum_all(since) / seen
                for cb in callbacks:
                    cb(epoch + (b + 1) / steps_per_epoch, model, mean, seconds)
                since, seen, t0 = 0.0, 0, time.perf_counter()
        seconds += time.perf_counter() - t0
        losses.append(distributed.sum_all(total) / len(x))
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
    bar.close()
    model.eval()
    return losses


def trained_model(spec: TrainSpec, split: data.Split, *, device: str = "cpu", progress: bool | None = None,
                  curve: methods.EpochCurve | None = None) -> nn.Module:
    """A model trained by ``spec`` on ``split`` — from the cache when it has one, else trained and cached.

    With ``curve``, the training is recorded epoch by epoch (:class:`~answers.lab.methods.EpochCurve`) and the
    record is cached with the weights, so a warm cache gives back the curve of the run that made them. The key:
    the spec, the split's fingerprint, the code the training runs (:func:`code_modules`) and the versions of the
    libraries it runs on (:func:`libraries`: another torch rounds differently, so its weights are others); under
    ``torchrun`` also the number of processes (BatchNorm sees each process's share)."""
    if spec.init is not None and (spec.init.arch, spec.init.width) != (spec.arch, spec.width):
        raise ValueError(f"{spec.name} starts from {spec.init.name}, which has another architecture or width")
    model = models.build(spec.arch, split.num_classes, width=spec.width)

    def create() -> dict[str, torch.Tensor]:
        # runs only on a cache miss, with the caller's random streams set aside (cache.get_or_create)
        start = (trained_model(spec.init, split, device=device, progress=progress).state_dict()
                 if spec.init is not None else None)
        torch.manual_seed(spec.seed)
        fresh = models.build(spec.arch, split.num_classes, width=spec.width)
        if start is not None:
            fresh.load_state_dict(start)
        fit(fresh, split.x_train, split.y_train, epochs=spec.epochs, batch_size=spec.batch_size, lr=spec.lr,
            weight_decay=spec.weight_decay, method=training_method(spec), seed=spec.seed, device=device,
            progress=progress, desc=f"train {spec.name}", callbacks=[curve] if curve is not None else (),
            checkpoints=spec.replays if curve is not None else 1)
        return {**{k: v.detach().cpu() for k, v in fresh.state_dict().items()},
                **(curve.state() if curve is not None else {})}

    config = {**asdict(spec), "libraries": library_versions(libraries(spec)),
              **({"curve": curve.config} if curve is not None else {}),
              **({"processes": distributed.world_size()} if distributed.world_size() > 1 else {})}
    state = cache.get_or_create(spec.name + ("+curve" if curve is not None else ""), config, split.fingerprint,
                                cache.code_version(*code_modules(spec)), create)
    if curve is not None:
        curve.restore(state)
        state = {k: v for k, v in state.items() if not k.startswith("curve.")}
    model.load_state_dict(state)
    return model.to(device).eval()
