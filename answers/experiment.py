"""The one skeleton of an answer's ``run()``: seed every generator, take the profile's data from the zoo, open
the :class:`~answers.kb.result.Result`, record the health of every model a claim rests on, pin torch's threads
and run the page's sections in order with one progress bar. Every answer and ``answers new``'s scaffold use it.
It stands above both :mod:`answers.kb` and :mod:`answers.lab`, beside the answers (neither of them imports it)::

    def run(profile="site", seed=0, device="cpu", progress=None) -> Result:
        exp = Experiment.start(QUESTION, profile, seed, device, progress)
        model = exp.model("standard")
        return exp.run([("clean vs PGD", lambda: clean_vs_pgd(exp, model))])
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Mapping

import torch
from torch import nn

from .kb.question import Question
from .kb.result import Result
from .lab import cache, metrics, zoo
from .lab.data import Split
from .lab.progress import run_steps
from .lab.seeding import default_threads, seed_everything
from .lab.timing import torch_threads


@dataclass
class Experiment:
    """One run of one answer: its result, profile, seed, device and the test split on that device."""

    question: Question
    res: Result
    profile: str
    seed: int
    device: str
    progress: bool | None
    split: Split
    # where this run's share of the weight cache's record of uses begins (cache.USES)
    first_use: int = field(default=0, repr=False)

    @classmethod
    def start(cls, question: Question, profile: str = "site", seed: int = 0, device: str = "cpu",
              progress: bool | None = None, dataset: zoo.Data = zoo.SIGNS, meta: dict | None = None,
              columns: dict[str, str] | None = None) -> "Experiment":
        zoo.scale(profile)  # an unknown profile fails here, in one line, before anything is computed
        first_use = len(cache.USES)
        seed_everything(seed)
        res = Result(question.id, profile, seed, meta={"threads": default_threads(), "device": device, **(meta or {})},
                     columns=dict(columns or {}))
        return cls(question, res, profile, seed, device, progress, zoo.split(profile, seed, dataset), first_use)

    @property
    def x(self) -> torch.Tensor:
        """The test images, on the experiment's device."""
        return self.split.x_test.to(self.device)

    @property
    def y(self) -> torch.Tensor:
        return self.split.y_test.to(self.device)

    def model(self, name: zoo.Recipe | str, label: str | None = None, on: Split | None = None) -> nn.Module:
        """Zoo model ``name`` at this profile and seed; its clean accuracy on this experiment's test split (or on
        ``on``'s, for a model of other images) is recorded (``Result.model``) under ``label`` so that an
        unhealthy model is reported wherever it is used."""
        m = zoo.model(name, self.profile, self.seed, self.device, self.progress)
        split = on or self.split
        acc = metrics.clean_accuracy(m, split.x_test.to(self.device), split.y_test.to(self.device))
        self.res.model(label or zoo.recipe(name).name, acc, split.num_classes)
        return m

    def model_of_run(self, name: zoo.Recipe | str, seed: int, label: str) -> tuple[nn.Module, Split]:
        """Zoo model ``name`` of an independent run: trained with ``seed`` on data drawn with ``seed`` (one of
        :meth:`run_seeds`); returns it with that run's split, its clean accuracy on that split recorded under
        ``label`` (a comparison of training decided over runs needs every run's models healthy)."""
        split = zoo.split(self.profile, seed, zoo.recipe(name).dataset)
        m = zoo.model(name, self.profile, seed, self.device, self.progress)
        self.res.model(label, metrics.clean_accuracy(m, split.x_test.to(self.device), split.y_test.to(self.device)),
                       split.num_classes)
        return m, split

    def other_runs(self, runs: int,
                   recipes: Mapping[str, zoo.Recipe | str]) -> Iterator[tuple[int, int, dict[str, nn.Module], Split]]:
        """Runs 1 … ``runs`` − 1 of :meth:`run_seeds` (run 0 is the page's own models): for each, its index, its
        seed, the zoo models ``recipes`` names (label → recipe) trained with that seed and recorded as
        "<label> (seed <seed>)" (:meth:`model_of_run`), and the run's split (the first recipe's)."""
        for r, seed in enumerate(self.run_seeds(runs)[1:], 1):
            made = {label: self.model_of_run(recipe, seed, f"{label} (seed {seed})")
                    for label, recipe in recipes.items()}
            yield r, seed, {label: m for label, (m, _) in made.items()}, next(iter(made.values()))[1]

    def generator(self, offset: int = 0) -> torch.Generator:
        """A fresh CPU generator seeded from the run's seed (``offset`` tells apart independent streams)."""
        return torch.Generator().manual_seed(self.seed + offset)

    def run_seeds(self, runs: int) -> list[int]:
        """The seeds of ``runs`` independent runs of one comparison (training, a patch's optimisation): the run's
        own seed first, then seeds far from the small offsets that :meth:`generator` gives apart. One seed varies
        everything a run draws at once — initialisation, data order, starts and scenes (Bouthillier et al. 2021)."""
        return [self.seed + 1000 * r for r in range(runs)]

    def run(self, sections: Iterable[tuple[str, Callable[[], object]]]) -> Result:
        """Run the page's sections in order (threads pinned, one progress tick each); returns the result, with
        where its time went: each section's seconds (``meta["sections"]``) and every zoo model it took, with the
        seconds that model's training took and whether this run trained it (``meta["weights"]``)."""
        seconds: dict[str, float] = {}

        def timed(name: str, section: Callable[[], object]) -> Callable[[], None]:
            def step() -> None:
                t0 = time.perf_counter()
                section()
                seconds[name] = round(seconds.get(name, 0.0) + time.perf_counter() - t0, 2)
            return step

        with torch_threads(default_threads()):
            run_steps([(name, timed(name, s)) for name, s in sections], f"{self.question.id} ({self.profile})",
                      self.progress)
        self.res.meta["sections"] = seconds
        self.res.meta["weights"] = [{"what": u.what, "file": u.file, "seconds": u.seconds, "trained": u.trained,
                                     "recipe": u.recipe} for u in cache.USES[self.first_use:]]
        return self.res
