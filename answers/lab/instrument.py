"""Count model calls by instrumenting the model (a forward hook), never by formula. Introduced for q08."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

from torch import nn


@dataclass
class CallCount:
    """``images``: per-image model evaluations (a batch of 64 counts 64); ``forwards``: forward passes."""

    images: int = 0
    forwards: int = 0
    batch_sizes: list[int] = field(default_factory=list)


@contextmanager
def count_calls(model: nn.Module) -> Iterator[CallCount]:
    """Within the block, every forward of ``model`` adds its batch size to the returned count."""
    count = CallCount()

    def hook(module: nn.Module, args: tuple, output: object) -> None:
        n = int(args[0].shape[0])
        count.images += n
        count.forwards += 1
        count.batch_sizes.append(n)

    handle = model.register_forward_hook(hook)
    try:
        yield count
    finally:
        handle.remove()
