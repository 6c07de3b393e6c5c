"""The one timing harness: warm-up, repeats, median and spread, torch threads pinned; and peak tensor memory.
Introduced for q08; every answer that reports a cost uses it. Tests never assert absolute times."""
from __future__ import annotations

import os
import statistics
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Callable, Iterator

import torch
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Pin torch's intra-op threads to ``n`` inside the block (None: leave as is); restore them after."""
    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@dataclass(frozen=True)
class Timing:
    """Seconds per call: order statistics of ``samples`` (one per repeat)."""
    median_s: float
    q1_s: float
    q3_s: float
    min_s: float
    max_s: float
    repeats: int
    samples: tuple[float, ...]

    @property
    def iqr_s(self) -> float:
        return self.q3_s - self.q1_s

    def to_dict(self) -> dict:
        return {**asdict(self), "iqr_s": self.iqr_s}

    @classmethod
    def of(cls, samples: list[float]) -> "Timing":
        """The order statistics of ``samples`` (seconds per call, one per repeat)."""
        q1, med, q3 = quartiles(samples)
        return cls(median_s=med, q1_s=q1, q3_s=q3, min_s=min(samples), max_s=max(samples), repeats=len(samples),
                   samples=tuple(samples))


def quartiles(xs: list[float]) -> tuple[float, float, float]:
    """(q1, median, q3) of ``xs``, the one definition used for timings and for per-round ratios of timings."""
    if len(xs) == 1:
        return xs[0], xs[0], xs[0]
    # "inclusive" keeps the quartiles inside [min, max] and makes the middle one the median
    q1, q2, q3 = statistics.quantiles(xs, n=4, method="inclusive")
    return q1, q2, q3


def time_call(fn: Callable[[], object], *, warmup: int = 2, repeats: int = 7, threads: int | None = None,
              min_time_s: float = 0.0) -> Timing:
    """Time ``fn()``: ``warmup`` untimed calls, then ``repeats`` samples with ``time.perf_counter``. With
    ``min_time_s`` each sample loops ``fn`` until that long has passed and reports the mean per call (for very
    fast functions). Grad mode is left to the caller: timing a training step needs grad."""
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    samples = []
    with torch_threads(threads):
        for _ in range(warmup):
            fn()
        for _ in range(repeats):
            n, t0 = 0, time.perf_counter()
            while True:
                fn()
                n += 1
                elapsed = time.perf_counter() - t0
                if elapsed >= min_time_s:
                    break
            samples.append(elapsed / n)
    return Timing.of(samples)


def time_interleaved(fns: dict[str, Callable[[], object]], *, warmup: int = 1, repeats: int = 5,
                     threads: int | None = None) -> dict[str, Timing]:
    """Time several functions that will be compared as ratios: each round times every function once, in
    turn, so a burst of load on the machine falls on all of them rather than on whichever ran then.
    ``warmup`` untimed rounds first. Returns each function's :class:`Timing` by name."""
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    samples: dict[str, list[float]] = {name: [] for name in fns}
    with torch_threads(threads):
        for _ in range(warmup):
            for fn in fns.values():
                fn()
        for _ in range(repeats):
            for name, fn in fns.items():
                t0 = time.perf_counter()
                fn()
                samples[name].append(time.perf_counter() - t0)
    return {name: Timing.of(xs) for name, xs in samples.items()}


def peak_memory_bytes(fn: Callable[[], object]) -> int:
    """Peak CPU tensor memory allocated while ``fn()`` runs, in bytes, on top of what was held before the call.

    Measured with ``torch.profiler.profile(activities=[CPU], profile_memory=True)``: each allocation and free
    by torch's CPU allocator is recorded as a ``[memory]`` event with a positive or negative ``nbytes``. In time
    order their running sum is the memory held at each moment; its maximum is the peak. The raw kineto events
    are read because ``prof.events()`` folds allocations into the op that made them, which hides a temporary
    allocated and freed inside one op. Only torch's allocator is seen (not numpy or image-codec buffers),
    which is what "tensor memory" means here. Unlike an RSS reading it does not depend on what the process
    allocated earlier or on how malloc returns memory to the system."""
    # kineto prints start/stop lines on stderr for every profile; level 6 silences them (read at first use)
    os.environ.setdefault("KINETO_LOG_LEVEL", "6")
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted((e for e in prof.profiler.kineto_results.events()
                     if e.name() == "[memory]" and e.device_type() == DeviceType.CPU),
                    key=lambda e: e.start_ns())
    held = peak = 0
    for e in events:
        held += e.nbytes()
        peak = max(peak, held)
    return peak
