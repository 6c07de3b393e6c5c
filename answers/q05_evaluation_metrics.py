"""q05 — 易琦: which metrics evaluate how well machine-learning systems resist attacks?

Reads top-down like its page. The metrics are defined once (in the lab: ``backdoor.scores`` for CA, ASR and RA;
``metrics`` and ``evaluate`` for accuracy under attack and the worst case); this answer measures them where the TA
named their knobs: a BadNets sweep over poisoning ratio × trigger size (CA and ASR heat maps, the smallest ratio
that reaches ASR ≥ 90%), a universal-patch sweep over patch size (success rate, with the model untouched), and
the costs the TA says are "usually not considered" — the attacker's model queries and time per image, beside the
defender's latency per image.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass

from .experiment import Experiment
from .kb import evidence as ev
from .kb.question import Question
from .kb.result import Result
from .lab import backdoor, costs, metrics, patches as P, zoo
from .lab.attacks import FGSM, PGD, PatchPGD
from .lab.data import CLASS_NAMES
from .lab.defenses import preprocessed, smoothed, undefended
from .lab.evaluate import evaluate
from .lab.models import weights_digest
from .lab.plots import heatmap
from .lab.timing import LOOKS, time_rounds
from .lab.zoo import BACKDOOR, THREAT

QUESTION = Question(
    id="q05", slug="evaluation-metrics", asker="易琦", section="课后采纳",
    question_zh="目前对于机器学习算法的防御攻击能力，有哪些指标可以评估？",
    title_en="How attacks and defenses are measured", title_zh="评估攻击与防御的指标",
    cites=("gu2019badnets", "brown2017adversarial", "madry2018towards", "goodfellow2015explaining",
           "cohen2019certified", "xiang2022patchcleanser"),
)


@dataclass(frozen=True)
class Settings:
    """How much each measurement does at a profile (data and models come from the zoo's scale)."""

    ratios: tuple           # poisoning ratios of the BadNets sweep
    triggers: tuple         # trigger sides (pixels) of the sweep
    patch_sizes: tuple      # universal patch sides (pixels)
    patch_steps: int
    eval_images: int        # images attacked in the patch sweep and the cost table
    cost_images: int        # images each attack is timed on
    smooth_samples: int
    repeats: int            # timings of each defense's latency (a table; no finding rests on it)
    runs: int               # independent trainings (seeds) of the grid's cells compared
    ca_runs: int            # independent trainings of the clean and the backdoored model compared (CA within a
                            # few points of each other: three runs' spread left a t-test undecided)


PROFILES = {
    "tiny": Settings(ratios=(0.01, 0.1), triggers=(2, 4), patch_sizes=(4, 8), patch_steps=40, eval_images=150,
                     cost_images=16, smooth_samples=16, repeats=3, runs=2, ca_runs=2),
    "site": Settings(ratios=(0.005, 0.01, 0.03, 0.1), triggers=(2, 3, 5), patch_sizes=(4, 6, 8, 10), patch_steps=150,
                     eval_images=500, cost_images=32, smooth_samples=64, repeats=5, runs=3, ca_runs=5),
    "full": Settings(ratios=(0.001, 0.003, 0.01, 0.03, 0.1), triggers=(1, 2, 3, 4, 5, 6), patch_sizes=(2, 4, 6, 8, 10, 12),
                     patch_steps=1000, eval_images=5000, cost_images=256, smooth_samples=1000, repeats=20,
                 runs=5, ca_runs=5),
}
TARGET = BACKDOOR.target
ASR_GOAL = 0.9              # "reaches the attack": the ASR a poisoning must reach to count as working
CA_MARGIN = 0.03            # "CA stays within a few points": three percentage points
EPS = THREAT.linf_eps
PGD_STEPS = 10
PATCH_STEPS, PATCH_TRIES = 40, 2   # the per-image patch attack: steps at each of its random positions
COST_BOUNDS = ev.about(PGD_STEPS)   # PGD costs about its step count in FGSMs: each step is one gradient, as FGSM's
CLOCK = "cpu"               # the attacker's cost is compute: CPU time of one timing thread (lab.timing)


def run(profile: str = "site", seed: int = 0, device: str = "cpu", progress: bool | None = None) -> Result:
    cfg = PROFILES[profile]
    exp = Experiment.start(QUESTION, profile, seed, device, progress,
                           meta={"target": CLASS_NAMES[TARGET], "asr_goal": ASR_GOAL, "ca_margin": CA_MARGIN})
    clean_model = exp.model("standard", "clean model")
    return exp.run([("BadNets sweep", lambda: badnets_sweep(exp, cfg, clean_model)),
                    ("patch sweep", lambda: patch_sweep(exp, cfg, clean_model)),
                    ("costs", lambda: attack_and_defense_costs(exp, cfg, clean_model))])


# ---------------------------------------------------------------- 1. BadNets: poisoning ratio × trigger size
def badnets_sweep(exp: Experiment, cfg: Settings, clean_model) -> None:
    res, x, y = exp.res, exp.x, exp.y
    cells: dict[tuple[float, int], backdoor.BackdoorScores] = {}
    for ratio in cfg.ratios:
        for side in cfg.triggers:
            model = exp.model(zoo.backdoored(ratio, side), f"BadNets r={ratio:g} t={side}")
            cells[ratio, side] = backdoor.scores(model, x, y, backdoor.Trigger(side), TARGET)
    rows = [{"key": f"r{ratio:g}", "poison_ratio": ratio,
             **{f"{m}_t{side}": getattr(cells[ratio, side], m) for side in cfg.triggers for m in ("ca", "asr", "ra")}}
            for ratio in cfg.ratios]
    res.table("sweep", f"BadNets：投毒比例 × 触发器边长 → CA、ASR、RA（{len(x)} 张测试图，目标类 {CLASS_NAMES[TARGET]}）"
              "(BadNets sweep)", rows, note="ca_tK / asr_tK / ra_tK：触发器边长 K 像素时的干净准确率、攻击成功率与鲁棒准确率。")
    for metric, title in (("ca", "Clean accuracy (CA)"), ("asr", "Attack success rate (ASR)")):
        grid = [{"ratio": f"r={r['poison_ratio']:g}", **{f"t={side}": r[f"{metric}_t{side}"] for side in cfg.triggers}}
                for r in rows]
        res.figure(f"{metric}_heatmap", heatmap(grid, "ratio", [f"t={side}" for side in cfg.triggers],
                                                f"{title}: poisoning ratio (rows) × trigger side (columns)"))
    res.table("smallest_ratio", f"每种触发器达到 ASR ≥ {ASR_GOAL:.0%} 的最小投毒比例 (smallest ratio reaching the goal)",
              [{"trigger": side, "smallest_ratio": next((r for r in cfg.ratios if cells[r, side].asr >= ASR_GOAL), None),
                "asr_at_largest_ratio": cells[cfg.ratios[-1], side].asr} for side in cfg.triggers],
              note="– 表示扫过的比例都没有达到。")
    ca_over_runs(exp, cfg, clean_model)
    lo_r, hi_r, lo_t, hi_t = cfg.ratios[0], cfg.ratios[-1], cfg.triggers[0], cfg.triggers[-1]
    # one test per row or column of the grid (Holm), on the ones where the smaller setting leaves room to rise:
    # where it already reaches ASR_GOAL, a larger one cannot show much (the ceiling), and that is not a finding
    by_ratio = with_room(cells, [Arm(f"t{t}", f"{t}px 触发器", (lo_r, t), (hi_r, t)) for t in cfg.triggers])
    by_trigger = with_room(cells, [Arm(f"r{r * 1000:g}pm".replace(".", "_"), f"{r:.1%} 投毒", (r, lo_t), (r, hi_t))
                                   for r in cfg.ratios])
    asr = grid_runs(exp, cfg, cells, {c for arm in by_ratio.arms + by_trigger.arms for c in (arm.low, arm.high)})
    rising(res, "asr_rises_with_ratio", asr, by_ratio, f"投毒比例从 {lo_r:.1%} 增加到 {hi_r:.0%}",
           "ASR rises with the poisoning ratio, for every trigger size whose low-ratio ASR is below the goal")
    rising(res, "asr_rises_with_trigger", asr, by_trigger, f"触发器边长从 {lo_t} 增加到 {hi_t} 像素",
           "ASR rises with the trigger size, for every poisoning ratio whose small-trigger ASR is below the goal")


def ca_over_runs(exp: Experiment, cfg: Settings, clean_model) -> None:
    """The zoo's backdoor (the setting q04 and q09 use) against the clean model: whether a backdoor costs clean
    accuracy compares two trainings, so the unit is an independent run (each trains both models with its own seed,
    on data drawn with it, and scores them on its own test images); run 0 is the page's pair."""
    res = exp.res
    trigger = backdoor.Trigger(BACKDOOR.trigger)

    def scored(clean, poisoned, x, y) -> dict:
        bd = backdoor.scores(poisoned, x, y, trigger, TARGET)
        clean_ca = metrics.clean_accuracy(clean, x, y)
        return {"clean_ca": clean_ca, "backdoor_ca": bd.ca, "ca_drop": clean_ca - bd.ca, "asr": bd.asr}

    rows = [{"run": 0, "seed": exp.seed,
             **scored(clean_model, exp.model("badnets", "BadNets (zoo)"), exp.x, exp.y)}]
    for r, seed, pair, split in exp.other_runs(cfg.ca_runs, {"clean model": "standard", "BadNets (zoo)": "badnets"}):
        x, y = split.x_test.to(exp.device), split.y_test.to(exp.device)
        rows.append({"run": r, "seed": seed, **scored(pair["clean model"], pair["BadNets (zoo)"], x, y)})
    res.table("ca_runs", f"干净模型与后门模型（{BACKDOOR.ratio:.0%} 投毒，{BACKDOOR.trigger}×{BACKDOOR.trigger} 触发器），"
              f"{len(rows)} 次独立训练（每次用该次的种子生成数据、训练两个模型，在该次的 {len(exp.y)} 张测试图上评估）"
              "(clean vs backdoored model over training runs)", rows,
              note="ca_drop = clean_ca − backdoor_ca（负数即后门模型更高）。比较两种训练，单位是一次独立训练，"
                   "而不是一次训练里的测试图；run 0 是上面网格旁边的那一对。")
    mean = {k: statistics.mean(r[k] for r in rows) for k in ("ca_drop", "asr")}
    res.finding("ca_kept_asr_high", f"后门几乎不花干净准确率：{len(rows)} 次独立训练，后门模型的 CA 平均比干净模型低 "
                f"{mean['ca_drop'] * 100:.1f} 个百分点（各次 " + "、".join(f"{r['ca_drop'] * 100:+.1f}" for r in rows)
                + f"；负数即更高；判定要求低不到 {CA_MARGIN * 100:.0f} 个百分点），而 ASR 平均 {mean['asr']:.0%}（各次 "
                + "、".join(f"{r['asr']:.0%}" for r in rows) + "）：只看 CA 发现不了后门",
                f"a backdoor costs almost no clean accuracy (less than {CA_MARGIN * 100:.0f} points) while its ASR stays "
                f"above {ASR_GOAL:.0%}, over independent trainings: CA alone cannot reveal it",
                mean, f"ca_drop < {CA_MARGIN} and asr > {ASR_GOAL}",
                evidence=ev.over_run_rows(rows, "ca_drop", "asr", null=CA_MARGIN)
                + ev.over_run_rows(rows, "asr", "ca_drop", null=ASR_GOAL),
                null={"ca_drop": 2 * CA_MARGIN}, compares=("clean model", "BadNets (zoo)"))


@dataclass(frozen=True)
class Arm:
    """One row or column of the grid: from its ``low`` cell (ratio, trigger) to its ``high`` one."""

    key: str            # names its values in the evidence (rise_<key>)
    zh: str             # names it in the sentence
    low: tuple[float, int]
    high: tuple[float, int]


def part(scores: backdoor.BackdoorScores, images: slice) -> backdoor.BackdoorScores:
    """``scores`` with only ``images`` of its attacked images (ASR and RA); CA keeps every image."""
    return backdoor.BackdoorScores(scores.clean, scores.attack[images], scores.robust[images])


@dataclass(frozen=True)
class Chosen:
    """The arms a finding tests, out of how many, and how many of them start at the ceiling."""

    arms: list[Arm]
    of: int
    at_ceiling: int

    def which_zh(self) -> str:
        if self.at_ceiling == self.of:
            return "每一档的较小设置都已到顶，全部列出"
        if self.at_ceiling:
            return (f"只看较小设置的 ASR 还没到 {ASR_GOAL:.0%} 的 {self.of - self.at_ceiling} 档（共 {self.of} 档；"
                    "用 run 0 一半的攻击图选档，判定不用这一半）")
        return "每一档都列出"


def with_room(cells, arms: list[Arm]) -> Chosen:
    """The arms whose low cell's ASR is below the goal on the choosing half of run 0's attacked images
    (:data:`~answers.kb.evidence.CHOOSE`; run 0 is then tested on the other half); all of them if none is."""
    roomy = [a for a in arms if part(cells[a.low], ev.CHOOSE).asr < ASR_GOAL]
    return Chosen(roomy or arms, len(arms), len(arms) - len(roomy))


def grid_runs(exp: Experiment, cfg: Settings, cells, needed: set) -> list[dict]:
    """The backdoor scores of the ``needed`` cells in ``cfg.runs`` independent runs: run 0 is the page's grid on the
    deciding half of its attacked images, every other run trains those cells' models with its own seed (its own
    data, poison, initialisation and order) and scores them on all its own test images. Whether ASR rises with a
    knob compares trainings, so a run is the unit."""
    trained = {exp.seed: {c: part(cells[c], ev.DECIDE) for c in needed}}
    for seed in exp.run_seeds(cfg.runs)[1:]:
        trained[seed] = {}
        for ratio, side in sorted(needed):
            model, split = exp.model_of_run(zoo.backdoored(ratio, side), seed,
                                            f"BadNets r={ratio:g} t={side} (seed {seed})")
            x, y = split.x_test.to(exp.device), split.y_test.to(exp.device)
            trained[seed][ratio, side] = backdoor.scores(model, x, y, backdoor.Trigger(side), TARGET)
    return [{"run": r, "seed": seed, "cells": by_cell} for r, (seed, by_cell) in enumerate(trained.items())]


def rising(res: Result, claim_id: str, runs: list[dict], chosen: Chosen, change_zh: str, en: str) -> None:
    """The finding that every chosen arm's ASR rises from its low cell to its high one: one test per arm (Holm),
    each McNemar's over the attacked images of every run stratified by run, every run rising on every arm; the
    runs table shows each run's two ASRs and rise per arm."""
    arms = chosen.arms
    rows = [{"run": r["run"], "seed": r["seed"],
             **{f"{k}_{a.key}": r["cells"][cell].asr for a in arms for k, cell in (("low", a.low), ("high", a.high))},
             **{f"rise_{a.key}": r["cells"][a.high].asr - r["cells"][a.low].asr for a in arms}} for r in runs]
    res.table(f"{claim_id}_runs", f"{change_zh}：各档较小与较大设置的 ASR，{len(rows)} 次独立训练"
              "（run 0 即上面网格的模型，只算选档时没用的那一半攻击图）(ASR per arm over training runs)", rows,
              note="low_X / high_X / rise_X：档 X（tK：触发器 K 像素；rNpm：投毒比例千分之 N）较小设置的 ASR、较大设置的 ASR、"
                   "两者之差。比较的是训练设置，单位是一次独立训练（每次用该次的种子生成数据、投毒、训练）。"
                   "选哪几档只看 run 0 的偶数号攻击图，判定用它的奇数号攻击图和其余各次训练的全部测试图。")
    mean = {a.key: {k: statistics.mean(r[f"{k}_{a.key}"] for r in rows) for k in ("low", "high", "rise")}
            for a in arms}
    res.finding(claim_id, f"{change_zh}，ASR 在每一档都上升（{chosen.which_zh()}；{len(rows)} 次独立训练的平均："
                + "，".join(f"{a.zh} {mean[a.key]['low']:.0%} → {mean[a.key]['high']:.0%}" for a in arms)
                + "；判定要求每一档、每一次训练都上升）",
                en, {f"rise_{a.key}": mean[a.key]["rise"] for a in arms},
                " and ".join(f"rise_{a.key} > 0" for a in arms),
                evidence=ev.per_arm({a.key: ev.mcnemar_over_runs([(r["cells"][a.high].attack, r["cells"][a.low].attack)
                                                                  for r in runs], f"rise_{a.key}",
                                                                 seeds=[r["seed"] for r in runs]) for a in arms}),
                null={f"rise_{a.key}": 0.0 for a in arms})


# ---------------------------------------------------------------- 2. universal patch: size → success, model untouched
def patch_sweep(exp: Experiment, cfg: Settings, model) -> None:
    res = exp.res
    keep = exp.y != TARGET
    x, y = exp.x[keep][:cfg.eval_images], exp.y[keep][:cfg.eval_images]
    tx, ty = exp.split.x_train[:2000].to(exp.device), exp.split.y_train[:2000].to(exp.device)
    before_digest, before_ca = weights_digest(model), metrics.clean_accuracy(model, exp.x, exp.y)
    rows = []
    for size in cfg.patch_sizes:
        patch = P.PatchTrainer(model, size=size, target=TARGET, steps=cfg.patch_steps, batch=32, lr=0.3,
                               seed=exp.seed).fit(tx, ty, False)
        pred = metrics.predict(model, P.apply_patch(x, patch, exp.generator(3)))
        rows.append({"size": size, "area": size ** 2 / x.shape[-1] ** 2, "targeted_success": float((pred == TARGET).float().mean()),
                     "untargeted_success": float((pred != y).float().mean()), "clean_acc": before_ca})
    res.table("patch", f"通用补丁：大小 → 成功率，模型不变（{len(x)} 张非目标类测试图）(universal patch: size vs success)", rows,
              note="clean_acc：不贴补丁时模型的干净准确率——补丁攻击不碰模型，所以每行都一样。")
    res.check("patch_leaves_ca", "补丁攻击不改变模型：训练完所有补丁后，模型权重的摘要与干净准确率都与之前相同",
              "a patch attack leaves the model alone: after training every patch its weights and clean accuracy are unchanged",
              {"digest_before": before_digest, "digest_after": weights_digest(model), "ca_before": before_ca,
               "ca_after": metrics.clean_accuracy(model, exp.x, exp.y)},
              "digest_before == digest_after and ca_before == ca_after")


# ---------------------------------------------------------------- 3. costs: the attacker's and the defender's
def attack_and_defense_costs(exp: Experiment, cfg: Settings, model) -> None:
    res = exp.res
    x, y = exp.x[:cfg.cost_images], exp.y[:cfg.cost_images]
    attacks = {"FGSM": FGSM(model, eps=EPS), f"PGD-{PGD_STEPS}": PGD(model, eps=EPS, alpha=EPS / 4, steps=PGD_STEPS),
               f"patch (per image, {PATCH_STEPS} steps × {PATCH_TRIES} positions)":
                   PatchPGD(model, size=THREAT.patch, steps=PATCH_STEPS, tries=PATCH_TRIES, seed=exp.seed)}
    e = evaluate([undefended(model)], attacks, x, y)
    pgd_key = f"PGD-{PGD_STEPS}"
    # the attacker's cost is compute: single-thread CPU time, each attack once per round, rounds until the
    # per-round ratio PGD ÷ FGSM decides against the finding's bound (or the cap)
    timed = time_rounds({name: (lambda a=a: a(x, y)) for name, a in attacks.items()}
                        | {"inference": lambda: metrics.predict(model, x)},
                        stop=lambda r: ev.rounds_decide(r.ratio(pgd_key, "FGSM", CLOCK), COST_BOUNDS, len(LOOKS)))
    rows = [{"key": name, "攻击 attack": name, "queries_per_image": e.calls["none"][name],
             "ms_per_image": timed.timing(name, CLOCK).median_s * 1e3 / len(x),
             "times_inference": statistics.median(timed.ratio(name, "inference", CLOCK)),
             "accuracy_left": e.accuracy("none", name)} for name in attacks]
    res.table("attack_cost", f"攻击者的代价：每张图的模型查询次数与计算时间（{len(x)} 张图，单线程 CPU 时间，轮流计时 {timed.n} 轮的中位数）"
              "(the attacker's cost per image)", rows,
              note="times_inference：攻击一张图的计算时间是模型识别一张图的多少倍（每轮相除，取中位数）。"
                   "accuracy_left：攻击后模型仍然分对的比例。通用补丁训练一次即可用于所有图片，见上一节。")
    defenses = [undefended(model), preprocessed(model, "jpeg"), preprocessed(model, "median"),
                smoothed(model, THREAT.sigma, cfg.smooth_samples, exp.seed)]
    res.table("defense_cost", "防御者的代价：每张图的推理延迟与模型调用次数 (the defender's latency per image)",
              [{"防御 defense": d.label, **{k: v for k, v in costs.measure(d.classify, d.base, exp.x,
                                                                           repeats=cfg.repeats).to_dict().items()
                                          if k in ("latency_batch_ms", "calls_per_image", "peak_mb")}}
               for d in defenses], note="更多防御的代价（PatchCleanser、对抗训练……）见 q08。")
    pgd = rows[1]
    res.check("queries_counted", f"每种攻击的查询次数是插桩数出来的：PGD-{PGD_STEPS} 每张图恰好 {PGD_STEPS} 次，FGSM 1 次",
              f"queries are counted by instrumentation: PGD-{PGD_STEPS} makes exactly {PGD_STEPS} per image, FGSM one",
              {"pgd": pgd["queries_per_image"], "fgsm": rows[0]["queries_per_image"], "steps": PGD_STEPS},
              "pgd == steps and fgsm == 1")
    per_round = timed.ratio(pgd_key, "FGSM", CLOCK)
    ratio = statistics.median(per_round)
    lo, hi = COST_BOUNDS
    res.finding("attack_cost_varies", f"攻击的代价按步数算：PGD-{PGD_STEPS} 每张图的计算时间是 FGSM 的 {ratio:.1f} 倍"
                f"（{timed.n} 轮计时），与它的 {PGD_STEPS} 次梯度计算相差不到 {ev.ABOUT:g} 倍（{lo:.2g}–{hi:g} 倍之间）；"
                f"（另测：是模型识别一张图的 {pgd['times_inference']:.0f} 倍，未作判定）",
                f"attack costs go by their step count: PGD-{PGD_STEPS} takes about {PGD_STEPS} FGSMs' compute "
                f"per image (within a factor {ev.ABOUT:g} of its {PGD_STEPS} gradient steps)",
                {"pgd_over_fgsm": ratio, "steps": PGD_STEPS},
                f"steps / {ev.ABOUT:g} < pgd_over_fgsm < steps * {ev.ABOUT:g}",
                evidence=ev.paired_rounds("pgd_over_fgsm", per_round, list(COST_BOUNDS), len(LOOKS), clock=CLOCK),
                null={"pgd_over_fgsm": 1.0})
