"""Multi-process training on the standard engine: ``torchrun`` starts the processes, each joins one
``torch.distributed`` process group (gloo on CPU, nccl on CUDA) and the one trainer (:func:`answers.lab.train.fit`)
wraps the model in ``DistributedDataParallel`` and gives every process its share of each global minibatch.
Introduced for q06 (what adversarial training costs, and what more processes buy).

Every process generates the same data from the same seed and draws the same minibatch order, so nothing but
gradients (and BatchNorm buffers) travels between them. DDP averages the gradients over the processes, so when
every global minibatch splits evenly, the update equals one process's update on the whole minibatch — exactly for
models without BatchNorm; with BatchNorm each process normalises with its own share's statistics.

``python -m answers.lab.distributed`` is the entry point the measurements and tests launch under ``torchrun``
(see :func:`launch`): it trains one spec on one profile's data and writes the losses, the seconds of every
epoch and the final weights. The full profile of q06 runs under it as a whole::

    torchrun --nproc-per-node 8 -m answers run q06 --profile full --data-dir ~/data/cifar10
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import torch
import torch.distributed as dist


def launched() -> bool:
    """Whether this process was started by torchrun (it sets the rendezvous variables)."""
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def follower() -> bool:
    """Whether this process is a torchrun rank other than 0 (from torchrun's environment, so it holds before the
    process group is joined): it trains with rank 0 but leaves locking and writing caches to it."""
    return launched() and os.environ["RANK"] != "0"


def init_from_env(device: str = "cpu") -> None:
    """Join torchrun's process group once (gloo on CPU, nccl on CUDA); a no-op outside torchrun."""
    if not launched() or dist.is_initialized():
        return
    cuda = torch.device(device).type == "cuda"
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group("nccl" if cuda else "gloo")


def leave(code: int = 0) -> NoReturn:
    """End a torchrun process: wait for the others, leave the process group, flush and exit *without* the
    interpreter's teardown. Under load, gloo's threads are at times still joinable when C++ destructors run at
    interpreter exit, and a process whose work is done aborts ('terminate called without an active exception',
    SIGABRT) — and torchrun reports the whole run failed (seen in CI, reproduced with both cores busy)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    """Whether this process should print and write (rank 0, or the only process)."""
    return rank() == 0


def shard(indices: torch.Tensor) -> torch.Tensor:
    """This process's share of a global minibatch: every ``world``-th index from its rank (all of them alone)."""
    return indices[rank()::world_size()]


def sum_all(value: float) -> float:
    """``value`` summed over the processes (itself alone)."""
    if world_size() == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=_collective_device())
    dist.all_reduce(t)
    return float(t.item())


def _collective_device() -> torch.device:
    """Where a collective's tensors must live: nccl only moves CUDA tensors."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def gather(value: int) -> list[int]:
    """Every process's ``value``, in rank order (``[value]`` alone)."""
    if world_size() == 1:
        return [value]
    out: list[int] = [0] * world_size()
    dist.all_gather_object(out, value)
    return out


# ---------------------------------------------------------------- the torchrun entry point
@dataclass(frozen=True)
class Run:
    """What one launch measured: the mean loss and the seconds of each epoch, and where the weights are."""

    processes: int
    threads: int
    losses: list[float]
    epoch_seconds: list[float]
    weights: Path
    images_per_process: list[int]   # images each process put through the model (forward passes counted)


def launch(processes: int, *, model: str, profile: str, epochs: int, batch_size: int, out: Path,
           threads: int | None = None, images: int | None = None, seed: int = 0, timeout: float = 600,
           cached: bool = False) -> Run:
    """Train zoo recipe ``model``'s architecture and method at ``profile`` for ``epochs`` under ``torchrun
    --nproc-per-node processes`` (a fresh interpreter per process), ``batch_size`` being the *global* minibatch;
    ``threads`` torch threads per process (default: the cores shared out evenly); ``cached`` trains through the
    weight cache as answers do. Returns what rank 0 wrote."""
    threads = threads or max(1, (os.cpu_count() or 1) // processes)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = out / f"run-{processes}{'-cached' if cached else ''}.json"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(processes), "--standalone",
           "-m", "answers.lab.distributed", "--model", model, "--profile", profile, "--epochs", str(epochs),
           "--batch-size", str(batch_size), "--seed", str(seed), "--threads", str(threads), "--out", str(report)]
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
               got["images_per_process"])


def _train(args: argparse.Namespace) -> None:
    from dataclasses import replace

    from . import zoo
    from .train import fit, training_method
    torch.set_num_threads(args.threads)
    init_from_env()
    recipe = zoo.recipe(args.model)
    spec = replace(recipe.spec(zoo.scale(args.profile), args.seed), epochs=args.epochs, batch_size=args.batch_size,
                   init=None)
    split = zoo.split(args.profile, args.seed, recipe.dataset)
    x, y = split.x_train, split.y_train
    if args.images:
        x, y = x[:args.images], y[:args.images]
    from . import data, models
    from .instrument import count_calls
    seconds: list[float] = []
    if args.cached:
        # through the weight cache, as an answer trains under torchrun: rank 0 stores, the others train with it
        from .methods import EpochCurve
        from .train import trained_model
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
        images = gather(calls.images)
    if is_main():
        weights = Path(args.out).with_suffix(".pt")
        torch.save(model.state_dict(), weights)
        Path(args.out).write_text(json.dumps({"losses": losses, "epoch_seconds": seconds, "weights": str(weights),
                                              "world_size": world_size(), "images_per_process": images}))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m answers.lab.distributed",
                                description="Train one zoo recipe's method from scratch under torchrun (DDP); "
                                            "rank 0 writes the losses, epoch seconds and weights.")
    p.add_argument("--model", required=True, help="zoo recipe whose architecture and method are trained")
    p.add_argument("--profile", default="tiny")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=128, help="global minibatch (shared out over the processes)")
    p.add_argument("--images", type=int, default=0, help="train on the first N training images (0: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    p.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "answers-ddp.json"))
    p.add_argument("--cached", action="store_true", help="train through the weight cache (trained_model) instead")
    _train(p.parse_args(argv))
    leave(0)


if __name__ == "__main__":
    main()
