"""The model zoo: one registry of recipes, in the spirit of RobustBench. ``zoo.model(name, profile, seed, device)``
returns a trained, cached model; every answer takes its models (and its data) from here, and the threat settings
every page shares (L∞ ε, L2 ε, smoothing σ, patch size) live in :data:`THREAT`. Shrinking one answer's budget can
no longer change another answer's models.

A recipe names the data it trains on and how it trains (a :class:`~answers.lab.train.TrainSpec` built from the
profile's :class:`Scale`); fine-tuned recipes start from another recipe's weights (``init``), so shared models
are trained once and cached once.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Callable

from torch import nn

from . import backdoor, cues, data, ensembles
from .methods import EpochCurve
from .train import TrainSpec, trained_model
from .defenses import PREPROCESSING


@dataclass(frozen=True)
class Threat:
    """The attacks every answer measures against, in pixel space [0, 1]."""

    linf_eps: float = 4 / 255   # 8/255 leaves a 24k-parameter CNN no room to be robust at all
    l2_eps: float = 0.25
    sigma: float = 0.12         # randomized smoothing's noise (and the noise the base classifier trains with)
    patch: int = 3              # side of the adversarial patch, pixels


THREAT = Threat()


@dataclass(frozen=True)
class Backdoor:
    """The BadNets poisoning every backdoored zoo model is trained with."""

    target: int = 3             # "diamond", the class q02's patches also aim at
    trigger: int = 3            # side of the checkerboard trigger, pixels
    ratio: float = 0.05         # fraction of the training set poisoned


BACKDOOR = Backdoor()


@dataclass(frozen=True)
class Partitioned:
    """Deep Partition Aggregation's setting (q10): the poisoned data its members are trained on — few poisons
    with a large trigger, which one model trained on all the data still learns — and the members' budget."""

    ratio: float = 0.01         # 60 poisoned images at the site profile
    trigger: int = 5
    epochs_per_member: int = 2  # × the scale's epochs, at batch 32: a small partition needs more passes

    @property
    def dataset(self) -> str:
        return f"signs-badnets-r{self.ratio:g}-t{self.trigger}"


PARTITIONED = Partitioned()


@dataclass(frozen=True)
class Scale:
    """Data and training budget of a profile: tiny for tests, site for the pages, full for paper scale."""

    n_train: int
    n_test: int
    epochs: int       # training from scratch
    width: int        # SmallCNN width
    at_epochs: int    # adversarial fine-tuning (from a standard model)
    at_steps: int     # PGD steps inside adversarial training
    aug_epochs: int   # fine-tuning on a transform
    scratch_epochs: int  # q06: every training method from scratch (Free-AT: this / m, each minibatch m times)
    scratch_images: int  # q06: the first this many training images (0: all of them)
    scratch_batch: int   # q06: the minibatch


SCALES = {
    "tiny": Scale(n_train=4000, n_test=300, epochs=8, width=8, at_epochs=4, at_steps=2, aug_epochs=3,
                  scratch_epochs=8, scratch_images=3000, scratch_batch=64),
    "site": Scale(n_train=6000, n_test=1000, epochs=10, width=16, at_epochs=5, at_steps=3, aug_epochs=4,
                  scratch_epochs=8, scratch_images=3000, scratch_batch=64),
    "full": Scale(n_train=50000, n_test=10000, epochs=30, width=16, at_epochs=15, at_steps=7, aug_epochs=10,
                  scratch_epochs=32, scratch_images=0, scratch_batch=128),
}


def scale(profile: str) -> Scale:
    try:
        return SCALES[profile]
    except KeyError:
        raise ValueError(f"unknown profile {profile!r}; choose one of: {', '.join(SCALES)}") from None


