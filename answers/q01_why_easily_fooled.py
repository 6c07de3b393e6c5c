"""q01 — 朱结奥: why are today's image recognizers so easy to attack?

Reads top-down like its page. The TA's answer has three parts — machines rely on local texture where people use
global shape, CNN units have limited receptive fields, and layer visualisations [@zeiler2014visualizing] show
"texture rather than contour" — and the question itself asks why tiny perturbations work. Each part is measured
on our own models, trained on procedural images where every class has both a shape and a texture:
``standard`` (both cues agree in training), ``shape-trained`` (textures drawn at random, so only shape predicts
the label) and ``PGD-AT`` (adversarially trained on the agreeing data).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from .kb.question import Question
from .kb.result import Result
from .lab import cues, metrics
from .lab.attacks import PGD, in_batches
from .lab.data import CLASS_NAMES, NOISE_SIGMA_MAX, NUM_CLASSES
from .lab.plots import curves, image_grid, receptive_fields as rf_figure
from .lab.progress import run_steps
from .lab.receptive import capture, effective_side, gradient_maps, support_side, theoretical_fields
from .lab.seeding import default_threads, seed_everything
from .lab.timing import torch_threads
from .lab.train import TrainSpec, trained_model

QUESTION = Question(
    id="q01", slug="why-easily-fooled", asker="朱结奥", section="讲课当天助教采纳",
    question_zh="请问现在的图像检测器为什么这么容易受攻击？",
    title_en="Why are image recognizers so easy to fool?", title_zh="图像识别为什么这么容易被骗",
    cites=("zeiler2014visualizing", "geirhos2019imagenet", "brendel2019approximating", "luo2016understanding",
           "goodfellow2015explaining", "ilyas2019adversarial", "madry2018towards"),
)


@dataclass(frozen=True)
class Settings:
    n_train: int
    n_test: int
    epochs: int
    width: int
    at_steps: int           # PGD steps inside adversarial training
    conflict_images: int    # cue-conflict (and texture-only, shape-only) test images
    rf_images: int          # images averaged in the gradient (effective receptive field) maps
    eps_images: int         # images attacked at every ε of the grid
    steps: int              # PGD steps of the minimal-ε search
    top_k: int              # top-activating images per channel


PROFILES = {
    "tiny": Settings(n_train=3000, n_test=300, epochs=6, width=8, at_steps=2, conflict_images=300, rf_images=64,
                     eps_images=64, steps=10, top_k=10),
    "site": Settings(n_train=6000, n_test=1000, epochs=10, width=16, at_steps=3, conflict_images=1000,
                     rf_images=256, eps_images=200, steps=20, top_k=20),
    "full": Settings(n_train=50000, n_test=10000, epochs=30, width=16, at_steps=7, conflict_images=10000,
                     rf_images=1000, eps_images=2000, steps=50, top_k=50),
}
EPS = 4 / 255                                           # PGD-AT's budget, as on every page
EPS_GRID = (0.25, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 12, 16)   # in /255
# SmallCNN's three conv blocks (after ReLU), and "" for the classifier's output after global average pooling
LAYERS = {"block1.2": "conv1", "block2.2": "conv2", "features.2": "conv3", "": "output"}
CONV_LAYERS = tuple(layer for layer in LAYERS if layer)


def run(profile: str = "site", seed: int = 0, device: str = "cpu", progress: bool | None = None) -> Result:
    cfg = PROFILES[profile]
    seed_everything(seed)
    split = cues.cue_split(cfg.n_train, cfg.n_test, seed, textures="agree")
    nets = train_models(cfg, seed, device, progress)
    res = Result(QUESTION.id, profile, seed, meta={"threads": default_threads(), "eps_at": "4/255",
                                                   "models": ", ".join(nets), "width": cfg.width})
    x, y = split.x_test.to(device), split.y_test.to(device)
    conflict = cues.cue_conflict(cfg.conflict_images, seed + 1)
    with torch_threads(default_threads()):
        run_steps([("texture vs shape", lambda: texture_vs_shape(res, cfg, nets, x, y, conflict, seed)),
                   ("receptive fields", lambda: receptive_fields(res, cfg, nets["standard"], x)),
                   ("minimal ε", lambda: minimal_eps(res, cfg, nets, x, y, seed)),
                   ("what layers see", lambda: what_layers_see(res, cfg, nets, conflict))],
                  f"q01 ({profile})", progress)
    return res


def train_models(cfg: Settings, seed: int, device: str, progress) -> dict[str, nn.Module]:
    """The three models every section compares (trained once, then loaded from the weight cache)."""
    agree = cues.cue_split(cfg.n_train, cfg.n_test, seed, textures="agree")
    shuffled = cues.cue_split(cfg.n_train, cfg.n_test, seed, textures="random")
    spec = TrainSpec(width=cfg.width, epochs=cfg.epochs, lr=0.2, seed=seed)
    at_spec = replace(spec, lr=0.1, adv_eps=EPS, adv_steps=cfg.at_steps)
    train = lambda s, d: trained_model(s, d, device=device, progress=progress)  # noqa: E731
    return {"standard": train(spec, agree), "shape-trained": train(spec, shuffled), "PGD-AT": train(at_spec, agree)}


# ---------------------------------------------------------------- 1. texture or shape?
def texture_vs_shape(res: Result, cfg: Settings, nets, x, y, conflict, seed: int) -> None:
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
    res.claim("standard_model_follows_texture", "两种线索一致时训练出的标准模型，在线索冲突图上多数按纹理判断",
              "trained where shape and texture agree, the standard model mostly follows the texture",
              {"texture_share": by["standard"]["texture_share"], "decided_by_shape": by["standard"]["decided_by_shape"]},
              "texture_share > 0.5")
    res.claim("a_patch_of_texture_is_enough", "助教的“一小块毛皮”成立：只给纹理、不给轮廓，标准模型仍远高于机会水平地认出类别",
              "the TA's 'patch of fur' holds: texture alone, without any outline, is recognised far above chance",
              {"texture_only_acc": by["standard"]["texture_only_acc"], "chance": 1 / NUM_CLASSES},
              "texture_only_acc > 3 * chance")
    res.claim("bias_comes_from_the_data", "纹理偏好来自训练数据而非网络结构：同一网络在纹理随机的数据上训练后改为按形状判断",
              "the bias comes from the data, not the architecture: the same network trained with random textures "
              "follows the shape",
              {"standard": by["standard"]["texture_share"], "shape_trained": by["shape-trained"]["texture_share"]},
              "shape_trained < 0.5 < standard")


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
    res.figure("receptive_field_maps", rf_figure(x[0], windows, {lab: maps[l].map for l, lab in LAYERS.items() if l}))
    conv = rows[:-1]
    res.claim("gradients_confirm_the_arithmetic", "梯度实测的影响范围与按卷积核、步长推算的理论感受野一致",
              "the measured gradient support equals the theoretical receptive field of every conv layer",
              {"theoretical": [r["theoretical_rf"] for r in conv], "measured": [r["gradient_support"] for r in conv]},
              "theoretical == measured")
    res.claim("effective_field_is_smaller", "有效感受野比理论感受野小：较深的层里，一半的影响集中在窗口中央一小块（Luo 等的发现）",
              "in the deeper layers half of a unit's gradient mass sits in a square much smaller than its theoretical field",
              {"theoretical": [r["theoretical_rf"] for r in conv[1:]], "effective_50": [r["effective_rf_50"] for r in conv[1:]]},
              "all(e < t for e, t in zip(effective_50, theoretical))")
    res.claim("local_units_global_vote", "每个卷积单元只看局部（最深一层也小于整幅图），但全局平均池化让输出对整幅图的像素都有梯度：判断是局部证据的投票",
              "every conv unit sees only part of the image, yet the pooled output depends on all of it: "
              "the decision is a vote of local evidence",
              {"deepest_unit_rf": conv[-1]["theoretical_rf"], "output_support": rows[-1]["gradient_support"],
               "image_size": size},
              "deepest_unit_rf < image_size and output_support == image_size")


# ---------------------------------------------------------------- 3. how small can a perturbation be?
def _first_at(fractions: list[float], level: float) -> float | None:
    """The smallest grid ε (in /255) at which the flipped fraction reaches ``level`` (None: not within the grid)."""
    return next((e for e, f in zip(EPS_GRID, fractions) if f >= level), None)


def minimal_eps(res: Result, cfg: Settings, nets, x, y, seed: int) -> None:
    ev_x, ev_y = x[:cfg.eps_images], y[:cfg.eps_images]
    gen = torch.Generator().manual_seed(seed)
    rows, acc_curves, examples = [], {}, None
    for name, model in nets.items():
        correct = metrics.predict(model, ev_x) == ev_y
        xs, ys = ev_x[correct], ev_y[correct]
        # flipped at ε counts an image once any ε' ≤ ε flipped it: a perturbation within ε' is also within ε
        flipped = torch.zeros(len(xs), dtype=torch.bool)
        first_adv, first_eps = xs.clone(), torch.full((len(xs),), float("nan"))
        fractions, noise_fractions = [], []
        for e in EPS_GRID:
            eps = e / 255
            adv = in_batches(PGD(model, eps=eps, alpha=2.5 * eps / cfg.steps, steps=cfg.steps), xs, ys)
            now = (metrics.predict(model, adv) != ys) & ~flipped
            first_adv[now], first_eps[now] = adv[now], e
            flipped |= now
            fractions.append(float(flipped.float().mean()))
            if name == "standard":  # the same budget spent on random ±ε noise instead of the gradient's direction
                signs = torch.randint(0, 2, xs.shape, generator=gen).float() * 2 - 1
                noisy = (xs + eps * signs).clamp(0, 1)
                noise_fractions.append(float((metrics.predict(model, noisy) != ys).float().mean()))
        clean = float(correct.float().mean())
        acc_curves[name] = [clean * (1 - f) for f in fractions]
        rows.append({"模型 model": name, "attack": f"PGD-{cfg.steps}", "clean_acc": clean,
                     "eps50_255": _first_at(fractions, 0.5), "eps90_255": _first_at(fractions, 0.9),
                     "flipped_at_4_255": fractions[EPS_GRID.index(4)], "flipped_at_16_255": fractions[-1]})
        if name == "standard":
            acc_curves["standard + random ±ε noise"] = [clean * (1 - f) for f in noise_fractions]
            rows.append({"模型 model": name, "attack": "random ±ε noise", "clean_acc": clean,
                         "eps50_255": _first_at(noise_fractions, 0.5), "eps90_255": _first_at(noise_fractions, 0.9),
                         "flipped_at_4_255": noise_fractions[EPS_GRID.index(4)],
                         "flipped_at_16_255": noise_fractions[-1]})
            examples = (xs, ys, first_adv, first_eps, metrics.predict(model, first_adv))
    res.table("minimal_eps", f"翻转 50% / 90% 正确预测所需的最小 L∞ ε（/255，{len(ev_x)} 张图，网格 {EPS_GRID}）"
              "(smallest ε flipping 50% / 90% of correct predictions)", rows,
              note="eps50/eps90 为网格上首次达到该比例的 ε（– = 网格内未达到）；flipped_at_*：在该 ε 下被翻转的正确预测比例。")
    res.table("accuracy_vs_eps", "准确率随 ε 变化（accuracy vs ε, /255）",
              [{"eps_255": e, **{k: v[i] for k, v in acc_curves.items()}} for i, e in enumerate(EPS_GRID)])
    res.figure("accuracy_vs_eps", curves(list(EPS_GRID), acc_curves, "L∞ ε (/255)", "accuracy",
                                         "Accuracy under PGD as the budget grows",
                                         {"4/255": 4, "data noise σ max": NOISE_SIGMA_MAX * 255}))
    xs, ys, adv, eps, pred = examples
    pick = [i for i in range(len(xs)) if not torch.isnan(eps[i])][:4]
    triples = torch.cat([torch.stack([xs[i], (0.5 + (adv[i] - xs[i]) * 255 / (2 * 16)).clamp(0, 1), adv[i]])
                         for i in pick]) if pick else xs[:0]
    titles = [t for i in pick for t in (f"clean: {CLASS_NAMES[ys[i]]}", f"perturbation ε={eps[i]:g}/255\n(×{255 // 32})",
                                         f"adversarial: {CLASS_NAMES[pred[i]]}")]
    res.figure("adversarial_examples", image_grid(triples, titles, "Clean / amplified perturbation / adversarial",
                                                  cols=6))
    by = {(r["模型 model"], r["attack"]): r for r in rows}
    std, noise = by[("standard", f"PGD-{cfg.steps}")], by[("standard", "random ±ε noise")]
    at, shape = by[("PGD-AT", f"PGD-{cfg.steps}")], by[("shape-trained", f"PGD-{cfg.steps}")]
    res.claim("small_eps_flips_half", "让标准模型一半的正确预测出错所需的 ε 小于训练数据本身像素噪声 σ 的上限",
              "the ε that flips half of the standard model's correct predictions is below the pixel noise σ the "
              "training data already contains",
              {"eps50_255": std["eps50_255"], "data_noise_sigma_max_255": NOISE_SIGMA_MAX * 255},
              "eps50_255 is not None and eps50_255 < data_noise_sigma_max_255")
    res.claim("direction_not_size", "关键是方向而非大小：同样预算的随机 ±ε 噪声几乎翻转不了预测（Goodfellow 等的线性解释）",
              "direction, not size: random ±ε noise of the same budget hardly flips anything",
              {"pgd_flipped_at_16": std["flipped_at_16_255"], "noise_flipped_at_16": noise["flipped_at_16_255"]},
              "pgd_flipped_at_16 > 0.9 and noise_flipped_at_16 < 0.1")
    res.claim("adversarial_training_moves_the_threshold", "对抗训练把翻转一半预测所需的 ε 提高了",
              "adversarial training raises the ε needed to flip half the predictions",
              {"standard_eps50": std["eps50_255"], "at_eps50": at["eps50_255"]},
              "at_eps50 is None or (standard_eps50 is not None and at_eps50 > standard_eps50)")
    res.claim("shape_bias_is_not_robustness", "纠正纹理偏好并没有让模型更难骗：按形状判断的模型反而在更小的 ε 下就被翻转一半",
              "fixing the texture bias does not make the model harder to fool: the shape-trained model flips at a "
              "smaller ε",
              {"shape_trained_eps50": shape["eps50_255"], "standard_eps50": std["eps50_255"],
               "shape_trained_flipped_at_4": shape["flipped_at_4_255"], "standard_flipped_at_4": std["flipped_at_4_255"]},
              "shape_trained_eps50 is not None and (standard_eps50 is None or shape_trained_eps50 < standard_eps50)"
              " and shape_trained_flipped_at_4 > standard_flipped_at_4")


# ---------------------------------------------------------------- 4. what the layers respond to
def _purity(labels: torch.Tensor) -> float:
    """Mean over channels of how often the most common label occurs among a channel's top images."""
    counts = F.one_hot(labels, NUM_CLASSES).sum(1)          # (channels, classes)
    return float((counts.max(1).values / labels.shape[1]).float().mean())


