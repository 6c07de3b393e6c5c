"""q08 — 黄兆辉: does defending slow recognition down and cost resources, and how to balance security and speed?

Reads top-down like its page: one classifier is trained (or loaded from the cache), then every defense is
measured on it with the same harness — inference cost and what robustness it buys, PatchCleanser's model calls
for k = 2…6 (loop and batched), and the training-side costs as ratios to one normal epoch.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from statistics import NormalDist

import numpy as np
import torch

from .kb.question import Question
from .kb.result import Result
from .lab import costs, data, metrics, patchcleanser as pc, repair
from .lab.attacks import PGD, PatchPGD, in_batches
from .lab.defenses import Defended, preprocessors
from .lab.instrument import count_calls
from .lab.progress import run_steps
from .lab.seeding import default_threads, seed_everything
from .lab.smoothing import Smoothed
from .lab.timing import time_call, torch_threads
from .lab.train import TrainSpec, batch_transform, time_epoch, trained_model
from .lab.plots import calls_vs_k, latency_vs_calls, pareto

QUESTION = Question(
    id="q08", slug="defense-cost", asker="黄兆辉", section="大闭环助教采纳",
    question_zh="防御图像识别攻击是否会对识别速度和资源消耗产生影响？如何平衡安全性和性能之间的关系？",
    title_en="The speed and resource cost of defenses", title_zh="防御的速度与资源代价",
    cites=("xiang2022patchcleanser", "cohen2019certified", "prakash2018deflecting", "liu2018fine",
           "madry2018towards", "wu2021adversarial", "chen2018detecting", "villarrealvasquez2020confoc",
           "guo2018countering", "xu2018feature", "brown2017adversarial", "athalye2018obfuscated"),
)


@dataclass(frozen=True)
class Settings:
    n_train: int
    n_test: int
    epochs: int
    width: int              # classifier width (tiny uses a narrower net so tests stay fast)
    eval_images: int        # clean and attacked accuracy
    smooth_samples: int     # N noise samples per prediction
    smooth_images: int
    certify_ns: tuple       # noise-sample counts N compared for smoothing's certificates
    certify_images: int
    patch: int              # PatchCleanser's stated patch size (pixels per side)
    pc_images: int          # double-masking predictions per k
    cert_images: int        # certified accuracy per k (k²(k²+1)/2 calls each)
    loop_images: int        # images run through both implementations
    repeats: int            # timing repeats
    time_subset: int        # images in the timed training epochs
    at_steps: int           # PGD steps of adversarial training (timed and trained)


PROFILES = {
    "tiny": Settings(n_train=4000, n_test=300, epochs=8, width=8, eval_images=64, smooth_samples=16,
                     smooth_images=64, certify_ns=(16, 64), certify_images=16, patch=3, pc_images=12, cert_images=2, loop_images=1, repeats=1,
                     time_subset=256, at_steps=2),
    "site": Settings(n_train=6000, n_test=1000, epochs=10, width=16, eval_images=500, smooth_samples=64,
                     smooth_images=300, certify_ns=(16, 64, 256), certify_images=40, patch=3, pc_images=100, cert_images=20, loop_images=3, repeats=5,
                     time_subset=1024, at_steps=3),
    "full": Settings(n_train=50000, n_test=10000, epochs=30, width=16, eval_images=10000, smooth_samples=1000,
                     smooth_images=1000, certify_ns=(100, 1000, 10000), certify_images=500, patch=3, pc_images=1000, cert_images=500, loop_images=20, repeats=20,
                     time_subset=10000, at_steps=7),
}
KS = (2, 3, 4, 5, 6)
EPS = 4 / 255  # the L∞ budget: 8/255 leaves a 24k-parameter CNN no room to be robust at all
SIGMA = 0.12
L2_EPS = 0.25
CERT_RADIUS = 0.1


def specs(cfg: Settings, seed: int) -> tuple[TrainSpec, TrainSpec]:
    """The one classifier every inference defense wraps (trained with noise and two-box cutout so that
    smoothing and masking keep it accurate), and the PGD-AT model of the training-side defense."""
    base = TrainSpec(width=cfg.width, epochs=cfg.epochs, lr=0.2, noise_sigma=SIGMA, cutout=7, seed=seed)
    adv = TrainSpec(width=cfg.width, epochs=cfg.epochs, lr=0.1, adv_eps=EPS, adv_steps=cfg.at_steps, seed=seed)
    return base, adv


def run(profile: str = "site", seed: int = 0, device: str = "cpu", progress: bool | None = None) -> Result:
    cfg = PROFILES[profile]
    seed_everything(seed)
    split = data.signs(cfg.n_train, cfg.n_test, seed)
    base_spec, adv_spec = specs(cfg, seed)
    model = trained_model(base_spec, split, device=device, progress=progress)
    at_model = trained_model(adv_spec, split, device=device, progress=progress)
    res = Result(QUESTION.id, profile, seed, meta={"threads": default_threads(), "device": device,
                                                   "train": base_spec.name, "n_train": cfg.n_train,
                                                   "patch": cfg.patch})
    x, y = split.x_test.to(device), split.y_test.to(device)
    with torch_threads(default_threads()):
        run_steps([("inference costs", lambda: inference_costs(res, cfg, model, at_model, x, y)),
                   ("smoothing certificates", lambda: smoothing_certificates(res, cfg, model, x, y)),
                   ("PatchCleanser", lambda: patchcleanser_costs(res, cfg, model, x, y, split.num_classes)),
                   ("training costs", lambda: training_costs(res, cfg, model, split, device, progress))],
                  f"q08 ({profile})", progress)
    res.figure("pareto", pareto(res.tables["inference"].rows))
    return res


# ---------------------------------------------------------------- inference: every defense, one harness
def inference_costs(res: Result, cfg: Settings, model, at_model, x, y) -> None:
    ev_x, ev_y = x[:cfg.eval_images], y[:cfg.eval_images]
    adv_linf = in_batches(PGD(model, eps=EPS, alpha=EPS / 4, steps=10), ev_x, ev_y)
    adv_l2 = in_batches(PGD(model, eps=L2_EPS, alpha=L2_EPS / 4, steps=10, norm="L2"), ev_x, ev_y)
    patch_x, patch_y = x[:cfg.pc_images], y[:cfg.pc_images]
    adv_patch = in_batches(PatchPGD(model, size=cfg.patch, steps=30, tries=2, seed=res.seed), patch_x, patch_y)
    plain = lambda imgs: metrics.predict(model, imgs)  # noqa: E731
    none_under = {"linf": metrics.accuracy(plain(adv_linf), ev_y), "l2": metrics.accuracy(plain(adv_l2), ev_y),
                  "patch": metrics.accuracy(plain(adv_patch), patch_y)}
    threat = {"linf": f"L∞ PGD ε={round(EPS * 255)}/255", "l2": f"L2 PGD ε={L2_EPS}",
              "patch": f"{cfg.patch}×{cfg.patch} patch"}
    rows = []

    def add(name: str, classify, base, kind: str, clean_x, clean_y, adv, extra: dict | None = None) -> None:
        cost = costs.measure(classify, base, x, repeats=cfg.repeats)
        clean = metrics.accuracy(classify(clean_x), clean_y)
        robust = metrics.accuracy(classify(adv), clean_y)
        rows.append({"防御 defense": name, **cost.to_dict(), "clean_acc": clean, "threat": threat[kind],
                     "robust_acc": robust, "undefended_robust_acc": none_under[kind],
                     "gain": robust - none_under[kind], **(extra or {})})

    add("无防御 none", plain, model, "linf", ev_x, ev_y, adv_linf)
    for name, transform in preprocessors().items():
        defended = Defended(model, transform).eval()
        add(name, lambda imgs, d=defended: metrics.predict(d, imgs), model, "linf", ev_x, ev_y, adv_linf)
    smoothed = Smoothed(model, SIGMA)
    sm_x, sm_y = x[:cfg.smooth_images], y[:cfg.smooth_images]
    add(f"随机平滑 smoothing N={cfg.smooth_samples}",
        lambda imgs: smoothed.predict(imgs, cfg.smooth_samples, generator=torch.Generator().manual_seed(res.seed)),
        model, "l2", sm_x, sm_y, adv_l2[:cfg.smooth_images])
    masks = pc.MaskSet(x.shape[-1], cfg.patch, 6)
    add("PatchCleanser k=6", lambda imgs: pc.double_masking_batched(model, imgs, masks), model, "patch",
        patch_x, patch_y, adv_patch)
    at_adv = in_batches(PGD(at_model, eps=EPS, alpha=EPS / 4, steps=10), ev_x, ev_y)
    add("对抗训练 PGD-AT (白盒攻击 white-box)", lambda imgs: metrics.predict(at_model, imgs), at_model, "linf",
        ev_x, ev_y, at_adv)
    none = rows[0]
    for r in rows:
        r["latency_multiplier"] = r["latency_b64_ms"] / none["latency_b64_ms"]
        r["clean_cost"] = none["clean_acc"] - r["clean_acc"]
    res.table("inference", "每张图片的推理代价与换来的鲁棒性 (per-image inference cost and the robustness it buys)",
              rows, note="延迟为中位数 (ms/图)；robust_acc 是该防御在其威胁模型下的准确率，攻击对无防御模型生成"
                         "（非自适应），PGD-AT 行为直接攻击该模型（白盒）。")

    by = {r["防御 defense"]: r for r in rows}
    preprocess = [r["latency_multiplier"] for r in rows[1:5]]
    many_calls = [r["latency_multiplier"] for r in rows[5:7]]
    res.claim("calls_dominate_cost", "多次调用模型的防御（随机平滑、PatchCleanser）比任何一种输入预处理都慢得多",
              "defenses that call the model many times (smoothing, PatchCleanser) are slower than any preprocessing",
              {"preprocessing_multipliers": [round(m, 2) for m in preprocess],
               "many_call_multipliers": [round(m, 1) for m in many_calls]},
              "min(many_call_multipliers) > 2 * max(preprocessing_multipliers)")
    sm = by[f"随机平滑 smoothing N={cfg.smooth_samples}"]
    res.claim("smoothing_calls", f"随机平滑每张图调用模型恰好 N = {cfg.smooth_samples} 次（插桩计数）",
              "randomized smoothing calls the model exactly N times per image (instrumented)",
              {"counted_calls_per_image": sm["calls_per_image"], "N": cfg.smooth_samples},
              "counted_calls_per_image == N")
    at = by["对抗训练 PGD-AT (白盒攻击 white-box)"]
    res.claim("at_buys_linf", "对抗训练不增加推理代价，却在白盒 L∞ PGD 下保住了更多准确率",
              "adversarial training adds no inference cost yet keeps more accuracy under white-box L∞ PGD",
              {"at_robust": at["robust_acc"], "none_robust": none["robust_acc"],
               "at_multiplier": at["latency_multiplier"], "at_clean_cost": at["clean_cost"]},
              "at_robust > none_robust and at_multiplier < 1.5")
    for key, row in (("jpeg", by["JPEG (q=75)"]), ("median", by["中值滤波 median 3×3"])):
        res.claim(f"{key}_nonadaptive", f"{row['防御 defense']}：面对非自适应 PGD 的准确率高于无防御，代价是干净准确率下降"
                  f" {row['clean_cost'] * 100:.1f} 个百分点",
                  f"{key} beats no defense against non-adaptive PGD, at a clean-accuracy cost",
                  {"robust": row["robust_acc"], "undefended": row["undefended_robust_acc"],
                   "clean_cost": row["clean_cost"]}, "robust > undefended")
    # the other defenses: their measured trade-off is stated as it came out (some buy little or nothing here);
    # the rule checks the measurement is coherent — an attack never raises accuracy above the clean one
    for key, row in (("bit_depth", by["位深 bit depth 3"]), ("deflection", by["像素偏转 pixel deflection"]),
                     ("smoothing", sm), ("patchcleanser", by["PatchCleanser k=6"])):
        res.claim(f"{key}_tradeoff", f"{row['防御 defense']}：干净准确率代价 {row['clean_cost'] * 100:.1f} 个百分点，"
                  f"在 {row['threat']} 下准确率 {row['undefended_robust_acc'] * 100:.0f}% → {row['robust_acc'] * 100:.0f}%"
                  f"（{row['gain'] * 100:+.0f} 点），延迟 ×{row['latency_multiplier']:.1f}",
                  f"{key}: measured clean-accuracy cost, robustness gain and latency multiplier",
                  {"clean_acc": row["clean_acc"], "clean_cost": row["clean_cost"], "robust_acc": row["robust_acc"],
                   "gain": row["gain"], "latency_multiplier": row["latency_multiplier"]},
                  "robust_acc <= clean_acc + 0.05")


def smoothing_certificates(res: Result, cfg: Settings, model, x, y) -> None:
    """Cohen et al.'s CERTIFY for several N: what more model calls buy in certified L2 radius."""
    smoothed = Smoothed(model, SIGMA)
    cx, cy = x[:cfg.certify_images], y[:cfg.certify_images]
    rows = []
    for n in cfg.certify_ns:
        with count_calls(model) as c:
            t0 = time.perf_counter()
            label, radius = smoothed.certify(cx, n0=16, n=n, generator=torch.Generator().manual_seed(res.seed))
            seconds = time.perf_counter() - t0
        ok = label == cy
        rows.append({"N": n, "calls_per_image": c.images / len(cx), "ms_per_image": seconds * 1e3 / len(cx),
                     "max_radius_possible": SIGMA * NormalDist().inv_cdf(0.001 ** (1 / n)),
                     "certified_acc_r0": float(ok.float().mean()),
                     f"certified_acc_r{CERT_RADIUS}": float((ok & (radius >= CERT_RADIUS)).float().mean()),
                     "mean_radius_when_correct": float(radius[ok].mean()) if ok.any() else 0.0})
    res.table("smoothing", f"随机平滑的认证半径与调用次数（σ={SIGMA}，{len(cx)} 张图，α=0.001）"
              "(randomized smoothing: certified L2 radius vs model calls)", rows,
              note="每张图先用 16 个样本猜类别，再用 N 个样本给出 p_A 的 Clopper–Pearson 下界；半径 = σ·Φ⁻¹(p_A)。")
    res.claim("smoothing_radius_costs_calls", "随机平滑：N 越大，能认证的 L2 半径越大，但模型调用按 16 + N 线性增长",
              "randomized smoothing: a larger N certifies larger L2 radii, at 16 + N model calls per image",
              {"N": list(cfg.certify_ns), "calls_per_image": [r["calls_per_image"] for r in rows],
               "mean_radius": [r["mean_radius_when_correct"] for r in rows]},
              "mean_radius[-1] > mean_radius[0] and all(c == 16 + n for c, n in zip(calls_per_image, N))")


