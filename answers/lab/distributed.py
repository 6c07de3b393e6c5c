"""Multi-process training on the standard engine: ``torchrun`` starts the processes, each joins one
``torch.distributed`` process group (gloo on CPU, nccl on CUDA) and the one trainer (:func:`answers.lab.train.fit`)
wraps the model in ``DistributedDataParallel`` and gives every process its share of each global minibatch.
Introduced for q06 (what adversarial training costs, and what more processes buy).

Every process generates the same data from the same seed and draws the same minibatch order, so nothing but
gradients (and BatchNorm buffers) travels between them. DDP averages the gradients over the processes, so when
every global minibatch splits evenly, the update equals one process's update on the whole minibatch — exactly for
models without BatchNorm; with BatchNorm each process normalises with its own share's statistics.

This module holds what the trainer needs (joining the group, sharding, collectives); which process this is
(:func:`launched`, :func:`follower`, :func:`rank`, :func:`world_size`, :func:`is_main`, :func:`leave`) lives in
:mod:`answers.core.ranks` and is named here too. The torchrun launcher the measurements and tests use is
:mod:`answers.lab.launch`. The full profile of q06 runs under torchrun as a whole::

    torchrun --nproc-per-node 8 -m answers run q06 --profile full --data-dir ~/data/cifar10
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist

from ..core.ranks import follower, is_main, launched, leave, rank, world_size

__all__ = ["follower", "gather", "init_from_env", "is_main", "launched", "leave", "rank", "shard", "sum_all",
           "world_size"]


def init_from_env(device: str = "cpu") -> None:
    """Join torchrun's process group once (gloo on CPU, nccl on CUDA); a no-op outside torchrun."""
    if not launched() or dist.is_initialized():
        return
    cuda = torch.device(device).type == "cuda"
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group("nccl" if cuda else "gloo")


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
