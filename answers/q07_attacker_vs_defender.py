"""q07 — 高帆: overall, is the attacker or the defender ahead?

Reads top-down like its page: an attacker × defender matrix on one classifier (cell = accuracy the defense keeps),
a worst-case column (an image counts only if it survives every attack), and both sides' costs in model calls and
seconds per image.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass

import torch

from .experiment import Experiment
from .kb import evidence as ev
from .kb.question import Question
from .kb.result import Result
from .lab.attacks import FGSM, PGD, PatchPGD, Transfer, in_batches
from .lab.defenses import preprocessed, smoothed, undefended
from .lab.evaluate import Defense, evaluate
from .lab.plots import heatmap
from .lab.smoothing import ABSTAIN_ALPHA
from .lab.timing import time_call
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
    runs: int           # independent training runs of the base model and its PGD-AT (run 0: the matrix's pair)


PROFILES = {
    "tiny": Settings(images=48, steps=5, eot=2, smooth_samples=16, time_images=8, repeats=2, runs=2),
    "site": Settings(images=200, steps=10, eot=4, smooth_samples=32, time_images=32, repeats=3, runs=3),
    "full": Settings(images=2000, steps=50, eot=20, smooth_samples=100, time_images=256, repeats=5, runs=5),
}
EPS, SIGMA = THREAT.linf_eps, THREAT.sigma
EPS_255 = f"{round(EPS * 255)}/255"   # as pages write it, from the one threat setting
ATTACKS = ("FGSM", "PGD", "adaptive (EOT/BPDA)", "transfer", f"patch {THREAT.patch}×{THREAT.patch}")
LINF_ATTACKS = ATTACKS[:4]   # one threat model (L∞, ε): the patch changes a few pixels without a bound

#: the headers of this page's own columns (shared ones: answers.kb.result.COLUMN_LABELS)
COLUMNS = {
    "best_single_attack": "最强单一攻击下", "attacker_calls_per_image": "攻击者模型调用/图", "attacker_ms_per_image": "攻击者耗时 ms/图",
}


def run(profile: str = "site", seed: int = 0, device: str = "cpu", progress: bool | None = None) -> Result:
    cfg = PROFILES[profile]
    exp = Experiment.start(QUESTION, profile, seed, device, progress, columns=COLUMNS, meta={"eps": EPS_255, "images": cfg.images})
    model = exp.model("noisy", "base")           # the defender's classifier, as in q08
    at_model = exp.model("pgd_at", "PGD-AT")
    # the attacker's own model: same kind of data, its own seed, never the defender's weights
    surrogate = exp.model("surrogate")
    attacks = attack_plans(exp, cfg, surrogate)
    return exp.run([("attack × defense matrix", lambda: matrix(exp, cfg, model, at_model, attacks)),
                    ("PGD-AT over runs", lambda: at_over_runs(exp, cfg, attacks))])


def defenders(cfg: Settings, model, at_model, seed: int) -> list[Defense]:
    """The defenses q07 pits against every attack: one of each kind, from the lab's one defense list."""
    return [undefended(model), *(preprocessed(model, k) for k in ("jpeg", "median", "deflection")),
            smoothed(model, SIGMA, cfg.smooth_samples, seed),
            undefended(at_model, "pgd_at", "对抗训练 PGD-AT")]


def attack_plans(exp: Experiment, cfg: Settings, surrogate) -> dict:
    """The five attacks, each a plan for any defense. A non-adaptive attacker attacks the model it believes is
    deployed (the defense's base); the transfer attacker never queries it (PGD on its own surrogate)."""
    pgd = dict(eps=EPS, alpha=EPS / 4, steps=cfg.steps)
    return dict(zip(ATTACKS, (
        lambda d: FGSM(d.base, eps=EPS),
        lambda d: PGD(d.base, **pgd),
        lambda d: PGD(d.through, **pgd, eot=cfg.eot if d.randomized else 1),
        Transfer(surrogate, PGD(surrogate, **pgd)),
        lambda d: PatchPGD(d.base, size=THREAT.patch, steps=2 * cfg.steps, tries=1, seed=exp.seed))))


def matrix(exp: Experiment, cfg: Settings, model, at_model, attacks: dict) -> None:
    res = exp.res
    x, y = exp.x[:cfg.images], exp.y[:cfg.images]
    defenses = defenders(cfg, model, at_model, exp.seed)
    evaluation = evaluate(defenses, attacks, x, y)
    rows, cost_rows, correct = [], [], {}
    tx, ty = x[:cfg.time_images], y[:cfg.time_images]
    for d in defenses:
        correct[d.key] = dict(evaluation.correct[d.key])
        correct[d.key]["worst_case"] = evaluation.worst_case(d.key)
        correct[d.key]["worst_linf"] = torch.stack([correct[d.key][a] for a in LINF_ATTACKS]).all(0)
        row = {"key": d.key, "防御 defense": d.label, "clean": evaluation.accuracy(d.key)}
        for name, plan in attacks.items():
            row[name] = evaluation.accuracy(d.key, name)
            attack = plan if name == "transfer" else plan(d)
            t = time_call(lambda: in_batches(attack, tx, ty), warmup=1, repeats=cfg.repeats)
            cost_rows.append({"防御 defense": d.label, "attack": name,
                              "attacker_calls_per_image": evaluation.calls[d.key][name],
                              "attacker_ms_per_image": t.median_s * 1e3 / len(tx)})
        row["worst_case"] = float(correct[d.key]["worst_case"].float().mean())
        row["best_single_attack"] = min(row[a] for a in ATTACKS)
        row["worst_linf"] = float(correct[d.key]["worst_linf"].float().mean())
        row["strongest_linf"] = min(LINF_ATTACKS, key=lambda a: row[a])
        rows.append(row)
    res.table("matrix", f"攻击 × 防御：各防御在每种攻击下保住的准确率（L∞ ε={EPS_255}，{len(x)} 张图）"
              "(attacker × defender: accuracy kept)", rows,
              note="worst_case：一张图只有扛住全部五种攻击才算对——攻击者只要有一种能用就赢；best_single_attack："
                   "五种攻击中最强的一种单独使用时的准确率；worst_linf / strongest_linf：只算同一 L∞ 预算的四种攻击"
                   "（不含补丁）时的最坏情况，以及其中单独最强的那一种。随机平滑在票数不能以 "
                   f"α={ABSTAIN_ALPHA} 区分时弃权，弃权算错（与 q08 相同）。"
                   "JPEG 的自适应攻击穿过 kornia 的可微 JPEG，像素偏转用 BPDA+EOT，平滑用 EOT。",
              labels={"worst_linf": "L∞ 四种攻击的最坏情况", "strongest_linf": "最强的单一 L∞ 攻击"})
    res.table("attacker_cost", f"攻击者的代价：每张图的模型调用次数与耗时（耗时为 {cfg.time_images} 张图上 "
              f"{cfg.repeats} 次计时的中位数）(attacker's cost per image)", cost_rows)
    res.figure("heatmap", heatmap(rows, "防御 defense", ["clean", *ATTACKS, "worst_case"],
                                 "Accuracy kept: defenses (rows) vs attacks (columns)"))
    by = {r["key"]: r for r in rows}
    linf_combined(exp, by, correct)
    adaptive_vs_plain(exp, by, correct)


def linf_combined(exp: Experiment, by: dict[str, dict], correct: dict) -> None:
    """The strong form of "the attacker needs one working attack": within one threat model, does any single attack
    find every image that some attack breaks? The four L∞ attacks together can only match or beat the strongest of
    them (the per-image worst case includes it), so this is a measurement, not a finding that could come out the
    other way: each defense's own McNemar test (Holm-adjusted over the defenses) says whether the gap is more than
    chance."""
    defended = [k for k in by if k != "none"]
    strongest = {k: by[k]["strongest_linf"] for k in defended}
    tests = ev.per_arm({k: ev.mcnemar(correct[k][strongest[k]], correct[k]["worst_linf"], name="McNemar")
                        for k in defended})
    rows = [{"key": k, "防御 defense": by[k]["防御 defense"], "strongest_linf": strongest[k],
             "strongest_acc": by[k][strongest[k]], "worst_linf": by[k]["worst_linf"],
             "gap": by[k][strongest[k]] - by[k]["worst_linf"], "p_holm": p}
            for k, p in zip(defended, tests.design["adjusted_p"])]
    exp.res.table("linf_combined", "同一 L∞ 预算的四种攻击逐图各取所长，比其中最强的单一攻击多攻破多少（各防御单独做 McNemar 检验，"
                  "Holm 校正）(the four L∞ attacks together vs the strongest one)", rows,
                  note="gap = strongest_acc − worst_linf，按构造不会小于 0（合起来包含最强的那一种），所以这里只是测量，不作结论；"
                       "p_holm：最强的单一攻击与四种合起来在各自攻破的图上的 McNemar 检验，Holm 校正后的 p。")