# ---------------------------------------------------------------- PatchCleanser: calls vs k, loop vs batched
def patchcleanser_costs(res: Result, cfg: Settings, model, x, y, num_classes: int) -> None:
    n = x.shape[-1]
    rows, loop_rows = [], []
    for k in KS:
        masks = pc.MaskSet(n, cfg.patch, k)
        px, py = x[:cfg.pc_images], y[:cfg.pc_images]
        calls, seconds, pred = [], [], []
        for img in px:  # image by image: each image's own call count and batch-1 latency
            with count_calls(model) as c:
                t0 = time.perf_counter()
                pred.append(pc.double_masking_batched(model, img[None], masks))
                seconds.append(time.perf_counter() - t0)
            calls.append(c.images)
        cx, cy = x[:cfg.cert_images], y[:cfg.cert_images]
        with count_calls(model) as cc:
            pair_correct = pc.two_mask_predictions(model, cx, masks) == cy[:, None]
        cert = pair_correct.all(1)
        adversary = pc.DisagreeingModel(masks, num_classes)
        probe = torch.full((1, 3, n, n), 0.25)
        with count_calls(adversary) as worst_batched:
            pc.double_masking_batched(adversary, probe, masks)
        with count_calls(adversary) as worst_loop:
            pc.double_masking_loop(adversary, probe, masks)
        calls_np = np.array(calls)
        rows.append({"k": k, "masks": len(masks), "mask_px": masks.mask_size, "min_calls": int(calls_np.min()),
                     "mean_calls": float(calls_np.mean()), "max_calls": int(calls_np.max()),
                     "first_round_only": float((calls_np == len(masks)).mean()),
                     "worst_case_formula": pc.worst_case_calls(k, num_classes),
                     "worst_case_counted": worst_batched.images, "worst_case_counted_loop": worst_loop.images,
                     "cert_calls_per_image": cc.images / max(1, len(cx)),
                     "cert_formula": pc.certification_calls(k),
                     "pc_acc": metrics.accuracy(torch.cat(pred), py),
                     # certify_* certify for the true label, so certified implies correct
                     "certified_acc": float(cert.float().mean()),
                     "two_mask_acc": float(pair_correct.float().mean()),
                     "latency_b1_ms": float(np.median(seconds)) * 1e3,
                     "calls_per_image": calls, "seconds_per_image": seconds})
        loop_rows.append(_loop_vs_batched(cfg, model, x, y, masks, k))
    res.table("patchcleanser", f"PatchCleanser：模型调用次数随 k 的变化（补丁 {cfg.patch}×{cfg.patch} 像素，{num_classes} 类）"
              " (model calls vs k)", [{k: v for k, v in r.items() if k not in ("calls_per_image", "seconds_per_image")} for r in rows])
    k6 = np.array(rows[-1]["calls_per_image"])
    res.table("calls_distribution", f"k=6 时每张图的模型调用次数分布（{len(k6)} 张测试图）(measured calls per image, k=6)",
              [{"calls": int(v), "images": int((k6 == v).sum()), "fraction": float((k6 == v).mean())}
               for v in np.unique(k6)])
    res.table("loop_vs_batched", "逐掩码循环 vs 批量实现 (mask-by-mask loop vs batched)", loop_rows)
    res.figure("calls_vs_k", calls_vs_k(rows))
    res.figure("latency_vs_calls", latency_vs_calls(rows))
    by_k = {r["k"]: r for r in rows}

    res.claim("first_round_is_k2", "第一轮恰好调用 k² 次：每个 k 下，调用最少的图片都正好是 k² 次，没有更少的",
              "the first round costs exactly k² calls: for every k the cheapest image costs exactly k²",
              {"min_calls": [r["min_calls"] for r in rows], "k_squared": [r["masks"] for r in rows]},
              "min_calls == k_squared")
    k6 = by_k[6]
    res.claim("first_round_usually_enough", "k=6 时最常见的调用次数就是第一轮的 36 次，平均调用远低于最坏情况（< 25%）",
              "at k=6 the most common cost is the first round's 36 calls, and the mean is far below the worst case",
              {"most_common_calls": int(np.bincount(k6["calls_per_image"]).argmax()), "k_squared": k6["masks"],
               "fraction_first_round_only": k6["first_round_only"], "mean_calls": k6["mean_calls"],
               "worst_case": k6["worst_case_formula"]},
              "most_common_calls == k_squared and mean_calls < 0.25 * worst_case")
    res.claim("course_nine_is_3x3", "课程说“至少 inference 九次”：实测 9 次只对应 3×3 掩码集；论文默认的 6×6 至少 36 次",
              "the course's 'at least nine inferences' is the 3×3 case; the paper's 6×6 default costs at least 36",
              {"min_calls_k3": by_k[3]["min_calls"], "min_calls_k6": by_k[6]["min_calls"]},
              "min_calls_k3 == 9 and min_calls_k6 == 36")
    res.claim("worst_case_reached", "专门构造的“处处不一致”模型让调用次数恰好达到最坏情况 k² + (k² − ⌈k²/C⌉)·k²（两种实现）",
              "a model built to disagree reaches the worst case k² + (k² − ⌈k²/C⌉)·k² exactly, in both implementations",
              {"counted": [r["worst_case_counted"] for r in rows], "counted_loop": [r["worst_case_counted_loop"]
               for r in rows], "formula": [r["worst_case_formula"] for r in rows]},
              "counted == formula and counted_loop == formula")
    many = pc.DisagreeingModel(pc.MaskSet(n, cfg.patch, 6), 40)
    with count_calls(many) as c40:
        pc.double_masking_batched(many, torch.full((1, 3, n, n), 0.25), pc.MaskSet(n, cfg.patch, 6))
    res.claim("worst_case_many_classes", "类别数 ≥ 36 时 k=6 的最坏情况为 1,296 次（实测）",
              "with ≥ 36 classes the k=6 worst case is 1,296 calls (counted)",
              {"counted_40_classes": c40.images, "formula": pc.worst_case_calls(6, 40)}, "counted_40_classes == formula")
    res.claim("no_input_exceeds_worst", "真实测试图片的调用次数从不超过最坏情况上界",
              "no real test image exceeds the worst-case bound",
              {"max_calls": [r["max_calls"] for r in rows], "bound": [r["worst_case_formula"] for r in rows]},
              "all(m <= b for m, b in zip(max_calls, bound))")
    res.claim("certification_calls", "认证一张图片需要全部 k²(k²+1)/2 个双掩码预测（k=6 时 666 次，实测）",
              "certifying one image takes all k²(k²+1)/2 two-mask predictions (666 at k=6, counted)",
              {"counted": [r["cert_calls_per_image"] for r in rows], "formula": [r["cert_formula"] for r in rows]},
              "counted == formula")
    res.claim("loop_equals_batched", "批量实现与逐掩码循环给出完全相同的预测与认证结果",
              "batched and loop implementations give identical predictions and certificates",
              {"prediction_mismatches": sum(r["prediction_mismatches"] for r in loop_rows),
               "certificate_mismatches": sum(r["certificate_mismatches"] for r in loop_rows),
               "images_compared": sum(r["images"] for r in loop_rows)},
              "prediction_mismatches == 0 and certificate_mismatches == 0 and images_compared > 0")
    res.claim("batched_faster", "批量实现比逐掩码循环快（同一次运行中测得的速度比）",
              "the batched implementation is faster than the loop (ratio measured in one run)",
              {"speedups": [round(r["speedup"], 1) for r in loop_rows]}, "min(speedups) > 1 and max(speedups) > 2")
    all_calls = [c for r in rows for c in r["calls_per_image"]]
    all_seconds = [t for r in rows for t in r["seconds_per_image"]]
    mean_ms = [float(np.mean(r["seconds_per_image"])) * 1e3 for r in rows]
    res.claim("latency_rises_with_calls", "延迟随模型调用次数上升：各 k 的平均延迟与平均调用次数同序，逐图延迟也与调用次数正相关",
              "latency rises with model calls: mean latency per k follows mean calls, and per image too",
              {"mean_calls": [r["mean_calls"] for r in rows], "mean_latency_ms": mean_ms,
               "rank_correlation_by_k": _spearman([r["mean_calls"] for r in rows], mean_ms),
               "rank_correlation_per_image": _spearman(all_calls, all_seconds)},
              "rank_correlation_by_k >= 0.9 and rank_correlation_per_image > 0.5")
    res.claim("certification_needs_every_pair", "认证要求全部 666 个双掩码预测都正确：即使单个双掩码预测的准确率很高，"
              "能被认证的图片也少得多",
              "certification needs all 666 two-mask predictions right: certified accuracy is far below the accuracy of "
              "a single two-mask prediction", {"two_mask_acc_k6": k6["two_mask_acc"], "certified_k6": k6["certified_acc"]},
              "certified_k6 < two_mask_acc_k6 - 0.2")
    res.claim("certified_below_empirical", "认证准确率是下界：不高于补丁攻击下的实测准确率",
              "certified accuracy is a lower bound: never above accuracy under the patch attack",
              {"certified_k6": by_k[6]["certified_acc"],
               "empirical_k6": _row(res, "inference", "PatchCleanser k=6")["robust_acc"]},
              "certified_k6 <= empirical_k6")


