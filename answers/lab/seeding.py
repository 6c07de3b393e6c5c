"""One place that makes runs repeatable: same seed ⇒ same numbers on the same machine."""
from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; returns a torch Generator seeded the same for explicit use."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def default_threads() -> int:
    """Torch threads used for measurements: ANSWERS_THREADS, else every core (2 on the reference machine)."""
    return int(os.environ.get("ANSWERS_THREADS", os.cpu_count() or 1))
