"""q06 — 耿瀚飞: how many times more does adversarial training cost than normal training?

Reads top-down like its page. Every training method trains the same SmallCNN from scratch through the one trainer
(:func:`answers.lab.train.fit`): natural training, PGD-AT with k steps [@madry2018towards], Free-AT with m replays
[@shafahi2019adversarial], FGSM from a random start and FGSM from the clean image [@wong2020fast]. Each run is
recorded as it trains (:class:`~answers.lab.methods.EpochCurve`: loss, clean and PGD accuracy on held-out images
against wall-clock time) — the curve the TA asks for. Then the cost per minibatch of every method is timed side by
side and set beside its pass count, the methods are compared at one wall-clock budget, the papers' own tables are
quoted, and one vs two processes under ``torchrun`` (DistributedDataParallel) train the natural model.
"""
from __future__ import annotations

import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from .core.source import library_versions
from .experiment import Experiment
from .kb import evidence as ev
from .kb.question import Question
from .kb.result import HEALTHY_TIMES_CHANCE, Result
from .lab import cache, data, distributed, launch, metrics, repair, zoo
from .lab.methods import EpochCurve
from .lab.timing import LOOKS, Rounds, time_rounds
from .lab.train import code_modules, training_method
from .lab.zoo import THREAT

if TYPE_CHECKING:
    from matplotlib.figure import Figure

QUESTION = Question(
    id="q06", slug="adversarial-training-cost", asker="耿瀚飞", section="课后采纳",
    question_zh="防御方现在为了进行 Verification 会在训练过程中加入 Adversarial Data，因此也大大增加了训练成本。"
                "在现在的 Adversarial Training 中，训练成本和同数据集的正常训练相比，会高出多少倍？",
    title_en="What adversarial training really costs", title_zh="对抗训练比正常训练贵多少倍？",
    cites=("shafahi2019adversarial", "wong2020fast", "madry2018towards", "goodfellow2015explaining", "li2020pytorch"),
)


@dataclass(frozen=True)
class Settings:
    """How much each measurement does at a profile (data, epochs and models come from the zoo's scale)."""

    ks: tuple               # PGD-AT steps compared
    ms: tuple               # Free-AT replays compared
    curve_images: int       # held-out images evaluated at every checkpoint of every run
    curve_steps: int        # PGD steps of that evaluation (more than any training attack)
    time_batches: int       # minibatches per timed call of the cost table
    looks: tuple            # round counts at which the interleaved timing may stop (see lab.timing.LOOKS)
    ddp_epochs: int         # epochs of the one- vs two-process runs
    ddp_images: int         # training images of those runs (0: all)
    runs: int               # independent trainings (seeds) of the methods whose robustness is compared
    control: bool = False   # also train a starved Free-AT for 4× the budget (does it learn when given epochs?)


PROFILES = {
    # tiny trains a subset of site's runs with site's curve settings: the same cached models (see zoo's
    # "signs-scratch"), so a test after a site build only times and evaluates
    "tiny": Settings(ks=(7,), ms=(2, 4), curve_images=200, curve_steps=12, time_batches=1, looks=(8,),
                     ddp_epochs=2, ddp_images=1024, runs=3),
    "site": Settings(ks=(3, 7, 10), ms=(2, 4, 8), curve_images=200, curve_steps=12, time_batches=2, looks=LOOKS,
                     ddp_epochs=3, ddp_images=3000, runs=3, control=True),
    "full": Settings(ks=(3, 7, 10), ms=(2, 4, 8), curve_images=1000, curve_steps=50, time_batches=8, looks=LOOKS,
                     ddp_epochs=3, ddp_images=0, runs=3),
}
EPS = THREAT.linf_eps
#: the cost findings are about compute (passes, work per step): CPU time of one timing thread, which a process beside
#: ours cannot stretch the way it stretches wall time (the table shows the wall-time ratios too)
CLOCK = "cpu"
FREE_BOUNDS = (1.0, 1.5)    # Free-AT's total cost: more than natural training's, less than 1.5 times it
COLLAPSE = 0.2              # catastrophic overfitting: PGD accuracy falls this far (or more) below its peak
LARGE_STEP = 2.0            # FGSM-RS's step (× ε) where its authors warn of the collapse; their default is 1.25
CONTROL_STEPS = 4           # the starved Free-AT's control gets this many times natural training's SGD steps


def methods(cfg: Settings) -> dict[str, zoo.Method]:
    """The methods compared, by their keys, in the order of the page's tables."""
    return {m.key: m for m in [zoo.NATURAL, *map(zoo.pgd, cfg.ks), *map(zoo.free, cfg.ms), zoo.FGSM_RS, zoo.FGSM]}


def label(method: str) -> str:
    base, _, step = method.partition("_a")
    if step:
        return f"{label(base)} α={step.replace('_', '.')}ε"
    if method.startswith("pgd"):
        return f"PGD-AT k={method[3:]}"
    if method.startswith("free"):
        return f"Free-AT m={method[4:]}"
    return {"natural": "natural", "fgsm_rs": "FGSM-RS", "fgsm": "FGSM (no random start)"}[method]


def dataset(profile: str) -> zoo.Data:
    """The full profile trains on CIFAR-10 from the user's disk (--data-dir), as the papers did; the others on
    the generated signs."""
    return zoo.CIFAR10 if profile == "full" else zoo.SIGNS_SCRATCH


def run(profile: str = "site", seed: int = 0, device: str = "cpu", progress: bool | None = None) -> Result:
    cfg = PROFILES[profile]
    trains_on = dataset(profile)
    exp = Experiment.start(QUESTION, profile, seed, device, progress, dataset=trains_on,
                           meta={"eps": zoo.PAPER_EPS if trains_on == zoo.CIFAR10 else EPS, "dataset": trains_on.name,
                                 "epochs": zoo.scale(profile).scratch_epochs, "batch": zoo.scale(profile).scratch_batch,
                                 "width": zoo.SCRATCH_WIDTH,
                                 "curve_images": cfg.curve_images, "curve_steps": cfg.curve_steps})
    exp.res.meta["n_train"] = len(exp.split.y_train)
    distributed.init_from_env(device)
    runs: dict[str, Trained] = {}
    costs: dict[str, dict] = {}
    fast_runs: list[Seeded] = []     # FGSM-RS over the runs: compared at one budget, then watched for overfitting
    natural: list[Seeded] = []       # natural training over the runs: the baseline of sections 1 and 3
    return exp.run([("training runs", lambda: runs.update(train_all(exp, cfg, natural))),
                    ("cost per minibatch", lambda: costs.update(cost_table(exp, cfg, runs))),
                    ("equal budget", lambda: fast_runs.extend(equal_budget(exp, cfg, runs, costs, natural))),
                    ("catastrophic overfitting", lambda: catastrophic_overfitting(exp, cfg, runs, fast_runs)),
                    ("the papers' tables", lambda: papers(exp)),
                    ("one vs two processes", lambda: processes(exp, cfg))])


