"""Knowledge-base machinery: claims decided by data, the registry, the course data and `answers check`."""
from __future__ import annotations

import inspect

import pytest
from conftest import COUNTED_RUNS, counted_run

from answers.kb import course, evidence as ev, registry, site
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
    r.check("x", "z", "e", {"v": 1}, "v == 1")
    with pytest.raises(ValueError):
        r.check("x", "z", "e", {"v": 1}, "v == 1")


def _paired(a_only: int, b_only: int, both: int = 10):
    """Correctness of two classifiers on the same images: a_only images only A gets right, and so on."""
    a = [1] * a_only + [0] * b_only + [1] * both
    b = [0] * a_only + [1] * b_only + [1] * both
    return a, b


def test_finding_outcomes_follow_rule_and_evidence():
    a, b = _paired(20, 2)
    f = Claim("f", "z", "e", {"a": 0.7, "b": 0.3}, "a > b", "finding", ev.mcnemar(a, b))
    assert f.outcome == "holds"
    f = Claim("f", "z", "e", {"a": 0.3, "b": 0.7}, "a > b", "finding", ev.mcnemar(b, a))
    assert f.outcome == "fails"                               # significant, and the rule is false
    a, b = _paired(4, 2)
    assert Claim("f", "z", "e", {"a": 0.6, "b": 0.5}, "a > b", "finding", ev.mcnemar(a, b)).outcome == "inconclusive"


def test_finding_is_inconclusive_when_the_interval_straddles_its_threshold():
    assert Claim("f", "z", "e", {"x": 0.6}, "x > 0.5", "finding", ev.proportion(6, 10, "x")).outcome == "inconclusive"
    assert Claim("f", "z", "e", {"x": 0.6}, "x > 0.5", "finding", ev.proportion(600, 1000, "x")).outcome == "holds"
    assert Claim("f", "z", "e", {"x": 0.4}, "x > 0.5", "finding", ev.proportion(400, 1000, "x")).outcome == "fails"


def test_a_rule_with_slack_is_refused_by_its_null_case():
    a, b = _paired(20, 2)
    with pytest.raises(RuleError, match="null"):  # "robust <= clean + 0.05" cannot fail when nothing changes
        Claim("f", "z", "e", {"robust": 0.5, "clean": 0.5}, "robust <= clean + 0.05", "finding", ev.mcnemar(a, b),
              null={"robust": 0.5})
    Claim("f", "z", "e", {"robust": 0.6, "base": 0.5}, "robust > base", "finding", ev.mcnemar(a, b), null={"robust": 0.5})


def test_findings_need_evidence_and_checks_cannot_expect_failure():
    with pytest.raises(ValueError, match="evidence"):
        Claim("f", "z", "e", {"x": 1}, "x > 0", "finding")
    with pytest.raises(ValueError, match="expected"):
        Claim("c", "z", "e", {"x": 1}, "x > 0", "check", expected="fails")


def test_problems_depend_on_profile_and_declared_outcome():
    a, b = _paired(4, 2)
    for profile, expected, problems in (("tiny", None, 0), ("site", None, 1), ("site", "inconclusive", 0)):
        r = Result("q00", profile, 0)
        r.finding("weak", "z", "e", {"a": 0.6, "b": 0.5}, "a > b", evidence=ev.mcnemar(a, b), expected=expected)
        assert len(r.problems()) == problems, (profile, expected, r.problems())
    r = Result("q00", "tiny", 0)
    r.finding("wrong", "z", "e", {"a": 0.3, "b": 0.7}, "a > b", evidence=ev.mcnemar(*reversed(_paired(20, 2))))
    r.check("broken", "z", "e", {"n": 1}, "n == 2")
    assert [p.split(":")[0] for p in r.problems()] == ["wrong", "broken"]