DATASETS: dict[str, Callable[[Scale, int], data.Split]] = {
    "signs": lambda s, seed: data.signs(s.n_train, s.n_test, seed),
    "signs24": lambda s, seed: data.signs(s.n_train, s.n_test, seed, size=24),
    "signs-badnets": lambda s, seed: backdoor.badnets(data.signs(s.n_train, s.n_test, seed),
                                                      backdoor.Trigger(BACKDOOR.trigger), BACKDOOR.ratio,
                                                      BACKDOOR.target, seed),
    "cues": lambda s, seed: cues.cue_split(s.n_train, s.n_test, seed, textures="agree"),
    "cues-random-texture": lambda s, seed: cues.cue_split(s.n_train, s.n_test, seed, textures="random"),
    # q06's training from scratch: the first scratch_images of the *site* split's training images, at tiny too —
    # adversarial training from scratch needs site's budget to learn at all, so tiny trains the same models as
    # site (a subset of its methods) and the tests reuse the weights of the site build
    "signs-scratch": lambda s, seed: data.first(data.signs(SCALES["site"].n_train, SCALES["site"].n_test, seed),
                                                s.scratch_images),
    # read from the user's disk (answers run --data-dir), never downloaded; the whole dataset at every profile
    "cifar10": lambda s, seed: data.cifar10(data.data_dir()),
}


_SWEEP = re.compile(r"^signs-badnets-r(?P<ratio>[0-9.]+)-t(?P<trigger>[0-9]+)$")
_PART = re.compile(r"^(?P<base>.+)/part(?P<i>[0-9]+)of(?P<k>[0-9]+)$")


def split(profile: str, seed: int = 0, dataset: str = "signs") -> data.Split:
    """The train/test split a profile uses (generated from ``seed``, cached in memory). Besides the named
    datasets, ``signs-badnets-r<ratio>-t<side>`` is the signs poisoned at that ratio with that trigger side (the
    target of :data:`BACKDOOR`), for sweeps over the poisoning knobs, and ``<dataset>/part<i>of<k>`` is the
    training samples of a dataset that fall in partition ``i`` of ``k`` (:func:`ensembles.partition`)."""
    part = _PART.match(dataset)
    if part:
        return ensembles.partition(split(profile, seed, part["base"]), int(part["k"]), int(part["i"]))
    sweep = _SWEEP.match(dataset)
    if sweep:
        s = scale(profile)
        return backdoor.badnets(data.signs(s.n_train, s.n_test, seed), backdoor.Trigger(int(sweep["trigger"])),
                                float(sweep["ratio"]), BACKDOOR.target, seed)
    try:
        make = DATASETS[dataset]
    except KeyError:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of: {', '.join(DATASETS)}") from None
    return make(scale(profile), seed)


@dataclass(frozen=True)
class Recipe:
    """How a zoo model is made: the dataset it trains on and its training spec at a scale and seed."""

    dataset: str
    spec: Callable[[Scale, int], TrainSpec]
    about: str


def _standard(s: Scale, seed: int) -> TrainSpec:
    return TrainSpec(width=s.width, epochs=s.epochs, lr=0.2, seed=seed)


def _noisy(s: Scale, seed: int) -> TrainSpec:
    return TrainSpec(width=s.width, epochs=s.epochs, lr=0.2, noise_sigma=THREAT.sigma, cutout=7, seed=seed)


def _adversarial(start: Callable[[Scale, int], TrainSpec]) -> Callable[[Scale, int], TrainSpec]:
    def make(s: Scale, seed: int) -> TrainSpec:
        return TrainSpec(width=s.width, epochs=s.at_epochs, lr=0.1, adv_eps=THREAT.linf_eps, adv_steps=s.at_steps,
                         seed=seed, init=start(s, seed))
    return make


def _on_transform(name: str) -> Callable[[Scale, int], TrainSpec]:
    def make(s: Scale, seed: int) -> TrainSpec:
        return replace(_standard(s, seed), augment=name, epochs=s.aug_epochs, lr=0.05, init=_standard(s, seed))
    return make


