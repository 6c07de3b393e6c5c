"""q02 — 周玉清: when a recognizer takes its input from a camera, must an attack be a physical object?

Reads top-down like its page. One classifier of the lab's sign images; universal adversarial patches (one patch
for every image, placed at random) trained three ways — digitally, with Expectation over Transformation through
a simulated camera capture, and with a cloth warp of the patch on top — plus one with the printability and
smoothness terms of the physical-world papers. Each is measured digitally and through the capture at increasing
severity, through a cloth warp, after "printing" (its colours snapped to a printer's palette) and against patch
size. Two controls of the same size: a random patch (what covering part of the image does by itself) and the EOT
patch with its pixels shuffled (the same colours covering the same area, without the pattern).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass

import torch

from .experiment import Experiment
from .kb import evidence as ev
from .kb.question import Question
from .kb.result import Result
from .lab import metrics, patches as P, transforms as T
from .lab.data import CLASS_NAMES, IMAGE_SIZE
from .lab.plots import curves, image_grid

QUESTION = Question(
    id="q02", slug="physical-world-attacks", asker="周玉清", section="讲课当天助教采纳",
    question_zh="白盒攻击中的所有攻击方法都将输入图像直接提供给机器学习模型。但是在使用摄像头、麦克风或其他传感器接收信号作为"
                "输入的情况下，是否都是通过生成物理世界对抗对象来攻击这些系统？",
    title_en="Must attacks on camera-fed systems be physical objects?", title_zh="经摄像头的攻击必须是物理对象吗",
    cites=("thys2019fooling", "xu2020adversarial", "brown2017adversarial", "athalye2018synthesizing"),
)


@dataclass(frozen=True)
class Settings:
    """How much each measurement does at a profile (data and the model come from the zoo's scale)."""

    steps: int              # optimisation steps per patch
    batch: int              # images per step
    train_images: int       # images the patches are trained on (from the training split)
    eval_images: int        # test images of other classes than the target
    sizes: tuple            # patch sides (pixels) of the size sweep; SIZE is always one of them
    severities: tuple       # capture severities of the curve (0 = digital, no capture)
    runs: int               # independent optimisations of every comparison of patches (run 0: the main patches)


PROFILES = {
    "tiny": Settings(steps=40, batch=32, train_images=1000, eval_images=150, sizes=(6, 10), severities=(0, 0.5, 1),
                     runs=2),
    "site": Settings(steps=150, batch=32, train_images=2000, eval_images=600, sizes=(6, 8, 10, 12),
                     severities=(0, 0.25, 0.5, 0.75, 1), runs=5),
    "full": Settings(steps=1000, batch=64, train_images=20000, eval_images=5000, sizes=(4, 6, 8, 10, 12, 14),
                     severities=(0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1), runs=5),
}
TARGET = 3                 # every patch asks for "diamond"
SIZE = 10                  # the main patch side: 10×10 of 32×32 pixels, about 10% of the image
TV, PRINTABILITY = 1.0, 1.0
SHUFFLE = 13               # generator offset of the shuffled control's permutation
SCENES = 11                # generator offset of the evaluation scenes: every table sees the same positions and cameras
CLOTH_MARGIN = 0.10         # a gain this large (in targeted success) would count as "clearly stronger"
PATCHES = {                # key -> (label, trained through the capture?, with the cloth warp?, printability terms?)
    "digital": ("仅数字 digital", False, False, False),
    "eot": ("EOT 拍摄 capture", True, False, False),
    "eot_cloth": ("EOT 拍摄 + 布料 cloth", True, True, False),
    "eot_print": ("EOT 拍摄 + 可打印 printable", True, False, True),
}
CONTROLS = {                # key -> label: the two patches of the same size that are not adversarial
    "random": "随机对照 random", "shuffled": "打乱像素的 EOT 补丁 shuffled EOT"}


def run(profile: str = "site", seed: int = 0, device: str = "cpu", progress: bool | None = None) -> Result:
    cfg = PROFILES[profile]
    exp = Experiment.start(QUESTION, profile, seed, device, progress,
                           meta={"target": CLASS_NAMES[TARGET], "size": SIZE, "image": IMAGE_SIZE})
    model = exp.model("camera")   # a camera-fed recognizer: fine-tuned on what its camera sees
    trained: dict[str, torch.Tensor] = {}
    runs = RunPatches(exp, cfg, model, trained)
    return exp.run([("train patches", lambda: trained.update(train_patches(exp, cfg, model))),
                    ("capture severity", lambda: capture_curve(exp, cfg, model, trained, runs)),
                    ("cloth and print", lambda: cloth_and_print(exp, cfg, model, trained, runs)),
                    ("patch size", lambda: size_sweep(exp, cfg, model, runs))])


def _trainer(exp: Experiment, cfg: Settings, model, size: int, capture: bool, cloth: bool, printable: bool,
             seed: int | None = None):
    return P.PatchTrainer(model, size=size, target=TARGET, steps=cfg.steps, batch=cfg.batch, lr=0.3,
                          capture=T.capture(1.0) if capture else None, deform=T.cloth() if cloth else None,
                          tv=TV if printable else 0.0, printability=PRINTABILITY if printable else 0.0,
                          seed=exp.seed if seed is None else seed)


def _train_set(exp: Experiment, cfg: Settings):
    s = exp.split
    return s.x_train[:cfg.train_images].to(exp.device), s.y_train[:cfg.train_images].to(exp.device)


def _eval_set(exp: Experiment, cfg: Settings):
    keep = exp.y != TARGET   # a targeted patch can only succeed on images of other classes
    return exp.x[keep][:cfg.eval_images], exp.y[keep][:cfg.eval_images]



class RunPatches:
    """The patches of independent optimisations: a patch is optimised, so a comparison of patches has the
    optimisation as its unit. Run 0 (the page's seed) is section 1's patches; every other run optimises a patch
    with its own seed (start, batches, scenes and cameras of the optimisation), once, whichever section asks
    first; its random control is drawn with that seed too."""

    def __init__(self, exp: Experiment, cfg: Settings, model, trained: dict[str, torch.Tensor]):
        self.exp, self.cfg, self.model, self.trained = exp, cfg, model, trained
        self.made: dict[tuple[int, str, int], torch.Tensor] = {}

    @property
    def seeds(self) -> list[int]:
        return self.exp.run_seeds(self.cfg.runs)

    def patch(self, seed: int, key: str, size: int = SIZE) -> torch.Tensor:
        """Patch ``key`` (of :data:`PATCHES`, "random" or "shuffled") of side ``size`` of the run with ``seed``."""
        if seed == self.exp.seed and size == SIZE:
            return self.trained[key]
        if (seed, key, size) not in self.made:
            if key == "shuffled":
                made = shuffled(self.patch(seed, "eot", size), seed)
            elif key == "random":
                made = torch.rand(3, size, size, generator=torch.Generator().manual_seed(seed + 7))
            else:
                tx, ty = _train_set(self.exp, self.cfg)
                made = _trainer(self.exp, self.cfg, self.model, size, *PATCHES[key][1:], seed=seed).fit(tx, ty, False)
            self.made[seed, key, size] = made
        return self.made[seed, key, size]


# ---------------------------------------------------------------- 1. four patches of the main size
def train_patches(exp: Experiment, cfg: Settings, model) -> dict[str, torch.Tensor]:
    x, y = _train_set(exp, cfg)
    out = {key: _trainer(exp, cfg, model, SIZE, *flags).fit(x, y, progress=False)
           for key, (_, *flags) in PATCHES.items()}
    out["random"] = torch.rand(3, SIZE, SIZE, generator=exp.generator(7))   # the control: any patch, not adversarial
    out["shuffled"] = shuffled(out["eot"], exp.seed)   # the control: the EOT patch's colours, not its pattern
    palette = P.printer_palette()
    exp.res.table("patches", f"四块 {SIZE}×{SIZE} 通用补丁与对照（目标类 {CLASS_NAMES[TARGET]}）(the patches)",
                  [{"key": k, "补丁 patch": PATCHES[k][0] if k in PATCHES else CONTROLS[k],
                    "total_variation": float(P.total_variation(p)),
                    "non_printability": float(P.non_printability(p, palette))} for k, p in out.items()],
                  note="total_variation：相邻像素差的平均；non_printability：每个像素到最近的可打印颜色的平均距离。")
    return out



def shuffled(patch: torch.Tensor, seed: int) -> torch.Tensor:
    """``patch`` with its pixel positions permuted (each pixel keeps its colour): the same colours over the same
    area, so the same occlusion and printability, without the spatial pattern."""
    c, h, w = patch.shape
    order = torch.randperm(h * w, generator=torch.Generator().manual_seed(seed + SHUFFLE))
    return patch.reshape(c, h * w)[:, order].reshape(c, h, w)


def _success(model, x, y, patch, seed_gen: torch.Generator, capture=None, deform=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image: sent to the target (targeted success) and misclassified (untargeted success)."""
    pred = metrics.predict(model, P.apply_patch(x, patch, seed_gen, capture, deform))
    return pred == TARGET, pred != y


def _targeted_hits(exp: Experiment, model, x, y, patch, capture=None, deform=None) -> torch.Tensor:
    """Per image of ``x``: whether ``patch`` sends it to the target, on the page's evaluation scenes (:data:`SCENES`)."""
    return _success(model, x, y, patch, exp.generator(SCENES), capture, deform)[0]


def _targeted_rate(exp: Experiment, model, x, y, patch, capture=None, deform=None) -> float:
    """Share of ``x`` that ``patch`` sends to the target, on the page's evaluation scenes (:data:`SCENES`)."""
    return float(_targeted_hits(exp, model, x, y, patch, capture, deform).float().mean())


def _accuracy_through(model, x, y, generator: torch.Generator, capture=None) -> float:
    """Accuracy on ``x`` seen through ``capture`` (parameters from ``generator``), no patch."""
    return metrics.accuracy(metrics.predict(model, x if capture is None else capture(x, generator=generator)), y)


# ---------------------------------------------------------------- 2. success against capture severity
def capture_curve(exp: Experiment, cfg: Settings, model, trained: dict[str, torch.Tensor], runs: RunPatches) -> None:
    res = exp.res
    x, y = _eval_set(exp, cfg)
    rows = []
    for s in cfg.severities:
        capture = T.capture(s) if s > 0 else None
        # the recognizer's own accuracy on the same scenes without a patch: what the camera alone costs
        row = {"severity": s, "accuracy_no_patch": _accuracy_through(model, x, y, exp.generator(SCENES), capture)}
        for key, patch in trained.items():
            # the same generator state for every patch: the same positions and the same camera, image by image
            targeted, untargeted = _success(model, x, y, patch, exp.generator(SCENES), capture)
            row[key] = float(targeted.float().mean())
            row[f"{key}_untargeted"] = float(untargeted.float().mean())
        rows.append(row)
    res.table("severity", f"通用补丁的定向成功率随拍摄强度的变化（{len(x)} 张非目标类测试图）"
              "(targeted success vs capture severity)", rows,
              note="severity 0 = 直接把补丁贴进数字图像；1 = 最强的模拟拍摄（透视、旋转缩放、光照、模糊、噪声、JPEG）。"
                   "每个强度下所有补丁用同一组位置与拍摄参数。带 _untargeted 的列是非定向成功率（分错即算）；"
                   "accuracy_no_patch：不贴补丁、同一强度的拍摄下识别器自己的准确率。")
    res.figure("severity_curve", curves(list(cfg.severities), {k: [r[k] for r in rows] for k in trained},
                                  "capture severity", "targeted success", "Universal patch: success through a camera"))
    res.figure("scenes", _scenes(exp, trained))
    capture_over_runs(exp, model, runs, x, y, T.capture(cfg.severities[-1]))


def capture_over_runs(exp: Experiment, model, runs: RunPatches, x, y, capture) -> None:
    """The severity findings compare optimised patches (or one patch with and without the camera), so each is
    decided over independent optimisations: every run's digital and EOT patch and its random control, measured
    on the same scenes, digital and through the strongest capture."""
    res = exp.res
    rows = []
    for r, seed in enumerate(runs.seeds):
        def hit(key: str, through=None) -> float:
            return _targeted_rate(exp, model, x, y, runs.patch(seed, key), through)
        row = {"run": r, "seed": seed, "digital_digital": hit("digital"), "digital_captured": hit("digital", capture),
               "eot_captured": hit("eot", capture), "random_captured": hit("random", capture),
               "shuffled_captured": hit("shuffled", capture)}
        loss, gain = row["digital_digital"] - row["digital_captured"], row["eot_captured"] - row["digital_captured"]
        rows.append({**row, "loss": loss, "gain": gain, "recovered": gain / loss if loss > 0 else 0.0,
                     "over_random": row["eot_captured"] - row["random_captured"],
                     "over_shuffled": row["eot_captured"] - row["shuffled_captured"]})
    res.table("capture_runs", f"{len(rows)} 次独立优化（每次用自己的种子训练数字补丁与 EOT 补丁、抽随机对照），同一组 {len(x)} 张图、"
              "同样的场景：数字贴图与最强拍摄下的定向成功率 (every optimisation: digital and captured success)", rows,
              note="run 0 就是上表的补丁。loss = digital_digital − digital_captured（拍摄让数字补丁损失多少）；"
                   "gain = eot_captured − digital_captured（EOT 挽回多少）；recovered = gain ÷ loss（挽回了损失的几成）；over_random = eot_captured − random_captured；"
                   "shuffled：把该次 EOT 补丁的像素位置随机打乱（颜色不变），over_shuffled = eot_captured − shuffled_captured。")
    mean = {k: statistics.mean(r[k] for r in rows) for k in rows[0] if k not in ("run", "seed")}

    def each(a: str, b: str) -> str:
        return "、".join(f"{r[a]:.0%}→{r[b]:.0%}" for r in rows)

    res.finding("digital_patch_fades", f"对我们的识别模型，只在数字图像上训练的补丁经过模拟拍摄后定向成功率下降：{len(rows)} 次独立优化平均从 "
                f"{mean['digital_digital']:.0%} 降到 {mean['digital_captured']:.0%}（各次 {each('digital_digital', 'digital_captured')}）",
                "against our recognizer, a patch trained only digitally loses success through the simulated camera, over "
                "independent optimisations",
                {"digital": mean["digital_digital"], "captured": mean["digital_captured"], "loss": mean["loss"]},
                "loss > 0", evidence=ev.over_run_rows(rows, "loss"), null={"loss": 0.0})
    # how much of the loss EOT wins back varies with the optimisation (a third or more in most runs, less in some, and
    # at one kernel level a run fell just under a third): the share is measured and shown with its interval; the
    # finding is the direction, that EOT beats the digital patch through the camera in every optimisation
    share = ev.mean_interval([r["recovered"] for r in rows], "recovered")
    lo, hi = share.intervals["recovered"]
    res.finding("eot_recovers", f"对我们的识别模型，训练时对拍摄取期望（EOT）的补丁经过拍摄比只数字训练的补丁更常成功：最强拍摄下 "
                f"{len(rows)} 次独立优化平均 {mean['eot_captured']:.0%} 对 {mean['digital_captured']:.0%}，每一次都更高（各次数字→EOT："
                f"{each('digital_captured', 'eot_captured')}）。挽回了拍摄夺走的成功率的多少随优化而变：各次 "
                + "、".join(f"{r['recovered']:.0%}" for r in rows)
                + f"，平均 {mean['recovered']:.0%}（95% 区间 {lo:.0%}–{hi:.0%}；这一比例只报告，不作判定）",
                "against our recognizer, a patch trained with EOT over the capture succeeds through the camera more often "
                "than the digitally trained one, in every one of the independent optimisations; how much of the loss it "
                "wins back varies with the optimisation and is shown, not decided",
                {"eot": mean["eot_captured"], "digital": mean["digital_captured"], "gain": mean["gain"],
                 "recovered": mean["recovered"]},
                "gain > 0", evidence=ev.over_run_rows(rows, "gain", "recovered") + share,
                null={"gain": 0.0})
    # the control that shares everything with the patch but its pattern: the same pixels shuffled (same colours,
    # same area covered, same printability). A random patch only shows that covering the image is not enough; a
    # target class that the patch's colours alone call up would pass that control and fail this one
    res.finding("patch_not_occlusion", f"起作用的是补丁像素的排列，而不只是遮挡或它用了哪些颜色：把 EOT 补丁的像素位置打乱（每种颜色的像素数与遮挡面积都不变）后，"
                f"最强拍摄下平均只把 {mean['shuffled_captured']:.0%} 的图送到目标类，原补丁 {mean['eot_captured']:.0%}，"
                f"每一次都更高（{len(rows)} 次独立优化，各次打乱→原补丁：{each('shuffled_captured', 'eot_captured')}；"
                f"同样大小的随机补丁 {mean['random_captured']:.0%}）",
                "it is the arrangement of the patch's pixels, not only occlusion or which colours it uses: the EOT "
                "patch with its pixels shuffled (the same colour histogram, the same area covered) sends fewer scenes "
                "to the target than the patch itself, in every independent optimisation",
                {"eot": mean["eot_captured"], "shuffled_captured": mean["shuffled_captured"],
                 "random_captured": mean["random_captured"], "over_shuffled": mean["over_shuffled"]},
                "over_shuffled > 0", evidence=ev.over_run_rows(rows, "over_shuffled"),
                null={"over_shuffled": 0.0})

def _scenes(exp: Experiment, trained: dict[str, torch.Tensor]):
    """Four test images with the EOT patch: digital, then through the strongest capture."""
    x = exp.x[:4]
    digital = P.apply_patch(x, trained["eot"], exp.generator(3))
    captured = P.apply_patch(x, trained["eot"], exp.generator(3), T.capture(1.0))
    patch = torch.nn.functional.interpolate(trained["eot"][None], size=x.shape[-1], mode="nearest")  # enlarged
    blank = torch.ones_like(patch)
    return image_grid(torch.cat([patch, digital, blank, captured]),
                      ["patch (EOT), enlarged", *["digital"] * 4, "", *["captured"] * 4],
                      "The EOT patch in scenes: digital (top), through the camera (bottom)", cols=5)


# ---------------------------------------------------------------- 3. cloth warp and printing
def cloth_and_print(exp: Experiment, cfg: Settings, model, trained: dict[str, torch.Tensor], runs: RunPatches) -> None:
    res = exp.res
    x, y = _eval_set(exp, cfg)
    palette = P.printer_palette()
    conditions = {
        "captured": dict(capture=T.capture(1.0)),
        "captured_cloth": dict(capture=T.capture(1.0), deform=T.cloth()),
        "printed_captured": dict(capture=T.capture(1.0), printed=True),
    }
    hits: dict[str, dict[str, torch.Tensor]] = {}
    rows = []
    for key in PATCHES:
        row = {"key": key, "补丁 patch": PATCHES[key][0]}
        hits[key] = {}
        for cond, kw in conditions.items():
            patch = P.print_colours(trained[key], palette) if kw.get("printed") else trained[key]
            targeted, _ = _success(model, x, y, patch, exp.generator(SCENES), kw.get("capture"), kw.get("deform"))
            hits[key][cond] = targeted
            row[cond] = float(targeted.float().mean())
        rows.append(row)
    res.table("conditions", "布料褶皱与打印：各补丁在最强拍摄下的定向成功率 (cloth folds and printing, at the strongest capture)",
              rows, note="captured_cloth：贴上之前每份补丁先经过薄板样条（TPS）形变，模拟衣服上的褶皱；printed_captured："
                         "补丁的每个像素先换成调色板里最近的可打印颜色（4×4×4 网格，[0.1, 0.9]），再拍摄。")
    cloth_comparison(exp, model, runs, x, y)
    printed = P.print_colours(trained["eot"], palette)
    res.check("printing_snaps_to_palette", "“打印”之后补丁的每个像素都是调色板里的颜色（不可打印度为 0）",
              "after 'printing' every pixel of a patch is a palette colour (non-printability 0)",
              {"non_printability_after": float(P.non_printability(printed, palette)),
               "pixels_off_palette": int((torch.cdist(printed.flatten(1).T, palette, compute_mode="donot_use_mm_for_euclid_dist")
                                          .min(1).values > 1e-6).sum())},
              "non_printability_after < 1e-6 and pixels_off_palette == 0")


def cloth_comparison(exp: Experiment, model, runs: RunPatches, x, y) -> None:
    """Does training through the cloth warp pay off under folds? Over independent optimisations (:class:`RunPatches`:
    both patches of a run share its seed), all measured on the same folded, captured scenes."""
    res = exp.res
    rows, hits = [], []
    for r, seed in enumerate(runs.seeds):
        hit = {k: _targeted_hits(exp, model, x, y, runs.patch(seed, k), T.capture(1.0), T.cloth())
               for k in ("eot", "eot_cloth")}
        hits.append(hit)
        rate = {k: float(v.float().mean()) for k, v in hit.items()}
        rows.append({"run": r, "seed": seed, "cloth_trained": rate["eot_cloth"], "plain_eot": rate["eot"],
                     "difference": rate["eot_cloth"] - rate["eot"]})
    res.table("cloth_runs", f"布料褶皱下的定向成功率：{len(rows)} 次独立优化（每次两块补丁用同一个种子训练），"
              f"同一组 {len(x)} 张图的褶皱+最强拍摄场景 (cloth-trained vs plain EOT, one row per optimisation)", rows,
              note="run 0 就是上表的两块补丁；difference = cloth_trained − plain_eot。补丁是优化出来的，"
                   "所以比较的单位是一次优化，而不是同一次优化里的一张张测试图。")
    mean = {k: statistics.mean(r[k] for r in rows) for k in ("cloth_trained", "plain_eot", "difference")}
    # What the T-shirt paper's method promises is a clear gain from training through the warp, every time; what
    # varies is the optimisation (its gain has ranged from -30 to +15 points between seeds, and its sign with the
    # CPU's rounding). So the finding is that the promise fails at least once: the optimisation with the smallest
    # gain, its interval over its scenes (paired bootstrap) below the margin. It comes out false when even the
    # weakest optimisation gains the margin or more. The weakest is picked out of len(rows): its interval's upper
    # end is taken at α / len(rows) (ev.picked_of)
    low = min(range(len(rows)), key=lambda i: rows[i]["difference"])
    a, b = (hits[low][k].float() for k in ("eot_cloth", "eot"))
    smallest = ev.bootstrap(lambda idx: float(a[idx].mean() - b[idx].mean()), a, "smallest_gain", seed=exp.seed,
                            resamples=1000, confidence=ev.picked_of(len(rows)))
    res.finding("cloth_training_not_reliable",
                f"对我们的识别模型，拍摄中有布料褶皱时，训练时也加上褶皱并不能每次都让补丁明显更强：{len(rows)} 次独立优化里差值从 "
                f"{rows[low]['difference'] * 100:+.1f} 到 {max(r['difference'] for r in rows) * 100:+.1f} 个百分点"
                f"（平均 {mean['cloth_trained']:.0%} 对 {mean['plain_eot']:.0%}），领先最少的一次（种子 {rows[low]['seed']}）"
                f"不到 {CLOTH_MARGIN * 100:.0f} 个百分点",
                "against our recognizer, under cloth folds, training the patch through the cloth warp does not make it clearly stronger every "
                f"time: in the weakest of {len(rows)} independent optimisations it gains less than "
                f"{CLOTH_MARGIN * 100:.0f} points (or loses)",
                {"smallest_gain": rows[low]["difference"], **mean}, f"smallest_gain < {CLOTH_MARGIN:g}",
                evidence=smallest, null={"smallest_gain": CLOTH_MARGIN})


# ---------------------------------------------------------------- 4. patch size
def size_sweep(exp: Experiment, cfg: Settings, model, runs: RunPatches) -> None:
    res = exp.res
    x, y = _eval_set(exp, cfg)

    def success(patch: torch.Tensor, capture=None) -> float:
        return _targeted_rate(exp, model, x, y, patch, capture)

    rows = []
    for size in cfg.sizes:
        patch = runs.patch(exp.seed, "eot", size)
        rows.append({"size": size, "area": size ** 2 / x.shape[-1] ** 2, "digital": success(patch),
                     "captured": success(patch, T.capture(1.0))})
    res.table("size", "补丁大小与成功率（EOT 训练）(success vs patch size, EOT patches)", rows,
              note="area：补丁占图像面积的比例。")
    res.figure("size_curve", curves([r["area"] for r in rows], {"digital": [r["digital"] for r in rows],
                                                                 "captured (severity 1)": [r["captured"] for r in rows]},
                                    "patch area (fraction of the image)", "targeted success",
                                    "Universal patch: success vs size"))
    # bigger against smaller is a comparison of optimised patches: over independent optimisations
    small, big = cfg.sizes[0], cfg.sizes[-1]
    by = {r["size"]: r["captured"] for r in rows}
    size_runs = [{"run": 0, "seed": exp.seed, "small": by[small], "big": by[big]}]
    size_runs += [{"run": r, "seed": seed, "small": success(runs.patch(seed, "eot", small), T.capture(1.0)),
                   "big": success(runs.patch(seed, "eot", big), T.capture(1.0))}
                  for r, seed in enumerate(runs.seeds[1:], 1)]
    for r in size_runs:
        r["difference"] = r["big"] - r["small"]
    res.table("size_runs", f"{big}×{big} 与 {small}×{small} 的 EOT 补丁在最强拍摄下的定向成功率，{len(size_runs)} 次独立优化"
              f"（每次两块补丁用同一个种子训练；同一组 {len(x)} 张图与场景）(bigger vs smaller patch over optimisations)",
              size_runs, note="run 0 就是上表的两行；difference = big − small。")
    mean = {k: statistics.mean(r[k] for r in size_runs) for k in ("small", "big", "difference")}
    res.finding("bigger_patch_succeeds_more", f"经过最强拍摄，{big}×{big} 的补丁比 {small}×{small} 的更有效：前者成功率平均 {mean['big']:.0%}，"
                f"{small}×{small} 的 {mean['small']:.0%}（{len(size_runs)} 次独立优化，各次 "
                + "、".join(f"{r['small']:.0%}→{r['big']:.0%}" for r in size_runs) + "）",
                f"through the strongest capture, a {big}×{big} patch succeeds more often than a {small}×{small} one, over "
                "independent optimisations",
                mean, "difference > 0",
                evidence=ev.over_run_rows(size_runs, "difference"),
                null={"difference": 0.0})
