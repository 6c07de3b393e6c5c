"""The computation-times page (sphinx-gallery's execution-times page is the model): where a site build's time
goes, per answer and per zoo model, from what the results the pages read recorded when they were computed.

Per answer: the seconds computing it took (:func:`answers.kb.result_cache.cached_run`), of them the seconds training
the models that run trained itself, and each section's seconds (:meth:`answers.experiment.Experiment.run`). Per
model: the seconds its training took (its own, without the model it starts from), stored with its weights, and
the answers that use it — a model several answers share is trained by whichever gets there first.

Our mkdocs plugin replaces ``<!-- answers:times -->`` with :func:`times_markdown` once every page has executed.
"""
from __future__ import annotations

from typing import Iterable

from .findings import AnswerResult

TIMES_MARKER = "<!-- answers:times -->"


def _s(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds:,.0f}" if seconds >= 10 else f"{seconds:.1f}"


def models_used(answers: Iterable[AnswerResult]) -> dict[str, dict]:
    """Every zoo model the answers' results say they took, once each (by weight file), costliest first: its
    ``what`` (the training spec's name), ``recipe`` (the zoo recipe it was asked for by, "" where the result does
    not say), training ``seconds`` and the answers that ``used_by`` it."""
    models: dict[str, dict] = {}
    for a in answers:
        for w in a.result.meta.get("weights", []):
            entry = models.setdefault(w["file"], {"what": w["what"], "recipe": w.get("recipe", ""),
                                                  "seconds": w["seconds"], "used_by": []})
            entry["recipe"] = entry["recipe"] or w.get("recipe", "")
            if a.qid not in entry["used_by"]:
                entry["used_by"].append(a.qid)
    return dict(sorted(models.items(), key=lambda kv: -(kv[1]["seconds"] or 0)))


def times_markdown(answers: Iterable[AnswerResult]) -> str:
    """Two tables: the answers, slowest first, and the zoo models they use, costliest first."""
    answers = sorted(answers, key=lambda a: -(a.result.meta.get("measured", {}).get("seconds") or 0))
    lines = ["| 问题 | 计算 s | 其中训练 s | 本次训练 / 用到的模型 | 最慢的部分 | 测于（UTC） |",
             "|---|---:|---:|---:|---|---|"]
    for a in answers:
        meta = a.result.meta
        measured = meta.get("measured", {})
        weights = meta.get("weights", [])
        trained = [w for w in weights if w["trained"]]
        sections = meta.get("sections", {})
        slowest = max(sections.items(), key=lambda kv: kv[1], default=None)
        lines.append(f"| [{a.qid}]({a.link} \"{a.title}\") | {_s(measured.get('seconds'))} | "
                     f"{_s(sum(w['seconds'] or 0 for w in trained))} | {len(trained)} / {len({w['file'] for w in weights})} | "
                     f"{f'{slowest[0]}（{_s(slowest[1])} s）' if slowest else '–'} | {measured.get('at', '–')} |")
    models = models_used(answers)
    total = sum(a.result.meta.get("measured", {}).get("seconds") or 0 for a in answers)
    training = sum(m["seconds"] or 0 for m in models.values())
    head = [f"本次构建读取的 {len(answers)} 个结果计算共用 {total / 60:.1f} 分钟（各自测量时的机器与负载）；"
            f"它们用到 {len(models)} 个模型，训练这些模型共用 {training / 60:.1f} 分钟（每个模型只训练一次，"
            "由第一个用到它的回答训练，之后从缓存读取）。",
            "",
            f"*{len(answers)} answers took {total / 60:.1f} min to compute (each on the machine and load of its "
            f"own measurement); the {len(models)} models they use took {training / 60:.1f} min to train, once each.*",
            "", "### 各回答 Per answer", ""]
    rows = ["", "### 各模型 Per model", "", "| 配方 recipe | 模型（缓存文件） | 训练 s | 用于 |", "|---|---|---:|---|"]
    for file, m in models.items():
        rows.append(f"| {m['recipe'] or '–'} | {m['what']} <small>`{file}`</small> | {_s(m['seconds'])} | "
                    f"{', '.join(m['used_by'])} |")
    return "\n".join(head + lines + rows)
