"""q03 — 石雨宸: must we wait for an attack, or can we defend proactively (stretch, rotate, flip, brightness,
pixel deflection)?

Reads top-down like its page: each preprocessing defense wraps one standard classifier; for each we measure the
clean-accuracy cost without and with training on the same transform, accuracy against an attacker who ignores
the defense and against an adaptive one (EOT over the randomness, BPDA through non-differentiable steps); then
rotation as an attacker's tool, and what a certified defense's guarantee covers.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from .kb.question import Question
from .kb.result import Result
from .lab import data, metrics
from .lab import transforms as T
from .lab.attacks import BPDA, PGD, PatchPGD, in_batches
from .lab.defenses import Defended
from .lab.plots import grouped_bars
from .lab.progress import run_steps
from .lab.seeding import default_threads, seed_everything
from .lab.smoothing import Smoothed
from .lab.timing import torch_threads
from .lab.train import TrainSpec, trained_model
from .q08_defense_cost import PROFILES as Q08_PROFILES, SIGMA, specs as q08_specs

QUESTION = Question(
    id="q03", slug="proactive-defense", asker="石雨宸", section="课后采纳",
    question_zh="是不是只有发生过攻击我们才能针对特定的攻击方法进行补充的安全性措施？我们是否可以主动预防攻击，"
                "如通过某些处理增加图像识别的鲁棒性，使得攻击无效或减弱它的效果？",
    title_en="Can we defend proactively?", title_zh="能否主动预防攻击",
    cites=("prakash2018deflecting", "xie2018mitigating", "guo2018countering", "xu2018feature",
           "athalye2018obfuscated", "athalye2018synthesizing", "wu2022just", "engstrom2019exploring",
           "cohen2019certified"),
)


@dataclass(frozen=True)
class Settings:
    n_train: int
    n_test: int
    epochs: int
    width: int
    eval_images: int    # images attacked per defense
    steps: int          # PGD steps
    eot: int            # EOT samples per gradient for randomized defenses
    angles: int         # rotations tried by the rotation attacker
    cert_images: int
    cert_n: int         # noise samples for smoothing's certificate


PROFILES = {
    "tiny": Settings(n_train=4000, n_test=300, epochs=8, width=8, eval_images=64, steps=10, eot=4, angles=9,
                     cert_images=16, cert_n=64),
    "site": Settings(n_train=6000, n_test=1000, epochs=10, width=16, eval_images=200, steps=20, eot=8,
                     angles=13, cert_images=40, cert_n=256),
    "full": Settings(n_train=50000, n_test=10000, epochs=30, width=16, eval_images=2000, steps=50, eot=20,
                     angles=61, cert_images=500, cert_n=10000),
}
EPS = 4 / 255


def run(profile: str = "site", seed: int = 0, device: str = "cpu", progress: bool | None = None) -> Result:
    cfg = PROFILES[profile]
    seed_everything(seed)
    split = data.signs(cfg.n_train, cfg.n_test, seed)
    spec = TrainSpec(width=cfg.width, epochs=cfg.epochs, lr=0.2, seed=seed)
    model = trained_model(spec, split, device=device, progress=progress)
    res = Result(QUESTION.id, profile, seed, meta={"threads": default_threads(), "eps": "4/255", "model": spec.name})
    x, y = split.x_test.to(device), split.y_test.to(device)
    with torch_threads(default_threads()):
        run_steps([("preprocessing defenses", lambda: preprocessing(res, cfg, spec, split, model, x, y, device,
                                                                    progress)),
                   ("rotation attack", lambda: rotation_attack(res, cfg, model, x, y)),
                   ("certified radius", lambda: certificate_vs_attacks(res, profile, seed, split, x, y, device,
                                                                      progress))],
                  f"q03 ({profile})", progress)
    return res


# ---------------------------------------------------------------- preprocessing: cost, naive and adaptive attacks
def preprocessing(res: Result, cfg: Settings, spec: TrainSpec, split, model, x, y, device, progress) -> None:
    ev_x, ev_y = x[:cfg.eval_images], y[:cfg.eval_images]
    naive_adv = in_batches(PGD(model, eps=EPS, alpha=EPS / 4, steps=cfg.steps), ev_x, ev_y)
    clean = metrics.clean_accuracy(model, x, y)
    rows = [{"防御 defense": "none", "clean_untrained": clean, "clean_trained": clean,
             "naive_attack": metrics.accuracy(metrics.predict(model, naive_adv), ev_y),
             "adaptive_attack": metrics.accuracy(metrics.predict(model, naive_adv), ev_y), "attack_used": "PGD"}]
    for name, (_, differentiable, randomized) in T.PROACTIVE.items():
        transform = T.build(name)
        defended = Defended(model, transform).eval()
        trained = trained_model(replace(spec, augment=name), split, device=device,
                                progress=progress)
        # the adaptive attacker differentiates through the defense: exactly where it can, by the identity
        # where it cannot (BPDA), and averages over the defense's randomness (EOT)
        through = transform if differentiable else BPDA(transform)
        eot = cfg.eot if randomized else 1
        adaptive_adv = in_batches(PGD(Defended(model, through), eps=EPS, alpha=EPS / 4, steps=cfg.steps, eot=eot),
                                  ev_x, ev_y)
        rows.append({"防御 defense": name,
                     "clean_untrained": metrics.accuracy(metrics.predict(defended, x), y),
                     "clean_trained": metrics.accuracy(metrics.predict(Defended(trained, transform).eval(), x), y),
                     "naive_attack": metrics.accuracy(metrics.predict(defended, naive_adv), ev_y),
                     "adaptive_attack": metrics.accuracy(metrics.predict(defended, adaptive_adv), ev_y),
                     "attack_used": ("PGD" if differentiable else "PGD+BPDA") + (f"+EOT×{eot}" if eot > 1 else "")})
    res.table("preprocessing", f"输入预处理防御：干净准确率与两种攻击者（L∞ ε=4/255，{len(ev_x)} 张图）"
              "(clean accuracy without/with training on the transform; naive vs adaptive attacker)", rows,
              note="clean_untrained：标准模型前面加上该变换；clean_trained：用同一变换做数据增强训练的模型。"
                   "naive_attack：对标准模型生成的 PGD（攻击者不知道防御）；adaptive_attack：穿过防御求梯度的 PGD。")
    res.figure("defenses", grouped_bars(rows, "防御 defense", ["clean_untrained", "naive_attack", "adaptive_attack"],
                                        "accuracy", "Preprocessing defenses: clean, naive and adaptive attacker"))
    d = rows[1:]
    res.claim("adaptive_beats_every_defense", "自适应攻击（EOT/BPDA）下，每一种预处理防御的准确率都不高于面对不知情攻击者时",
              "against the adaptive attacker every preprocessing defense does no better than against the naive one",
              {"naive": [r["naive_attack"] for r in d], "adaptive": [r["adaptive_attack"] for r in d]},
              "all(a <= n + 0.1 for a, n in zip(adaptive, naive)) and sum(adaptive) < sum(naive)")
    res.claim("naive_numbers_overstate", "只用不知情攻击者评估会高估预处理防御：平均准确率明显更高",
              "evaluating only against a naive attacker overstates preprocessing defenses",
              {"mean_naive": sum(r["naive_attack"] for r in d) / len(d),
               "mean_adaptive": sum(r["adaptive_attack"] for r in d) / len(d)},
              "mean_naive - mean_adaptive > 0.05")
    costly = [r for r in d if clean - r["clean_untrained"] > 0.02]
    res.claim("training_recovers_clean_accuracy", "助教说“未针对性训练则准确率下降”：对确实掉点的变换，用同一变换训练后干净准确率回升",
              "the TA is right: where a transform costs clean accuracy, training on it wins most of it back",
              {"costly": [r["防御 defense"] for r in costly], "untrained": [r["clean_untrained"] for r in costly],
               "trained": [r["clean_trained"] for r in costly]},
              "len(costly) > 0 and sum(trained) > sum(untrained)")


# ---------------------------------------------------------------- rotation is also an attacker's tool
def rotation_attack(res: Result, cfg: Settings, model, x, y) -> None:
    ev_x, ev_y = x[:cfg.eval_images * 2], y[:cfg.eval_images * 2]
    rotate = T.RandomRotation()
    angles = torch.linspace(-30, 30, cfg.angles)
    correct = torch.stack([metrics.predict(model, rotate.apply(ev_x, {"angle": a.expand(len(ev_x))})) == ev_y
                           for a in angles])                                       # (angles, N)
    rows = [{"angle": float(a), "accuracy": float(c.float().mean())} for a, c in zip(angles, correct)]
    res.table("rotation", "把旋转当攻击：逐角度准确率与“最坏角度”准确率 (rotation as an attack)", rows)
    worst = float(correct.all(0).float().mean())
    res.claim("rotation_is_an_attack", "旋转本身就能当攻击用：对每张图挑最坏的角度（±30° 内），准确率远低于不旋转时",
              "rotation is an attack too: picking the worst angle within ±30° per image drops accuracy far below clean",
              {"clean": rows[len(rows) // 2]["accuracy"], "worst_of_angles": worst, "angles_tried": cfg.angles},
              "worst_of_angles < clean - 0.1")


# ---------------------------------------------------------------- what a certificate covers
def certificate_vs_attacks(res: Result, profile: str, seed: int, split, x, y, device, progress) -> None:
    cfg = PROFILES[profile]
    model = trained_model(q08_specs(Q08_PROFILES[profile], seed)[0], split, device=device, progress=progress)
    cx, cy = x[:cfg.cert_images], y[:cfg.cert_images]
    label, radius = Smoothed(model, SIGMA).certify(cx, n0=16, n=cfg.cert_n, generator=torch.Generator().manual_seed(seed))
    linf = PGD(model, eps=EPS, alpha=EPS / 4, steps=10)(cx, cy) - cx
    patch = PatchPGD(model, size=3, steps=20, seed=seed)(cx, cy) - cx
    l2 = lambda d: d.flatten(1).norm(dim=1)  # noqa: E731
    ok = (label == cy) & (radius > 0)
    rows = [{"量 quantity": "认证半径 certified L2 radius (certified images)",
             "median": float(radius[ok].median()) if ok.any() else 0.0, "max": float(radius.max())},
            {"量 quantity": "L∞ PGD ε=4/255 扰动的 L2 范数", "median": float(l2(linf).median()),
             "max": float(l2(linf).max())},
            {"量 quantity": "3×3 补丁扰动的 L2 范数", "median": float(l2(patch).median()), "max": float(l2(patch).max())}]
    res.table("certificate", f"随机平滑的认证半径 vs 攻击者实际使用的扰动（σ={SIGMA}，N={cfg.cert_n}）"
              "(certified radius vs the perturbations attackers actually use)", rows)
    res.claim("certificate_covers_less_than_attacks", "“认证防御有苛刻的前提”：证书保证的 L2 半径小于攻击者常用扰动的 L2 大小",
              "a certificate's L2 radius is smaller than the L2 size of the perturbations attackers actually use",
              {"max_certified_radius": rows[0]["max"], "median_linf_attack_l2": rows[1]["median"],
               "median_patch_l2": rows[2]["median"]},
              "max_certified_radius < median_linf_attack_l2 and max_certified_radius < median_patch_l2")