def test_at_tiny_an_inconclusive_finding_must_still_point_the_sentences_way():
    """A bug that removes an effect (an attack returning its input) leaves the tiny finding inconclusive with its
    point estimate against the sentence: that is a problem at tiny unless a small-scale reversal is declared."""
    a, b = _paired(4, 2)                       # too few discordant images to decide either way
    for values, small_scale, problems in (({"a": 0.6, "b": 0.5}, None, 0), ({"a": 0.5, "b": 0.6}, None, 1),
                                          ({"a": 0.5, "b": 0.6}, "needs site's budget", 0)):
        r = Result("q00", "tiny", 0)
        c = r.finding("weak", "z", "e", values, "a > b", evidence=ev.mcnemar(a, b), small_scale=small_scale)
        assert c.outcome == "inconclusive" and len(r.problems()) == problems, (values, r.problems())
    r = Result("q00", "tiny", 0)
    r.finding("declared", "z", "e", {"a": 0.5, "b": 0.6}, "a > b", evidence=ev.mcnemar(a, b), expected="inconclusive")
    assert r.problems() == []


def test_a_small_scale_reversal_is_shown_at_tiny_and_still_required_at_site():
    reversed_pairs = ev.mcnemar(*reversed(_paired(20, 2)))
    for profile, problems in (("tiny", 0), ("site", 1)):
        r = Result("q00", profile, 0)
        c = r.finding("budget", "z", "e", {"a": 0.3, "b": 0.7}, "a > b", evidence=reversed_pairs,
                      small_scale="needs more optimisation steps than tiny gives")
        assert c.outcome == "fails" and len(r.problems()) == problems
        assert c.to_dict()["small_scale"].startswith("needs")


def test_unhealthy_models_and_mismatched_comparisons():
    r = Result("q00", "site", 0)
    r.model("good", 0.9, 10)
    r.model("weak", 0.3, 10)
    assert any("weak" in p and "5× chance" in p for p in r.problems())
    r.model("close", 0.85, 10)
    a, b = _paired(20, 2)
    ok = r.finding("matched", "z", "e", {"a": 0.7, "b": 0.3}, "a > b", evidence=ev.mcnemar(a, b),
                   compares=("good", "close"))
    bad = r.finding("confounded", "z", "e", {"a": 0.7, "b": 0.3}, "a > b", evidence=ev.mcnemar(a, b),
                    compares=("good", "weak"))
    assert ok.outcome == "holds" and bad.outcome == "inconclusive" and "confounded" in bad.confound
    # the JSON names the models a comparison rests on, matched or not
    assert ok.to_dict()["compares"] == ["good", "close"] and bad.to_dict()["compares"] == ["good", "weak"]
    assert "compares" not in r.finding("alone", "z", "e", {"a": 0.7, "b": 0.3}, "a > b",
                                       evidence=ev.mcnemar(a, b)).to_dict()
    # a comparison over runs is confounded when any run's pair is mismatched, not only run 0's
    r.model("good (seed 1000)", 0.9, 10)
    r.model("close (seed 1000)", 0.88, 10)
    assert r.finding("matched_in_every_run", "z", "e", {"a": 0.7, "b": 0.3}, "a > b", evidence=ev.mcnemar(a, b),
                     compares=("good", "close")).outcome == "holds"
    r.model("good (seed 2000)", 0.9, 10)
    r.model("close (seed 2000)", 0.6, 10)
    late = r.finding("mismatched_in_run_2", "z", "e", {"a": 0.7, "b": 0.3}, "a > b", evidence=ev.mcnemar(a, b),
                     compares=("good", "close"))
    assert late.outcome == "inconclusive" and "good (seed 2000)" in late.confound


def test_a_weak_model_is_accepted_only_as_the_subject_of_a_finding_that_holds():
    a, b = _paired(20, 2)
    for declared, outcome_ok in (("fails_to_learn", True), ("no_such_claim", False), ("a_check", False),
                                 ("contradicted", False)):
        r = Result("q00", "site", 0)
        r.model("starved", 0.12, 10, weak_finding=declared)
        r.finding("fails_to_learn", "z", "e", {"acc": 0.12}, "acc < 0.5", evidence=ev.proportion(12, 100, "acc"),
                  null={"acc": 0.9})
        r.finding("contradicted", "z", "e", {"a": 0.3, "b": 0.7}, "a > b", evidence=ev.mcnemar(b, a))
        r.check("a_check", "z", "e", {"x": 1}, "x == 1")
        weak = [p for p in r.problems() if "starved" in p]
        assert (not weak) == outcome_ok, (declared, weak)
    # without a declaration the same model is a problem, as before
    r = Result("q00", "site", 0)
    r.model("starved", 0.12, 10)
    assert any("starved" in p for p in r.problems())


