"""Which process this is in a ``torchrun`` launch, and how a launched process ends. Read from torchrun's
environment and ``torch.distributed`` (imported on use, so the kb can ask without loading torch); outside torchrun
there is one process, rank 0. The DDP helpers the trainer uses (joining the group, sharding, collectives) are in
:mod:`answers.lab.distributed`; the launcher is :mod:`answers.lab.launch`."""
from __future__ import annotations

import os
import sys
from typing import NoReturn


def launched() -> bool:
    """Whether this process was started by torchrun (it sets the rendezvous variables)."""
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def follower() -> bool:
    """Whether this process is a torchrun rank other than 0 (from torchrun's environment, so it holds before the
    process group is joined): it trains with rank 0 but leaves locking and writing caches to it."""
    return launched() and os.environ["RANK"] != "0"


def _joined():
    """``torch.distributed`` when this process has joined a process group, else None."""
    import torch.distributed as dist
    return dist if dist.is_available() and dist.is_initialized() else None


def world_size() -> int:
    dist = _joined()
    return dist.get_world_size() if dist else 1


def rank() -> int:
    dist = _joined()
    return dist.get_rank() if dist else 0


def is_main() -> bool:
    """Whether this process should print and write (rank 0, or the only process)."""
    return rank() == 0


def leave(code: int = 0) -> NoReturn:
    """End a torchrun process: wait for the others, leave the process group, flush and exit *without* the
    interpreter's teardown. Under load, gloo's threads are at times still joinable when C++ destructors run at
    interpreter exit, and a process whose work is done aborts ('terminate called without an active exception',
    SIGABRT) — and torchrun reports the whole run failed (seen in CI, reproduced with both cores busy)."""
    dist = _joined()
    if dist:
        dist.barrier()
        dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