def _loop_vs_batched(cfg: Settings, model, x, y, masks: pc.MaskSet, k: int) -> dict:
    lx, ly = x[:cfg.loop_images], y[:cfg.loop_images]
    t0 = time.perf_counter()
    p_loop = pc.double_masking_loop(model, lx, masks)
    c_loop = pc.certify_loop(model, lx[:1], ly[:1], masks)
    t_loop = time.perf_counter() - t0
    t0 = time.perf_counter()
    p_batch = pc.double_masking_batched(model, lx, masks)
    c_batch = pc.certify_batched(model, lx[:1], ly[:1], masks)
    t_batch = time.perf_counter() - t0
    return {"k": k, "images": len(lx), "loop_s": t_loop, "batched_s": t_batch, "speedup": t_loop / t_batch,
            "prediction_mismatches": int((p_loop != p_batch).sum()),
            "certificate_mismatches": int((c_loop != c_batch).sum())}


def _row(res: Result, table: str, name: str) -> dict:
    return next(r for r in res.tables[table].rows if r["防御 defense"] == name)


def _spearman(a: list[float], b: list[float]) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    # rounded: a correlation of exactly 0.9 must not compute as 0.8999999999999998 and fail a ">= 0.9" rule
    return round(float(np.corrcoef(ra, rb)[0, 1]), 6)


