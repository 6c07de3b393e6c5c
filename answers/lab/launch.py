"""The torchrun launcher: train one zoo recipe's architecture and method under ``torchrun --nproc-per-node N``
(DDP, :mod:`answers.lab.distributed`) and read back what rank 0 measured. Introduced for q06 (what more processes
buy); the tests of multi-process training launch through it too.

``python -m answers.lab.launch`` is the entry point :func:`launch` starts under ``torchrun``: it trains one spec on
one profile's data and writes the losses, the seconds of every epoch and the final weights (and every process its
replica's parameters: DDP must leave them identical).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from . import data, distributed, models, zoo
from .instrument import count_calls
from .methods import EpochCurve
from .train import fit, trained_model, training_method


@dataclass(frozen=True)
class Run:
    """What one launch measured: the mean loss and the seconds of each epoch, and where the weights are (rank 0's,
    and every process's replica, rank by rank)."""

    processes: int
    threads: int
    losses: list[float]
    epoch_seconds: list[float]
    weights: Path
    images_per_process: list[int]   # images each process put through the model (forward passes counted)
    replicas: tuple[Path, ...] = ()  # each process's final parameters, by rank

    def replica_gap(self) -> float:
        """The largest absolute difference between any process's final parameters and rank 0's: 0 when DDP kept
        the replicas in step. (BatchNorm's running statistics are not compared: each process updates its own from
        its own share of the last minibatch.)"""
        first = torch.load(self.replicas[0])
        return max((float((torch.load(p)[k].double() - first[k].double()).abs().max()) for p in self.replicas[1:]
                    for k in first), default=0.0)


def launch(processes: int, *, model: str, profile: str, epochs: int, batch_size: int, out: Path,
           arch: str = "small_cnn", threads: int | None = None, images: int | None = None, seed: int = 0,
           timeout: float = 600, cached: bool = False) -> Run:
    """Train zoo recipe ``model`` (moved to ``arch``, :meth:`answers.lab.zoo.Recipe.on`) at ``profile`` for ``epochs`` under ``torchrun
    --nproc-per-node processes`` (a fresh interpreter per process), ``batch_size`` being the *global* minibatch;
    ``threads`` torch threads per process (default: the cores shared out evenly); ``cached`` trains through the
    weight cache as answers do. Returns what rank 0 wrote."""
    threads = threads or max(1, (os.cpu_count() or 1) // processes)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = out / f"run-{processes}{'-cached' if cached else ''}.json"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(processes), "--standalone",
           "-m", "answers.lab.launch", "--model", model, "--arch", arch, "--profile", profile,
           "--epochs", str(epochs), "--batch-size", str(batch_size), "--seed", str(seed), "--threads", str(threads),
           "--out", str(report)]
    if images:
        cmd += ["--images", str(images)]
    if cached:
        cmd += ["--cached"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"torchrun with {processes} processes failed ({proc.returncode}):\n{proc.stderr[-20000:]}")
    got = json.loads(report.read_text())
    return Run(processes, threads, got["losses"], got["epoch_seconds"], Path(got["weights"]),
               got["images_per_process"], tuple(Path(p) for p in got.get("replicas", [])))


def _train(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    distributed.init_from_env()
    recipe = zoo.recipe(args.model).on(args.arch)
    spec = replace(recipe.spec(zoo.scale(args.profile), args.seed), epochs=args.epochs, batch_size=args.batch_size,
                   init=None)
    split = zoo.split(args.profile, args.seed, recipe.dataset)
    x, y = split.x_train, split.y_train
    if args.images:
        x, y = x[:args.images], y[:args.images]
    seconds: list[float] = []
    if args.cached:
        # through the weight cache, as an answer trains under torchrun: rank 0 stores, the others train with it
        curve = EpochCurve(split.x_test[:32], split.y_test[:32])
        model = trained_model(spec, data.first(split, args.images), curve=curve)
        losses = [r["loss"] for r in curve.rows]
        seconds = [b["train_seconds"] - a for a, b in zip([0.0] + [r["train_seconds"] for r in curve.rows], curve.rows)]
        images = []
    else:
        torch.manual_seed(spec.seed)
        model = models.build(spec.arch, split.num_classes, width=spec.width)
        with count_calls(model) as calls:
            losses = fit(model, x, y, epochs=spec.epochs, batch_size=spec.batch_size, lr=spec.lr,
                         weight_decay=spec.weight_decay, method=training_method(spec), seed=spec.seed,
                         progress=False, callbacks=[lambda epoch, m, loss, total: seconds.append(total - sum(seconds))])
        images = distributed.gather(calls.images)
    weights = Path(args.out).with_suffix(".pt")
    replicas = [weights.with_name(f"{weights.stem}-rank{r}.pt") for r in range(distributed.world_size())]
    torch.save({k: p.detach() for k, p in model.named_parameters()}, replicas[distributed.rank()])
    if distributed.is_main():
        torch.save(model.state_dict(), weights)
        Path(args.out).write_text(json.dumps({"losses": losses, "epoch_seconds": seconds, "weights": str(weights),
                                              "world_size": distributed.world_size(), "images_per_process": images,
                                              "replicas": [str(p) for p in replicas]}))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m answers.lab.launch",
                                description="Train one zoo recipe's method from scratch under torchrun (DDP); "
                                            "rank 0 writes the losses, epoch seconds and weights.")
    p.add_argument("--model", required=True, help="zoo recipe whose method is trained (a name of zoo.RECIPES)")
    p.add_argument("--arch", default="small_cnn", choices=zoo.ARCHITECTURES, help="the architecture it trains")
    p.add_argument("--profile", default="tiny")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=128, help="global minibatch (shared out over the processes)")
    p.add_argument("--images", type=int, default=0, help="train on the first N training images (0: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    p.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "answers-ddp.json"))
    p.add_argument("--cached", action="store_true", help="train through the weight cache (trained_model) instead")
    _train(p.parse_args(argv))
    distributed.leave(0)


if __name__ == "__main__":
    main()
