"""The cost of running a defended classifier, measured the same way for every defense: latency per image at
batch 1 and inside a batch (64 by default; median of repeats), throughput, peak tensor memory, and model calls per image
counted by instrumenting the base model. Introduced for q08; reused by answers that weigh attack against
defense cost."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .instrument import count_calls
from .timing import Timing, peak_memory_bytes, time_call

Classify = Callable[[torch.Tensor], torch.Tensor]  # images -> labels


@dataclass(frozen=True)
class Cost:
    latency_b1_ms: float      # median per-image latency, one image at a time
    latency_batch_ms: float   # median per-image latency inside a batch (64 by default)
    spread_batch_ms: float    # inter-quartile range of the batched per-image latency
    throughput: float         # images per second in batches
    peak_mb: float            # peak tensor memory of one batched call, MiB
    calls_per_image: float    # base-model evaluations per image (instrumented)
    q1_batch_ms: float        # first and third quartiles of the batched per-image latency
    q3_batch_ms: float
    repeats: int

    def to_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


def measure(classify: Classify, base: nn.Module, images: torch.Tensor, *, repeats: int = 5,
            threads: int | None = None, batch: int = 64) -> Cost:
    """Measure ``classify`` (which calls ``base`` inside) on the first ``batch`` of ``images``.

    One untimed run counts the calls and records peak memory (and warms up); then ``repeats`` timed runs at
    batch ``batch`` and at batch 1."""
    xb, x1 = images[:batch], images[:1]
    with torch.inference_mode():
        with count_calls(base) as calls:
            peak = peak_memory_bytes(lambda: classify(xb))
        tb: Timing = time_call(lambda: classify(xb), warmup=0, repeats=repeats, threads=threads)
        t1: Timing = time_call(lambda: classify(x1), warmup=1, repeats=max(repeats, 3), threads=threads)
    n = len(xb)
    return Cost(latency_b1_ms=t1.median_s * 1e3, latency_batch_ms=tb.median_s * 1e3 / n,
                spread_batch_ms=tb.iqr_s * 1e3 / n, throughput=n / tb.median_s, peak_mb=peak / 2**20,
                calls_per_image=calls.images / n, q1_batch_ms=tb.q1_s * 1e3 / n, q3_batch_ms=tb.q3_s * 1e3 / n,
                repeats=repeats)
