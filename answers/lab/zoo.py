"""The model zoo: one registry of recipes, in the spirit of RobustBench. ``zoo.model(name, profile, seed, device)``
returns a trained, cached model; every answer takes its models (and its data) from here, and the threat settings
every page shares (L∞ ε, L2 ε, smoothing σ, patch size) live in :data:`THREAT`. Shrinking one answer's budget can
no longer change another answer's models.

A recipe (:class:`Recipe`, a frozen object) names the data it trains on — a :class:`Data`, also a frozen object:
:data:`SIGNS`, :class:`Poisoned` signs, :class:`Cues`, :class:`Part` of another dataset, … — and how it trains (a
:class:`~answers.lab.train.TrainSpec` built from the profile's :class:`Scale`); fine-tuned recipes start from another
recipe's weights (``init``), so shared models are trained once and cached once. The named recipes are in
:data:`RECIPES`; the others are composed — :func:`backdoored`, :func:`partition_member`, :func:`scratch` (with a
:class:`Method`), :func:`augmented`, :meth:`Recipe.on` — and their names are derived from what they are made of,
never parsed back.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Callable

from torch import nn

from . import backdoor, cache, cues, data, ensembles
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
    def dataset(self) -> "Poisoned":
        return Poisoned(self.ratio, self.trigger)


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


class Data:
    """A dataset of the zoo: a frozen object whose ``name`` (for tables, messages and DPA's partitions) is
    derived from its fields, never parsed; ``make(scale, seed)`` draws its split."""

    @property
    def name(self) -> str:
        raise NotImplementedError

    def make(self, s: Scale, seed: int) -> data.Split:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Signs(Data):
    """The generated traffic signs, drawn at ``size`` pixels."""

    size: int = data.IMAGE_SIZE

    @property
    def name(self) -> str:
        return "signs" if self.size == data.IMAGE_SIZE else f"signs{self.size}"

    def make(self, s: Scale, seed: int) -> data.Split:
        return data.signs(s.n_train, s.n_test, seed, size=self.size)


@dataclass(frozen=True)
class Poisoned(Data):
    """The signs with BadNets poison: a fraction ``ratio`` of the training images carry a ``trigger``-pixel
    checkerboard and :data:`BACKDOOR`'s target label (the default: :data:`BACKDOOR`'s ratio and trigger)."""

    ratio: float = BACKDOOR.ratio
    trigger: int = BACKDOOR.trigger

    @property
    def name(self) -> str:
        if (self.ratio, self.trigger) == (BACKDOOR.ratio, BACKDOOR.trigger):
            return "signs-badnets"
        return f"signs-badnets-r{self.ratio:g}-t{self.trigger}"

    def make(self, s: Scale, seed: int) -> data.Split:
        return backdoor.badnets(data.signs(s.n_train, s.n_test, seed), backdoor.Trigger(self.trigger), self.ratio,
                                BACKDOOR.target, seed)


@dataclass(frozen=True)
class Cues(Data):
    """q01's shapes with textures that ``"agree"`` with the shape's class or are drawn at ``"random"``."""

    textures: str = "agree"

    @property
    def name(self) -> str:
        return "cues" if self.textures == "agree" else f"cues-{self.textures}-texture"

    def make(self, s: Scale, seed: int) -> data.Split:
        return cues.cue_split(s.n_train, s.n_test, seed, textures=self.textures)


@dataclass(frozen=True)
class ScratchSigns(Data):
    """q06's training from scratch: the first ``scratch_images`` of the *site* split's training images, at tiny
    too — adversarial training from scratch needs site's budget to learn at all, so tiny trains the same models
    as site (a subset of its methods) and the tests reuse the weights of the site build."""

    @property
    def name(self) -> str:
        return "signs-scratch"

    def make(self, s: Scale, seed: int) -> data.Split:
        return data.first(data.signs(SCALES["site"].n_train, SCALES["site"].n_test, seed), s.scratch_images)


@dataclass(frozen=True)
class Cifar10(Data):
    """CIFAR-10 read from the user's disk (answers run --data-dir), never downloaded; whole at every profile."""

    @property
    def name(self) -> str:
        return "cifar10"

    def make(self, s: Scale, seed: int) -> data.Split:
        return data.cifar10(data.data_dir())