# ---------------------------------------------------------------- 1. every method, recorded as it trains
@dataclass
class Trained:
    recipe: zoo.Recipe
    method: zoo.Method
    model: torch.nn.Module
    curve: EpochCurve

    @property
    def seconds(self) -> float:
        return self.curve.rows[-1]["train_seconds"]

    @property
    def final(self) -> dict:
        return self.curve.rows[-1]


def trained(exp: Experiment, cfg: Settings, method: zoo.Method, epochs: int | None = None,
            seed: int | None = None) -> Trained:
    """``method`` trained from scratch (or from the cache), with its curve on the first held-out images; with
    ``seed``, an independent run: its own data, initialisation and order, its curve on its own held-out images."""
    recipe = zoo.scratch(method, epochs, dataset(exp.profile))
    seed = exp.seed if seed is None else seed
    split = exp.split if seed == exp.seed else zoo.split(exp.profile, seed, dataset(exp.profile))
    x, y = split.x_test[:cfg.curve_images].to(exp.device), split.y_test[:cfg.curve_images].to(exp.device)
    curve = EpochCurve(x, y, exp.res.meta["eps"], cfg.curve_steps, seed)
    model = zoo.model(recipe, exp.profile, seed, exp.device, exp.progress, curve=curve)
    return Trained(recipe, method, model, curve)


def train_all(exp: Experiment, cfg: Settings, natural: list["Seeded"]) -> dict[str, Trained]:
    """Every method trained once (run 0: the page's curves and tables), and natural training in every run into
    ``natural``."""
    res = exp.res
    runs = {key: trained(exp, cfg, m) for key, m in methods(cfg).items()}
    starved = starved_replays(exp.profile, cfg)
    for m, r in runs.items():
        res.model(label(m), metrics.clean_accuracy(r.model, exp.x, exp.y), exp.split.num_classes,
                  weak_finding="free_starves" if m in {f"free{k}" for k in starved} else None)
    rows = [{"key": m, "方法 method": label(m), "epochs": zoo.spec(r.recipe, exp.profile, exp.seed).epochs,
             "checkpoints": len(r.curve.rows), "train_seconds": r.seconds, "final_loss": r.final["loss"],
             "clean_acc": r.final["clean_acc"], "robust_acc": r.final["robust_acc"]} for m, r in runs.items()]
    res.table("runs", f"每种方法从头训练一个小卷积网（{exp.res.meta['n_train']} 张训练图，batch {exp.res.meta['batch']}），训练结束时的结果"
              f"（前 {cfg.curve_images} 张测试图；鲁棒准确率：L∞ PGD-{cfg.curve_steps}，ε = {exp.res.meta['eps'] * 255:.0f}/255）"
              "(every method trained from scratch)", rows,
              note="train_seconds：训练本身的墙钟时间（每个检查点的评估不计入），在训练这些模型的那次运行中测得；"
                   "Free-AT 每个小批量重放 m 次，只训练 1/m 的 epoch 数，所以 SGD 步数与正常训练相同。")
    series = {label(m): r.curve.rows for m, r in runs.items()}
    res.figure("curves", timelines(series, {"robust_acc": f"PGD-{cfg.curve_steps} accuracy", "clean_acc": "clean accuracy",
                                            "loss": "training loss"},
                                   "Every method from scratch: accuracy and loss against training time"))
    natural.extend(seeded(exp, cfg, runs, zoo.NATURAL))
    _starved_claim(exp, cfg, runs, natural)
    return runs


def starved_replays(profile: str, cfg: Settings) -> list[int]:
    """The replay counts m at which Free-AT, dividing the epochs by m, shows each training image at most twice."""
    return [m for m in cfg.ms if zoo.scale(profile).scratch_epochs / m <= 2]


