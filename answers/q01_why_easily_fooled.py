"""q01 — 朱结奥: why are today's image recognizers so easy to attack?

Reads top-down like its page. The TA's answer has three parts — machines rely on local texture where people use
global shape, CNN units have limited receptive fields, and layer visualisations [@zeiler2014visualizing] show
"texture rather than contour" — and the question itself asks why tiny perturbations work. Each part is measured
on our own models, trained on procedural images where every class has both a shape and a texture:
``standard`` (both cues agree in training), ``shape-trained`` (textures drawn at random, so only shape predicts
the label) and ``PGD-AT`` (adversarially trained on the agreeing data).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from .experiment import Experiment
from .kb import evidence as ev
from .kb.question import Question
from .kb.result import HEALTHY_TIMES_CHANCE, Result
from .lab import cues, metrics, zoo
from .lab.attacks import PGD, in_batches
from .lab.data import CLASS_NAMES, NOISE_SIGMA_MAX, NUM_CLASSES
from .lab.plots import curves, image_grid
from .lab.receptive import (effective_side, gradient_maps, layer_outputs, support_side, theoretical_fields,
                            untrained_copy)
from .lab.zoo import THREAT

if TYPE_CHECKING:
    from matplotlib.figure import Figure

QUESTION = Question(
    id="q01", slug="why-easily-fooled", asker="朱结奥", section="讲课当天助教采纳",
    question_zh="请问现在的图像检测器为什么这么容易受攻击？",
    title_en="Why are image recognizers so easy to fool?", title_zh="图像识别为什么这么容易被骗",
    cites=("zeiler2014visualizing", "geirhos2019imagenet", "brendel2019approximating", "luo2016understanding",
           "goodfellow2015explaining", "ilyas2019adversarial", "madry2018towards"),
)


@dataclass(frozen=True)
class Settings:
    """How much each measurement does at a profile (data and models come from the zoo's scale)."""

    conflict_images: int    # cue-conflict (and texture-only, shape-only) test images
    rf_images: int          # images averaged in the gradient (effective receptive field) maps
    eps_images: int         # images attacked at every ε of the grid
    steps: int              # PGD steps of the minimal-ε search
    top_k: int              # top-activating images per channel
    runs: int               # independent training runs of the three models (run 0: the sections' models)


PROFILES = {
    "tiny": Settings(conflict_images=300, rf_images=64,
                     eps_images=64, steps=10, top_k=10, runs=2),
    "site": Settings(conflict_images=1000,
                     rf_images=256, eps_images=200, steps=20, top_k=20, runs=3),
    "full": Settings(conflict_images=10000,
                     rf_images=1000, eps_images=2000, steps=50, top_k=50, runs=5),
}
EPS_GRID = (0.25, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 12, 16)   # in /255
THREAT_EPS = round(THREAT.linf_eps * 255, 6)           # the budget every other page attacks with, on the grid
EPS_TEXT = f"{THREAT_EPS:g}/255"
# SmallCNN's three conv blocks (after ReLU), and "" for the classifier's output after global average pooling
LAYERS = {"block1.2": "conv1", "block2.2": "conv2", "features.2": "conv3", "": "output"}
CONV_LAYERS = tuple(layer for layer in LAYERS if layer)
MODELS = {"standard": "cue_standard", "shape-trained": "cue_shape", "PGD-AT": "cue_pgd_at"}   # name → zoo recipe

#: the headers of this page's own columns (shared ones: answers.kb.result.COLUMN_LABELS)
COLUMNS = {
    "texture_only_acc": "只有纹理时准确率", "shape_only_acc": "只有轮廓时准确率", "decided_by_texture": "按纹理判断的比例",
    "decided_by_shape": "按形状判断的比例", "texture_share": "纹理占比", "layer": "层", "channels": "通道数", "feature_map": "特征图",
    "theoretical_rf": "理论感受野 px", "gradient_support": "梯度支撑 px", "effective_rf_50": "有效感受野 px（50%）",
    "effective_rf_90": "有效感受野 px（90%）", "image_size": "图像边长 px", "eps50_255": "翻转 50% 的 ε（/255）",
    "eps90_255": "翻转 90% 的 ε（/255）", "eps_255": "ε（/255）", "texture_purity": "纹理一致度", "shape_purity": "形状一致度",
    "chance_purity": "随机挑图的一致度", "flipped_at_threat": f"ε={EPS_TEXT} 时翻转比例",
    "flipped_at_max": f"ε={EPS_GRID[-1]:g}/255 时翻转比例",
}


def run(profile: str = "site", seed: int = 0, device: str = "cpu", progress: bool | None = None) -> Result:
    cfg = PROFILES[profile]
    exp = Experiment.start(QUESTION, profile, seed, device, progress, columns=COLUMNS, dataset=zoo.CUES,
                           meta={"eps_at": EPS_TEXT, "width": zoo.scale(profile).width})
    # the three models every section compares (from the zoo: trained once, then loaded from the weight cache)
    nets = {name: exp.model(recipe, name) for name, recipe in MODELS.items()}
    res, x, y = exp.res, exp.x, exp.y
    conflict = cues.cue_conflict(cfg.conflict_images, seed + 1)
    first: dict = {}   # run 0's measurements, which the comparisons over runs start from
    return exp.run([("texture vs shape", lambda: first.update(shares=texture_vs_shape(res, cfg, nets, x, y, conflict, seed))),
                    ("receptive fields", lambda: receptive_fields(res, cfg, nets["standard"], x)),
                    ("minimal ε", lambda: first.update(flips=minimal_eps(res, cfg, nets, x, y, seed))),
                    ("comparisons over training runs", lambda: comparisons_over_runs(exp, cfg, first)),
                    ("what layers see", lambda: what_layers_see(exp, cfg, nets, conflict, first))])


# ---------------------------------------------------------------- 1. texture or shape?
def texture_vs_shape(res: Result, cfg: Settings, nets, x, y, conflict, seed: int) -> dict[str, float]:
    """The cue-conflict table and its claims; returns each model's texture share."""
    x_conf, shape, texture = conflict
    ids = torch.arange(cfg.conflict_images) % NUM_CLASSES
    texture_only = cues.render(None, ids, seed + 2)     # a "patch of fur": the texture fills the image
    shape_only = cues.render(ids, None, seed + 3)       # the silhouette in one flat colour
    rows, preds = [], {}
    for name, model in nets.items():
        pred = preds[name] = metrics.predict(model, x_conf)
        by_texture, by_shape = float((pred == texture).float().mean()), float((pred == shape).float().mean())
        rows.append({"模型 model": name, "clean_acc": metrics.clean_accuracy(model, x, y),
                     "texture_only_acc": metrics.clean_accuracy(model, texture_only, ids),
                     "shape_only_acc": metrics.clean_accuracy(model, shape_only, ids),
                     "decided_by_texture": by_texture, "decided_by_shape": by_shape,
                     "texture_share": by_texture / max(by_texture + by_shape, 1e-9)})
    res.table("cue_conflict", f"纹理还是形状：{len(x_conf)} 张线索冲突图（A 的形状 + B 的纹理）上的判断依据 "
              "(cue conflict: which cue decides)", rows,
              note="texture_share = 按纹理判断 / (按纹理 + 按形状)，与 Geirhos 等的 texture bias 定义相同；"
                   "texture_only：整幅图只有纹理（“一小块毛皮”）；shape_only：只有单色轮廓。机会水平 0.1。")
    pred = preds["standard"][:12]
    verdict = ["texture" if p == t else "shape" if p == s else "other" for p, s, t in
               zip(pred.tolist(), shape[:12].tolist(), texture[:12].tolist())]
    res.figure("cue_conflict_examples", image_grid(
        x_conf[:12], [f"{CLASS_NAMES[s]} + {cues.TEXTURE_NAMES[t]}\n→ {v}" for s, t, v in
                      zip(shape[:12].tolist(), texture[:12].tolist(), verdict)],
        "Cue conflict (shape + texture of another class) and the standard model's choice", scale=1.6))
    by = {r["模型 model"]: r for r in rows}
    decided = {name: (int((p == texture).sum()), int((p == shape).sum())) for name, p in preds.items()}
    std = by["standard"]
    t_std, s_std = decided["standard"]
    res.finding("standard_model_follows_texture", f"我们的标准模型（run 0，在两种线索一致的数据上训练）在线索冲突图上多数按纹理判断"
                f"（按纹理 {t_std} 次，按形状 {s_std} 次；其他各次训练的占比列在下面的训练表里，没有另作判定）",
                "our standard model (run 0), trained where shape and texture agree, mostly follows the texture",
                {"texture_share": std["texture_share"]}, "texture_share > 0.5",
                evidence=ev.binomial(t_std, t_std + s_std, 0.5, "binomial vs 0.5"), null={"texture_share": 0.5})
    n_tex = cfg.conflict_images
    res.finding("a_patch_of_texture_is_enough", f"助教的“一小块毛皮”成立：只给纹理（纹理铺满整幅图）、不给轮廓，我们的标准模型认对 "
                f"{std['texture_only_acc']:.0%}，够得上我们对一个能用的模型的要求（机会水平 {1 / NUM_CLASSES:.0%} 的 "
                f"{HEALTHY_TIMES_CHANCE} 倍）",
                "the TA's 'patch of fur' holds: texture alone (filling the image, no outline) is recognised by our standard "
                f"model as well as we ask of any usable model ({HEALTHY_TIMES_CHANCE} times chance)",
                {"texture_only_acc": std["texture_only_acc"], "chance": 1 / NUM_CLASSES},
                f"texture_only_acc > {HEALTHY_TIMES_CHANCE} * chance",
                evidence=ev.proportion(round(std["texture_only_acc"] * n_tex), n_tex, "texture_only_acc"),
                null={"texture_only_acc": 1 / NUM_CLASSES})
    return {r["模型 model"]: r["texture_share"] for r in rows}


# ---------------------------------------------------------------- 2. receptive fields
def receptive_fields(res: Result, cfg: Settings, model, x) -> None:
    size = x.shape[-1]
    fields = theoretical_fields(model, list(CONV_LAYERS))
    maps = gradient_maps(model, x[:cfg.rf_images], list(LAYERS))
    rows, windows = [], {}
    for layer, label in LAYERS.items():
        g = maps[layer]
        if layer:
            field = fields[layer]
            lo, hi = field.window(g.index, size)
            windows[label] = (lo, hi)
            theory, centre = hi - lo + 1, field.centre(g.index)
        else:   # global average pooling: every position votes, so the output's field is the whole image
            theory, centre = size, (size - 1) / 2
        rows.append({"layer": label, "feature_map": f"{g.side}×{g.side}" if g.side else "10 logits",
                     "theoretical_rf": theory, "gradient_support": support_side(g.map),
                     "effective_rf_50": effective_side(g.map, centre, 0.5),
                     "effective_rf_90": effective_side(g.map, centre, 0.9), "image_size": size})
    res.table("receptive_fields", "各层单元的感受野：理论值、梯度实测的支撑范围与有效感受野（50% / 90% 梯度质量）"
              "(theoretical, gradient-measured and effective receptive fields, pixels per side)", rows,
              note="theoretical_rf 由卷积核/步长/填充推算（中心单元，裁到图内）；gradient_support：|∂单元/∂像素| 非零的范围；"
                   "effective_rf_50 / _90：以单元中心为心、含 50% / 90% 梯度质量的最小正方形边长 [@luo2016understanding]。")
    res.figure("receptive_field_maps", field_maps(x[0], windows, {lab: maps[l].map for l, lab in LAYERS.items() if l}))
    conv = rows[:-1]
    res.check("gradients_confirm_the_arithmetic", "梯度实测的影响范围与按卷积核、步长推算的理论感受野一致",
              "the measured gradient support equals the theoretical receptive field of every conv layer",
              {"theoretical": [r["theoretical_rf"] for r in conv], "measured": [r["gradient_support"] for r in conv]},
              "theoretical == measured")
    deepest, layer = conv[-1], CONV_LAYERS[-1]
    g, centre = maps[layer], fields[layer].centre(maps[layer].index)
    area = lambda side: (side / deepest["theoretical_rf"]) ** 2  # noqa: E731 - share of the window's area
    fraction = area(deepest["effective_rf_50"])
    # stacked convolutions concentrate influence at the centre whatever the weights (Luo et al. derive it): the
    # same network untrained is the reference, and the sentence is a property of the architecture, not a finding
    init = gradient_maps(untrained_copy(model, res.seed), x[:cfg.rf_images], [layer])[layer]
    untrained = area(effective_side(init.map, centre, 0.5))
    res.check("effective_field_is_smaller", f"有效感受野比理论感受野小（Luo 等）：最深一层（{deepest['layer']}）"
              f"一半的梯度质量集中在 {deepest['effective_rf_50']:g}×{deepest['effective_rf_50']:g} 的中央方块里，"
              f"只占 {deepest['theoretical_rf']}×{deepest['theoretical_rf']} 理论窗口面积的 {fraction:.0%}；同一网络换成未训练的"
              f"初始权重也只占 {untrained:.0%}（同样不到一半）——不到一半是叠加卷积本身的性质（Luo 等推导过），不是训练学来的"
              "（训练后的比例与未训练的不同，只列出，没有比较）",
              "in the deepest layer half of a unit's gradient mass sits in a central square covering less than half "
              "of its theoretical field's area (uniform influence would need half), in our model and in the same "
              "network untrained: a property of stacked convolutions (Luo et al.), not something training learns",
              {"area_fraction_50": fraction, "untrained_area_fraction_50": untrained},
              "area_fraction_50 < 0.5 and untrained_area_fraction_50 < 0.5")
    res.check("local_units_global_vote", "每个卷积单元只看局部（最深一层也小于整幅图），但全局平均池化让输出对整幅图的像素都有梯度：判断是局部证据的投票",
              "every conv unit sees only part of the image, yet the pooled output depends on all of it: "
              "the decision is a vote of local evidence",
              {"deepest_unit_rf": conv[-1]["theoretical_rf"], "output_support": rows[-1]["gradient_support"],
               "image_size": size},
              "deepest_unit_rf < image_size and output_support == image_size")


# ---------------------------------------------------------------- 3. how small can a perturbation be?
def _first_at(fractions: list[float], level: float) -> float | None:
    """The smallest grid ε (in /255) at which the flipped fraction reaches ``level`` (None: not within the grid)."""
    return next((e for e, f in zip(EPS_GRID, fractions) if f >= level), None)


def minimal_eps(res: Result, cfg: Settings, nets, x, y, seed: int) -> dict[str, tuple[int, list[int]]]:
    """The minimal-ε tables and claims; returns, per model (and for the noise control), how many correct images
    were attacked and how many of them were flipped at each grid ε."""
    ev_x, ev_y = x[:cfg.eps_images], y[:cfg.eps_images]
    gen = torch.Generator().manual_seed(seed)
    rows, acc_curves, examples = [], {}, None
    flips: dict[str, tuple[int, list[int]]] = {}   # correct images and how many were flipped at each grid ε
    for name, model in nets.items():
        correct = metrics.predict(model, ev_x) == ev_y
        xs, ys = ev_x[correct], ev_y[correct]
        # flipped at ε counts an image once any ε' ≤ ε flipped it: a perturbation within ε' is also within ε
        flipped = torch.zeros(len(xs), dtype=torch.bool)
        first_adv, first_eps = xs.clone(), torch.full((len(xs),), float("nan"))
        fractions, noise_fractions, counts, noise_counts = [], [], [], []
        for e in EPS_GRID:
            eps = e / 255
            adv = in_batches(PGD(model, eps=eps, alpha=2.5 * eps / cfg.steps, steps=cfg.steps), xs, ys)
            now = (metrics.predict(model, adv) != ys) & ~flipped
            first_adv[now], first_eps[now] = adv[now], e
            flipped |= now
            counts.append(int(flipped.sum()))
            fractions.append(float(flipped.float().mean()))
            if name == "standard":  # the same budget spent on random ±ε noise instead of the gradient's direction
                signs = torch.randint(0, 2, xs.shape, generator=gen).float() * 2 - 1
                noisy = (xs + eps * signs).clamp(0, 1)
                noise_counts.append(int((metrics.predict(model, noisy) != ys).sum()))
                noise_fractions.append(noise_counts[-1] / max(1, len(ys)))
        clean = float(correct.float().mean())
        flips[name] = (len(xs), counts)
        if name == "standard":
            flips["noise"] = (len(xs), noise_counts)
        acc_curves[name] = [clean * (1 - f) for f in fractions]
        rows.append({"模型 model": name, "attack": f"PGD-{cfg.steps}", "clean_acc": clean,
                     "eps50_255": _first_at(fractions, 0.5), "eps90_255": _first_at(fractions, 0.9),
                     "flipped_at_threat": fractions[EPS_GRID.index(THREAT_EPS)], "flipped_at_max": fractions[-1]})
        if name == "standard":
            acc_curves["standard + random ±ε noise"] = [clean * (1 - f) for f in noise_fractions]
            rows.append({"模型 model": name, "attack": "random ±ε noise", "clean_acc": clean,
                         "eps50_255": _first_at(noise_fractions, 0.5), "eps90_255": _first_at(noise_fractions, 0.9),
                         "flipped_at_threat": noise_fractions[EPS_GRID.index(THREAT_EPS)],
                         "flipped_at_max": noise_fractions[-1]})
            examples = (xs, ys, first_adv, first_eps, metrics.predict(model, first_adv))
    res.table("minimal_eps", f"翻转 50% / 90% 正确预测所需的最小 L∞ ε（/255，{len(ev_x)} 张图，网格 {EPS_GRID}）"
              "(smallest ε flipping 50% / 90% of correct predictions)", rows,
              note="eps50/eps90 为网格上首次达到该比例的 ε（– = 网格内未达到）；flipped_at_*：在该 ε 下被翻转的正确预测比例。")
    res.table("accuracy_vs_eps", "准确率随 ε 变化（accuracy vs ε, /255）",
              [{"eps_255": e, **{k: v[i] for k, v in acc_curves.items()}} for i, e in enumerate(EPS_GRID)])
    res.figure("accuracy_vs_eps", curves(list(EPS_GRID), acc_curves, "L∞ ε (/255)", "accuracy",
                                         "Accuracy under PGD as the budget grows",
                                         {EPS_TEXT: THREAT_EPS, "data noise σ max": NOISE_SIGMA_MAX * 255}))
    xs, ys, adv, eps, pred = examples
    pick = [i for i in range(len(xs)) if not torch.isnan(eps[i])][:4]
    triples = torch.cat([torch.stack([xs[i], (0.5 + (adv[i] - xs[i]) * 255 / (2 * 16)).clamp(0, 1), adv[i]])
                         for i in pick]) if pick else xs[:0]
    titles = [t for i in pick for t in (f"clean: {CLASS_NAMES[ys[i]]}", f"perturbation ε={eps[i]:g}/255\n(×{255 // 32})",
                                         f"adversarial: {CLASS_NAMES[pred[i]]}")]
    res.figure("adversarial_examples", image_grid(triples, titles, "Clean / amplified perturbation / adversarial",
                                                  cols=6))
    standard = next(r for r in rows if r["模型 model"] == "standard" and r["attack"] == f"PGD-{cfg.steps}")
    _minimal_eps_claims(res, flips, standard["eps50_255"])
    return flips


def _minimal_eps_claims(res: Result, flips: dict[str, tuple[int, list[int]]], standard_eps50: float | None) -> None:
    def at(name: str, e: float) -> tuple[int, int]:
        n, counts = flips[name]
        return counts[EPS_GRID.index(e)], n

    noise_255 = NOISE_SIGMA_MAX * 255
    below = max(e for e in EPS_GRID if e < noise_255)   # the largest grid ε below the data's own noise level
    k, n = at("standard", below)
    k_threat, _ = at("standard", THREAT_EPS)
    # the ε is fixed by the data before any attack runs (the grid's largest value below the noise σ the training
    # images carry), so only the share it flips is measured and tested
    res.finding("small_eps_flips_half", f"小于训练数据自身像素噪声上限（σ ≤ {noise_255:.1f}/255）的 ε = {below:g}/255 "
                f"就翻转了我们的标准模型 {k / max(1, n):.0%} 的正确预测（超过一半）；其他页面所用的 ε = {EPS_TEXT} "
                f"翻转了 {k_threat / max(1, n):.0%}",
                "a budget below the largest pixel-noise σ the training images carry flips more than half of our "
                "standard model's correct predictions",
                {"flipped": k / max(1, n), "eps_255": below, "data_noise_sigma_max_255": noise_255,
                 "flipped_at_threat": k_threat / max(1, n)},
                "flipped > 0.5", evidence=ev.proportion(k, n, "flipped"), null={"flipped": 0.5})
    (kp, n), (kn, _) = at("standard", EPS_GRID[-1]), at("noise", EPS_GRID[-1])
    res.finding("direction_not_size", f"关键是方向而非大小：ε = {EPS_GRID[-1]:g}/255 时 PGD 翻转了我们的标准模型 {kp / max(1, n):.0%}"
                f"（超过 90%），同样预算的随机 ±ε 噪声只翻转 {kn / max(1, n):.0%}（不到 10%）（Goodfellow 等的线性解释）",
                "direction, not size: at the same budget PGD flips more than 90% of our standard model's correct "
                "predictions and random ±ε noise less than 10%",
                {"pgd_flipped": kp / max(1, n), "noise_flipped": kn / max(1, n), "eps_255": EPS_GRID[-1]},
                "pgd_flipped > 0.9 and noise_flipped < 0.1",
                evidence=ev.proportion(kp, n, "pgd_flipped") + ev.proportion(kn, n, "noise_flipped"),
                null={"noise_flipped": kp / max(1, n)})
    res.meta["eps_compared_255"] = standard_eps50 if standard_eps50 is not None else EPS_GRID[-1]


# ---------------------------------------------------------------- 3b. the comparisons of training, over runs
def _texture_share(model, conflict) -> float:
    """Of the cue-conflict images decided by either cue, the share decided by the texture (Geirhos et al.)."""
    x_conf, shape, texture = conflict
    pred = metrics.predict(model, x_conf)
    by_texture, by_shape = int((pred == texture).sum()), int((pred == shape).sum())
    return by_texture / max(1, by_texture + by_shape)


def _flipped(model, x, y, cfg: Settings, grid: tuple) -> dict[float, float]:
    """The share of ``model``'s correct predictions flipped by PGD at each ε of ``grid`` (an image counts once any
    ε' ≤ ε flipped it, as in the minimal-ε table)."""
    correct = metrics.predict(model, x) == y
    xs, ys = x[correct], y[correct]
    flipped, out = torch.zeros(len(xs), dtype=torch.bool), {}
    for e in grid:
        adv = in_batches(PGD(model, eps=e / 255, alpha=2.5 * e / 255 / cfg.steps, steps=cfg.steps), xs, ys)
        flipped |= metrics.predict(model, adv) != ys
        out[e] = float(flipped.float().mean())
    return out


def comparisons_over_runs(exp: Experiment, cfg: Settings, first: dict) -> None:
    """The three findings that compare ways of training (cue-agreeing vs random textures, standard vs PGD-AT) are
    decided over independent runs: run 0 is the sections above; every other run trains the three models with
    its own seed, on cue data drawn with it, and repeats the two measurements on its own images."""
    res = exp.res
    ref = res.meta["eps_compared_255"]   # the ε that flips half of run 0's standard model (a fixed budget after)
    grid = tuple(e for e in EPS_GRID if e <= max(ref, THREAT_EPS))

    def share(flips, name, e):
        n, counts = flips[name]
        return counts[EPS_GRID.index(e)] / max(1, n)
    rows = [{"run": 0, "seed": exp.seed, "standard_texture_share": first["shares"]["standard"],
             "shape_texture_share": first["shares"]["shape-trained"],
             **{f"{k}_flipped_at_ref": share(first["flips"], name, ref) for k, name in (("standard", "standard"),
                                                                                      ("at", "PGD-AT"))},
             **{f"{k}_flipped_at_threat": share(first["flips"], name, THREAT_EPS)
                for k, name in (("standard", "standard"), ("shape", "shape-trained"))}}]
    for r, seed, nets, split in exp.other_runs(cfg.runs, MODELS):
        x, y = split.x_test[:cfg.eps_images].to(exp.device), split.y_test[:cfg.eps_images].to(exp.device)
        conflict = cues.cue_conflict(cfg.conflict_images, seed + 1)
        flipped = {name: _flipped(m, x, y, cfg, grid) for name, m in nets.items()}
        first.setdefault("other_runs", []).append((r, seed, nets, conflict))   # section 4 repeats its units on them
        rows.append({"run": r, "seed": seed, "standard_texture_share": _texture_share(nets["standard"], conflict),
                     "shape_texture_share": _texture_share(nets["shape-trained"], conflict),
                     "standard_flipped_at_ref": flipped["standard"][ref], "at_flipped_at_ref": flipped["PGD-AT"][ref],
                     "standard_flipped_at_threat": flipped["standard"][THREAT_EPS],
                     "shape_flipped_at_threat": flipped["shape-trained"][THREAT_EPS]})
    for row in rows:
        row["at_minus_standard"] = row["at_flipped_at_ref"] - row["standard_flipped_at_ref"]
        row["shape_minus_standard"] = row["shape_flipped_at_threat"] - row["standard_flipped_at_threat"]
    res.table("training_runs", f"三个模型在 {len(rows)} 次独立训练中的比较（每次：用该次的种子生成线索数据、训练三个模型，"
              f"在该次的图上测量）(the comparisons of training over runs)", rows,
              note=f"run 0 就是上面各节的模型。texture_share：线索冲突图上按纹理判断的占比；flipped_at_ref：在 ε = {ref:g}/255"
                   f"（让 run 0 标准模型一半正确预测翻转的 ε）下被 PGD 翻转的正确预测比例；flipped_at_threat：ε = {EPS_TEXT} 下。")
    seeds = [r["seed"] for r in rows]
    mean = lambda key: sum(r[key] for r in rows) / len(rows)   # noqa: E731
    # with textures random against the labels, a model that learned at all cannot follow the texture: the control's
    # shape bias is given by its data, so it is checked (the comparisons below assume it), not claimed as a finding
    res.check("shape_control_follows_shape", f"对照成立：在纹理与标签无关的数据上训练的同一网络，{len(rows)} 次训练中都按形状判断"
              f"（线索冲突图上按纹理的占比 " + "、".join(f"{r['shape_texture_share']:.0%}" for r in rows)
              + "，标准模型 " + "、".join(f"{r['standard_texture_share']:.0%}" for r in rows)
              + "）——这是它的数据决定的，是后面比较的前提，不是发现",
              f"the control holds: the same network trained where textures are random follows the shape in each of "
              f"{len(rows)} training runs (given by its data: the premise of the comparisons, not a finding)",
              {"shape_trained_max": max(r["shape_texture_share"] for r in rows)}, "shape_trained_max < 0.5")
    res.finding("adversarial_training_moves_the_threshold", f"同样的 ε 下对抗训练的模型被翻转得少：在 ε = {ref:g}/255（让 run 0 标准模型一半"
                f"正确预测翻转）下，{len(rows)} 次独立训练中 PGD-AT 模型每一次都比标准模型被翻转得少（平均 "
                f"{mean('at_flipped_at_ref'):.0%} 对 {mean('standard_flipped_at_ref'):.0%}）",
                "at the ε that flips half of run 0's standard model's correct predictions, the PGD-AT model loses "
                f"fewer of its correct predictions than the standard one in each of {len(rows)} training runs",
                {"at_minus_standard": mean("at_minus_standard")}, "at_minus_standard < 0",
                evidence=ev.over_runs([{"at_minus_standard": r["at_minus_standard"]} for r in rows],
                                      "at_minus_standard", seeds=seeds),
                null={"at_minus_standard": 0.0}, compares=("standard", "PGD-AT"))
    res.finding("shape_bias_is_not_robustness", f"纠正纹理偏好并没有让模型更难骗：ε = {EPS_TEXT} 时，{len(rows)} 次独立训练中"
                f"按形状判断的模型每一次都比标准模型被翻转得多（平均 {mean('shape_flipped_at_threat'):.0%} 对 "
                f"{mean('standard_flipped_at_threat'):.0%}）",
                f"fixing the texture bias does not make the model harder to fool: at ε = {EPS_TEXT} the shape-trained "
                f"model loses more of its correct predictions than the standard one, in each of {len(rows)} runs",
                {"shape_minus_standard": mean("shape_minus_standard")}, "shape_minus_standard > 0",
                evidence=ev.over_runs([{"shape_minus_standard": r["shape_minus_standard"]} for r in rows],
                                      "shape_minus_standard", seeds=seeds),
                null={"shape_minus_standard": 0.0}, compares=("standard", "shape-trained"))


# ---------------------------------------------------------------- 4. what the layers respond to
def _purity(labels: torch.Tensor) -> torch.Tensor:
    """For each channel, how often the most common label occurs among its top images ``(channels, k)``."""
    counts = F.one_hot(labels, NUM_CLASSES).sum(1)          # (channels, classes)
    return (counts.max(1).values / labels.shape[1]).float()


def _unit_purity(model, conflict, top_k: int, seed: int) -> tuple[dict, dict]:
    """What each conv layer's channels share on the cue-conflict images: per layer name, (texture purity, shape
    purity, chance purity) of every channel's ``top_k`` most exciting images; and the layers' activations."""
    x_conf, shape, texture = conflict
    with layer_outputs(model, list(CONV_LAYERS)) as acts:
        metrics.predict(model, x_conf, batch_size=len(x_conf))
    out = {}
    for layer in CONV_LAYERS:
        strength = acts[layer].amax(dim=(2, 3))                   # (N, C): each channel's peak per image
        top = strength.topk(top_k, dim=0).indices.T                # (C, k) images that excite a channel most
        shuffled = torch.randperm(len(x_conf), generator=torch.Generator().manual_seed(seed))
        out[LAYERS[layer]] = (_purity(texture[top]), _purity(shape[top]), _purity(texture[shuffled[top]]))
    return out, acts


def what_layers_see(exp: Experiment, cfg: Settings, nets, conflict, first: dict) -> None:
    res = exp.res
    x_conf, shape, texture = conflict
    rows, acts_of, purity = [], {}, {}
    for name in ("standard", "shape-trained"):
        purity[name], acts_of[name] = _unit_purity(nets[name], conflict, cfg.top_k, res.seed)
        for layer in CONV_LAYERS:
            tex, shp, chance = purity[name][LAYERS[layer]]
            rows.append({"模型 model": name, "layer": LAYERS[layer], "channels": len(tex),
                         "texture_purity": float(tex.mean()), "shape_purity": float(shp.mean()),
                         "chance_purity": float(chance.mean())})
    res.table("unit_selectivity", f"每个通道最强激活的 {cfg.top_k} 张线索冲突图：纹理一致度 vs 形状一致度 "
              "(what the top-activating images of each channel share)", rows,
              note="purity：该通道 top-k 图像中最常见的纹理（或形状）类别所占比例，对通道取平均；chance_purity：随机挑选 k 张图时的同一量。")
    acts = acts_of["standard"]   # the figures show the standard model, from the activations measured above
    maps = [m for i in range(3) for m in
            [x_conf[i], *[acts[layer][i].mean(0) for layer in CONV_LAYERS]]]
    titles = [t for i in range(3) for t in
              [f"{CLASS_NAMES[shape[i]]} + {cues.TEXTURE_NAMES[texture[i]]}", *[f"{LAYERS[l]} mean" for l in CONV_LAYERS]]]
    res.figure("activation_maps", image_grid(maps, titles, "What each layer responds to (channel-mean activation)",
                                             cols=len(CONV_LAYERS) + 1, scale=1.6))
    res.figure("top_patches", _top_patches(nets["standard"], acts["features.2"], x_conf, shape, texture, channels=6,
                                           per_channel=5))
    # what a model's units see depends on its training run: both findings are decided over the runs of section 3b
    # (each run's two models on its own cue-conflict images), the conv3 purities of run 0 being the table above
    def deepest(name: str, p: dict) -> dict[str, float]:
        tex, shp, _ = p["conv3"]
        return {f"{name}_texture": float(tex.mean()), f"{name}_shape": float(shp.mean())}
    units = [{"run": 0, "seed": exp.seed, **deepest("standard", purity["standard"]),
              **deepest("shape_trained", purity["shape-trained"])}]
    for r, seed, others, other_conflict in first.get("other_runs", []):
        units.append({"run": r, "seed": seed,
                      **deepest("standard", _unit_purity(others["standard"], other_conflict, cfg.top_k, seed)[0]),
                      **deepest("shape_trained", _unit_purity(others["shape-trained"], other_conflict, cfg.top_k, seed)[0])})
    for u in units:
        u["standard_texture_minus_shape"] = u["standard_texture"] - u["standard_shape"]
        u["shape_trained_shape_minus_texture"] = u["shape_trained_shape"] - u["shape_trained_texture"]
    res.table("unit_runs", f"conv3 通道的纹理 / 形状一致度，{len(units)} 次独立训练（同第 3b 节的模型，各用该次的线索冲突图）"
              "(conv3 purities over training runs)", units, note="run 0 即上表的 conv3 两行。")
    mean = {k: statistics.mean(u[k] for u in units) for k in units[0] if k not in ("run", "seed")}
    res.finding("deep_units_are_texture_detectors", f"标准模型最深一层的通道更多被同一种纹理（而非同一种形状）的图片激活："
                f"{len(units)} 次独立训练，一致度（纹理 对 形状）" + "、".join(
                    f"{u['standard_texture']:.0%} 对 {u['standard_shape']:.0%}" for u in units)
                + "——助教“看到的更多是纹路”在这里成立",
                f"the standard model's deepest channels are excited by one texture more than by one shape, in each of "
                f"{len(units)} training runs", {"standard_texture_minus_shape": mean["standard_texture_minus_shape"]},
                "standard_texture_minus_shape > 0",
                evidence=ev.over_run_rows(units, "standard_texture_minus_shape"),
                null={"standard_texture_minus_shape": 0.0})
    res.finding("shape_training_changes_what_units_see", f"换成纹理随机的数据训练，同一层通道转为更多被同一种形状激活："
                f"{len(units)} 次独立训练，一致度（形状 对 纹理）" + "、".join(
                    f"{u['shape_trained_shape']:.0%} 对 {u['shape_trained_texture']:.0%}" for u in units),
                "trained with random textures, the same layer's channels are excited by one shape more than by one "
                f"texture, in each of {len(units)} training runs",
                {"shape_trained_shape_minus_texture": mean["shape_trained_shape_minus_texture"]},
                "shape_trained_shape_minus_texture > 0",
                evidence=ev.over_run_rows(units, "shape_trained_shape_minus_texture"),
                null={"shape_trained_shape_minus_texture": 0.0}, compares=("standard", "shape-trained"))


def _top_patches(model, conv3, x, shape, texture, channels: int, per_channel: int):
    """The input windows (the unit's receptive field) where a few conv3 channels fire most, Zeiler-style;
    ``conv3`` holds the model's conv3 activations on ``x``."""
    field = theoretical_fields(model, ["features.2"])["features.2"]
    side = int(field.size)
    a = conv3[:, :channels]                                        # (N, C, h, w)
    w = a.shape[-1]
    peak, where = a.flatten(2).max(2)                              # each image's strongest position per channel
    padded = F.pad(x, (side, side, side, side), value=0.5)
    patches, titles = [], []
    for ch in range(a.shape[1]):
        for img in peak[:, ch].topk(per_channel).indices.tolist():   # distinct images, as in Zeiler & Fergus
            i, j = divmod(int(where[img, ch]), w)
            top = round(field.centre(i) - (side - 1) / 2) + side
            left = round(field.centre(j) - (side - 1) / 2) + side
            patches.append(padded[img, :, top:top + side, left:left + side])
            titles.append(f"ch{ch}: {cues.TEXTURE_NAMES[texture[img]]}\n({CLASS_NAMES[shape[img]]})")
    return image_grid(torch.stack(patches), titles, f"Top-activating {side}×{side} windows of conv3 channels "
                      "(texture, shape in brackets)", cols=per_channel)


# ---------------------------------------------------------------- this page's figures
def field_maps(image, windows: dict[str, tuple[int, int]], maps: dict[str, object]) -> Figure:
    """The image with each layer's theoretical field drawn as a square, then each layer's gradient map (the
    effective field) with the same square. ``windows[layer] = (first, last)`` pixel."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle
    fig = Figure(figsize=(2.2 * (len(maps) + 1), 2.6), dpi=110)
    axes = fig.subplots(1, len(maps) + 1)
    axes[0].imshow(image.permute(1, 2, 0).numpy(), interpolation="nearest")
    axes[0].set_title(f"image {image.shape[-1]}×{image.shape[-1]} px", fontsize=8)
    for i, (layer, (lo, hi)) in enumerate(windows.items()):
        side = hi - lo + 1
        square = dict(xy=(lo - 0.5, lo - 0.5), width=side, height=side, fill=False, lw=1.5, color=f"C{i}")
        axes[0].add_patch(Rectangle(**square, label=f"{layer}: {side}px"))
        axes[i + 1].imshow(maps[layer].numpy(), cmap="magma", interpolation="nearest")
        axes[i + 1].add_patch(Rectangle(**square))
        axes[i + 1].set_title(f"{layer}: |gradient|", fontsize=8)
    axes[0].legend(fontsize=6, loc="lower left", framealpha=0.8)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig
