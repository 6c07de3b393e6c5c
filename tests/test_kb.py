"""Knowledge-base machinery: claims decided by data, the registry, the course data and `answers check`."""
from __future__ import annotations

import inspect

import pytest

from answers.kb import course, registry, site
from answers.kb.check import run_checks
from answers.kb.question import Question
from answers.kb.result import Claim, Result, RuleError


def test_claim_is_decided_by_its_rule():
    assert Claim("a", "快", "faster", {"loop_s": 2.0, "batched_s": 0.5}, "batched_s < loop_s").holds
    assert not Claim("b", "快", "faster", {"loop_s": 0.5, "batched_s": 2.0}, "batched_s < loop_s").holds


@pytest.mark.parametrize("rule", ["True", "1 < 2", "__import__('os')", "x.real > 0", "open('f')", "not a rule ("])
def test_claim_rejects_rules_not_decided_by_values(rule):
    with pytest.raises(RuleError):
        Claim("c", "z", "e", {"x": 1.0}, rule)


def test_claim_values_become_plain_json():
    import torch
    c = Claim("d", "z", "e", {"t": torch.tensor([1, 2])}, "len(t) == 2")
    assert c.values["t"] == [1, 2] and c.to_dict()["holds"] is True


def test_result_refuses_duplicate_claim_ids():
    r = Result("q00", "tiny", 0)
    r.claim("x", "z", "e", {"v": 1}, "v == 1")
    with pytest.raises(ValueError):
        r.claim("x", "z", "e", {"v": 1}, "v == 1")


def test_registry_discovers_answers_with_metadata():
    ids = registry.ids()
    assert "q08" in ids and ids == sorted(ids)
    for a in registry.all_answers():
        assert isinstance(a.question, Question)
        params = inspect.signature(a.run).parameters
        assert {"profile", "seed", "device", "progress"} <= set(params)


def test_unknown_question_names_the_choices():
    with pytest.raises(registry.UnknownQuestion) as err:
        registry.get("q99")
    assert "q08" in str(err.value)


def test_course_entries_cover_every_asker_in_order():
    qids = [e.qid for e in course.questions()]
    assert qids == [f"q{i:02d}" for i in range(1, 11)]
    assert [e.asker for e in course.open_slots()] == ["孙佳辰", "周玉清", "易琦", "杜其原", "苏奕晗", "张君宇", "张哲", "王彦豪"]


def test_index_lists_questions_status_and_open_slots():
    md = site.index_markdown()
    for e in course.ENTRIES:
        assert e.asker in md
    assert "已回答" in md and "尚未回答" in md
    assert md.index("朱结奥") < md.index("黄兆辉") < md.index("王彦豪")  # course-page order
    for a in registry.all_answers():
        assert a.question.page in md


def test_nav_comes_from_the_registry():
    flat = str(site.nav())
    for a in registry.all_answers():
        assert a.question.page in flat


def test_answers_check_passes_on_this_repository():
    rep = run_checks()
    assert rep.problems == [], "\n".join(rep.problems)


def test_answers_check_reports_a_missing_page(tmp_path, monkeypatch):
    import shutil

    from answers.kb.check import project_root
    root = project_root()
    for name in ("references.bib", "mkdocs.yml"):
        shutil.copy(root / name, tmp_path / name)
    shutil.copytree(root / "docs", tmp_path / "docs")
    shutil.copytree(root / "tests", tmp_path / "tests")
    (tmp_path / "docs" / registry.get("q08").question.page).unlink()
    with open(tmp_path / "references.bib", "a", encoding="utf-8") as bib:
        bib.write("\n@misc{nobody2099, author = {Nobody, N.}, title = {Uncited}, year = {2099}}\n")
    problems = run_checks(tmp_path).problems
    assert any("q08: missing page" in p for p in problems)
    assert any("no page cites" in p and "nobody2099" in p for p in problems)