def test_evidence_mcnemar_matches_the_binomial_on_discordant_pairs():
    from scipy.stats import binomtest
    a, b = _paired(9, 1, both=50)
    assert ev.mcnemar(a, b).tests["McNemar"] == pytest.approx(binomtest(9, 10, 0.5).pvalue)
    assert ev.mcnemar([1, 1], [1, 1]).tests["McNemar"] == 1.0   # no discordant pair: no evidence


def test_median_interval_is_the_inverted_sign_test():
    from scipy.stats import binom
    xs = [float(v) for v in range(1, 15)]
    # n = 14 at 1 − 0.05/3: P(Bin(14, ½) ≤ 2) = 0.0065 ≤ 0.0083 < P(≤ 3): the 3rd and 12th order statistics
    assert ev.median_interval(xs, 1 - 0.05 / 3) == (3.0, 12.0)
    assert binom.cdf(2, 14, 0.5) <= 0.05 / 6 < binom.cdf(3, 14, 0.5)
    assert ev.median_interval(list(reversed(xs)), 1 - 0.05 / 3) == (3.0, 12.0)          # order does not matter
    assert ev.median_interval([1.0, 2.0, 3.0], 0.95) == (-float("inf"), float("inf"))   # 3 values cannot reach 95%
    # coverage: over many samples of a known distribution, the 95% interval holds the true median ≥ 95% of the time
    import numpy as np
    rng = np.random.default_rng(0)
    hits = sum(lo <= 0 <= hi for lo, hi in (ev.median_interval(rng.standard_cauchy(15), 0.95) for _ in range(2000)))
    assert hits / 2000 >= 0.95 - 0.01


def test_sign_test_matches_the_binomial_and_ignores_ties():
    from scipy.stats import binomtest
    assert ev.sign_test([2, 3, 4, 5, 0.5, 1.0], 1.0) == pytest.approx(binomtest(4, 5, 0.5).pvalue)
    assert ev.sign_test([1.0, 1.0], 1.0) == 1.0


def test_paired_rounds_decide_only_when_every_round_clears_the_bound_at_seven():
    ok = ev.paired_rounds("r", [2.0, 2.1, 1.9, 2.2, 2.0, 2.05, 2.3], [1.0], looks=3)
    assert ok.alpha == pytest.approx(0.05 / 3) and ok.decided(lambda v: v["r"] > 1, {"r": 2.0})
    assert ok.to_dict()["design"] == {"r_rounds": 7, "r_looks": 3, "r_clock": "wall"}
    assert "sign test" in next(iter(ok.tests))
    one_off = ev.paired_rounds("r", [2.0, 2.1, 0.9, 2.2, 2.0, 2.05, 2.3], [1.0], looks=3)
    assert not one_off.decided(lambda v: v["r"] > 1, {"r": 2.0})
    assert ev.rounds_decide([2.0, 2.1, 1.9, 2.2, 2.0, 2.05, 2.3], [1.0], 3)
    assert not ev.rounds_decide([2.0, 2.1, 1.9, 2.2, 2.0, 2.05], [1.0], 3)    # six rounds never decide at α/3
    assert not ev.rounds_decide([1.2] * 7, [1.0, 1.2], 3)                      # sits on a bound


def test_about_a_count_is_within_the_factor_either_way_and_its_rule_compares_the_same_numbers():
    assert ev.about(8) == pytest.approx((8 / 1.5, 12.0)) and ev.about(10) == pytest.approx((10 / 1.5, 15.0))
    rule = f"n / {ev.ABOUT:g} < ratio < n * {ev.ABOUT:g}"
    lo, hi = ev.about(8)
    for ratio, inside in ((7.0, True), (lo * 0.99, False), (lo * 1.01, True), (hi * 1.01, False), (1.0, False)):
        rounds = [ratio] * 7        # every round on the same side: decided at its first look
        c = Claim("c", "约", "about", {"ratio": ratio, "n": 8}, rule, "finding",
                  ev.paired_rounds("ratio", rounds, list(ev.about(8)), looks=3))
        assert c.outcome == ("holds" if inside else "fails"), ratio


