"""The one timing harness: warm-up, repeats, median and spread, torch threads pinned; and peak tensor memory.
Introduced for q08; every answer that reports a cost uses it. Tests never assert absolute times."""
from __future__ import annotations

import re
import statistics
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Callable, Iterator

import torch


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Pin torch's intra-op threads to ``n`` inside the block (None: leave as is)."""
    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@dataclass(frozen=True)
class Timing:
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


def _quartiles(xs: list[float]) -> tuple[float, float, float]:
    if len(xs) == 1:
        return xs[0], xs[0], xs[0]
    q1, q2, q3 = statistics.quantiles(xs, n=4, method="inclusive")
    return q1, q2, q3


def time_call(fn: Callable[[], object], *, warmup: int = 2, repeats: int = 7, threads: int | None = None,
              min_time_s: float = 0.0) -> Timing:
    """Time ``fn()``: ``warmup`` untimed calls, then ``repeats`` samples with ``time.perf_counter``. With
    ``min_time_s`` each sample loops ``fn`` until that long has passed and reports the mean per call (for very
    fast functions). Grad mode is left to the caller."""
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
    q1, med, q3 = _quartiles(samples)
    return Timing(median_s=med, q1_s=q1, q3_s=q3, min_s=min(samples), max_s=max(samples), repeats=repeats,
                  samples=tuple(samples))


_M_MMAP_THRESHOLD = -3


def _libc():
    try:
        import ctypes
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def _status_bytes(key: str) -> int:
    with open("/proc/self/status") as f:
        return int(re.search(key + r":\s+(\d+) kB", f.read()).group(1)) * 1024


def peak_memory_bytes(fn: Callable[[], object]) -> int:
    """Peak growth of the process's resident memory while ``fn()`` runs, in bytes (-1 where unsupported).

    Linux keeps a resident-set high-water mark (VmHWM) that writing ``5`` to ``/proc/self/clear_refs`` resets
    to the current size; so peak = VmHWM after the call − VmRSS before it. For the reading to follow what is
    allocated, glibc is asked to serve large blocks with mmap (returned to the system on free) and to trim
    what it kept, for the duration of the call; afterwards a high threshold restores fast reuse. This sees
    every allocation (tensors, codec buffers), not only torch's: torch's profiler reports no CPU allocation
    events on this build, which is why it is not used."""
    libc = _libc()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            if libc is not None:
                libc.mallopt(_M_MMAP_THRESHOLD, 128 * 1024)
                libc.malloc_trim(0)
            f.write("5")
        before = _status_bytes("VmRSS")
    except OSError:
        fn()
        return -1
    try:
        fn()
        return max(0, _status_bytes("VmHWM") - before)
    finally:
        if libc is not None:
            libc.mallopt(_M_MMAP_THRESHOLD, 32 * 2**20)