def _starved_claim(exp: Experiment, cfg: Settings, runs: dict[str, "Trained"], natural: list["Seeded"]) -> None:
    """Whether Free-AT learns at all within natural training's SGD steps is a property of the training procedure,
    so it is decided over the independent runs, one test per arm: each starved m (below half accuracy) and natural
    training (above 80%), every run holding on every arm."""
    starved = starved_replays(exp.profile, cfg)
    if not starved:
        return
    res = exp.res
    free = {k: seeded(exp, cfg, runs, zoo.free(k), weak="free_starves") for k in starved}
    rows = [{"run": n.run, "seed": n.seed, "natural": n.clean, **{f"free{k}": free[k][n.run].clean for k in starved}}
            for n in natural]
    epochs = zoo.scale(exp.profile).scratch_epochs
    replayed = {k: zoo.spec(runs[f"free{k}"].recipe, exp.profile, exp.seed).epochs for k in starved}
    res.table("starved_runs", f"同样多的 SGD 步（{epochs} 个正常 epoch）：正常训练与 Free-AT m = "
              + "、".join(map(str, starved)) + f" 的干净准确率，{len(rows)} 次独立训练（每次该次的全部测试图；run 0 即第 1 节）"
              "(natural training vs starved Free-AT, clean accuracy over seeds)", rows,
              note="Free-AT m 把 epoch 数除以 m（" + "、".join(f"m = {k}：{e} 个 epoch" for k, e in replayed.items())
                   + "），每个小批量连着重放 m 次，所以 SGD 步数与正常训练相同。")
    arms = {f"free{k}": ev.over_run_rows(rows, f"free{k}", null=0.5) for k in starved}
    arms["natural"] = ev.over_run_rows(rows, "natural", null=0.8)
    mean = {key: statistics.mean(r[key] for r in rows) for key in arms}
    res.finding("free_starves",
                f"同样多的 SGD 步（{epochs} 个正常 epoch）里，Free-AT m = {'、'.join(map(str, starved))} 只训练 "
                + "、".join(str(e) for e in replayed.values())
                + f" 个 epoch（每张训练图只在这几个 epoch 里出现，每次连着重放 m 次），{len(rows)} 次独立训练里每次都没有学会，干净准确率："
                + "；".join(f"m = {k} 各次 " + "、".join(f"{r[f'free{k}']:.0%}" for r in rows) for k in starved)
                + "（正常训练各次 " + "、".join(f"{r['natural']:.0%}" for r in rows) + "）",
                f"with natural training's budget of SGD steps, Free-AT with m = {starved} (at most 2 epochs) stays "
                "below half accuracy while natural training exceeds 80%, in every independent training",
                mean, " and ".join(f"free{k} < 0.5" for k in starved) + " and natural > 0.8",
                evidence=ev.per_arm(arms), null={**{f"free{k}": 0.5 for k in starved}, "natural": 0.8})
    if not cfg.control:
        return
    # the control: the same starved method, the same learning rate, CONTROL_STEPS times the steps, in each run
    k = starved[0]
    longer = seeded(exp, cfg, runs, zoo.free(k), CONTROL_STEPS * epochs)
    control = [{"run": b.run, "seed": b.seed, "budget": b.clean, "longer": g.clean, "gain": g.clean - b.clean,
                "longer_robust": g.trained.final["robust_acc"]} for b, g in zip(free[k], longer, strict=True)]
    res.meta["free_control"] = {"m": k, "budget_epochs": CONTROL_STEPS * epochs, "rows": longer[0].trained.curve.rows,
                                "epochs": zoo.spec(longer[0].trained.recipe, exp.profile, exp.seed).epochs}
    res.table("free_control_runs", f"对照：Free-AT m = {k}，学习率不变，SGD 步数为正常训练的 {CONTROL_STEPS} 倍（{CONTROL_STEPS * epochs} 个正常 epoch 的"
              f"步数），{len(control)} 次独立训练 (Free-AT m = {k} given {CONTROL_STEPS}× the steps, over seeds)", control,
              note=f"budget：同一次训练里只有正常训练步数的 Free-AT m = {k}（上表）；gain = longer − budget；"
                   f"longer_robust：前 {cfg.curve_images} 张测试图上的 PGD-{cfg.curve_steps} 准确率。")
    mean = {key: statistics.mean(r[key] for r in control) for key in ("longer", "budget", "gain", "longer_robust")}
    res.finding("free_learns_given_epochs",
                f"给 Free-AT m = {k} {CONTROL_STEPS} 倍的 SGD 步（{res.meta['free_control']['epochs']} 个 epoch，学习率不变），{len(control)} 次独立训练"
                f"里每次都学会了：干净准确率各次 " + "、".join(f"{r['longer']:.0%}" for r in control)
                + "（只有正常训练的步数时各次 " + "、".join(f"{r['budget']:.0%}" for r in control)
                + f"），PGD 下平均 {mean['longer_robust']:.0%}——缺的是训练轮数；给够轮数，它的总时间也就不再和正常训练一样",
                f"Free-AT m = {k} learns when given {CONTROL_STEPS}× natural training's steps (same learning rate), in every "
                "independent training",
                {"longer": mean["longer"], "gain": mean["gain"]}, "longer >= 0.5 and gain > 0",
                # whether each run learned is read on its own test images (a stratified binomial test, every run
                # above ½): a t-test over three runs cannot tell 63% from 50% when the others reach 92%
                evidence=ev.mcnemar_over_runs([(g.correct, b.correct) for g, b in zip(longer, free[k])], "gain",
                                              seeds=[r["seed"] for r in control])
                + ev.binomial_over_runs([int(g.correct.sum()) for g in longer], [len(g.correct) for g in longer], 0.5,
                                        "longer"),
                null={"longer": 0.5, "gain": 0.0})


# ---------------------------------------------------------------- 2. cost per minibatch, side by side
def cost_table(exp: Experiment, cfg: Settings, runs: dict[str, Trained]) -> dict[str, dict]:
    """Each method's minibatch update timed in turn, round after round, on the same images and a copy of the
    same weights; the ratio to natural training's update is the cost of one epoch relative to a natural one."""
    res, split = exp.res, exp.split
    g = exp.generator(6)
    batch = exp.res.meta["batch"]
    idx = torch.randperm(len(split.y_train), generator=g)[:batch * cfg.time_batches]
    xs, ys = split.x_train[idx].to(exp.device), split.y_train[idx].to(exp.device)
    start = runs["natural"].model

    def job(method: str):
        model = repair.copy_model(start).train()
        how = training_method(zoo.spec(runs[method].recipe, exp.profile, exp.seed))
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

        def update() -> None:
            for i in range(0, len(xs), batch):
                how.update(model, opt, opt.step, xs[i:i + batch], ys[i:i + batch])
        return update, how.passes

    jobs = {m: job(m) for m in runs}
    free = min(cfg.ms)   # the Free-AT that learns within the budget (the cost does not depend on it)
    scale = (zoo.spec(runs[f"free{free}"].recipe, exp.profile, exp.seed).epochs
             / zoo.spec(runs["natural"].recipe, exp.profile, exp.seed).epochs)

    def statistics_per_round(r: Rounds) -> tuple[list[float], list[float]]:
        """c of PGD-k = 1 + c·k fitted in each round, and Free-AT's total cost ÷ natural's in each round."""
        ratio = {m: r.ratio(m, "natural", CLOCK) for m in jobs}
        c = [_step_cost({k: ratio[f"pgd{k}"][i] for k in cfg.ks}) for i in range(r.n)]
        return c, [x * scale for x in ratio[f"free{free}"]]

    def settled(r: Rounds) -> bool:
        c, total = statistics_per_round(r)
        return ev.rounds_decide(c, [1.0], len(cfg.looks)) and ev.rounds_decide(total, FREE_BOUNDS, len(cfg.looks))

    # each round times every method once, in turn: a method's time ÷ natural's in the same round cancels the load
    rounds = time_rounds({m: fn for m, (fn, _) in jobs.items()}, stop=settled, looks=cfg.looks, warmup=1)
    ratios = {m: rounds.ratio(m, "natural", CLOCK) for m in jobs}
    wall = {m: rounds.ratio(m, "natural", "wall") for m in jobs}
    epochs_natural = zoo.spec(runs["natural"].recipe, exp.profile, exp.seed).epochs
    rows = []
    for m, (_, passes) in jobs.items():
        epochs = zoo.spec(runs[m].recipe, exp.profile, exp.seed).epochs
        ratio = statistics.median(ratios[m])
        rows.append({"key": m, "方法 method": label(m), "passes_per_minibatch": passes, "ratio_per_epoch": ratio,
                     "measured_vs_passes": ratio / passes, "wall_ratio_per_epoch": statistics.median(wall[m]),
                     "epochs": epochs, "total_passes_vs_natural": passes * epochs / epochs_natural,
                     "total_ratio": ratio * epochs / epochs_natural,
                     "run_seconds_ratio": runs[m].seconds / runs["natural"].seconds})
    res.meta["cost_rounds"] = rounds.n
    res.table("costs", f"每个 epoch 的代价，相对正常训练（同样的 {len(xs)} 张图、同一份权重的副本；单线程轮流计时 {rounds.n} 轮，"
              "每轮与同一轮的正常训练相除，取中位数）"
              "与前向+反向次数的上限 (cost per epoch vs the pass count)", rows,
              note="passes_per_minibatch：每个小批量的前向+反向次数（PGD-k：k 次求输入梯度 + 1 次训练；FGSM：2；Free-m：m）；"
                   "ratio_per_epoch：实测每个 epoch 的 CPU 时间 ÷ 正常训练（计算量之比：单线程计时，机器上别的进程拉长的是墙钟时间，"
                   "不是这个线程的 CPU 时间）；wall_ratio_per_epoch：同样几轮的墙钟时间之比；measured_vs_passes：实测 ÷ 次数；"
                   "total_ratio：乘上各自的 epoch 数，整个训练相对正常训练；run_seconds_ratio：训练曲线那次运行里实际的总耗时之比。"
                   f"计时轮数：每到 {'、'.join(map(str, cfg.looks))} 轮看一次，两条代价结论都判定了就停。")
    c_rounds, free_rounds = statistics_per_round(rounds)
    _cost_claims(res, cfg, rows, c_rounds, free, free_rounds)
    return {r["key"]: r for r in rows}