def test_paired_rounds_cancel_a_load_that_stretches_both_arms():
    # the load doubled both timings in round 3: the paired ratio stays 2, so the rounds still decide
    method = [2.0, 2.2, 4.0, 2.1, 1.9, 2.0, 2.1]
    natural = [1.0, 1.1, 2.0, 1.05, 0.95, 1.0, 1.05]
    e = ev.paired_rounds("r", [m / n for m, n in zip(method, natural)], [1.5])
    assert e.intervals["r"] == pytest.approx((2.0, 2.0)) and e.decided(lambda v: v["r"] > 1.5, {"r": 2.0})


def test_over_runs_tests_the_runs_and_refuses_a_run_pointing_the_other_way():
    from scipy.stats import ttest_1samp
    runs = [{"d": 0.1}, {"d": 0.2}, {"d": 0.15}, {"d": 0.12}]
    e = ev.over_runs(runs, "d", seeds=[0, 1000, 2000, 3000])
    assert e.n == 4 and e.tests["t-test over runs (d)"] == pytest.approx(ttest_1samp([0.1, 0.2, 0.15, 0.12], 0).pvalue)
    lo, hi = e.intervals["d"]
    assert lo < 0.1425 < hi and e.decided(lambda v: v["d"] > 0, {"d": 0.1425})
    assert e.to_dict()["runs"] == runs and e.to_dict()["design"]["seeds"] == [0, 1000, 2000, 3000]
    # the same mean with one run below zero: the t-test alone might pass, but a run points the other way
    mixed = ev.over_runs([{"d": 0.3}, {"d": 0.25}, {"d": -0.01}, {"d": 0.03}], "d")
    assert not mixed.decided(lambda v: v["d"] > 0, {"d": 0.1425})
    with pytest.raises(ValueError):
        ev.over_runs([{"d": 0.1}], "d")
    # joined evidence keeps one values mapping per run
    both = e + ev.over_runs([{"a": 1.0}, {"a": 2.0}, {"a": 1.5}, {"a": 1.2}], "a")
    assert both.runs[0] == {"d": 0.1, "a": 1.0}


def test_runs_that_agree_to_rounding_are_not_certainty():
    """Two accuracies of 18/48 computed in float32 differ by 1e-8: a t-test would call that p ≈ 0. The sign
    test's p (2 · 2⁻ⁿ) decides instead, so three equal runs stay undecided and a run at the null gives p = 1."""
    same = ev.over_runs([{"d": 0.3750000149}, {"d": 0.3749999888}, {"d": 0.375}], "d")
    assert same.tests["t-test over runs (d)"] == pytest.approx(0.25) and same.intervals["d"][0] == same.intervals["d"][1]
    assert not same.decided(lambda v: v["d"] > 0, {"d": 0.375})
    assert ev.over_runs([{"d": 0.2}] * 6, "d").tests["t-test over runs (d)"] == pytest.approx(2 / 64)
    assert ev.over_runs([{"d": 0.0}] * 4, "d").tests["t-test over runs (d)"] == 1.0


def test_claims_markdown_lists_findings_and_checks_apart():
    r = Result("q00", "site", 0)
    a, b = _paired(20, 2)
    r.finding("f", "发现", "finding", {"a": 0.7, "b": 0.3}, "a > b", evidence=ev.mcnemar(a, b))
    r.check("c", "自检项", "check", {"n": 2}, "n == 2")
    md = r.claims_markdown()
    assert md.index("结论") < md.index("发现") < md.index("自检 Checks") < md.index("自检项")
    assert "McNemar p" in md


def test_strict_show_claims_raises_on_problems(monkeypatch):
    from answers.kb.result import ClaimsNotMet
    r = Result("q00", "site", 0)
    r.check("broken", "z", "e", {"n": 1}, "n == 2")
    monkeypatch.setenv("ANSWERS_STRICT", "1")
    with pytest.raises(ClaimsNotMet, match="broken"):
        r.show_claims()
    monkeypatch.setenv("ANSWERS_STRICT", "0")
    assert "✗" in r.show_claims().data


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
    answered = {a.id for a in registry.all_answers()}
    assert "已回答" in md
    # a question without an answer module is shown as not yet answered (none is left today)
    assert ("尚未回答" in md) == any(e.qid not in answered for e in course.questions())
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
    assert any("no page or lab docstring cites" in p and "nobody2099" in p for p in problems)


