"""q07 — 高帆: overall, is the attacker or the defender ahead?

Reads top-down like its page: an attacker × defender matrix on one classifier (cell = accuracy the defense keeps),
a worst-case column (an image counts only if it survives every attack), and both sides' costs in model calls and
seconds per image.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .kb import evidence as ev
from .kb.question import Question
from .kb.result import Result
from .lab import metrics, zoo
from .lab.attacks import BPDA, FGSM, PGD, PatchPGD, Transfer, in_batches
from .lab.defenses import JPEG, Defended, MedianFilter, PixelDeflection
from .lab.instrument import count_calls
from .lab.plots import heatmap
from .lab.progress import run_steps
from .lab.seeding import default_threads, seed_everything
from .lab.smoothing import Smoothed
from .lab.timing import time_call, torch_threads
from .lab.zoo import THREAT

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
    time_images: int    # images each attack is timed on (warm-up, then repeats)
    repeats: int


PROFILES = {
    "tiny": Settings(images=48, steps=5, eot=2, smooth_samples=16, time_images=8, repeats=2),
    "site": Settings(images=200, steps=10, eot=4, smooth_samples=32, time_images=32, repeats=3),
    "full": Settings(images=2000, steps=50, eot=20, smooth_samples=100, time_images=256, repeats=5),
}
EPS, SIGMA = THREAT.linf_eps, THREAT.sigma
SMOOTH_ALPHA = 0.001  # the same abstain rule as q08: abstain unless the top two classes differ at this level
ATTACKS = ("FGSM", "PGD", "adaptive (EOT/BPDA)", "transfer", "patch 3×3")


class _Noise(nn.Module):
    """Smoothing's randomness as a differentiable layer, for the EOT attacker."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + SIGMA * torch.randn_like(x)


@dataclass(frozen=True)
class Defender:
    """``label(x)``: predicted labels (-1 for an abstention, which counts as wrong); ``base``: the model whose
    calls are counted; ``through``: what an adaptive attacker differentiates through; ``randomized``: whether
    the adaptive attacker needs EOT."""

    name: str
    label: Callable[[torch.Tensor], torch.Tensor]
    base: nn.Module
    through: nn.Module
    randomized: bool = False


def run(profile: str = "site", seed: int = 0, device: str = "cpu", progress: bool | None = None) -> Result:
    cfg = PROFILES[profile]
    seed_everything(seed)
    split = zoo.split(profile, seed)
    model = zoo.model("noisy", profile, seed, device, progress)      # the defender's classifier, as in q08
    at_model = zoo.model("pgd_at", profile, seed, device, progress)
    # the attacker's own model: same kind of data, its own seed, never the defender's weights
    surrogate = zoo.model("surrogate", profile, seed, device, progress)
    res = Result(QUESTION.id, profile, seed, meta={"threads": default_threads(), "eps": "4/255",
                                                   "images": cfg.images})
    test_x, test_y = split.x_test.to(device), split.y_test.to(device)
    for name, m in (("base", model), ("PGD-AT", at_model), ("surrogate", surrogate)):
        res.model(name, metrics.clean_accuracy(m, test_x, test_y), split.num_classes)
    x, y = test_x[:cfg.images], test_y[:cfg.images]
    with torch_threads(default_threads()):
        run_steps([("attack × defense matrix", lambda: matrix(res, cfg, model, at_model, surrogate, x, y))],
                  f"q07 ({profile})", progress)
    return res


def _defenders(cfg: Settings, model, at_model, seed: int) -> dict[str, Defender]:
    smoothed = Smoothed(model, SIGMA)
    predict = lambda m: (lambda imgs: metrics.predict(m, imgs))  # noqa: E731

    def smooth(imgs: torch.Tensor) -> torch.Tensor:
        return smoothed.predict(imgs, cfg.smooth_samples, SMOOTH_ALPHA, generator=torch.Generator().manual_seed(seed))

    return {
        "none": Defender("无防御 none", predict(model), model, model),
        "jpeg": Defender("JPEG", predict(Defended(model, JPEG(75))), model, Defended(model, BPDA(JPEG(75)))),
        "median": Defender("中值滤波 median", predict(Defended(model, MedianFilter(3))), model,
                           Defended(model, MedianFilter(3))),
        "deflection": Defender("像素偏转 deflection", predict(Defended(model, PixelDeflection())), model,
                               Defended(model, BPDA(PixelDeflection())), randomized=True),
        "smoothing": Defender("随机平滑 smoothing", smooth, model, Defended(model, _Noise()), randomized=True),
        "pgd_at": Defender("对抗训练 PGD-AT", predict(at_model), at_model, at_model),
    }