@dataclass(frozen=True)
class Part(Data):
    """The training samples of ``base`` that fall in partition ``i`` of ``k`` (:func:`ensembles.partition`)."""

    base: Data
    k: int
    i: int

    @property
    def name(self) -> str:
        return f"{self.base.name}/part{self.i}of{self.k}"

    def make(self, s: Scale, seed: int) -> data.Split:
        return ensembles.partition(_drawn(self.base, s, seed), self.k, self.i)


SIGNS, SIGNS24, SIGNS_BADNETS = Signs(), Signs(24), Poisoned()
CUES, CUES_RANDOM_TEXTURE = Cues("agree"), Cues("random")
SIGNS_SCRATCH, CIFAR10 = ScratchSigns(), Cifar10()
#: the named datasets, for the command line (every answer uses the objects themselves)
DATASETS: dict[str, Data] = {d.name: d for d in (SIGNS, SIGNS24, SIGNS_BADNETS, CUES, CUES_RANDOM_TEXTURE,
                                                  SIGNS_SCRATCH, CIFAR10)}


def split(profile: str, seed: int = 0, dataset: Data = SIGNS) -> data.Split:
    """The train/test split of ``dataset`` at ``profile`` (generated from ``seed``). Drawn once per process and
    shared, as :func:`data.signs` shares its splits: every model of a dataset asks for it (its fingerprint keys
    the weights), and a poisoned set or a partition costs seconds to draw and hash again."""
    if not isinstance(dataset, Data):
        raise TypeError(f"dataset must be one of the zoo's datasets (answers.lab.zoo.Data), not {dataset!r}")
    return _drawn(dataset, scale(profile), seed)


@lru_cache(maxsize=8)
def _drawn(dataset: Data, s: Scale, seed: int) -> data.Split:
    return dataset.make(s, seed)


@dataclass(frozen=True)
class Recipe:
    """How a zoo model is made: its ``name`` (the weight cache's and the tables' name for it, derived when
    recipes are composed, never parsed), the dataset it trains on and its training spec at a scale and seed.
    :meth:`on` moves a from-scratch recipe to another architecture."""

    name: str
    dataset: Data
    spec: Callable[[Scale, int], TrainSpec] = field(compare=False)
    about: str = field(compare=False, default="")

    def on(self, arch: str) -> "Recipe":
        """This recipe trained as ``arch`` (one of :data:`ARCHITECTURES`; the zoo's recipes are small CNNs): at
        the architecture's own learning rate and epochs where the recipe's do not suit it."""
        if arch not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {arch!r} for {self.name!r}; choose one of: {', '.join(ARCHITECTURES)}")
        if arch == "small_cnn":
            return self
        base = self

        def on_arch(s: Scale, seed: int) -> TrainSpec:
            spec = base.spec(s, seed)
            if spec.init is not None:
                raise ValueError(f"{base.name!r} fine-tunes another model: it cannot be moved to {arch!r}")
            return replace(spec, arch=arch, lr=_ARCH_LR.get(arch, spec.lr), epochs=spec.epochs * _ARCH_EPOCHS.get(arch, 1))
        return Recipe(f"{self.name}@{arch}", self.dataset, on_arch, f"{self.about} — as a {arch}")


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


def _named(*recipes: Recipe) -> dict[str, Recipe]:
    return {r.name: r for r in recipes}