def test_answers_check_reads_citations_in_lab_docstrings(tmp_path):
    import shutil

    from answers.kb.check import project_root
    root = project_root()
    for name in ("references.bib", "mkdocs.yml"):
        shutil.copy(root / name, tmp_path / name)
    shutil.copytree(root / "docs", tmp_path / "docs")
    shutil.copytree(root / "tests", tmp_path / "tests")
    shutil.copytree(root / "answers" / "lab", tmp_path / "answers" / "lab")
    (tmp_path / "answers" / "lab" / "extra.py").write_text('"""Follows [@nobody2099unknown]."""\n', encoding="utf-8")
    problems = run_checks(tmp_path).problems
    assert any("nobody2099unknown" in p and "answers/lab/extra.py" in p for p in problems), problems
    # he2016deep is cited only by a lab docstring (models.TinyResNet): that counts as cited
    assert not any("he2016deep" in p for p in problems)


@pytest.mark.parametrize("source, bad", [
    ("from .q08_defense_cost import EPS\n", ["answers.q08_defense_cost"]),
    ("from answers.q03_proactive_defense import run\n", ["answers.q03_proactive_defense"]),
    ("import answers.q07_attacker_vs_defender as q07\n", ["answers.q07_attacker_vs_defender"]),
    ("from . import q01_why_easily_fooled\n", ["answers.q01_why_easily_fooled"]),
    ("from .lab import zoo\nfrom .kb.result import Result\nfrom answers.lab.zoo import THREAT\nimport torch\n", []),
    ("from .experiment import Experiment\nfrom . import experiment\nfrom answers.core.files import cache_dir\n", []),
    ("from .cli import main\n", ["answers.cli"]),
    ("from answers.experimental import x\n", ["answers.experimental"]),
])
def test_answers_may_import_only_kb_lab_core_and_experiment(tmp_path, source, bad):
    # the answers' own rule, checked by 'answers check'; the direction among the other modules (core < kb, lab <
    # experiment, cli) is held by tests/test_import_direction.py
    from answers.kb.check import foreign_imports
    f = tmp_path / "q99_example.py"
    f.write_text(source, encoding="utf-8")
    assert foreign_imports(f) == bad


def test_answers_check_reports_an_answer_importing_another(tmp_path, monkeypatch):
    from answers.kb import check
    real = check.foreign_imports
    monkeypatch.setattr(check, "foreign_imports",
                        lambda p: real(p) + (["answers.q08_defense_cost"] if p.name.startswith("q07") else []))
    problems = run_checks().problems
    assert any(p.startswith("q07:") and "answers.q08_defense_cost" in p and "independent" in p for p in problems)