def adaptive_vs_plain(exp: Experiment, by: dict[str, dict], correct: dict) -> None:
    """Does an attacker who knows the preprocessing beat one who does not? One test per defense; the finding counts
    the defenses where the adaptive attack is decided stronger (Holm), and is decided only if that count is."""
    pre = ("jpeg", "median", "deflection")
    stronger = {k: by[k]["adaptive (EOT/BPDA)"] < by[k]["PGD"] for k in pre}
    k, evidence = ev.arms_holding({d: ev.mcnemar(correct[d]["adaptive (EOT/BPDA)"], correct[d]["PGD"]) for d in pre},
                                  stronger, count="defenses")
    holding = evidence.design["holding"]
    exp.res.finding("adaptive_undoes_preprocessing",
                    f"在我们的模型上，多数预处理防御面对“知道防御”的自适应攻击时保住的准确率显著低于面对普通 PGD 时：{len(pre)} 种中有 {k} 种（"
                    + ("、".join(by[d]["防御 defense"] for d in holding) or "无") + "；"
                    + "，".join(f"{by[d]['防御 defense']} {by[d]['adaptive (EOT/BPDA)']:.0%} 对 {by[d]['PGD']:.0%}" for d in pre)
                    + "；每种防御单独检验，Holm 校正）",
                    f"on our model, for most of the {len(pre)} preprocessing defenses, the adaptive attack keeps significantly less "
                    "accuracy than plain PGD (one test per defense, Holm)",
                    {"defenses": k}, f"defenses >= {len(pre) // 2 + 1}", evidence=evidence,
                    null={"defenses": 0},
                    small_scale="at tiny (a few dozen images per defense) the count is of defenses whose adaptive "
                                "attack is significantly stronger after Holm, and few are: the count needs site's images")


def at_over_runs(exp: Experiment, cfg: Settings, attacks: dict) -> None:
    """The defender's other option, training, over independent runs: run 0 is the matrix's pair; every other run
    trains the base model and its PGD-AT with its own seed (on data drawn with it) and puts both through the same
    five attacks on that run's own test images."""
    res = exp.res
    by = {r["key"]: r for r in res.tables["matrix"].rows}
    rows = [{"run": 0, "seed": exp.seed, "at_worst": by["pgd_at"]["worst_case"],
             "none_worst": by["none"]["worst_case"]}]
    for r, seed, pair, split in exp.other_runs(cfg.runs, {"base": "noisy", "PGD-AT": "pgd_at"}):
        base, at = pair["base"], pair["PGD-AT"]
        x, y = split.x_test[:cfg.images].to(exp.device), split.y_test[:cfg.images].to(exp.device)
        e = evaluate([undefended(base), undefended(at, "pgd_at", "对抗训练 PGD-AT")], attacks, x, y)
        worst = {k: float(e.worst_case(k).float().mean()) for k in ("pgd_at", "none")}
        rows.append({"run": r, "seed": seed, "at_worst": worst["pgd_at"], "none_worst": worst["none"]})
    for row in rows:
        row["gain"] = row["at_worst"] - row["none_worst"]
    res.table("at_runs", f"对抗训练在 {len(rows)} 次独立训练中的最坏情况准确率（五种攻击任一成功即算攻破；每次：用该次的种子"
              f"生成数据、训练基础模型及其 PGD-AT 版本，在该次的 {cfg.images} 张测试图上）(PGD-AT's worst case over "
              "training runs)", rows, note="run 0 就是上面矩阵里的两个模型；gain = at_worst − none_worst。")
    mean = {k: statistics.mean(r[k] for r in rows) for k in ("at_worst", "none_worst", "gain")}
    res.finding("training_defense_beats_none", f"对抗训练（把代价放在训练阶段）在最坏情况下的准确率高于无防御：{len(rows)} 次"
                f"独立训练，每一次都更高（平均 {mean['at_worst']:.0%} 对 {mean['none_worst']:.0%}）",
                f"adversarial training keeps more accuracy in the worst case than no defense, in each of {len(rows)} "
                "independent training runs",
                mean, "gain > 0",
                evidence=ev.over_run_rows(rows, "gain"),
                null={"gain": 0.0}, compares=("base", "PGD-AT"))