RECIPES: dict[str, Recipe] = _named(
    Recipe("standard", SIGNS, _standard, "SmallCNN, standard training on the signs"),
    Recipe("surrogate", SIGNS, lambda s, seed: _standard(s, seed + 1),
           "an attacker's own model: the standard recipe with another seed"),
    Recipe("noisy", SIGNS, _noisy, "trained with Gaussian noise (σ of THREAT) and two-box cutout, so that randomized "
                                   "smoothing and masking keep it accurate"),
    Recipe("pgd_at", SIGNS, _adversarial(_noisy), "the noisy model fine-tuned on L∞ PGD examples (PGD-AT)"),
    *(Recipe(f"augment/{t}", SIGNS, _on_transform(t), f"the standard model fine-tuned on images through {t}")
      for t in PREPROCESSING),
    Recipe("camera", SIGNS, _on_transform("capture"), "the standard model fine-tuned on images seen through the "
           "simulated camera (a camera-fed recognizer must work on what its camera sees)"),
    Recipe("standard24", SIGNS24, _standard, "the standard recipe on the same images drawn at 24×24 pixels"),
    Recipe("badnets", SIGNS_BADNETS, _standard, "standard training on data with BadNets poison (BACKDOOR)"),
    Recipe("badnets_camera", SIGNS_BADNETS, _on_transform("capture"), "the backdoored model fine-tuned on its "
           "(still poisoned) data seen through the simulated camera"),
    Recipe("cue_standard", CUES, _standard, "standard training where shape and texture agree"),
    Recipe("cue_shape", CUES_RANDOM_TEXTURE, _standard, "textures drawn at random: only shape predicts"),
    Recipe("cue_pgd_at", CUES, _adversarial(_standard), "cue_standard fine-tuned on L∞ PGD examples"),
)


def augmented(transform: str) -> Recipe:
    """The standard model fine-tuned on images through the preprocessing defense ``transform``."""
    if transform not in PREPROCESSING:
        raise ValueError(f"unknown preprocessing {transform!r}; choose one of: {', '.join(PREPROCESSING)}")
    return RECIPES[f"augment/{transform}"]


#: the architectures q10 compares; each from-scratch recipe can be trained on any of them as ``<recipe>@<arch>``
ARCHITECTURES = ("small_cnn", "tiny_resnet", "mlp", "convmixer")
# where the recipe's training does not suit an architecture: the MLP (no weight sharing, overfits fast) trains at a
# lower peak learning rate and for 4× the epochs — its batches cost a fifth of a small CNN's, so its training time is similar
_ARCH_LR = {"mlp": 0.05}
_ARCH_EPOCHS = {"mlp": 4}


def backdoored(ratio: float, trigger: int) -> Recipe:
    """A standard model trained on signs poisoned at ``ratio`` with a ``trigger``-pixel trigger (the target of
    :data:`BACKDOOR`), for sweeps over the poisoning knobs."""
    return Recipe(f"badnets/r{ratio:g}/t{trigger}", Poisoned(ratio, trigger), _standard,
                  f"standard training on signs with {ratio:.1%} BadNets poison, {trigger}-pixel trigger")


def _member(s: Scale, seed: int) -> TrainSpec:
    return TrainSpec(width=s.width, epochs=PARTITIONED.epochs_per_member * s.epochs, batch_size=32, lr=0.05, seed=seed)


def partition_member(k: int, i: int) -> Recipe:
    """DPA's member trained on partition ``i`` of ``k`` of :data:`PARTITIONED`'s poisoned data."""
    if not 0 <= i < k:
        raise ValueError(f"partition {i} of {k} does not exist: 0 <= i < k")
    return Recipe(f"dpa/k{k}/p{i}", Part(PARTITIONED.dataset, k, i), _member,
                  f"DPA member {i} of {k}: trained only on its partition of {PARTITIONED.dataset}")


SCRATCH_LR = 0.2     # the standard recipe's peak learning rate, for every method
SCRATCH_WIDTH = 16   # at every profile: a width-8 network learns too little under adversarial training
PAPER_EPS = 8 / 255   # on CIFAR-10 (full profile) q06 trains at the papers' ε


