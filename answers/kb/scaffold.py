"""``answers new``: scaffold the module, page and test of a new answer, so that ``answers check`` passes from
the first minute and the contributor replaces a small working experiment with the question's own.

The starting experiment is real (a standard classifier's clean accuracy and its accuracy under L∞ PGD), so the
scaffold runs, builds and tests; its TODO comments mark what to replace. Metadata comes from the course page
when the id is one of its questions (see :mod:`answers.kb.course`), else from the command line.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from . import course
from .question import ID_PATTERN

_SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


class ScaffoldError(ValueError):
    """The scaffold cannot be written (bad id or slug, missing metadata, or files that already exist)."""


@dataclass(frozen=True)
class Scaffold:
    module: Path
    page: Path
    test: Path

    @property
    def paths(self) -> list[Path]:
        return [self.module, self.page, self.test]


def course_file(root: Path) -> Path:
    """The course data of the checkout at ``root`` (the package's own when the checkout has none)."""
    f = root / "answers" / "kb" / "course.json"
    return f if f.is_file() else course.DATA_FILE


def plan(root: Path, qid: str, slug: str) -> Scaffold:
    """Where the three files go; refuses an invalid id/slug or an id that already has an answer."""
    if not ID_PATTERN.match(qid):
        raise ScaffoldError(f"invalid id {qid!r}: use q followed by two digits, such as q09")
    if not _SLUG.match(slug):
        raise ScaffoldError(f"invalid slug {slug!r}: use lower-case words joined by '-', such as defend-by-retraining")
    taken = sorted(p.name for p in (root / "answers").glob(f"{qid}_*.py"))
    if taken:
        raise ScaffoldError(f"{qid} already has an answer (answers/{taken[0]}); pick another id")
    module = slug.replace("-", "_")
    s = Scaffold(root / "answers" / f"{qid}_{module}.py", root / "docs" / f"{qid}-{slug}.py",
                 root / "tests" / f"test_{qid}_{module}.py")
    existing = [str(p.relative_to(root)) for p in s.paths if p.exists()]
    if existing:
        raise ScaffoldError(f"will not overwrite {', '.join(existing)}")
    return s


def write(root: Path, qid: str, slug: str, *, asker: str | None = None, question: str | None = None,
          title_zh: str | None = None, title_en: str | None = None) -> Scaffold:
    """Write module, page and test for ``qid``; metadata not given is taken from the course page."""
    s = plan(root, qid, slug)
    data = course.load(course_file(root))
    entry = next((e for e in data.entries if e.qid == qid), None)
    if entry is None:
        # a new question: it takes the asker's open slot on the course page (or a line of its own for an asker
        # the page does not list), written to the course data so that `answers check` finds it
        if not asker or not question:
            raise ScaffoldError(f"{qid} is not a question of the course page: give --asker and --question "
                                f"(open slots: {', '.join(e.asker for e in data.open_slots()) or 'none'})")
        data, entry = course.claim(data, qid, asker, question)
        if (root / "answers" / "kb").is_dir():
            course.save(data, root / "answers" / "kb" / "course.json")
    asker = asker or entry.asker
    question = question or entry.question
    meta = {
        "qid": qid, "slug": slug, "module": s.module.stem, "asker": asker,
        "section": entry.section, "question": question,
        "title_zh": title_zh or question[:24], "title_en": title_en or slug.replace("-", " ").capitalize(),
        "cites": entry.ta_cites,
    }
    literals = {f"{k}_repr": repr(v) for k, v in meta.items()}  # Python literals, whatever the text holds
    s.module.write_text(_MODULE.format(**meta, **literals), encoding="utf-8")
    s.page.write_text(_PAGE.format(**meta), encoding="utf-8")
    s.test.write_text(_TEST.format(**meta), encoding="utf-8")
    return s


_MODULE = '''"""{qid} — {asker}: {title_en}.

TODO: describe the experiment top-down, in the order the page shows it. The starting experiment below (clean
accuracy and accuracy under L∞ PGD of one standard classifier) only shows the shape of an answer: replace it.
"""
from __future__ import annotations

from dataclasses import dataclass

from answers.experiment import Experiment
from answers.kb import evidence as ev
from answers.kb.question import Question
from answers.kb.result import Result
from answers.lab import metrics
from answers.lab.attacks import PGD, in_batches
from answers.lab.zoo import THREAT

QUESTION = Question(
    id={qid_repr}, slug={slug_repr}, asker={asker_repr}, section={section_repr},
    question_zh={question_repr},
    title_en={title_en_repr}, title_zh={title_zh_repr},
    cites={cites_repr},
)


@dataclass(frozen=True)
class Settings:
    """How much each measurement does at a profile; data and models come from the zoo (answers.lab.zoo)."""

    eval_images: int


PROFILES = {{
    "tiny": Settings(eval_images=64),
    "site": Settings(eval_images=500),
    "full": Settings(eval_images=10000),
}}
EPS = THREAT.linf_eps  # the threat settings every page shares


def run(profile: str = "site", seed: int = 0, device: str = "cpu", progress: bool | None = None) -> Result:
    cfg = PROFILES[profile]
    # seeds, the profile's data, the Result, threads and progress: answers.experiment
    exp = Experiment.start(QUESTION, profile, seed, device, progress)
    model = exp.model("standard")  # from the zoo (answers.lab.zoo.RECIPES); its health is recorded
    return exp.run([("clean vs PGD", lambda: clean_vs_pgd(exp.res, cfg, model, exp.x, exp.y))])


# TODO: one function per section of the page
def clean_vs_pgd(res: Result, cfg: Settings, model, x, y) -> None:
    ev_x, ev_y = x[:cfg.eval_images], y[:cfg.eval_images]
    adv = in_batches(PGD(model, eps=EPS, alpha=EPS / 4, steps=10), ev_x, ev_y)
    clean, attacked = metrics.predict(model, ev_x) == ev_y, metrics.predict(model, adv) == ev_y
    rows = [{{"setting": "clean", "accuracy": float(clean.float().mean())}},
            {{"setting": f"L∞ PGD ε={{round(EPS * 255)}}/255", "accuracy": float(attacked.float().mean())}}]
    res.table("accuracy", "干净准确率与 PGD 下的准确率 (clean vs PGD accuracy)", rows)
    # a finding: a statement about the world, decided with its evidence (here a paired exact test on the same
    # images); the sentence's numbers are formatted from the values, never typed. An invariant of the code
    # would be a res.check(...) instead.
    res.finding("pgd_lowers_accuracy", f"PGD 攻击降低了准确率（{{rows[0]['accuracy']:.0%}} → {{rows[1]['accuracy']:.0%}}）",
                "PGD lowers accuracy", {{"clean": rows[0]["accuracy"], "pgd": rows[1]["accuracy"]}}, "pgd < clean",
                evidence=ev.mcnemar(attacked, clean), null={{"pgd": rows[0]["accuracy"]}})
'''

_PAGE = '''# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # {qid} · {title_zh}
#
# > **{asker}**（{section}）：{question}
#
# *{title_en}*
#
# TODO: 简短回答（用自己的话，引用写成 `[@key]`，键来自 references.bib）。下面每个数字都是本页构建时测得的。

# %%
from answers.kb.page import page_result

result = page_result("{qid}")

# %% [markdown]
# ## TODO: 第一节

# %%
result.show("accuracy")

# %% [markdown]
# ## 结论与判定

# %%
result.show_claims()

# %% [markdown]
# ## 在本地运行
#
# ```bash
# answers run {qid}
# answers run {qid} --profile tiny
# ```
'''

_TEST = '''"""{qid}'s claims at the tiny profile."""
from __future__ import annotations

from conftest import claim_suite

CLAIMS = ["pgd_lowers_accuracy"]  # TODO: every claim the module makes, in order

result, test_every_expected_claim_is_made, test_claim_at_tiny, test_models_healthy = claim_suite("{qid}", CLAIMS)

# TODO: tests of the invariants your tables must satisfy, using the ``result`` fixture
'''