# ---------------------------------------------------------------- training side: ratios to a normal epoch
def training_costs(res: Result, cfg: Settings, model, split: data.Split, device: str, progress) -> None:
    xs, ys = split.x_train[:cfg.time_subset].to(device), split.y_train[:cfg.time_subset].to(device)
    clean_x, clean_y = xs[: max(32, len(xs) // 10)], ys[: max(32, len(xs) // 10)]  # a 10% clean set
    fresh = lambda: repair.copy_model(model)  # noqa: E731 - same starting weights for every timing
    kw = dict(batch_size=128, progress=progress)
    # the first epoch of a process pays one-off costs (thread pools, allocator): warm up, then take a median
    normal = time_call(lambda: time_epoch(fresh(), xs, ys, **kw), warmup=1, repeats=3).median_s
    at_spec = specs(cfg, res.seed)[1]
    t = {
        "一个正常训练 epoch (normal epoch)": normal,
        "微调 fine-tuning (10% 干净数据 × 5 epochs)": _timed(lambda: repair.fine_tune(
            fresh(), clean_x, clean_y, epochs=5, progress=progress)),
        "精剪 fine-pruning (剪枝 + 同样的微调)": _timed(lambda: _fine_prune(fresh(), clean_x, clean_y, progress)),
        f"对抗训练 PGD-AT 一个 epoch ({cfg.at_steps} 步 PGD)": time_epoch(
            fresh(), xs, ys, perturb=batch_transform(at_spec), **kw),
        "对抗训练 PGD-AT 一个 epoch (7 步 PGD, Madry 设置)": time_epoch(
            fresh(), xs, ys, perturb=batch_transform(replace(at_spec, adv_steps=7)), **kw),
    }
    rows = [{"训练侧防御 training-side defense": name, "seconds": s, "ratio_to_normal_epoch": s / normal}
            for name, s in t.items()]
    res.table("training", f"训练侧代价（{len(xs)} 张图，相对一个正常 epoch）(training-side cost as ratio to one epoch)",
              rows)
    ratios = {r["训练侧防御 training-side defense"]: r["ratio_to_normal_epoch"] for r in rows}
    pgd7 = ratios["对抗训练 PGD-AT 一个 epoch (7 步 PGD, Madry 设置)"]
    res.claim("pgd_at_epoch_cost", "一个 7 步 PGD 对抗训练 epoch 的耗时是正常 epoch 的数倍（课程只说“慢很多”）",
              "one epoch of 7-step PGD-AT costs several normal epochs (the course only says 'much slower')",
              {"ratio": pgd7}, "ratio > 3")
    res.claim("at_costlier_than_repair", "对抗训练一个 epoch 比在小干净集上微调或精剪更贵",
              "one PGD-AT epoch costs more than fine-tuning or fine-pruning on a small clean set",
              {"pgd7": pgd7, "fine_tune": ratios["微调 fine-tuning (10% 干净数据 × 5 epochs)"],
               "fine_prune": ratios["精剪 fine-pruning (剪枝 + 同样的微调)"]},
              "pgd7 > fine_tune and pgd7 > fine_prune")


def _fine_prune(model, x, y, progress) -> None:
    repair.fine_prune(model, model.features, x, y, epochs=5, progress=progress)


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0
