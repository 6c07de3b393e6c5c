"""One place that makes runs repeatable: same seed ⇒ same numbers on the same machine."""
from __future__ import annotations

import contextlib
import os
import random
from typing import Iterator

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; returns a torch Generator seeded the same for explicit use."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@contextlib.contextmanager
def isolated_rng() -> Iterator[None]:
    """Run a block without touching the caller's random streams (python, numpy, torch CPU).

    Work that happens only on a cache miss must not move the numbers the caller draws next: otherwise a cold
    build and a warm one, with the same seed, would disagree on everything random that follows."""
    py, npy = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        try:
            yield
        finally:
            random.setstate(py)
            np.random.set_state(npy)


def default_threads() -> int:
    """Torch threads used for measurements: ANSWERS_THREADS, else every core (2 on the reference machine)."""
    return int(os.environ.get("ANSWERS_THREADS", os.cpu_count() or 1))
