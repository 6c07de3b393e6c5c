"""Our PGD against torchattacks' PGD on the same model, data and settings, timed side by side in one run.

    python benchmarks/attacks.py [--images 500] [--steps 10]

Prints both robust accuracies and the time ratio (ours / torchattacks). A benchmark, not a test: it asserts
nothing about time."""
from __future__ import annotations

import argparse

import torch
import torchattacks

from answers.lab import metrics, zoo
from answers.lab.attacks import PGD
from answers.lab.seeding import default_threads
from answers.lab.timing import time_call


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=500)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    split = zoo.split("site", 0)
    model = zoo.model("noisy", "site", 0)  # the classifier q08 defends, from the same cache
    x, y = split.x_test[:args.images], split.y_test[:args.images]
    eps, alpha = 4 / 255, 1 / 255
    ours = PGD(model, eps=eps, alpha=alpha, steps=args.steps, random_start=False)
    peer = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=args.steps, random_start=False)
    acc = {name: metrics.accuracy(metrics.predict(model, atk(x, y)), y) for name, atk in
           (("ours", ours), ("torchattacks", peer))}
    t = {name: time_call(lambda a=atk: a(x, y), warmup=1, repeats=args.repeats, threads=default_threads())
         for name, atk in (("ours", ours), ("torchattacks", peer))}
    print(f"images={len(x)} steps={args.steps} eps=4/255 threads={default_threads()} torch={torch.__version__}")
    for name in acc:
        print(f"{name:>13}: robust accuracy {acc[name]:.3f}, median {t[name].median_s:.3f} s "
              f"(IQR {t[name].iqr_s:.3f} s)")
    print(f"accuracy difference: {abs(acc['ours'] - acc['torchattacks']) * 100:.1f} points; "
          f"time ratio ours/torchattacks: {t['ours'].median_s / t['torchattacks'].median_s:.2f}")


if __name__ == "__main__":
    main()
