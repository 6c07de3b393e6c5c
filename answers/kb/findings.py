"""The findings index: every claim of the site on one page, so a reader can audit the whole knowledge base at a
glance — the answer, whether it is a finding about the world or a check of the code, its sentence, the outcome
this build measured, its evidence in a line, and a link to the claim on its page.

Our mkdocs plugin replaces ``<!-- answers:findings -->`` with :func:`findings_markdown` once every answer page
has executed (the results are those the pages just stored; see :func:`answers.kb.result_cache.cached_run`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from .result import MARKS, OUTCOME_ZH, Claim, Result, claim_anchor

FINDINGS_MARKER = "<!-- answers:findings -->"


@dataclass(frozen=True)
class AnswerResult:
    """One answer's result as the index shows it: ``link`` is the answer page's URL relative to the index."""
    qid: str
    title: str
    link: str
    result: Result


def _evidence_line(claim: Claim) -> str:
    if claim.kind == "check":
        return f"`{claim.rule}`"
    line = f"`{claim.rule}`; {claim.evidence.describe()}"
    if claim.compares:
        # the confound says how far apart the clean accuracies are; without one they are within the bound
        line += f"; compares {' vs '.join(claim.compares)} ({claim.confound or 'clean accuracies matched'})"
    return line


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def findings_markdown(answers: Iterable[AnswerResult]) -> str:
    """A summary line and one table row per claim, in the order of the answers and of their pages."""
    answers = list(answers)
    claims = [(a, c) for a in answers for c in a.result.claims]
    findings = [c for _, c in claims if c.kind == "finding"]
    as_wanted = sum(c.outcome == c.wanted for c in findings)
    checks_hold = sum(c.holds for _, c in claims if c.kind == "check")
    profiles = sorted({a.result.profile for a in answers})
    lines = [f"本次构建（profile={', '.join(profiles)}）的 {len(answers)} 个回答共 {len(claims)} 条陈述："
             f"{len(findings)} 条结论（{as_wanted} 条得到页面所说的结果），"
             f"{len(claims) - len(findings)} 条自检（{checks_hold} 条成立）。",
             "",
             f"*{len(claims)} claims of {len(answers)} answers: {len(findings)} findings ({as_wanted} with the outcome "
             f"their page states), {len(claims) - len(findings)} checks ({checks_hold} hold).*",
             "",
             "| 问题 | 类型 | | 陈述（点击跳到页面上的这一条） | 证据 |", "|---|---|---|---|---|"]
    for a, c in claims:
        kind = "结论 finding" if c.kind == "finding" else "自检 check"
        mark = MARKS[c.outcome]
        if c.expected:
            mark += f" <small>预期 {OUTCOME_ZH[c.expected]}</small>"
        sentence = f"[{_cell(c.zh)}]({a.link}#{claim_anchor(c.id)})<br><small>{_cell(c.en)}</small>"
        lines.append(f"| [{a.qid}]({a.link} \"{_cell(a.title)}\") | {kind} | {mark} | {sentence} | "
                     f"<small>{_cell(_evidence_line(c))}</small> |")
    return "\n".join(lines)