def _step_cost(ratios: dict[int, float]) -> float:
    """c in ratio(k) = 1 + c·k, least squares through the natural point (k = 0, ratio 1)."""
    return sum(k * (r - 1) for k, r in ratios.items()) / sum(k * k for k in ratios)


def _cost_claims(res: Result, cfg: Settings, rows: list[dict], c_rounds: list[float], free: int,
                 free_rounds: list[float]) -> None:
    """The cost findings, each decided on its per-round values (a sign test against the rule's bounds and an
    interval for their median; the value shown is their median)."""
    by = {r["key"]: r for r in rows}
    ratio = {k: by[f"pgd{k}"]["ratio_per_epoch"] for k in cfg.ks}
    c = statistics.median(c_rounds)
    res.finding("pgd_step_cheaper_than_training_step",
                f"按计算量（单线程 CPU 时间）算，PGD-k 每个 epoch 的代价约为 1 + {c:.2f}·k 倍正常 epoch（"
                + "，".join(f"k={k}：{r:.1f} 倍" for k, r in ratio.items())
                + f"；{len(c_rounds)} 轮计时），低于前向+反向次数给出的 k+1 倍。"
                "（解释，未单独测量：攻击的每一步只求对输入的梯度，不算权重梯度、不更新参数。）",
                "in compute (single-thread CPU time), PGD-k costs 1 + c·k natural epochs with c < 1: an attack step "
                "is cheaper than a training step",
                {"c": c}, "c < 1",
                evidence=ev.paired_rounds("c", c_rounds, [1.0], len(cfg.looks), clock=CLOCK), null={"c": 1.0})
    total = statistics.median(free_rounds)
    lo, hi = FREE_BOUNDS
    res.finding("free_close_to_natural",
                f"按计算量（单线程 CPU 时间）算，Free-AT（m={free}）整个训练是正常训练的 {total:.2f} 倍（{len(free_rounds)} 轮计时）："
                f"比正常训练贵，但不到 {hi:g} 倍（PGD-{max(cfg.ks)} 是 {by[f'pgd{max(cfg.ks)}']['total_ratio']:.1f} 倍）——"
                "每个小批量重放 m 次、只训练 1/m 的 epoch，前向+反向的总次数与正常训练相同。"
                "（解释，未单独测量：多出来的部分来自每次都把梯度一直传回输入、再更新扰动。）",
                f"in compute, Free-AT (m={free}) costs more than natural training in total, but less than {hi:g} times as much",
                {"ratio": total}, f"{lo:g} < ratio < {hi:g}",
                evidence=ev.paired_rounds("ratio", free_rounds, list(FREE_BOUNDS), len(cfg.looks), clock=CLOCK),
                null={"ratio": 1.0})


# ---------------------------------------------------------------- 3. one budget for every method
def at_budget(curve: EpochCurve, epochs: float) -> int | None:
    """Index of the last checkpoint a run reached within ``epochs`` epochs of its training (None: not one)."""
    inside = [i for i, r in enumerate(curve.rows) if r["epoch"] <= epochs]
    return inside[-1] if inside else None


