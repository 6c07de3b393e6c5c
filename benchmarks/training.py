"""How fast one training step of the zoo's standard model runs, and what fraction of this CPU's matrix-multiply
peak it reaches, for the ways of training we tried (issue 20), timed side by side in one run.

    python benchmarks/training.py [--steps 30] [--rounds 5] [--arch small_cnn]

For each variant: images/s (median over interleaved rounds), its ratio to the baseline's, and the achieved FLOP/s
(FLOPs of a step counted by torch's FlopCounterMode) as a fraction of a float32 matmul peak measured in the same
run with the same threads. A benchmark, not a test: it asserts nothing about time.

Variants: ``baseline`` (what the zoo trains with: float32, channels-last weights (:func:`answers.lab.models.build`),
batch 128, the threads of the process), ``nchw`` (the same with contiguous NCHW weights, as before), ``bf16``
(autocast to bfloat16), ``batch256`` (twice the batch), ``one_thread`` (the same step in one thread: what each
worker of a two-process build gets) and ``eval_inference`` (the forward pass alone, under inference mode, in
batches of 1000: how evaluation runs)."""
from __future__ import annotations

import argparse
import statistics
import time
from contextlib import nullcontext
from typing import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from answers.lab import models, zoo
from answers.lab.seeding import default_threads
from answers.lab.timing import time_rounds, torch_threads


def matmul_peak(threads: int, n: int = 1024, repeats: int = 20) -> float:
    """FLOP/s of a float32 n×n matrix multiply with ``threads`` threads (best of ``repeats``)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    with torch_threads(threads):
        a @ b
        best = min(_seconds(lambda: a @ b) for _ in range(repeats))
    return 2 * n ** 3 / best


def _seconds(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def train_steps(arch: str, x: torch.Tensor, y: torch.Tensor, *, batch: int, steps: int, memory_format=None,
                autocast: bool = False) -> Callable[[], object]:
    """A function running ``steps`` SGD steps of a fresh model on batches of ``x``."""
    torch.manual_seed(0)
    model = models.build(arch, 10, width=16).train()
    if memory_format is not None:
        model = model.to(memory_format=memory_format)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def run() -> None:
        for s in range(steps):
            i = (s * batch) % (len(x) - batch)
            xb, yb = x[i:i + batch], y[i:i + batch]
            if memory_format is not None:
                xb = xb.contiguous(memory_format=memory_format)
            with torch.autocast("cpu", dtype=torch.bfloat16) if autocast else nullcontext():
                loss = loss_fn(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return run


def eval_batches(arch: str, x: torch.Tensor, batch: int = 1000) -> Callable[[], object]:
    model = models.build(arch, 10, width=16).eval()

    def run() -> None:
        with torch.inference_mode():
            for i in range(0, len(x), batch):
                model(x[i:i + batch])
    return run


def step_flops(arch: str, x: torch.Tensor, y: torch.Tensor, batch: int) -> int:
    """FLOPs of one training step (forward and backward) on a batch of ``batch`` images."""
    model = models.build(arch, 10, width=16).train()
    with FlopCounterMode(display=False) as counter:
        nn.CrossEntropyLoss()(model(x[:batch]), y[:batch]).backward()
    return counter.get_total_flops()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=30, help="training steps per timed call (default 30)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    p.add_argument("--arch", default="small_cnn", choices=zoo.ARCHITECTURES)
    args = p.parse_args()
    threads = default_threads()
    split = zoo.split("site", 0)
    x, y = split.x_train, split.y_train
    n = args.steps * 128  # images per timed call, the same for every variant
    variants = {  # name: (function, threads)
        "baseline": (train_steps(args.arch, x, y, batch=128, steps=args.steps), threads),
        "nchw": (train_steps(args.arch, x, y, batch=128, steps=args.steps,
                             memory_format=torch.contiguous_format), threads),
        "bf16": (train_steps(args.arch, x, y, batch=128, steps=args.steps, autocast=True), threads),
        "batch256": (train_steps(args.arch, x, y, batch=256, steps=args.steps // 2), threads),
        "one_thread": (train_steps(args.arch, x, y, batch=128, steps=args.steps), 1),
    }
    per_image = step_flops(args.arch, x, y, 128) / 128

    def threaded(fn: Callable[[], object], n: int) -> Callable[[], object]:
        def run() -> None:
            with torch_threads(n):
                fn()
        return run

    fns = {name: threaded(fn, t) for name, (fn, t) in variants.items()}
    fns["eval_inference"] = threaded(eval_batches(args.arch, split.x_test), threads)
    rounds = time_rounds(fns, warmup=1, looks=(args.rounds,), threads=None)
    peaks = {n: matmul_peak(n) for n in {threads, 1}}
    print(f"arch={args.arch} width=16 threads={threads} torch={torch.__version__} "
          f"cpu capability={torch.backends.cpu.get_cpu_capability()}")
    print(f"float32 matmul peak: {peaks[threads] / 1e9:.1f} GFLOP/s at {threads} threads, "
          f"{peaks[1] / 1e9:.1f} at 1; training FLOPs per image: {per_image / 1e6:.2f} M")
    for name, (_, t) in variants.items():
        ratios = rounds.ratio("baseline", name, "wall")  # > 1: this variant is faster, round by round
        ips = n / rounds.timing(name).median_s
        print(f"{name:>15}: {ips:8.0f} images/s  ×{statistics.median(ratios):.2f} the baseline's speed  "
              f"{ips * per_image / peaks[t]:.1%} of the {t}-thread matmul peak")
    s = rounds.timing("eval_inference").median_s
    print(f"{'eval_inference':>15}: {len(split.x_test) / s:8.0f} images/s (forward only, batches of 1000)")


if __name__ == "__main__":
    main()