def matrix(res: Result, cfg: Settings, model, at_model, surrogate, x, y) -> None:
    defenders = _defenders(cfg, model, at_model, res.seed)
    rows, cost_rows, correct = [], [], {}
    for key, d in defenders.items():
        target = d.base   # what a non-adaptive attacker attacks: the model it believes is deployed
        attacks = dict(zip(ATTACKS, (
            FGSM(target, eps=EPS),
            PGD(target, eps=EPS, alpha=EPS / 4, steps=cfg.steps),
            PGD(d.through, eps=EPS, alpha=EPS / 4, steps=cfg.steps, eot=cfg.eot if d.randomized else 1),
            Transfer(target, PGD(surrogate, eps=EPS, alpha=EPS / 4, steps=cfg.steps)),
            PatchPGD(target, size=3, steps=2 * cfg.steps, tries=1, seed=res.seed))))
        row = {"key": key, "防御 defense": d.name, "clean": metrics.accuracy(d.label(x), y)}
        correct[key] = {}
        for attack_name, attack in attacks.items():
            counted = surrogate if attack_name == "transfer" else d.base
            with count_calls(counted) as calls:
                adv = in_batches(attack, x, y)
            correct[key][attack_name] = d.label(adv) == y
            row[attack_name] = float(correct[key][attack_name].float().mean())
            tx, ty = x[:cfg.time_images], y[:cfg.time_images]
            t = time_call(lambda: in_batches(attack, tx, ty), warmup=1, repeats=cfg.repeats)
            cost_rows.append({"防御 defense": d.name, "attack": attack_name,
                              "attacker_calls_per_image": calls.images / len(x),
                              "attacker_ms_per_image": t.median_s * 1e3 / len(tx)})
        alive = torch.stack(list(correct[key].values())).all(0)
        correct[key]["worst_case"] = alive
        row["worst_case"] = float(alive.float().mean())
        row["best_single_attack"] = min(row[a] for a in ATTACKS)
        rows.append(row)
    res.table("matrix", f"攻击 × 防御：各防御在每种攻击下保住的准确率（L∞ ε=4/255，{len(x)} 张图）"
              "(attacker × defender: accuracy kept)", rows,
              note="worst_case：一张图只有扛住全部五种攻击才算对——攻击者只要有一种能用就赢；best_single_attack："
                   "五种攻击中最强的一种单独使用时的准确率。随机平滑在票数不能以 α=0.001 区分时弃权，弃权算错（与 q08 相同）。")
    res.table("attacker_cost", f"攻击者的代价：每张图的模型调用次数与耗时（耗时为 {cfg.time_images} 张图上 "
              f"{cfg.repeats} 次计时的中位数）(attacker's cost per image)", cost_rows)
    res.figure("heatmap", heatmap(rows, "防御 defense", ["clean", *ATTACKS, "worst_case"],
                                 "Accuracy kept: defenses (rows) vs attacks (columns)"))
    by = {r["key"]: r for r in rows}
    defended = [k for k in by if k != "none"]
    res.finding("one_working_attack_suffices", "“攻击者只需要一种能用的攻击”：对每一种防御，五种攻击逐图各取所长（任一成功即攻破）"
                "后的准确率都低于只用标准 PGD 评估时——只拿一种常用攻击评估，会高估每一种防御",
                "'the attacker needs one working attack': for every defense the per-image worst case over five "
                "attacks is below its accuracy under plain PGD, so a one-attack evaluation overstates it",
                {"worst_case": [by[k]["worst_case"] for k in defended], "pgd": [by[k]["PGD"] for k in defended]},
                "all(w < p for w, p in zip(worst_case, pgd))",
                evidence=sum((ev.mcnemar(correct[k]["PGD"], correct[k]["worst_case"], name=f"McNemar {k}")
                              for k in defended), ev.Evidence(len(x))),
                null={"worst_case": [by[k]["PGD"] for k in defended]})
    pre = ("jpeg", "median", "deflection")
    pooled_pgd = torch.cat([correct[k]["PGD"] for k in pre])
    pooled_adaptive = torch.cat([correct[k]["adaptive (EOT/BPDA)"] for k in pre])
    res.finding("adaptive_undoes_preprocessing", f"三种预处理防御面对“知道防御”的自适应攻击时，平均保住的准确率"
                f"（{float(pooled_adaptive.float().mean()):.0%}）低于面对普通 PGD 时（{float(pooled_pgd.float().mean()):.0%}）",
                "preprocessing defenses keep less accuracy against the adaptive attack than against plain PGD",
                {"pgd": pooled_pgd.float().mean(), "adaptive": pooled_adaptive.float().mean()}, "adaptive < pgd",
                evidence=ev.mcnemar(pooled_adaptive, pooled_pgd), null={"adaptive": float(pooled_pgd.float().mean())})
    at, none = by["pgd_at"], by["none"]
    res.finding("training_defense_keeps_most", f"对抗训练（把代价放在训练阶段）在最坏情况下的准确率高于无防御"
                f"（{at['worst_case']:.0%} 对 {none['worst_case']:.0%}）",
                "adversarial training keeps more accuracy in the worst case than no defense",
                {"at_worst": at["worst_case"], "none_worst": none["worst_case"]}, "at_worst > none_worst",
                evidence=ev.mcnemar(correct["pgd_at"]["worst_case"], correct["none"]["worst_case"]),
                null={"at_worst": none["worst_case"]})