def equal_budget(exp: Experiment, cfg: Settings, runs: dict[str, Trained], costs: dict[str, dict],
                 natural: list["Seeded"]) -> list["Seeded"]:
    """Every method read at FGSM-RS's budget. The budget is counted in natural epochs with the side-by-side cost
    ratios (not with the recorded run times, which come from runs made one after another), so each method's
    place in it is its epochs = budget / its cost per epoch, read off its curve at the last checkpoint before."""
    res = exp.res
    k = 7 if 7 in cfg.ks else max(cfg.ks)
    fast, pgd = "fgsm_rs", f"pgd{k}"
    natural_epochs = costs["natural"]["epochs"]
    budget = costs[fast]["total_ratio"] * natural_epochs          # in natural epochs
    seconds_per_natural_epoch = runs["natural"].seconds / natural_epochs
    rows, at = [], {}
    for m, r in runs.items():
        reach = budget / costs[m]["ratio_per_epoch"]               # epochs of this method within the budget
        at[m] = i = at_budget(r.curve, reach + 1e-9)
        row = r.curve.rows[i] if i is not None else None
        rows.append({"key": m, "方法 method": label(m), "epochs_in_budget": reach,
                     "epochs_done": row["epoch"] if row else 0.0,
                     "clean_acc": row["clean_acc"] if row else None, "robust_acc": row["robust_acc"] if row else None})
    res.table("budget", f"同样的预算（FGSM-RS 整个训练的代价 = {budget:.1f} 个正常 epoch，约 {budget * seconds_per_natural_epoch:.0f} 秒）"
              "内，每种方法最后一个检查点的准确率 (accuracy at one budget)", rows,
              note="epochs_in_budget：预算 ÷ 该方法每个 epoch 的实测代价（第 2 节的表）；epochs_done：此前最后一个检查点。"
                   "更贵的训练在预算处被截断：学习率计划也还没走完。空格：预算内一个检查点也没到。")
    res.figure("budget_curves", timelines({label(m): runs[m].curve.rows for m in runs},
                                          {"robust_acc": f"PGD-{cfg.curve_steps} accuracy"},
                                          "The budget of FGSM-RS (dotted, its recorded time)",
                                          budget=runs[fast].seconds))
    fast_runs = seeded(exp, cfg, runs, runs[fast].method)
    short = budget_runs(exp, cfg, runs, fast_runs, k)
    res.table("budget_runs", f"同样多的前向+反向次数：FGSM-RS 与按这个预算排好完整学习率计划、从头训练的 PGD-{k}，"
              f"{len(short)} 次独立训练（每次 {cfg.curve_images} 张该次的测试图；run 0 的 FGSM-RS 即第 1 节）"
              f"(FGSM-RS vs PGD-{k} with a complete schedule at the same passes, over seeds)", short,
              note="passes：整个训练的前向+反向次数（每个小批量的次数 × epoch 数，相对一个正常 epoch）；difference：FGSM-RS 减 PGD；"
                   "*_clean：该次测试集上的干净准确率（*_correct / test_images：分对的张数与总数）。比较两种训练，单位是一次独立训练。")
    mean = {key: statistics.mean(r[key] for r in short) for key in ("fgsm_rs_clean", "pgd_clean")}
    bar = HEALTHY_TIMES_CHANCE / exp.split.num_classes
    pgd_epochs = short[0]["pgd_epochs"]
    # a model that did not learn to classify cannot carry a comparison of robustness: what this budget decides is
    # whether each method learns at all in it, one test per method over the runs
    res.finding("pgd_starves_at_fast_budget",
                f"同样多的前向+反向次数（FGSM-RS 整个训练 {short[0]['passes']} 个正常 epoch 的次数），PGD-{k} 只够走 {pgd_epochs} "
                f"个 epoch；即使学习率计划按这个预算完整排好、从头训练，{len(short)} 次独立训练里它每次都没学会分类：干净准确率各次 "
                + "、".join(f"{r['pgd_clean']:.0%}" for r in short) + f"（不到机会水平的 {HEALTHY_TIMES_CHANCE} 倍），而 FGSM-RS 各次 "
                + "、".join(f"{r['fgsm_rs_clean']:.0%}" for r in short) + "——在这个预算下，两者之中只有 FGSM-RS 学得会",
                f"at FGSM-RS's number of passes, PGD-{k} trained from scratch with a complete schedule for that budget stays "
                f"below {HEALTHY_TIMES_CHANCE}x chance clean accuracy while FGSM-RS exceeds it, in every independent training",
                {"pgd_clean": mean["pgd_clean"], "fgsm_rs_clean": mean["fgsm_rs_clean"]},
                f"pgd_clean < {bar:g} and fgsm_rs_clean > {bar:g}",
                evidence=ev.per_arm({f"PGD-{k}": _learned_over_runs(short, "pgd", bar),
                                     "FGSM-RS": _learned_over_runs(short, "fgsm_rs", bar)}),
                null={"pgd_clean": bar, "fgsm_rs_clean": bar})

    pgd_runs = seeded(exp, cfg, runs, runs[pgd].method, weak="scratch_training_unreliable")
    # FGSM-RS against PGD-k, each trained to the end: a table, not a finding — PGD-k from scratch does not learn in
    # every run at this budget, and a run that did not learn cannot carry a comparison of robustness, so the runs
    # left are too few to decide (scratch_training_unreliable states the failures)
    compared(exp, cfg, fast_runs, pgd_runs)
    free = f"free{min(cfg.ms)}"
    free_seeded = seeded(exp, cfg, runs, runs[free].method, weak="scratch_training_unreliable")
    # Free-AT against PGD-k trained to the end: a table too, for the same reason (too few runs learned both)
    all_runs = compared(exp, cfg, free_seeded, pgd_runs)
    failed = [r for r in all_runs if not r["learned"]]
    candidates = [m for pair in zip(free_seeded, pgd_runs) for m in pair]
    weakest = min(candidates, key=lambda m: m.clean)
    res.finding("scratch_training_unreliable",
                f"在这个预算下（{zoo.scale(exp.profile).scratch_epochs} 个正常 epoch 的步数），从头训练的 {label(free)} 与 PGD-{k} "
                f"并不每次都学得会：{len(all_runs)} 个种子里有 {len(failed)} 个种子至少一个模型的干净准确率不到一半（"
                + "；".join(f"种子 {r['seed']}：{r[f'{free}_clean']:.0%} 与 {r[f'{pgd}_clean']:.0%}" for r in all_runs)
                + "）——本页第 1 节的曲线只是其中一个种子",
                f"at this budget, {label(free)} and PGD-{k} trained from scratch do not learn reliably: with at least one "
                f"of {len(all_runs)} seeds one of them stays below half clean accuracy",
                {"weakest_clean": weakest.clean, "failed_share": len(failed) / len(all_runs)}, "weakest_clean < 0.5",
                # "not every time" is decided by the weakest model of all the runs, its accuracy on its run's own
                # test images below one half; false when even the weakest is decided above it. It is picked out of
                # every model of the runs: its interval is taken at α / models on the side tested (ev.picked_of)
                evidence=ev.proportion(int(weakest.correct.sum()), len(weakest.correct), "weakest_clean",
                                       confidence=ev.picked_of(len(candidates))),
                null={"weakest_clean": 0.5})
    natural_below(exp, cfg, runs, natural, [fast_runs, free_seeded, pgd_runs])
    return fast_runs


@dataclass
class Seeded:
    """One independent run of a method: its index, seed, model with its curve, and which of the run's own test
    images it classifies correctly."""

    run: int
    seed: int
    trained: Trained
    correct: torch.Tensor

    @property
    def clean(self) -> float:
        return float(self.correct.float().mean())


def seeded(exp: Experiment, cfg: Settings, runs: dict[str, Trained], method: zoo.Method, epochs: int | None = None,
           weak: str | None = None) -> list[Seeded]:
    """``method`` (for ``epochs`` instead of the scale's) trained in each of ``cfg.runs`` independent runs, each
    with its own seed — its own data, initialisation and order — and read on its own held-out images. Run 0 is
    section 1's model where that is the same recipe. Every other model is recorded with its clean accuracy;
    ``weak`` names the finding whose subject is a model of this method that did not learn."""
    out = []
    for r, seed in enumerate(exp.run_seeds(cfg.runs)):
        first = r == 0 and epochs is None and method.key in runs
        t = runs[method.key] if first else trained(exp, cfg, method, epochs, seed=seed)
        split = exp.split if r == 0 else zoo.split(exp.profile, seed, dataset(exp.profile))
        run = Seeded(r, seed, t, metrics.predict(t.model, split.x_test.to(exp.device)) == split.y_test.to(exp.device))
        if not first:
            bar = HEALTHY_TIMES_CHANCE / split.num_classes
            unit = "natural epochs of steps" if "replays" in method.fields() else "epochs"   # Free-AT divides by m
            name = label(method.key) + (f", {epochs} {unit}" if epochs is not None else "")
            exp.res.model(f"{name} (seed {seed})", run.clean, split.num_classes,
                          weak_finding=weak if run.clean < bar else None)
        out.append(run)
    return out


