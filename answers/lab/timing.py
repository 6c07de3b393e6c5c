"""The one timing harness: warm-up, repeats, median and spread, torch threads pinned; and peak tensor memory.
Introduced for q08; every answer that reports a cost uses it. Tests never assert absolute times.

Costs that a finding compares are timed with :func:`time_rounds`: every function once per round, in turn, so a
burst of load falls on every arm of the round; the finding is decided on per-round values (one arm's time ÷ the
baseline's in the same round) with :func:`answers.kb.evidence.paired_rounds`, and rounds go on, look by look
(:data:`LOOKS`), until those values decide or the cap is reached. Each round records wall time and CPU time:
a finding about compute (work per step, passes) reads CPU time measured on one thread, where the work runs
on the timing thread itself and a process beside it on the machine cannot stretch it; a finding about
latency (what a user waits) reads wall time."""
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


@contextmanager
def randomness_untouched() -> Iterator[None]:
    """Whatever the calls inside draw from torch's global random streams is given back after the block. How many
    calls a timing makes depends on the machine's speed and load (rounds until a finding is decided, loops until a
    least time has passed); the experiment's later random numbers — an attack's random start, a smoothing's
    noise — must not, or a busy machine would change numbers that are not times."""
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() and torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        yield


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
    fast functions). Grad mode is left to the caller: timing a training step needs grad. The calls' random draws
    do not move the caller's random streams (:func:`randomness_untouched`)."""
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    samples = []
    with torch_threads(threads), randomness_untouched():
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


#: the round counts at which :func:`time_rounds` looks whether its per-round values decide (a stopping rule planned
#: in advance; the evidence divides its α among these looks, Bonferroni, so looking early costs no false verdicts).
#: 7 rounds all on one side of a bound is the fewest a two-sided sign test at α/3 can decide on (p = 2/2⁷ < 0.05/3);
#: a quiet machine's ratios (q05, q06, q08) decide there, a busy one's get up to 28 rounds before a finding is
#: called inconclusive
LOOKS = (7, 14, 28)


@dataclass(frozen=True)
class Rounds:
    """Interleaved rounds: for each timed function one sample per round, in wall seconds and in CPU seconds
    (of the timing thread when ``threads == 1``, else of the whole process); ``looks``: the planned looks of the
    stopping rule (``n``, the rounds timed, says where it stopped)."""

    wall: dict[str, list[float]]
    cpu: dict[str, list[float]]
    threads: int
    looks: tuple[int, ...]

    @property
    def n(self) -> int:
        return len(next(iter(self.wall.values()))) if self.wall else 0

    def seconds(self, clock: str) -> dict[str, list[float]]:
        if clock not in ("wall", "cpu"):
            raise ValueError(f"clock must be 'wall' or 'cpu', not {clock!r}")
        return self.wall if clock == "wall" else self.cpu

    def ratio(self, name: str, baseline: str, clock: str) -> list[float]:
        """``name``'s time ÷ ``baseline``'s time, round by round (the load both felt in a round cancels)."""
        s = self.seconds(clock)
        return [a / b for a, b in zip(s[name], s[baseline])]

    def timing(self, name: str, clock: str = "wall") -> Timing:
        return Timing.of(self.seconds(clock)[name])


def time_rounds(fns: dict[str, Callable[[], object]], *, stop: Callable[[Rounds], bool] | None = None,
                looks: tuple[int, ...] = LOOKS, warmup: int = 1, threads: int | None = 1) -> Rounds:
    """Time the functions of ``fns`` in interleaved rounds (each round calls every function once, in turn)
    after ``warmup`` untimed rounds. At each planned look (a round count of ``looks``) ``stop(rounds)`` is asked
    whether the rounds so far decide what they are for; timing stops there, or at the last look (the cap).
    ``threads``: torch threads while timing (default 1: CPU time then counts exactly the work of the calls). The
    calls' random draws do not move the caller's random streams (:func:`randomness_untouched`)."""
    if not looks or any(n < 1 for n in looks) or list(looks) != sorted(set(looks)):
        raise ValueError(f"looks must be increasing round counts, not {looks!r}")
    wall: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    one = threads == 1
    clock = time.thread_time if one else time.process_time
    with torch_threads(threads), randomness_untouched():
        rounds = Rounds(wall, cpu, torch.get_num_threads(), tuple(looks))
        for _ in range(warmup):
            for fn in fns.values():
                fn()
        for look in looks:
            while rounds.n < look:
                for name, fn in fns.items():
                    c0, t0 = clock(), time.perf_counter()
                    fn()
                    wall[name].append(time.perf_counter() - t0)
                    cpu[name].append(clock() - c0)
            if stop is not None and stop(rounds):
                break
    return rounds


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
