"""q07 — 高帆: overall, is the attacker or the defender ahead?

Reads top-down like its page: an attacker × defender matrix on one classifier (cell = accuracy the defense keeps),
a worst-case column (an image counts only if it survives every attack), and both sides' costs in model calls and
seconds per image.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn

from .kb.question import Question
from .kb.result import Result
from .lab import data, metrics
from .lab.attacks import BPDA, FGSM, PGD, PatchPGD, Transfer, in_batches
from .lab.defenses import JPEG, Defended, MedianFilter, PixelDeflection
from .lab.instrument import count_calls
from .lab.plots import heatmap
from .lab.progress import run_steps
from .lab.seeding import default_threads, seed_everything
from .lab.smoothing import Smoothed
from .lab.timing import torch_threads
from .lab.train import TrainSpec, trained_model
from .q08_defense_cost import EPS, PROFILES as Q08_PROFILES, SIGMA, specs as q08_specs

QUESTION = Question(
    id="q07", slug="attacker-vs-defender", asker="高帆", section="课后采纳",
    question_zh="现在的发展情况中，攻击方和防御方哪个整体上更占优势？",
    title_en="Attacker or defender: who is ahead?", title_zh="攻击方与防御方谁占优势",
    cites=("athalye2018obfuscated", "athalye2018synthesizing", "madry2018towards", "cohen2019certified",
           "brown2017adversarial", "prakash2018deflecting"),
)


@dataclass(frozen=True)
class Settings:
    images: int
    steps: int
    eot: int
    smooth_samples: int


PROFILES = {
    "tiny": Settings(images=48, steps=5, eot=2, smooth_samples=16),
    "site": Settings(images=200, steps=10, eot=4, smooth_samples=32),
    "full": Settings(images=2000, steps=50, eot=20, smooth_samples=100),
}


class _Noise(nn.Module):
    """Smoothing's randomness as a differentiable layer, for the EOT attacker."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + SIGMA * torch.randn_like(x)


class _SmoothedModule(nn.Module):
    """Majority vote of the base model over noise, as a classifier returning one-hot 'logits'."""

    def __init__(self, base: nn.Module, n: int):
        super().__init__()
        self.base, self.n = base, n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        votes = Smoothed(self.base, SIGMA).counts(x, self.n)
        return votes.float()


def run(profile: str = "site", seed: int = 0, device: str = "cpu", progress: bool | None = None) -> Result:
    cfg, q8 = PROFILES[profile], Q08_PROFILES[profile]
    seed_everything(seed)
    split = data.signs(q8.n_train, q8.n_test, seed)
    base_spec, adv_spec = q08_specs(q8, seed)
    model = trained_model(base_spec, split, device=device, progress=progress)
    at_model = trained_model(adv_spec, split, device=device, progress=progress)
    # the attacker's own model: same kind of data, its own seed, never the defender's weights
    surrogate = trained_model(TrainSpec(width=q8.width, epochs=q8.epochs, lr=0.2, seed=seed + 1), split,
                              device=device, progress=progress)
    res = Result(QUESTION.id, profile, seed, meta={"threads": default_threads(), "eps": "4/255",
                                                   "images": cfg.images})
    x, y = split.x_test[:cfg.images].to(device), split.y_test[:cfg.images].to(device)
    with torch_threads(default_threads()):
        run_steps([("attack × defense matrix", lambda: matrix(res, cfg, model, at_model, surrogate, x, y))],
                  f"q07 ({profile})", progress)
    return res


def _defenders(cfg: Settings, model, at_model) -> dict[str, tuple[nn.Module, nn.Module, nn.Module]]:
    """name -> (classifier used at inference, base model whose calls are counted, what an adaptive attacker
    differentiates through)."""
    smoothed = _SmoothedModule(model, cfg.smooth_samples)
    return {
        "无防御 none": (model, model, model),
        "JPEG": (Defended(model, JPEG(75)), model, Defended(model, BPDA(JPEG(75)))),
        "中值滤波 median": (Defended(model, MedianFilter(3)), model, Defended(model, MedianFilter(3))),
        "像素偏转 deflection": (Defended(model, PixelDeflection()), model, Defended(model, BPDA(PixelDeflection()))),
        "随机平滑 smoothing": (smoothed, model, Defended(model, _Noise())),
        "对抗训练 PGD-AT": (at_model, at_model, at_model),
    }