def compared(exp: Experiment, cfg: Settings, a: list[Seeded], b: list[Seeded]) -> list[dict]:
    """Final PGD accuracy of two methods' runs side by side (the same seeds), in a table: a pair where either
    model stays below the health bar (5× chance) did not learn and cannot carry a comparison of robustness."""
    bar = HEALTHY_TIMES_CHANCE / exp.split.num_classes
    ka, kb = a[0].trained.method.key, b[0].trained.method.key
    rows = [{"run": x.run, "seed": x.seed, ka: x.trained.final["robust_acc"], kb: y.trained.final["robust_acc"],
             "difference": x.trained.final["robust_acc"] - y.trained.final["robust_acc"],
             f"{ka}_clean": x.clean, f"{kb}_clean": y.clean, "learned": x.clean >= bar and y.clean >= bar}
            for x, y in zip(a, b, strict=True)]
    exp.res.table(f"runs_{ka}_vs_{kb}", f"{label(ka)} 与 {label(kb)} 训练完的 PGD 准确率，{len(rows)} 次独立训练（每次 "
                  f"{cfg.curve_images} 张该次的测试图；run 0 即第 1 节）({label(ka)} vs {label(kb)} over seeds)", rows,
                  note="difference：前者减后者。比较两种训练方法，单位是一次独立训练，而不是一次训练里的测试图。"
                       f"learned = 否：两个模型里有一个干净准确率不到 {HEALTHY_TIMES_CHANCE} 倍机会水平（没学会）；"
                       "比较鲁棒性只用两个都学会了的一对。")
    return rows


def natural_below(exp: Experiment, cfg: Settings, runs: dict[str, Trained], natural: list[Seeded],
                  adversarial: list[list[Seeded]]) -> None:
    """Clean accuracy (whole test split of each run) of natural training against the best of the adversarial
    methods trained in every run: whether adversarial training pays in clean accuracy compares trainings, so the
    test is stratified by run (McNemar on each run's own images, every run pointing the same way); section 1's
    other methods, trained once, are named beside it."""
    res = exp.res
    rows, pairs = [], []
    for i, n in enumerate(natural):
        best = max((m[i] for m in adversarial), key=lambda s: s.clean)
        pairs.append((n.correct, best.correct))
        rows.append({"run": n.run, "seed": n.seed, "natural": n.clean, "best_method": label(best.trained.method.key),
                     "best": best.clean, "gap": n.clean - best.clean})
    res.table("clean_runs", f"正常训练与对抗训练的干净准确率，{len(rows)} 次独立训练（每次该次的全部测试图）"
              "(natural vs the best adversarial method, clean accuracy over seeds)", rows,
              note="best：每一次训练里，" + "、".join(label(m[0].trained.method.key) for m in adversarial)
                   + " 中干净准确率最高的；gap = natural − best。")
    clean = {m: metrics.clean_accuracy(r.model, exp.x, exp.y) for m, r in runs.items()}
    first = max((m for m in runs if m != "natural"), key=clean.__getitem__)
    mean = statistics.mean(r["gap"] for r in rows)
    res.finding("none_matches_natural",
                f"对抗训练达不到正常训练的干净准确率：{len(rows)} 次独立训练里，"
                + "、".join(label(m[0].trained.method.key) for m in adversarial)
                + f" 中最高的一个每次都比正常训练低（平均低 {mean * 100:.1f} 个百分点，各次 "
                + "、".join(f"{r['gap'] * 100:.1f}" for r in rows) + f"）；第 1 节那一次训练的 {len(runs) - 1} 种对抗训练里"
                f"最高的 {label(first)} 是 {clean[first]:.1%}（正常训练 {clean['natural']:.1%}）（推论，未另作判定：在同样的训练预算里它们没有 "
                "到达正常训练的准确率，所以“和正常训练一样快”说的是每个 epoch 的耗时，不是到同样准确率的时间）",
                "adversarial training does not reach natural training's clean accuracy: in every independent training the "
                "best of the methods trained in every run ends below natural training",
                {"gap": mean}, "gap > 0", evidence=ev.mcnemar_over_runs(pairs, "gap", seeds=[r["seed"] for r in rows]),
                null={"gap": 0.0})


def _learned_over_runs(rows: list[dict], method: str, bar: float) -> ev.Evidence:
    """Whether ``method``'s model learned to classify (clean accuracy against ``bar``) in each run of ``rows``, each
    read on its run's own test images: a binomial test stratified by run, every run on the same side of the bar."""
    return ev.binomial_over_runs([r[f"{method}_correct"] for r in rows], [r["test_images"] for r in rows], bar,
                                 f"{method}_clean", seeds=[r["seed"] for r in rows])