@dataclass(frozen=True)
class Method:
    """One of q06's training methods, each from scratch: ``natural``, PGD-AT with ``n`` steps (``pgd``),
    Free-AT with ``n`` replays (``free``), FGSM from a random start (``fgsm_rs``) and FGSM from the clean image
    (``fgsm``), whose step may be set as a multiple of ε (``step``; 0: Wong et al.'s 1.25). ``key`` names it in
    tables and in the zoo."""

    kind: str
    n: int = 0
    step: float = 0.0

    def __post_init__(self):
        if self.kind not in ("natural", "pgd", "free", "fgsm_rs", "fgsm"):
            raise ValueError(f"unknown training method {self.kind!r}; choose natural, pgd, free, fgsm_rs or fgsm")
        if (self.kind in ("pgd", "free")) != (self.n >= 1):
            raise ValueError(f"{self.kind} takes {'a number of steps or replays n >= 1' if self.kind in ('pgd', 'free') else 'no n'}")
        if self.step < 0 or (self.step and self.kind not in ("fgsm_rs", "fgsm")):
            raise ValueError(f"only fgsm_rs and fgsm take a step (a positive multiple of ε), not {self.kind}")

    @property
    def key(self) -> str:
        return (f"{self.kind}{self.n}" if self.n else self.kind) + (f"_a{self.step:g}".replace(".", "_") if self.step else "")

    def fields(self) -> dict:
        """The :class:`~answers.lab.train.TrainSpec` fields of this method."""
        if self.kind == "natural":
            return {}
        if self.kind in ("fgsm_rs", "fgsm"):
            return {"adv_eps": THREAT.linf_eps, "adv_method": self.kind, **({"adv_step": self.step} if self.step else {})}
        return ({"adv_eps": THREAT.linf_eps, "adv_method": "pgd", "adv_steps": self.n} if self.kind == "pgd" else
                {"adv_eps": THREAT.linf_eps, "adv_method": "free", "replays": self.n})


NATURAL, FGSM_RS, FGSM = Method("natural"), Method("fgsm_rs"), Method("fgsm")


def pgd(k: int) -> Method:
    return Method("pgd", k)


def free(m: int) -> Method:
    return Method("free", m)


def scratch(method: Method, epochs: int | None = None, dataset: Data = SIGNS_SCRATCH) -> Recipe:
    """A SmallCNN trained from scratch on ``dataset`` with q06's ``method``, for ``epochs`` instead of the
    scale's ``scratch_epochs`` (Free-AT's division by m included)."""
    fields = method.fields()

    def make(s: Scale, seed: int) -> TrainSpec:
        budget = epochs or s.scratch_epochs
        replays = fields.get("replays", 1)
        spec = TrainSpec(width=SCRATCH_WIDTH, epochs=max(1, -(-budget // replays)), batch_size=s.scratch_batch,
                         lr=SCRATCH_LR, seed=seed, **fields)
        return replace(spec, adv_eps=PAPER_EPS) if dataset == CIFAR10 and spec.adv_eps else spec
    name = (f"scratch/{method.key}" + (f"/e{epochs}" if epochs is not None else "")
            + (f"/on-{dataset.name}" if dataset != SIGNS_SCRATCH else ""))
    return Recipe(name, dataset, make, f"SmallCNN trained from scratch by {method.key} (q06)")


def recipe(which: Recipe | str) -> Recipe:
    """``which`` itself, or the named recipe of :data:`RECIPES` (the others are made by :func:`backdoored`,
    :func:`partition_member`, :func:`scratch`, :func:`augmented` and :meth:`Recipe.on`)."""
    if isinstance(which, Recipe):
        return which
    try:
        return RECIPES[which]
    except KeyError:
        raise ValueError(f"unknown model {which!r}; choose one of: {', '.join(RECIPES)} (or a recipe made by "
                         "zoo.backdoored, zoo.partition_member, zoo.scratch, or Recipe.on(architecture))") from None


def spec(name: Recipe | str, profile: str, seed: int = 0) -> TrainSpec:
    """The training spec of zoo model ``name`` at ``profile``."""
    return recipe(name).spec(scale(profile), seed)


def model(name: Recipe | str, profile: str, seed: int = 0, device: str = "cpu", progress: bool | None = None,
          curve: EpochCurve | None = None) -> nn.Module:
    """Zoo model ``name`` trained at ``profile`` (from the weight cache when it has one), in eval mode; with
    ``curve``, its training recorded epoch by epoch (cached with the weights, see :func:`trained_model`)."""
    r = recipe(name)
    used = len(cache.USES)
    m = trained_model(r.spec(scale(profile), seed), split(profile, seed, r.dataset), device=device,
                      progress=progress, curve=curve)
    if len(cache.USES) > used:   # the last use is this model's (a model it fine-tunes from is recorded before it)
        cache.USES[-1] = replace(cache.USES[-1], recipe=r.name)
    return m