def matrix(res: Result, cfg: Settings, model, at_model, surrogate, x, y) -> None:
    defenders = _defenders(cfg, model, at_model)
    rows, cost_rows = [], []
    for name, (classify, base, through) in defenders.items():
        randomized = name in ("像素偏转 deflection", "随机平滑 smoothing")
        target = at_model if base is at_model else model   # what a non-adaptive attacker attacks
        attacks = {
            "FGSM": FGSM(target, eps=EPS),
            "PGD": PGD(target, eps=EPS, alpha=EPS / 4, steps=cfg.steps),
            "adaptive (EOT/BPDA)": PGD(through, eps=EPS, alpha=EPS / 4, steps=cfg.steps,
                                       eot=cfg.eot if randomized else 1),
            "transfer": Transfer(target, PGD(surrogate, eps=EPS, alpha=EPS / 4, steps=cfg.steps)),
            "patch 3×3": PatchPGD(target, size=3, steps=2 * cfg.steps, tries=1, seed=res.seed),
        }
        row = {"防御 defense": name, "clean": metrics.accuracy(metrics.predict(classify, x), y)}
        alive = torch.ones(len(x), dtype=torch.bool)
        for attack_name, attack in attacks.items():
            counted = surrogate if attack_name == "transfer" else base
            with count_calls(counted) as calls:
                t0 = time.perf_counter()
                adv = in_batches(attack, x, y)
                seconds = time.perf_counter() - t0
            correct = metrics.predict(classify, adv) == y
            alive &= correct
            row[attack_name] = float(correct.float().mean())
            cost_rows.append({"防御 defense": name, "attack": attack_name, "attacker_calls_per_image":
                              calls.images / len(x), "attacker_ms_per_image": seconds * 1e3 / len(x)})
        row["worst_case"] = float(alive.float().mean())
        rows.append(row)
    attack_cols = ["FGSM", "PGD", "adaptive (EOT/BPDA)", "transfer", "patch 3×3"]
    for r in rows:
        r["mean_over_attacks"] = sum(r[c] for c in attack_cols) / len(attack_cols)
    res.table("matrix", f"攻击 × 防御：各防御在每种攻击下保住的准确率（L∞ ε=4/255，{len(x)} 张图）"
              "(attacker × defender: accuracy kept)", rows,
              note="worst_case：一张图只有扛住全部五种攻击才算对——攻击者只要有一种能用就赢。")
    res.table("attacker_cost", "攻击者的代价：每张图的模型调用次数与耗时 (attacker's cost per image)", cost_rows)
    res.figure("heatmap", heatmap(rows, "防御 defense", ["clean", *attack_cols, "worst_case"],
                                 "Accuracy kept: defenses (rows) vs attacks (columns)"))
    gaps = [r["mean_over_attacks"] - r["worst_case"] for r in rows]
    res.claim("one_working_attack_suffices", "“攻击者只需要一种能用的攻击”：每种防御的最坏情况准确率都明显低于它对各攻击的平均",
              "'the attacker needs one working attack': every defense's worst case is clearly below its average",
              {"mean_over_attacks": [r["mean_over_attacks"] for r in rows], "worst_case": [r["worst_case"] for r in rows],
               "gaps": gaps}, "min(gaps) > 0 and sum(gaps) / len(gaps) > 0.05")
    by = {r["防御 defense"]: r for r in rows}
    pre = [by[n] for n in ("JPEG", "中值滤波 median", "像素偏转 deflection")]
    res.claim("adaptive_undoes_preprocessing", "预处理防御面对“知道防御”的自适应攻击时，平均保住的准确率低于面对普通 PGD 时",
              "preprocessing defenses keep less accuracy against the adaptive attack than against plain PGD",
              {"pgd": [r["PGD"] for r in pre], "adaptive": [r["adaptive (EOT/BPDA)"] for r in pre]},
              "sum(adaptive) < sum(pgd)")
    at, none = by["对抗训练 PGD-AT"], by["无防御 none"]
    res.claim("training_defense_keeps_most", "对抗训练（把代价放在训练阶段）在最坏情况下保住的干净准确率比例高于无防御",
              "adversarial training keeps a larger share of its clean accuracy in the worst case than no defense",
              {"at_kept": at["worst_case"] / max(at["clean"], 1e-9), "none_kept": none["worst_case"] / none["clean"],
               "at_clean": at["clean"], "none_clean": none["clean"]},
              "at_kept > none_kept")