def test_result_cache_reuses_recomputes_on_demand_and_distrusts_damage(tmp_path, monkeypatch):
    from answers.kb import result_cache
    monkeypatch.setenv("ANSWERS_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("ANSWERS_FRESH", raising=False)
    COUNTED_RUNS.clear()
    first = result_cache.cached_run(counted_run, profile="tiny")
    again = result_cache.cached_run(counted_run, profile="tiny")
    assert len(COUNTED_RUNS) == 1 and again.meta["measured"]["reused"] and not first.meta["measured"]["reused"]
    assert again.get_claim("ran").values == first.get_claim("ran").values
    assert again.meta["measured"]["at"] in result_cache.measured_line(again)
    assert again.meta["measured"]["code"] in result_cache.measured_line(again)
    result_cache.cached_run(counted_run, profile="tiny", seed=1)          # another seed is another result
    assert len(COUNTED_RUNS) == 2
    result_cache.cached_run(counted_run, profile="tiny", fresh=True)      # --fresh
    monkeypatch.setenv("ANSWERS_FRESH", "1")
    result_cache.cached_run(counted_run, profile="tiny")                  # CI
    assert len(COUNTED_RUNS) == 4
    monkeypatch.delenv("ANSWERS_FRESH")
    for stored in result_cache.results_dir().glob("*.pkl"):
        stored.write_bytes(stored.read_bytes()[:-5] + b"xxxxx")      # damaged but the same size
    with pytest.warns(UserWarning, match="unusable"):
        damaged = result_cache.cached_run(counted_run, profile="tiny")
    assert len(COUNTED_RUNS) == 5 and not damaged.meta["measured"]["reused"]


def test_code_digest_covers_the_modules_an_answer_reaches_and_the_libraries_versions(monkeypatch):
    from answers.core.source import reached
    from answers.kb import result_cache
    digest = result_cache.code_digest("answers.q08_defense_cost")
    assert digest == result_cache.code_digest("answers.q08_defense_cost")
    assert digest != result_cache.code_digest("answers.q07_attacker_vs_defender")
    # q08 reaches the lab through its imports (some only inside functions), not the site's pieces
    q08 = reached("answers.q08_defense_cost")
    assert {"answers.experiment", "answers.lab.zoo", "answers.lab.train", "answers.lab.smoothing", "answers.lab.cache",
            "answers.kb.result", "answers.core.files", "answers", "answers.lab"} <= set(q08)
    assert not {"answers.kb.site", "answers.kb.scaffold", "answers.cli", "answers.q07_attacker_vs_defender"} & set(q08)
    real = result_cache.library_versions()
    assert set(real) == {"torch", "torchvision", "kornia", "scipy"} and real["torch"] != "-"
    for lib in real:   # upgrading any of them re-runs the answer
        monkeypatch.setattr(result_cache, "library_versions", lambda lib=lib: {**real, lib: "0.0.0"})
        assert result_cache.code_digest("answers.q08_defense_cost") != digest, lib


def test_result_row_finds_one_row_by_key_or_says_why_not():
    r = Result("q00", "tiny", 0)
    r.table("t", "title", [{"key": "a", "v": 1}, {"key": "b", "v": 2}, {"key": "b", "v": 3}])
    assert r.row("t", "a") == {"key": "a", "v": 1} and r.row("t", 3, column="v")["key"] == "b"
    with pytest.raises(KeyError, match="2 rows"):
        r.row("t", "b")
    with pytest.raises(KeyError, match="0 rows"):
        r.row("t", "zzz")


def test_index_shows_a_question_without_an_answer_as_not_yet(monkeypatch):
    everything = registry.all_answers()
    monkeypatch.setattr(registry, "all_answers", lambda: [a for a in everything if a.id != "q06"])
    md = site.index_markdown()
    row = next(line for line in md.splitlines() if line.startswith("| q06 |"))
    assert "尚未回答" in row and "](" not in row.split("|")[3]


def test_findings_index_lists_every_claim_with_outcome_evidence_and_a_link_to_its_row():
    from answers.kb.findings import AnswerResult, claim_anchor, findings_markdown
    r1 = Result("q01", "site", 0)
    a, b = _paired(20, 2)
    r1.finding("wins", "甲胜乙", "a beats b", {"a": 0.7, "b": 0.3}, "a > b", evidence=ev.mcnemar(a, b))
    r1.check("count", "次数等于公式", "calls match", {"n": 2}, "n == 2")
    r2 = Result("q02", "site", 0)
    r2.model("plain", 0.9, 10)
    r2.model("tuned", 0.5, 10)
    r2.finding("mismatched", "甲比乙", "a vs b", {"a": 0.7, "b": 0.3}, "a > b", evidence=ev.mcnemar(a, b),
               compares=("plain", "tuned"))
    r2.check("broken", "坏了 | 的自检", "broken", {"n": 1}, "n == 2")
    md = findings_markdown([AnswerResult("q01", "题一", "../q01-x/", r1), AnswerResult("q02", "题二", "../q02-y/", r2)])
    rows = [line for line in md.splitlines() if line.startswith("| [q")]
    assert len(rows) == 4                                       # one row per claim, none pooled or dropped
    assert "](../q01-x/#claim-wins)" in rows[0] and "McNemar p" in rows[0] and "结论 finding" in rows[0]
    assert "compares" not in rows[0]
    assert "](../q01-x/#claim-count)" in rows[1] and "✓" in rows[1] and "自检 check" in rows[1]
    assert "compares plain vs tuned" in rows[2] and "differ by 40 points" in rows[2]   # the models a comparison rests on
    assert "accuracies matched" not in rows[2]                   # a confounded pair is not called matched
    assert "](../q02-y/#claim-broken)" in rows[3] and "✗" in rows[3] and "坏了 \\| 的自检" in rows[3]
    assert "4 claims of 2 answers: 2 findings (1 with the outcome their page states), 2 checks (1 hold)" in md
    # the row each link lands on carries that id on its answer page
    assert f'<span id="{claim_anchor("wins")}"></span>' in r1.claims_markdown()
    assert f'<span id="{claim_anchor("count")}"></span>' in r1.claims_markdown()


def test_site_nav_has_the_findings_index():
    assert {"结论索引": "findings.md"} in site.nav()


def test_the_times_page_lists_answers_slowest_first_and_each_model_once_with_who_uses_it():
    from answers.kb.findings import AnswerResult
    from answers.kb.times import times_markdown

    def answer(qid, seconds, weights, sections):
        r = Result(qid, "site", 0, meta={"measured": {"seconds": seconds, "at": "2026-12-05T10:00:00+00:00"},
                                          "weights": weights, "sections": sections})
        return AnswerResult(qid, f"title {qid}", f"../{qid}/", r)

    std = {"what": "small_cnn-std", "file": "small_cnn-std-aaa.pt", "seconds": 30.0, "recipe": "standard"}
    at = {"what": "small_cnn-pgdat-ft", "file": "small_cnn-pgdat-ft-bbb.pt", "seconds": 50.0, "recipe": "pgd_at"}
    md = times_markdown([answer("q07", 40.0, [{**std, "trained": False}], {"matrix": 35.0, "plot": 5.0}),
                         answer("q08", 120.0, [{**std, "trained": True}, {**at, "trained": True}],
                                {"costs": 100.0, "figure": 20.0})])
    rows = [ln for ln in md.splitlines() if ln.startswith("| [q")]
    assert [r.split("]")[0] for r in rows] == ["| [q08", "| [q07"]              # slowest first
    assert "| 120 | 80 | 2 / 2 | costs（100 s）" in rows[0]                     # trained in its run: 30 + 50
    assert "| 40 | 0.0 | 0 / 1 | matrix（35 s）" in rows[1]                     # read from the cache: no training
    models = [ln for ln in md.splitlines() if ln.startswith(("| standard", "| pgd_at"))]
    assert len(models) == 2 and models[0].startswith("| pgd_at | small_cnn-pgdat-ft") and "| 50 | q08 |" in models[0]
    assert models[1].startswith("| standard | small_cnn-std") and "| 30 | q08, q07 |" in models[1]
    assert "2 个模型，训练这些模型共用 1.3 分钟" in md and "共用 2.7 分钟" in md


def test_a_column_header_comes_from_the_table_then_the_answer_then_the_shared_vocabulary():
    res = Result("q99", "tiny", 0, columns={"own": "本页的列", "clean_acc": "本页改写的干净准确率"})
    res.table("t", "a table", [{"own": 1, "clean_acc": 0.5, "robust_acc": 0.1, "unknown_col": 2, "once": 3}],
              labels={"once": "只在这张表"})
    header = res.table_markdown("t").splitlines()[2]
    assert header == "| 本页的列 | 本页改写的干净准确率 | 攻击下准确率 | unknown_col | 只在这张表 |"
    # another answer's tables do not see this answer's headers
    other = Result("q98", "tiny", 0)
    other.table("t", "a table", [{"own": 1, "clean_acc": 0.5}])
    assert other.table_markdown("t").splitlines()[2] == "| own | 干净准确率 |"


def test_over_run_rows_is_over_runs_on_a_tables_rows_with_their_seeds():
    rows = [{"run": i, "seed": 1000 * i, "gain": g, "ca": c, "other": 9.0}
            for i, (g, c) in enumerate([(0.2, 0.9), (0.3, 0.8), (0.25, 0.85)])]
    got = ev.over_run_rows(rows, "gain", "ca", null=0.1)
    want = ev.over_runs([{"gain": r["gain"], "ca": r["ca"]} for r in rows], "gain", null=0.1,
                              seeds=[0, 1000, 2000])
    assert got == want
    assert got.runs == ({"gain": 0.2, "ca": 0.9}, {"gain": 0.3, "ca": 0.8}, {"gain": 0.25, "ca": 0.85})
    assert got.design["seeds"] == [0, 1000, 2000]
