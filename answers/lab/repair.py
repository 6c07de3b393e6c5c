"""Model-side defenses that retrain a given model on a small clean set: fine-tuning, fine-pruning [@liu2018fine]
(prune the last conv layer's channels that stay dormant on clean data, then fine-tune), Neural Attention
Distillation [@li2021neural] (fine-tune under a teacher's attention maps), Adversarial Neuron Pruning
[@wu2021adversarial] (prune the neurons whose small perturbation most easily breaks the model) and retraining
only the last layer on frozen features (transfer learning). Introduced for q08, which times them; q09 measures
what they leave of a backdoor. Every function works on the model it is given, in place."""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize, prune

from .methods import FixedStatistics, TrainMethod
from .metrics import clean_accuracy
from .train import fit


def channel_activity(model: nn.Module, layer: nn.Module, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Mean activation of each output channel of ``layer`` over ``x``."""
    from .backdoor import activations
    return activations(model, layer, x, batch_size).mean(0)


def prune_channels(layer: nn.Module) -> list[torch.Tensor]:
    """Make ``layer``'s output channels prunable through ``torch.nn.utils.prune``: the last convolution and
    batch norm in it get all-ones masks on their weight and bias (channels on the first axis). Returns those
    masks; :func:`set_channels` writes them, and a channel whose masks are 0 outputs 0 (filter, bias and BN
    scale and shift all masked), through fine-tuning too. The masks are module buffers, so they survive
    ``state_dict``, ``deepcopy`` and ``.to()``."""
    convs = [m for m in layer.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in layer.modules() if isinstance(m, nn.BatchNorm2d)]
    if not convs:
        raise ValueError(f"{type(layer).__name__} has no convolution to prune")
    masks = []
    for module in (convs[-1], *norms[-1:]):
        for name in ("weight", "bias"):
            if getattr(module, name, None) is not None:
                prune.custom_from_mask(module, name, torch.ones_like(getattr(module, name)))
                masks.append(getattr(module, f"{name}_mask"))
    return masks


def set_channels(masks: list[torch.Tensor], channels: torch.Tensor, keep: bool) -> None:
    """Prune (``keep=False``) or restore the given output channels in every mask of :func:`prune_channels`."""
    for mask in masks:
        mask[channels] = float(keep)


def step_lr(lr: float, epoch: int, drop_after: int | None) -> float:
    """The learning rate of ``epoch``: ``lr``, divided by 10 from epoch ``drop_after`` on (NAD's code schedule:
    0.1 for two epochs, then 0.01); constant when ``drop_after`` is None."""
    return lr if drop_after is None or epoch < drop_after else lr / 10


def fine_tune(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int = 2, lr: float = 0.01,
              drop_after: int | None = None, seed: int = 0, progress: bool | None = None) -> nn.Module:
    """Continue training ``model`` (in place) on clean data at a constant learning rate, or at the step
    schedule of :func:`step_lr`."""
    first = epochs if drop_after is None else min(epochs, drop_after)
    fit(model, x, y, epochs=first, lr=lr, seed=seed, progress=progress, desc="fine-tune", schedule=False)
    if epochs > first:
        fit(model, x, y, epochs=epochs - first, lr=step_lr(lr, first, drop_after), seed=seed + 1, progress=progress,
            desc="fine-tune", schedule=False)
    return model


def fine_prune(model: nn.Module, layer: nn.Module, x: torch.Tensor, y: torch.Tensor, *, max_drop: float = 0.04,
               step: float = 0.05, epochs: int = 2, lr: float = 0.01, drop_after: int | None = None, seed: int = 0,
               progress: bool | None = None) -> tuple[nn.Module, float]:
    """Prune ``layer``'s channels in order of increasing clean activity, ``step`` of them at a time, while clean
    accuracy on ``(x, y)`` stays within ``max_drop`` of the start; then fine-tune. Works on ``model`` in place;
    returns it and the pruned fraction."""
    activity = channel_activity(model, layer, x)
    order = activity.argsort()
    masks = prune_channels(layer)
    base = clean_accuracy(model, x, y)
    n_step = max(1, int(step * len(order)))
    pruned = 0
    for n in range(n_step, len(order), n_step):
        set_channels(masks, order[:n], keep=False)
        if clean_accuracy(model, x, y) < base - max_drop:
            set_channels(masks, order[pruned:n], keep=True)
            break
        pruned = n
    fine_tune(model, x, y, epochs=epochs, lr=lr, drop_after=drop_after, seed=seed, progress=progress)
    return model, pruned / len(order)


def copy_model(model: nn.Module) -> nn.Module:
    return copy.deepcopy(model)


# ---------------------------------------------------------------- Neural Attention Distillation
def attention(activation: torch.Tensor, p: int = 2) -> torch.Tensor:
    """NAD's attention map of a conv activation ``(N, C, H, W)``: the mean over channels of ``|a|^p``, flattened
    and L2-normalised per image."""
    return F.normalize(activation.abs().pow(p).mean(1).flatten(1), dim=1)


def _outputs(model: nn.Module, layers: list[nn.Module], x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The model's logits for ``x`` and the outputs of ``layers`` (modules of ``model``) on the way."""
    seen: list[torch.Tensor] = []
    hooks = [layer.register_forward_hook(lambda m, a, out: seen.append(out)) for layer in layers]
    try:
        logits = model(x)
    finally:
        for h in hooks:
            h.remove()
    return logits, seen


class AttentionDistillation(TrainMethod):
    """NAD's training step: cross-entropy plus ``beta`` × the mean squared difference between the student's and the
    (frozen) teacher's attention maps, summed over ``layers`` (names of submodules of both)."""

    def __init__(self, teacher: nn.Module, layers: list[str], beta: float):
        self.teacher, self.layers, self.beta = teacher.eval(), layers, beta
        self.teacher_layers = [teacher.get_submodule(n) for n in layers]

    def update(self, model, opt, step, x, y):
        student = self.replica(model)
        logits, s_maps = _outputs(model, [student.get_submodule(n) for n in self.layers], x)
        with torch.no_grad():
            _, t_maps = _outputs(self.teacher, self.teacher_layers, x)
        distil = sum((attention(s) - attention(t)).pow(2).mean() for s, t in zip(s_maps, t_maps))
        loss = F.cross_entropy(logits, y) + self.beta * distil
        opt.zero_grad()
        loss.backward()
        step()
        return loss.item()


def nad(model: nn.Module, layers: list[str], x: torch.Tensor, y: torch.Tensor, *, teacher_epochs: int = 5,
        epochs: int = 5, lr: float = 0.01, drop_after: int | None = None, beta: float = 1000.0,
        batch_size: int = 64, seed: int = 0, progress: bool | None = False) -> nn.Module:
    """Neural Attention Distillation [@li2021neural]: fine-tune a copy of ``model`` on the clean set (the teacher),
    then fine-tune ``model`` (the student; both at the same learning rate or schedule) with
    :class:`AttentionDistillation` over ``layers`` (names of submodules, e.g. ``"features"``; the paper's code uses
    β = 500–1000 per layer group), through the one trainer."""
    teacher = fine_tune(copy_model(model), x, y, epochs=teacher_epochs, lr=lr, drop_after=drop_after, seed=seed,
                        progress=False)
    fit(model, x, y, epochs=epochs, batch_size=batch_size, lr=lr, method=AttentionDistillation(teacher, layers, beta),
        seed=seed, progress=progress, desc="NAD", schedule=lambda epoch: step_lr(lr, epoch, drop_after), nesterov=False)
    return model.eval()


# ---------------------------------------------------------------- Adversarial Neuron Pruning
class _NeuronScale(nn.Module):
    """A parametrization of a batch norm's ``weight`` (``bias=False``) or ``bias`` (``bias=True``): the
    parameter times ANP's per-neuron coefficient — ``mask (+ noise)`` for the weight, ``1 (+ noise)`` for the
    bias, the noise only while ``perturbed``."""

    def __init__(self, state: "_NeuronState", bias: bool):
        super().__init__()
        self.state, self.bias = [state], bias   # a list: the shared state is not a submodule of each

    def forward(self, value: torch.Tensor) -> torch.Tensor:
        s = self.state[0]
        if self.bias:
            return value * (1 + s.noise_bias * s.perturbed)
        return value * (s.mask + s.noise * s.perturbed)


class _NeuronState(nn.Module):
    def __init__(self, n: int):
        super().__init__()
        self.mask = nn.Parameter(torch.ones(n))
        self.noise = nn.Parameter(torch.zeros(n))
        self.noise_bias = nn.Parameter(torch.zeros(n))
        self.perturbed = 0.0


def neuron_masks(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float = 0.4, alpha: float = 0.2,
                 steps: int = 200, lr: float = 0.2, batch_size: int = 128, seed: int = 0) -> dict[str, torch.Tensor]:
    """ANP's optimisation [@wu2021adversarial]: one mask in [0, 1] per batch-norm neuron, learnt on the clean set
    to minimise ``alpha`` × the clean loss + (1 − ``alpha``) × the loss under the worst multiplicative
    perturbation of the neurons within ±``eps`` (one signed step from a random start, as the paper's code).
    As in that code, batch norm normalises with each batch's statistics while the masks are learnt (with the
    running statistics our small models barely separate backdoor neurons). Works on a copy: ``model`` is left
    unchanged. Returns the masks by batch-norm name."""
    work = copy_model(model)
    norms = {n: m for n, m in work.named_modules() if isinstance(m, nn.BatchNorm2d)}
    states = {n: _NeuronState(m.num_features).to(m.weight.device) for n, m in norms.items()}
    for p in work.parameters():
        p.requires_grad_(False)
    for n, m in norms.items():
        parametrize.register_parametrization(m, "weight", _NeuronScale(states[n], bias=False))
        parametrize.register_parametrization(m, "bias", _NeuronScale(states[n], bias=True))
    masks = [s.mask for s in states.values()]
    noises = [p for s in states.values() for p in (s.noise, s.noise_bias)]
    mask_opt = torch.optim.SGD(masks, lr=lr, momentum=0.9)
    g = torch.Generator().manual_seed(seed)
    work.train()

    def perturb(on: bool) -> None:
        for s in states.values():
            s.perturbed = float(on)
    for _ in range(steps):
        idx = torch.randint(0, len(x), (min(batch_size, len(x)),), generator=g)
        xb, yb = x[idx], y[idx]
        # the worst neuron perturbation: a random start in the box, then one signed ascent step
        with torch.no_grad():
            for p in noises:
                p.copy_((torch.rand(p.shape, generator=g).to(p) * 2 - 1) * eps)
        perturb(True)
        grads = torch.autograd.grad(F.cross_entropy(work(xb), yb), noises)
        with torch.no_grad():
            for p, gr in zip(noises, grads):
                p.add_(eps * gr.sign()).clamp_(-eps, eps)
        robust = F.cross_entropy(work(xb), yb)
        perturb(False)
        natural = F.cross_entropy(work(xb), yb)
        # (ANP's masks are learnt here, not the model's weights: no training of the model, so not the trainer's fit)
        mask_opt.zero_grad()
        (alpha * natural + (1 - alpha) * robust).backward()
        mask_opt.step()
        with torch.no_grad():
            for m in masks:
                m.clamp_(0, 1)
    return {n: s.mask.detach().clone() for n, s in states.items()}


def prune_neurons(model: nn.Module, masks: dict[str, torch.Tensor], threshold: float = 0.2) -> int:
    """Prune (through ``torch.nn.utils.prune``) every batch-norm neuron whose ANP mask is below ``threshold``:
    its scale becomes 0, so it no longer depends on its input (its shift stays, as in the paper's code).
    Returns how many were pruned."""
    pruned = 0
    for name, mask in masks.items():
        keep = (mask >= threshold).float()
        prune.custom_from_mask(model.get_submodule(name), "weight", keep)
        pruned += int((keep == 0).sum())
    return pruned


def anp(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, max_drop: float = 0.04,
        **kwargs) -> tuple[nn.Module, float]:
    """Adversarial Neuron Pruning [@wu2021adversarial] of ``model`` (in place): learn the neuron masks on the
    clean set (:func:`neuron_masks`), then prune neurons in increasing order of their mask for as long as
    accuracy on the clean set stays within ``max_drop`` of the start (the paper sweeps a threshold or a count;
    a defender without poisoned data can only stop on clean accuracy, as fine-pruning does). Returns the
    model and the pruned fraction."""
    masks = neuron_masks(model, x, y, **kwargs)
    names = [(n, i) for n, m in masks.items() for i in range(len(m))]
    order = torch.cat([m.cpu() for m in masks.values()]).argsort()
    base = clean_accuracy(model, x, y)
    keep = {n: torch.ones_like(m) for n, m in masks.items()}
    prune_neurons(model, keep, threshold=0.5)            # all-ones masks, written below
    live = {n: getattr(model.get_submodule(n), "weight_mask") for n in masks}
    pruned = 0
    for j in order.tolist():
        n, i = names[j]
        live[n][i] = 0.0
        if clean_accuracy(model, x, y) < base - max_drop:
            live[n][i] = 1.0
            break
        pruned += 1
    return model.eval(), pruned / len(names)


# ---------------------------------------------------------------- transfer: retrain the last layer only
def retrain_head(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, head: str = "head", epochs: int = 10,
                 lr: float = 0.05, seed: int = 0, progress: bool | None = False) -> nn.Module:
    """Transfer learning's usual recipe: keep the feature extractor frozen (batch norm keeps its statistics),
    replace the last layer ``head`` by a fresh one and train only it on the clean set, through the one trainer.
    Works on ``model`` in place."""
    old = model.get_submodule(head)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        new = nn.Linear(old.in_features, old.out_features).to(old.weight.device)
    model.set_submodule(head, new)
    for p in model.parameters():
        p.requires_grad_(False)
    for p in new.parameters():
        p.requires_grad_(True)
    fit(model, x, y, epochs=epochs, batch_size=64, lr=lr, method=FixedStatistics(), seed=seed, progress=progress,
        desc="retrain head", schedule=False, nesterov=False)
    for p in model.parameters():
        p.requires_grad_(True)
    return model