RECIPES: dict[str, Recipe] = {
    "standard": Recipe("signs", _standard, "SmallCNN, standard training on the signs"),
    "surrogate": Recipe("signs", lambda s, seed: _standard(s, seed + 1),
                        "an attacker's own model: the standard recipe with another seed"),
    "noisy": Recipe("signs", _noisy, "trained with Gaussian noise (σ of THREAT) and two-box cutout, so that "
                                     "randomized smoothing and masking keep it accurate"),
    "pgd_at": Recipe("signs", _adversarial(_noisy), "the noisy model fine-tuned on L∞ PGD examples (PGD-AT)"),
    **{f"augment/{t}": Recipe("signs", _on_transform(t), f"the standard model fine-tuned on images through {t}")
       for t in PREPROCESSING},
    "camera": Recipe("signs", _on_transform("capture"), "the standard model fine-tuned on images seen through "
                     "the simulated camera (a camera-fed recognizer must work on what its camera sees)"),
    "standard24": Recipe("signs24", _standard, "the standard recipe on the same images drawn at 24×24 pixels"),
    "badnets": Recipe("signs-badnets", _standard, "standard training on data with BadNets poison (BACKDOOR)"),
    "badnets_camera": Recipe("signs-badnets", _on_transform("capture"), "the backdoored model fine-tuned on its "
                             "(still poisoned) data seen through the simulated camera"),
    "cue_standard": Recipe("cues", _standard, "standard training where shape and texture agree"),
    "cue_shape": Recipe("cues-random-texture", _standard, "textures drawn at random: only shape predicts"),
    "cue_pgd_at": Recipe("cues", _adversarial(_standard), "cue_standard fine-tuned on L∞ PGD examples"),
}


#: the architectures q10 compares; each from-scratch recipe can be trained on any of them as ``<recipe>@<arch>``
ARCHITECTURES = ("small_cnn", "tiny_resnet", "mlp", "convmixer")
# where the recipe's training does not suit an architecture: the MLP (no weight sharing, overfits fast) trains at a
# lower peak learning rate and for 4× the epochs — its batches cost a fifth of a small CNN's, so its training time is similar
_ARCH_LR = {"mlp": 0.05}
_ARCH_EPOCHS = {"mlp": 4}


def backdoored(ratio: float, trigger: int) -> str:
    """The zoo name of a standard model trained on signs poisoned at ``ratio`` with a ``trigger``-pixel trigger."""
    return f"badnets/r{ratio:g}/t{trigger}"


_BACKDOORED = re.compile(r"^badnets/r(?P<ratio>[0-9.]+)/t(?P<trigger>[0-9]+)$")


def _member(s: Scale, seed: int) -> TrainSpec:
    return TrainSpec(width=s.width, epochs=PARTITIONED.epochs_per_member * s.epochs, batch_size=32, lr=0.05, seed=seed)


def partition_member(k: int, i: int) -> str:
    """The zoo name of DPA's member trained on partition ``i`` of ``k`` of :data:`PARTITIONED`'s poisoned data."""
    return f"dpa/k{k}/p{i}"


_MEMBER = re.compile(r"^dpa/k(?P<k>[0-9]+)/p(?P<i>[0-9]+)$")


#: q06's training methods, each from scratch on the signs: natural, PGD-AT with k steps, Free-AT with m replays,
#: FGSM from a random start and FGSM from the clean image (:class:`~answers.lab.train.TrainSpec`'s fields)
SCRATCH_LR = 0.2     # the standard recipe's peak learning rate, for every method
SCRATCH_WIDTH = 16   # at every profile: a width-8 network learns too little under adversarial training
PAPER_EPS = 8 / 255   # on CIFAR-10 (full profile) q06 trains at the papers' ε


def scratch_method(method: str) -> dict:
    """The TrainSpec fields of q06's ``method``: ``natural``, ``pgd<k>``, ``free<m>``, ``fgsm_rs`` or ``fgsm``."""
    if method == "natural":
        return {}
    if method in ("fgsm_rs", "fgsm"):
        return {"adv_eps": THREAT.linf_eps, "adv_method": method}
    kind = re.fullmatch(r"(pgd|free)([1-9][0-9]*)", method)
    if kind is None:
        raise ValueError(f"unknown training method {method!r}; choose natural, pgd<k>, free<m>, fgsm_rs or fgsm")
    n = int(kind[2])
    return ({"adv_eps": THREAT.linf_eps, "adv_method": "pgd", "adv_steps": n} if kind[1] == "pgd" else
            {"adv_eps": THREAT.linf_eps, "adv_method": "free", "replays": n})