def budget_runs(exp: Experiment, cfg: Settings, runs: dict[str, Trained], fast_runs: list[Seeded], k: int) -> list[dict]:
    """FGSM-RS's runs against PGD-k trained from scratch for the epochs that FGSM-RS's passes pay for — a complete
    learning-rate schedule sized to that budget, not a longer run cut short — in the same runs."""
    spec = zoo.spec(fast_runs[0].trained.recipe, exp.profile, exp.seed)
    passes = training_method(spec).passes * spec.epochs
    pgd_epochs = max(1, passes // (k + 1))
    pgd_runs = seeded(exp, cfg, runs, zoo.pgd(k), pgd_epochs, weak="pgd_starves_at_fast_budget")
    return [{"run": f.run, "seed": f.seed, "fgsm_rs_epochs": spec.epochs, "pgd_epochs": pgd_epochs,
             "passes": passes, "pgd_passes": pgd_epochs * (k + 1), "fgsm_rs": f.trained.final["robust_acc"],
             "pgd": p.trained.final["robust_acc"], "difference": f.trained.final["robust_acc"] - p.trained.final["robust_acc"],
             "fgsm_rs_clean": f.clean, "pgd_clean": p.clean, "fgsm_rs_correct": int(f.correct.sum()),
             "pgd_correct": int(p.correct.sum()), "test_images": len(f.correct)}
            for f, p in zip(fast_runs, pgd_runs, strict=True)]


# ---------------------------------------------------------------- 4. FGSM without its random start
def robust_peak(curve: EpochCurve) -> tuple[int, float, float]:
    """The checkpoint where a run's PGD accuracy peaked, that peak, and the accuracy at its end."""
    accs = [r["robust_acc"] for r in curve.rows]
    peak = max(range(len(accs)), key=accs.__getitem__)
    return peak, accs[peak], accs[-1]


def catastrophic_overfitting(exp: Experiment, cfg: Settings, runs: dict[str, Trained], fast_runs: list[Seeded]) -> None:
    """FGSM with and without its random start as section 1 trained them (a table), then FGSM-RS with the step
    its authors warn against, over the runs beside FGSM-RS's own step: where the papers see the collapse."""
    res = exp.res
    rows = []
    for m in ("fgsm", "fgsm_rs"):
        peak, top, final = robust_peak(runs[m].curve)
        rows.append({"key": m, "方法 method": label(m), "peak_robust_acc": top,
                     "peak_epoch": runs[m].curve.rows[peak]["epoch"], "final_robust_acc": final,
                     "drop": top - final, "final_clean_acc": runs[m].final["clean_acc"]})
    res.table("overfitting", "FGSM 对抗训练有没有“灾难性过拟合”（PGD 准确率在训练中途崩到接近 0）"
              "(catastrophic overfitting)", rows)
    res.meta["fgsm_random_start"] = {"McNemar_p": ev.mcnemar(runs["fgsm_rs"].curve.robust[-1],
                                                             runs["fgsm"].curve.robust[-1]).tests["McNemar"]}
    large_runs = seeded(exp, cfg, runs, zoo.Method("fgsm_rs", step=LARGE_STEP))
    table = []
    for f, g in zip(fast_runs, large_runs, strict=True):
        row = {"run": f.run, "seed": f.seed}
        for name, t in (("default", f.trained), ("large", g.trained)):
            _, row[f"peak_{name}"], row[f"final_{name}"] = robust_peak(t.curve)
            row[f"drop_{name}"] = row[f"peak_{name}"] - row[f"final_{name}"]
        table.append({**row, "loss": row["final_default"] - row["final_large"], "clean_large": g.clean})
    default = training_method(zoo.spec(fast_runs[0].trained.recipe, exp.profile, exp.seed))
    steps = res.meta["fgsm_rs_steps"] = {"default": default.alpha / default.eps, "large": LARGE_STEP}   # × ε
    res.table("overfitting_runs", f"FGSM-RS 的步长：默认 α = {steps['default']:g}ε 与 α = {steps['large']:g}ε，{len(table)} 次独立训练（各 "
              f"{zoo.scale(exp.profile).scratch_epochs} 个 epoch）里 PGD 准确率的最高点、最后一点与回落"
              f"(FGSM-RS at two step sizes over seeds: peak, final and drop of PGD accuracy)", table,
              note="drop = peak − final：训练中最高的 PGD 准确率减去训练完时的；loss = final_default − final_large：同一种子下"
                   "大步长比默认步长训练完时低多少。灾难性过拟合会让 PGD 准确率在几个 epoch 内掉到接近 0，两者都接近最高点本身；"
                   f"判定线都是 {COLLAPSE * 100:.0f} 个百分点。")
    mean = {k: statistics.mean(r[k] for r in table) for k in ("drop_large", "final_large", "final_default", "loss")}
    # a collapse shows twice: the large step's run falls from its own peak, and it ends far below the default step's
    # run of the same seed; the test is on the second (paired by seed, it varies less than either run alone)
    res.finding("large_step_does_not_collapse",
                f"把 FGSM-RS 的步长加大到 α = {LARGE_STEP:g}ε（Wong 等人的代码仓库把“步长过大”列为灾难性过拟合的诱因），"
                f"在这个规模上（ε = {res.meta['eps'] * 255:.0f}/255、{zoo.scale(exp.profile).scratch_epochs} 个 epoch）"
                f"{len(table)} 次独立训练都没有崩：训练完的 PGD 准确率平均 {mean['final_large']:.0%}（默认步长 "
                f"{mean['final_default']:.0%}；同一种子下各次差 " + "、".join(f"{r['loss'] * 100:+.0f}" for r in table)
                + f" 个百分点），比自己的最高点平均只低 {mean['drop_large'] * 100:.1f} 个百分点；判定线都是 {COLLAPSE * 100:.0f} 个百分点",
                f"FGSM-RS with its step raised to {LARGE_STEP:g}ε does not collapse at this scale: in every independent "
                f"training its final PGD accuracy is less than {COLLAPSE * 100:.0f} points below its own peak and below "
                "the default step's run of the same seed",
                {"loss": mean["loss"], "drop_large": mean["drop_large"]}, f"loss < {COLLAPSE} and drop_large < {COLLAPSE}",
                evidence=ev.over_run_rows(table, "loss", "drop_large", null=COLLAPSE),
                null={"loss": mean["final_default"]})


# ---------------------------------------------------------------- 5. what the papers report (quoted, not measured)
#: Shafahi et al. 2019, CIFAR-10, WideResNet 32-10, L∞ ε = 8/255: accuracy (%) on natural images and under
#: 10-restart PGD-20, training time in minutes — the numbers of the authors' repository (free_adv_train README,
#: "CIFAR-10 WRN 32-10 (L-inf epsilon=8)"); the PGD-7 model is Madry et al.'s public one.
FREE_AT_TABLE = (
    ("natural", 95.01, 0.00, 780), ("Free m=2", 91.45, 33.41, 816), ("Free m=4", 87.83, 40.73, 800),
    ("Free m=8", 85.96, 46.33, 785), ("Free m=10", 83.94, 45.94, 785), ("PGD-7 (Madry)", 87.25, 45.53, 5418),
)
#: Wong et al. 2020, CIFAR-10, ε = 8/255, their repository's README table (clean %, PGD %, minutes): FGSM-RS is their
#: PreAct ResNet-18 with their speed-ups, the Free row is Shafahi et al.'s WideResNet number, and PGD's 4966 minutes
#: (≈ 3.5 days) match the README's "reducing training time by about 3.5 days to just over 1 hour" — un-accelerated.
FAST_TABLE = (("FGSM-RS", 86.06, 46.06, 12), ("Free m=8", 85.96, 46.33, 785), ("PGD", 87.30, 45.80, 4966))


def papers(exp: Experiment) -> None:
    res = exp.res
    rows = [{"source": "Shafahi et al. 2019 [@shafahi2019adversarial]（作者仓库）", "method": m, "clean_pct": c, "pgd_pct": p,
             "minutes": t, "vs_natural": t / FREE_AT_TABLE[0][3]} for m, c, p, t in FREE_AT_TABLE]
    rows += [{"source": "Wong et al. 2020 [@wong2020fast]（作者仓库）", "method": m, "clean_pct": c, "pgd_pct": p, "minutes": t,
              "vs_natural": None} for m, c, p, t in FAST_TABLE]
    res.table("papers", "两篇论文的作者报告的训练时间（CIFAR-10，ε = 8/255；引用，不是本页测量）(the authors' own times, quoted)", rows,
              note="数字取自两篇论文作者的官方代码仓库的 README（free_adv_train、fast_adversarial）；论文正文的表格本页没有核对到。"
                   "Shafahi 等人：WideResNet 32-10，PGD 列是 10 次重启的 PGD-20，PGD-7 一行是 Madry 等人公开的模型。"
                   "Wong 等人：FGSM-RS 一行是 PreAct ResNet-18（其代码默认 15 个 epoch、循环学习率、混合精度），"
                   "Free 一行与 Shafahi 等人的 WideResNet 结果相同，PGD 一行约 3.5 天，按 README 的说法是没有加速的 PGD 训练——所以这张表里的时间"
                   "不是同一设置下的比较。vs_natural：相对同一张表里正常训练的时间。")


# ---------------------------------------------------------------- 6. one process or two (torchrun, DDP)
def processes(exp: Experiment, cfg: Settings) -> None:
    """Natural training of the SmallCNN under torchrun with one process (all cores as threads) and with two
    (one core each) on the same global minibatch; the launches' record is cached like a trained model's."""
    res = exp.res
    if distributed.launched() or exp.profile == "full":
        res.table("processes", "一个进程 vs 两个进程：这次运行没有测（在 torchrun 之下或 full profile）", [])
        return
    batch = exp.res.meta["batch"]
    config = {"epochs": cfg.ddp_epochs, "images": cfg.ddp_images, "batch": batch, "profile": exp.profile,
              "libraries": library_versions(("torch",))}

    def measure() -> dict[str, torch.Tensor]:
        with tempfile.TemporaryDirectory() as out:
            launches = {n: launch.launch(n, model="standard", profile=exp.profile, epochs=cfg.ddp_epochs,
                                         batch_size=batch, images=cfg.ddp_images or None, out=Path(out),
                                         seed=exp.seed) for n in (1, 2)}
            return {**{f"{key}{n}": torch.tensor(getattr(r, attr), dtype=torch.float64)
                       for n, r in launches.items()
                       for key, attr in (("loss", "losses"), ("seconds", "epoch_seconds"),
                                         ("images", "images_per_process"), ("threads", "threads"))},
                    "replica_gap2": torch.tensor(launches[2].replica_gap(), dtype=torch.float64)}

    # keyed like a trained model: the data it trains on, and the code of the launcher, the trainer and the zoo
    launched_split = zoo.split(exp.profile, exp.seed, zoo.recipe("standard").dataset)
    code = cache.code_version(launch, distributed, zoo, data, *code_modules(zoo.spec("standard", exp.profile, exp.seed)))
    rec = cache.get_or_create("ddp-standard", config, launched_split.fingerprint, code, measure)
    rows = []
    for n in (1, 2):
        seconds = rec[f"seconds{n}"].tolist()
        steady = seconds[1:] or seconds   # the first epoch pays the start-up (allocations, gloo's first calls)
        rows.append({"key": n, "processes": n, "threads_each": int(rec[f"threads{n}"]),
                     "seconds_per_epoch": sum(steady) / len(steady), "timed_epochs": len(steady),
                     "images_each": rec[f"images{n}"].tolist(),
                     "final_loss": rec[f"loss{n}"].tolist()[-1]})
    speedup = rows[0]["seconds_per_epoch"] / rows[1]["seconds_per_epoch"]
    for r in rows:
        r["speedup"] = rows[0]["seconds_per_epoch"] / r["seconds_per_epoch"]
    res.table("processes", f"torchrun：一个进程 vs 两个进程训练同一个模型，全局 batch 都是 {batch}（DDP，CPU 上用 gloo）"
              "(one vs two processes, the same global batch)", rows,
              note="seconds_per_epoch：第一个 epoch 之后的平均（timed_epochs 个 epoch）；images_each：每个进程前向过的图片数。")
    gap = max(abs(a - b) / a for a, b in zip(rec["loss1"].tolist(), rec["loss2"].tolist()))
    res.check("two_processes_same_curve",
              f"两个进程的损失曲线与一个进程的一致（每个 epoch 相对差 ≤ 5%，实测最大 {gap:.1%}），各处理一半的图片",
              "two processes follow one process's loss curve within 5%, each seeing half of the images",
              {"gap": gap, "each": rec["images2"].tolist(), "one": rec["images1"].tolist()},
              "gap <= 0.05 and each[0] == each[1] and each[0] + each[1] == one[0]")
    res.check("replicas_identical",
              f"两个进程各自的模型副本训练结束时参数完全相同（最大差 {float(rec['replica_gap2']):g}）：DDP 把梯度平均后"
              "发给每个进程，两份副本走的是同一步",
              "the two processes' replicas end with identical parameters: DDP averages the gradients over the "
              "processes, so both replicas take the same steps",
              {"gap": float(rec["replica_gap2"])}, "gap == 0")
    res.meta["ddp_speedup"] = speedup


# ---------------------------------------------------------------- this page's figures
def timelines(series: dict[str, list[dict]], panels: dict[str, str], title: str,
              budget: float | None = None) -> Figure:
    """One panel per ``panels`` entry (row key → y label), one line per series of rows over their
    ``train_seconds`` (x: wall-clock training time, log scale: the methods' budgets differ tenfold); each
    series starts at its first checkpoint. ``budget`` draws a vertical line."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(4.0 * len(panels), 3.9), dpi=110)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    styles = ["o-", "s-", "^-", "v-", "D-", "P-", "X-", "*-", "h-", "<-", ">-"]
    for ax, (key, ylabel) in zip(axes, panels.items()):
        for i, (name, rows) in enumerate(series.items()):
            pts = [(r["train_seconds"], r[key]) for r in rows if key in r]
            if pts:
                ax.plot(*zip(*pts), styles[i % len(styles)], ms=3, lw=1.2, label=name, color=f"C{i % 10}")
        if budget is not None:
            ax.axvline(budget, color="grey", ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("training wall-clock time (s)")
        ax.set_ylabel(ylabel)
        if key != "loss":
            ax.set_ylim(-0.02, 1.02)
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
