"""`answers new`: the scaffold is written where `answers check` looks, runs as written, and never overwrites."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from answers.kb import course
from answers.kb.scaffold import ScaffoldError, write


@pytest.fixture
def root(tmp_path):
    for d in ("answers", "docs", "tests"):
        (tmp_path / d).mkdir()
    (tmp_path / "mkdocs.yml").write_text("site_name: scaffold test\n")
    return tmp_path


def _load(path):
    spec = importlib.util.spec_from_file_location(f"scaffolded_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is being made
    spec.loader.exec_module(module)
    return module


def test_course_question_is_filled_in_and_runs(root):
    entry = next(e for e in course.ENTRIES if e.qid == "q09")
    made = write(root, "q09", "defend-by-retraining")
    assert [p.relative_to(root).as_posix() for p in made.paths] == [
        "answers/q09_defend_by_retraining.py", "docs/q09-defend-by-retraining.py",
        "tests/test_q09_defend_by_retraining.py"]
    module = _load(made.module)
    q = module.QUESTION
    assert (q.id, q.asker, q.section, q.question_zh, q.cites) == ("q09", entry.asker, entry.section, entry.question,
                                                                  entry.ta_cites)
    assert q.page == made.page.name  # the page is where `answers check` will look for it
    assert 'result = page_result("q09")' in made.page.read_text()
    result = module.run(profile="tiny", progress=False)   # the starting experiment is real and its claim holds
    assert result.ok and result.get_claim("pgd_lowers_accuracy").outcome == "holds" and result.tables["accuracy"].rows


def test_never_overwrites_and_rejects_bad_names(root):
    write(root, "q09", "defend-by-retraining")
    with pytest.raises(ScaffoldError, match="already has an answer"):
        write(root, "q09", "another-slug")
    with pytest.raises(ScaffoldError, match="slug"):
        write(root, "q10", "Bad_Slug")
    with pytest.raises(ScaffoldError, match="id"):
        write(root, "9", "fine-slug")
    with pytest.raises(ScaffoldError, match="--asker"):
        write(root, "q42", "not-on-the-course-page")


def test_open_slot_asker_gets_the_course_section(root):
    slot = next(e for e in course.ENTRIES if e.qid is None)
    made = write(root, "q11", "my-question", asker=slot.asker, question="为什么?")
    q = _load(made.module).QUESTION
    assert (q.asker, q.section, q.question_zh) == (slot.asker, slot.section, "为什么?")


def test_cli_new_writes_then_refuses_in_one_line(root):
    env = {**os.environ, "ANSWERS_ROOT": str(root)}
    run = lambda: subprocess.run([sys.executable, "-m", "answers", "new", "q09", "defend-by-retraining"],  # noqa: E731
                                 capture_output=True, text=True, env=env, timeout=600)
    first = run()
    assert first.returncode == 0 and "wrote answers/q09_defend_by_retraining.py" in first.stdout
    second = run()
    assert second.returncode == 2 and len(second.stderr.strip().splitlines()) == 1
    assert "already has an answer" in second.stderr