def scratch(method: str, epochs: int | None = None, dataset: str = "signs-scratch") -> str:
    """The zoo name of a SmallCNN trained from scratch on ``dataset`` with q06's ``method`` (for ``epochs``
    instead of the scale's ``scratch_epochs``, Free-AT's division by m included)."""
    return (f"scratch/{method}" + (f"/e{epochs}" if epochs is not None else "")
            + (f"/on-{dataset}" if dataset != "signs-scratch" else ""))


_SCRATCH = re.compile(r"^scratch/(?P<method>[a-z0-9_]+)(?:/e(?P<epochs>[0-9]+))?(?:/on-(?P<dataset>[a-z0-9-]+))?$")


def _from_scratch(method: str, epochs: int | None, dataset: str) -> Callable[[Scale, int], TrainSpec]:
    fields = scratch_method(method)

    def make(s: Scale, seed: int) -> TrainSpec:
        budget = epochs or s.scratch_epochs
        replays = fields.get("replays", 1)
        spec = TrainSpec(width=SCRATCH_WIDTH, epochs=max(1, -(-budget // replays)), batch_size=s.scratch_batch,
                         lr=SCRATCH_LR, seed=seed, **fields)
        return replace(spec, adv_eps=PAPER_EPS) if dataset == "cifar10" and spec.adv_eps else spec
    return make


def recipe(name: str) -> Recipe:
    if "@" in name:
        base, arch = name.rsplit("@", 1)
        if arch not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {arch!r} in {name!r}; choose one of: {', '.join(ARCHITECTURES)}")
        r = recipe(base)

        def on_arch(s: Scale, seed: int) -> TrainSpec:
            spec = r.spec(s, seed)
            if spec.init is not None:
                raise ValueError(f"{base!r} fine-tunes another model: it cannot be moved to {arch!r}")
            return replace(spec, arch=arch, lr=_ARCH_LR.get(arch, spec.lr), epochs=spec.epochs * _ARCH_EPOCHS.get(arch, 1))
        return Recipe(r.dataset, on_arch, f"{r.about} — as a {arch}")
    scratch_run = _SCRATCH.match(name)
    if scratch_run:
        epochs = int(scratch_run["epochs"]) if scratch_run["epochs"] else None
        dataset = scratch_run["dataset"] or "signs-scratch"
        return Recipe(dataset, _from_scratch(scratch_run["method"], epochs, dataset),
                      f"SmallCNN trained from scratch by {scratch_run['method']} (q06)")
    member = _MEMBER.match(name)
    if member:
        k, i = int(member["k"]), int(member["i"])
        return Recipe(f"{PARTITIONED.dataset}/part{i}of{k}", _member,
                      f"DPA member {i} of {k}: trained only on its partition of {PARTITIONED.dataset}")
    sweep = _BACKDOORED.match(name)
    if sweep:
        return Recipe(f"signs-badnets-r{sweep['ratio']}-t{sweep['trigger']}", _standard,
                      f"standard training on signs with {float(sweep['ratio']):.1%} BadNets poison, "
                      f"{sweep['trigger']}-pixel trigger")
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(RECIPES)} "
                         "(or badnets/r<ratio>/t<trigger side>, dpa/k<k>/p<i>, <recipe>@<architecture>, "
                         "scratch/<method>[/e<epochs>])") from None


def spec(name: str, profile: str, seed: int = 0) -> TrainSpec:
    """The training spec of zoo model ``name`` at ``profile``."""
    return recipe(name).spec(scale(profile), seed)


def model(name: str, profile: str, seed: int = 0, device: str = "cpu", progress: bool | None = None,
          curve: EpochCurve | None = None) -> nn.Module:
    """Zoo model ``name`` trained at ``profile`` (from the weight cache when it has one), in eval mode; with
    ``curve``, its training recorded epoch by epoch (cached with the weights, see :func:`trained_model`)."""
    r = recipe(name)
    return trained_model(r.spec(scale(profile), seed), split(profile, seed, r.dataset), device=device,
                         progress=progress, curve=curve)
