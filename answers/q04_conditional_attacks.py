"""q04 — 张凯博: is there an attack that leaves the model alone yet switches on only at some moments, unlike an
adversarial patch that is always on?

Reads top-down like its page. Three attackers against the same camera-fed sign recognizer: an always-on universal
patch; a *conditional* patch, trained to send images to the target only when a plain "key" sticker sits beside
it and to leave the prediction alone otherwise; and, for comparison, a BadNets backdoor, which switches on with
its trigger but changes the model through its training data. For each: how often it fires when it should (on)
and when it should not (off), digitally and through the simulated camera of q02; the conditional patch also
against patch size and at two image resolutions (the TA's "too little information" argument).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass

import torch

from .experiment import Experiment
from .kb import evidence as ev
from .kb.question import Question
from .kb.result import Result
from .lab import metrics, patches as P, transforms as T, zoo
from .lab.backdoor import Trigger
from .lab.data import CLASS_NAMES
from .lab.models import weights_digest
from .lab.plots import curves, image_grid
from .lab.zoo import BACKDOOR

QUESTION = Question(
    id="q04", slug="conditional-attacks", asker="张凯博", section="课后采纳",
    question_zh="请问有没有什么攻击可以既不用修改模型，又可以在部分时刻激活攻击而不是像 Adversarial Patch 那样一直激活攻击？",
    title_en="Attacks that switch on only sometimes", title_zh="只在部分时刻生效的攻击",
    cites=("brown2017adversarial", "gu2019badnets", "athalye2018synthesizing"),
)


@dataclass(frozen=True)
class Settings:
    """How much each measurement does at a profile (data and models come from the zoo's scale)."""

    steps: int              # optimisation steps per patch
    batch: int
    train_images: int
    eval_images: int        # test images of other classes than the target
    sizes: tuple            # conditional patch sides (pixels, at 32×32) of the size sweep
    runs: int               # independent runs (seeds) of the findings: recognizers, patches and scenes


PROFILES = {
    "tiny": Settings(steps=40, batch=32, train_images=1000, eval_images=150, sizes=(6, 10), runs=2),
    "site": Settings(steps=200, batch=32, train_images=2000, eval_images=600, sizes=(6, 8, 10, 12), runs=5),
    "full": Settings(steps=1000, batch=64, train_images=20000, eval_images=5000, sizes=(4, 6, 8, 10, 12, 14), runs=5),
}
TARGET = BACKDOOR.target    # every attacker asks for the class the zoo's backdoor was planted for
SIZE, KEY = 10, 4           # the main patch side and its key sticker, pixels at 32×32
SEVERITY = 0.5              # the simulated capture the "through the camera" columns use
SCENES = 5                  # generator offset of the evaluation scenes (same positions and cameras everywhere)


def run(profile: str = "site", seed: int = 0, device: str = "cpu", progress: bool | None = None) -> Result:
    cfg = PROFILES[profile]
    exp = Experiment.start(QUESTION, profile, seed, device, progress,
                           meta={"target": CLASS_NAMES[TARGET], "size": SIZE, "key": KEY, "severity": SEVERITY,
                                 "trigger": BACKDOOR.trigger, "poison_ratio": BACKDOOR.ratio})
    # two systems: one fed digital images, one fed by a camera; each with a clean and a backdoored model
    systems = {"digital": (exp.model("standard", "digital recognizer"), exp.model("badnets", "digital, backdoored"),
                           None),
               "captured": (exp.model("camera", "camera recognizer"),
                            exp.model("badnets_camera", "camera, backdoored"), T.capture(SEVERITY))}
    hits: dict = {"weights_before": {s: weights_digest(m[0]) for s, m in systems.items()}}
    return exp.run([("three attackers", lambda: hits.update(three_attackers(exp, cfg, systems))),
                    ("patch size", lambda: size_sweep(exp, cfg, systems["digital"][0], hits["conditional_patch"])),
                    ("resolution", lambda: resolution(exp, cfg, hits)),
                    ("over runs", lambda: hits.update(runs=selectivity_runs(exp, cfg, hits))),
                    ("claims", lambda: claims(exp, hits, systems))])


def _data(exp: Experiment, cfg: Settings, split=None):
    s = split or exp.split
    keep = s.y_test != TARGET   # firing means "sent to the target": only images of other classes count
    return (s.x_train[:cfg.train_images].to(exp.device), s.y_train[:cfg.train_images].to(exp.device),
            s.x_test[keep][:cfg.eval_images].to(exp.device), s.y_test[keep][:cfg.eval_images].to(exp.device))


def _fires(model, images: torch.Tensor) -> torch.Tensor:
    return metrics.predict(model, images) == TARGET


def _conditional(exp, cfg, model, size: int, key_side: int, capture=None, seed: int | None = None):
    return P.ConditionalPatchTrainer(model, size=size, target=TARGET, steps=cfg.steps, batch=cfg.batch, lr=0.3,
                                     key=P.key_mark(key_side), capture=capture,
                                     seed=exp.seed if seed is None else seed)


def _on_off(exp, model, patch, key, x, capture=None, seed: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image: fires with patch + key (on), fires with the patch alone (off) — the same scenes otherwise
    (drawn with the run's ``seed``; the page's own by default)."""
    def scenes() -> torch.Generator:
        return torch.Generator().manual_seed((exp.seed if seed is None else seed) + SCENES)
    on = _fires(model, P.keyed_scene(x, patch, key, scenes(), capture=capture))
    off = _fires(model, P.keyed_scene(x, patch, key, scenes(), show_key=False, capture=capture))
    return on, off


# ---------------------------------------------------------------- 1. three attackers, on and off
def three_attackers(exp: Experiment, cfg: Settings, systems: dict) -> dict:
    tx, ty, x, y = _data(exp, cfg)
    key, trigger = P.key_mark(KEY), Trigger(BACKDOOR.trigger)
    rows, hits = [], {}
    for setting, (model, backdoored, cap) in systems.items():
        seen = lambda images: images if cap is None else cap(images, generator=exp.generator(SCENES))  # noqa: E731
        # each patch is trained for the system it attacks: digitally, or with EOT over that system's camera
        always = P.PatchTrainer(model, size=SIZE, target=TARGET, steps=cfg.steps, batch=cfg.batch, lr=0.3,
                                capture=cap, seed=exp.seed).fit(tx, ty, False)
        cond = _conditional(exp, cfg, model, SIZE, KEY, cap).fit(tx, ty, False)
        # the always-on patch: "on" = in the scene, "off" = not in the scene (it cannot be switched otherwise)
        on_always = _fires(model, P.keyed_scene(x, always, key, exp.generator(SCENES), show_key=False, capture=cap))
        off_always = _fires(model, seen(x))
        on_cond, off_cond = _on_off(exp, model, cond, key, x, cap)
        on_bd, off_bd = _fires(backdoored, seen(trigger.stamp(x))), _fires(backdoored, seen(x))
        for name, label, on, off, changes_model, area in (
                ("always_on", "一直生效的补丁 always-on patch", on_always, off_always, "否 no", SIZE ** 2),
                ("conditional", "带钥匙的条件补丁 conditional patch + key", on_cond, off_cond, "否 no",
                 SIZE ** 2 + KEY ** 2),
                ("backdoor", "后门 BadNets backdoor", on_bd, off_bd, "是（通过训练数据）yes, via its data",
                 BACKDOOR.trigger ** 2)):
            hits[(name, setting)] = (on, off)
            rows.append({"key": f"{name}/{setting}", "攻击 attacker": label, "setting": setting,
                         "changes_model": changes_model, "area": area / x.shape[-1] ** 2,
                         "on_rate": float(on.float().mean()), "off_rate": float(off.float().mean()),
                         "selectivity": float(on.float().mean() - off.float().mean())})
        if cap is not None:
            # the camera system's view of the scene as rendered (a perfect camera), attacked by a patch trained for
            # it: the same model as the captured column, so the two differ only by the capture
            flat = _conditional(exp, cfg, model, SIZE, KEY).fit(tx, ty, False)
            hits[("conditional", "camera_uncaptured")] = _on_off(exp, model, flat, key, x)
        key_only = _fires(model, P.keyed_scene(x, cond, key, exp.generator(SCENES), show_patch=False, capture=cap))
        exp.res.meta.setdefault("key_only_rate", {})[setting] = float(key_only.float().mean())
        if setting == "digital":
            hits["conditional_patch"] = cond
            exp.res.figure("scenes", _scenes(exp, x, cond, key, trigger))
    exp.res.table("onoff", f"三种攻击者的开/关：发射率（送到目标类 {CLASS_NAMES[TARGET]} 的比例，{len(x)} 张非目标类测试图）"
                  "(on/off rates of the three attackers)", rows,
                  note="on_rate：条件满足时（补丁在场景里；条件补丁旁边有钥匙；后门图上有触发器）被送到目标类的比例；"
                       "off_rate：条件不满足时（没有补丁；条件补丁没有钥匙；后门图上没有触发器）的同一比例——误触发。"
                       "selectivity = on − off。digital：识别器直接读数字图像（标准模型与它的后门版本）；"
                       f"captured：识别器读强度 {SEVERITY} 的模拟拍摄（与 q02 相同的拍摄；在拍摄图像上微调过的模型与它的后门版本），"
                       "补丁为此用 EOT 训练。area：攻击者贴上的东西占图像面积的比例。")
    return hits


def _scenes(exp: Experiment, x, patch, key, trigger):
    """Three test images: with the conditional patch alone (off), with patch + key (on), with the trigger."""
    x = x[:3]
    off = P.keyed_scene(x, patch, key, exp.generator(SCENES), show_key=False)
    on = P.keyed_scene(x, patch, key, exp.generator(SCENES))
    return image_grid(torch.cat([off, on, trigger.stamp(x)]), ["patch alone (off)"] * 3 + ["patch + key (on)"] * 3
                      + ["backdoor trigger"] * 3, "Conditional patch off and on, and the backdoor trigger", cols=3)


# ---------------------------------------------------------------- 2. how big must a conditional patch be?
def size_sweep(exp: Experiment, cfg: Settings, model, main_patch: torch.Tensor) -> None:
    tx, ty, x, y = _data(exp, cfg)
    key = P.key_mark(KEY)
    rows = []
    for size in cfg.sizes:
        patch = main_patch if size == SIZE else _conditional(exp, cfg, model, size, KEY).fit(tx, ty, False)
        on, off = _on_off(exp, model, patch, key, x)
        rows.append({"size": size, "area": (size ** 2 + KEY ** 2) / x.shape[-1] ** 2, "on_rate": float(on.float().mean()),
                     "off_rate": float(off.float().mean()), "selectivity": float(on.float().mean() - off.float().mean())})
    exp.res.table("size", f"条件补丁的大小（钥匙 {KEY}×{KEY}，数字识别器）(conditional patch size, digital recognizer)",
                  rows, note="area：补丁加钥匙占图像面积的比例。")
    exp.res.figure("size_curve", curves([r["area"] for r in rows], {"on": [r["on_rate"] for r in rows],
                                                                     "off (false activation)": [r["off_rate"] for r in rows]},
                                        "patch + key area (fraction of the image)", "rate sent to the target",
                                        "Conditional patch: on and off vs size"))


# ---------------------------------------------------------------- 3. the TA's information argument
def resolution(exp: Experiment, cfg: Settings, hits: dict) -> None:
    """The same scenes drawn at 24 and 32 pixels, a standard model trained on each, a conditional patch of about
    the same relative size on each (digital: the question is what the image can carry, not the camera)."""
    per = {}
    small = zoo.split(exp.profile, exp.seed, zoo.SIGNS24)
    model24 = exp.model("standard24", "digital recognizer 24×24", on=small)
    tx, ty, x24, _ = _data(exp, cfg, small)
    size, key = round(SIZE * 24 / 32), round(KEY * 24 / 32)
    patch = _conditional(exp, cfg, model24, size, key).fit(tx, ty, False)
    per[24] = (*_on_off(exp, model24, patch, P.key_mark(key), x24), size, key)
    per[32] = (*hits[("conditional", "digital")], SIZE, KEY)
    hits["resolution"] = per
    exp.res.table("resolution", "两种分辨率下的条件补丁 (the conditional patch at two resolutions)",
                  [{"pixels": px, "patch": f"{size}×{size} + key {key}×{key}", "area": (size ** 2 + key ** 2) / px ** 2,
                    "on_rate": float(on.float().mean()), "off_rate": float(off.float().mean()),
                    "selectivity": float(on.float().mean() - off.float().mean())}
                   for px, (on, off, size, key) in sorted(per.items())],
                  note="两种分辨率用的是同一批场景（同一个种子生成，只是画得大小不同）与各自的标准模型，逐图配对。"
                       "area：补丁加钥匙占图像面积的比例（边长取整，24 像素时略大）。")



# ---------------------------------------------------------------- 4. every comparison over independent runs
def _mean(xs: torch.Tensor) -> float:
    return float(xs.float().mean())


def selectivity_runs(exp: Experiment, cfg: Settings, hits: dict) -> list[dict]:
    """The findings compare optimised patches (and, across resolutions, trained recognizers), so each is decided
    over independent runs. Run 0 is the sections above; every other run trains the three recognizers with its seed
    (on data drawn with it), optimises each conditional patch with it and draws its scenes with it."""
    def selectivity(on_off: tuple[torch.Tensor, torch.Tensor]) -> float:
        return _mean(on_off[0]) - _mean(on_off[1])

    def row(r: int, seed: int, digital, flat, captured, small) -> dict:
        return {"run": r, "seed": seed, "on": _mean(digital[0]), "off": _mean(digital[1]),
                "conditional": selectivity(digital), "uncaptured": selectivity(flat), "captured": selectivity(captured),
                "selectivity_24": selectivity(small)}

    rows = [row(0, exp.seed, hits[("conditional", "digital")], hits[("conditional", "camera_uncaptured")],
                hits[("conditional", "captured")], hits["resolution"][24][:2])]
    cap = T.capture(SEVERITY)
    size24, key24 = round(SIZE * 24 / 32), round(KEY * 24 / 32)
    for r, seed in enumerate(exp.run_seeds(cfg.runs)[1:], 1):
        digital, split = exp.model_of_run("standard", seed, f"digital recognizer (seed {seed})")
        camera, _ = exp.model_of_run("camera", seed, f"camera recognizer (seed {seed})")
        model24, split24 = exp.model_of_run("standard24", seed, f"digital recognizer 24×24 (seed {seed})")
        tx, ty, x, _ = _data(exp, cfg, split)
        tx24, ty24, x24, _ = _data(exp, cfg, split24)

        def on_off(model, data, size, key_side, capture=None, images=x):
            patch = _conditional(exp, cfg, model, size, key_side, capture, seed=seed).fit(*data, False)
            return _on_off(exp, model, patch, P.key_mark(key_side), images, capture, seed=seed)

        rows.append(row(r, seed, on_off(digital, (tx, ty), SIZE, KEY), on_off(camera, (tx, ty), SIZE, KEY),
                        on_off(camera, (tx, ty), SIZE, KEY, cap), on_off(model24, (tx24, ty24), size24, key24,
                                                                         images=x24)))
    for r in rows:
        r["blur"] = r["uncaptured"] - r["captured"]
        r["resolution_gain"] = r["conditional"] - r["selectivity_24"]
    exp.res.table("runs", f"条件补丁的选择性（on − off），{len(rows)} 次独立运行（每次用该次的种子生成数据、训练三个识别器、"
                  "优化每块补丁、抽取场景）(selectivity over independent runs)", rows,
                  note="conditional：数字识别器 32×32；uncaptured / captured：摄像头识别器未经拍摄 / 经过拍摄（补丁用 EOT 训练）；"
                       "selectivity_24：24×24 的识别器。blur = uncaptured − captured；resolution_gain = conditional − selectivity_24。"
                       "run 0 即上面各节。")
    return rows

# ---------------------------------------------------------------- 5. what the data says
def claims(exp: Experiment, hits: dict, systems: dict) -> None:
    res = exp.res
    res.check("patches_leave_model_alone", "两种补丁攻击者都没有改动模型：攻击前后两个识别器权重的摘要都相同",
              "neither patch attacker changes the model: the weights' digests are the same before and after",
              {"before": hits["weights_before"], "after": {s: weights_digest(m[0]) for s, m in systems.items()}},
              "before == after")
    rows = hits["runs"]
    mean = {k: statistics.mean(r[k] for r in rows) for k in rows[0] if k not in ("run", "seed")}

    res.finding("conditional_patch_is_selective", f"不改模型，条件补丁有钥匙时比没有钥匙时更常生效：{len(rows)} 次独立运行，"
                "条件补丁旁边有钥匙时与只有补丁时送进目标类的比例（数字图像，同一批场景）："
                + "、".join(f"{r['on']:.0%} 对 {r['off']:.0%}" for r in rows),
                "without touching the model, a conditional patch fires more often with its key than without it (digital "
                "scenes), over independent runs",
                {"on": mean["on"], "off": mean["off"], "conditional": mean["conditional"]}, "conditional > 0",
                evidence=ev.over_run_rows(rows, "conditional"), null={"conditional": 0.0})
    res.finding("capture_blurs_the_switch", f"同一个摄像头识别器：条件补丁的选择性（on − off）经过模拟拍摄下降，{len(rows)} 次独立运行"
                "（未经拍摄 → 经过拍摄）：" + "、".join(f"{r['uncaptured']:.0%} → {r['captured']:.0%}" for r in rows)
                + "（两块补丁各自为自己的条件训练，拍摄用的那块用了 EOT）",
                "on the same camera recognizer the conditional patch's selectivity falls through the simulated camera, "
                "even with a patch trained with EOT for it, over independent runs",
                {"uncaptured": mean["uncaptured"], "captured": mean["captured"], "blur": mean["blur"]}, "blur > 0",
                evidence=ev.over_run_rows(rows, "blur"), null={"blur": 0.0})
    res.finding("more_pixels_easier_switch", f"助教的“信息量”论证在我们这里指向更大的图像：同样的场景、差不多的相对大小，"
                f"{len(rows)} 次独立运行（每次各训练一个 24×24 与 32×32 的识别器和各自的条件补丁），选择性 24×24 → 32×32："
                + "、".join(f"{r['selectivity_24']:.0%} → {r['conditional']:.0%}" for r in rows)
                + "——在这两种分辨率上，像素越少越难，而不是越多越难",
                "the TA's information argument points the other way at the two resolutions we measured: the "
                "conditional patch is more selective at 32×32 than at 24×24, over independent runs",
                {"selectivity_32": mean["conditional"], "selectivity_24": mean["selectivity_24"],
                 "resolution_gain": mean["resolution_gain"]}, "resolution_gain > 0",
                evidence=ev.over_run_rows(rows, "resolution_gain"), null={"resolution_gain": 0.0},
                compares=("digital recognizer", "digital recognizer 24×24"))
    # the backdoor's on/off beside the patches' is shown in the table, not claimed: a model trained to fire on its
    # trigger sits at the ceiling by construction, so "the backdoor is more selective" could not come out otherwise