def what_layers_see(res: Result, cfg: Settings, nets, conflict) -> None:
    x_conf, shape, texture = conflict
    rows, acts_of = [], {}
    for name in ("standard", "shape-trained"):
        model = nets[name]
        with capture(model, list(CONV_LAYERS)) as acts:
            metrics.predict(model, x_conf, batch_size=len(x_conf))
        acts_of[name] = acts
        for layer in CONV_LAYERS:
            strength = acts[layer].amax(dim=(2, 3))                   # (N, C): each channel's peak per image
            top = strength.topk(cfg.top_k, dim=0).indices.T            # (C, k) images that excite a channel most
            shuffled = torch.randperm(len(x_conf), generator=torch.Generator().manual_seed(res.seed))
            rows.append({"模型 model": name, "layer": LAYERS[layer], "channels": strength.shape[1],
                         "texture_purity": _purity(texture[top]), "shape_purity": _purity(shape[top]),
                         "chance_purity": _purity(texture[shuffled[top]])})
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
    by = {(r["模型 model"], r["layer"]): r for r in rows}
    std, shp = by[("standard", "conv3")], by[("shape-trained", "conv3")]
    res.claim("deep_units_are_texture_detectors", "标准模型最深一层的通道被同一种纹理（而非同一种形状）的图片激活——助教“看到的更多是纹路”在这里成立",
              "the standard model's deepest channels are excited by one texture rather than one shape",
              {"texture_purity": std["texture_purity"], "shape_purity": std["shape_purity"],
               "chance": std["chance_purity"]},
              "texture_purity > shape_purity and texture_purity > chance + 0.2")
    res.claim("shape_training_changes_what_units_see", "换成纹理随机的数据训练，同一层通道转为被同一种形状激活",
              "trained with random textures, the same layer's channels are excited by one shape instead",
              {"texture_purity": shp["texture_purity"], "shape_purity": shp["shape_purity"]},
              "shape_purity > texture_purity")


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
