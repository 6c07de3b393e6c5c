"""q06's claims at the tiny profile, and the invariants behind its tables."""
from __future__ import annotations

import pytest
from conftest import claim_suite

from answers import q06_adversarial_training_cost as q06
from answers.lab import zoo

CLAIMS = ["free_starves", "pgd_step_cheaper_than_training_step", "free_close_to_natural",
          "fast_beats_pgd_at_equal_budget", "fgsm_rs_comparable_to_pgd", "free_cheaper_but_less_robust",
          "scratch_training_unreliable",
          "none_matches_natural", "fgsm_does_not_collapse", "two_processes_same_curve",
          "replicas_identical"]

result, test_every_expected_claim_is_made, test_claim_at_tiny, test_models_healthy = claim_suite("q06", CLAIMS)
CFG = q06.PROFILES["tiny"]


def test_every_method_is_recorded_checkpoint_by_checkpoint(result):
    runs = {r["key"]: r for r in result.tables["runs"].rows}
    assert list(runs) == list(q06.methods(CFG))
    epochs = zoo.scale("tiny").scratch_epochs
    for m, r in runs.items():
        replays = int(m[4:]) if m.startswith("free") else 1
        assert r["epochs"] == -(-epochs // replays)
        # one checkpoint per natural epoch's worth of SGD steps: Free-AT m times per epoch
        assert r["checkpoints"] == r["epochs"] * replays
    assert "curves" in result.figures and "budget_curves" in result.figures


def test_cost_table_sets_each_method_beside_its_pass_count(result):
    costs = {r["key"]: r for r in result.tables["costs"].rows}
    assert costs["natural"]["ratio_per_epoch"] == 1 and costs["natural"]["passes_per_minibatch"] == 1
    for k in CFG.ks:
        assert costs[f"pgd{k}"]["passes_per_minibatch"] == k + 1
    for m in CFG.ms:
        r = costs[f"free{m}"]
        assert r["passes_per_minibatch"] == m and r["total_passes_vs_natural"] == pytest.approx(1.0)
        assert r["total_ratio"] == pytest.approx(r["ratio_per_epoch"] / m)
    assert costs["fgsm_rs"]["passes_per_minibatch"] == costs["fgsm"]["passes_per_minibatch"] == 2
    # more PGD steps cost more: the measured order follows the pass count
    ratios = [costs[f"pgd{k}"]["ratio_per_epoch"] for k in sorted(CFG.ks)]
    assert ratios == sorted(ratios) and ratios[0] > 1


def test_pgd_step_cost_is_the_least_squares_slope_through_natural():
    # ratio(k) = 1 + c·k exactly: the fit gives back c (and the pass count k + 1 gives c = 1)
    assert q06._step_cost({3: 1 + 3 * 0.7, 7: 1 + 7 * 0.7, 10: 1 + 10 * 0.7}) == pytest.approx(0.7)
    assert q06._step_cost({3: 4.0, 7: 8.0, 10: 11.0}) == pytest.approx(1.0)


def test_the_budget_table_reads_each_curve_at_fgsm_rs_cost(result):
    rows = {r["key"]: r for r in result.tables["budget"].rows}
    costs = {r["key"]: r for r in result.tables["costs"].rows}
    epochs = zoo.scale("tiny").scratch_epochs
    budget = costs["fgsm_rs"]["total_ratio"] * epochs
    assert rows["fgsm_rs"]["epochs_in_budget"] == pytest.approx(epochs)      # its whole run
    for m, r in rows.items():
        assert r["epochs_in_budget"] == pytest.approx(budget / costs[m]["ratio_per_epoch"])
        assert r["epochs_done"] <= r["epochs_in_budget"] + 1e-9
        assert r["epochs_done"] == min(costs[m]["epochs"], r["epochs_done"])


def test_papers_table_quotes_both_papers(result):
    rows = result.tables["papers"].rows
    free = {r["method"]: r for r in rows if r["source"].startswith("Shafahi")}
    assert free["PGD-7 (Madry)"]["vs_natural"] == pytest.approx(5418 / 780)
    assert any(r["source"].startswith("Wong") for r in rows)


def test_two_processes_each_see_half_the_images(result):
    rows = {r["processes"]: r for r in result.tables["processes"].rows}
    assert sum(rows[2]["images_each"]) == rows[1]["images_each"][0]


def test_cost_findings_are_decided_on_paired_rounds(result):
    rounds = result.meta["cost_rounds"]
    assert rounds in CFG.looks
    for cid in ("pgd_step_cheaper_than_training_step", "free_close_to_natural"):
        e = result.get_claim(cid).evidence
        assert e.n == rounds and any("sign test" in t for t in e.tests)
        assert e.alpha == pytest.approx(0.05 / len(CFG.looks))


def test_free_vs_pgd_robustness_is_decided_over_trainings(result):
    table = next(name for name in result.tables if name.startswith("runs_free"))
    rows = result.tables[table].rows
    learned = [r for r in rows if r["learned"]]
    assert [r["run"] for r in rows] == list(range(CFG.runs)) and len({r["seed"] for r in rows}) == CFG.runs
    claim = result.get_claim("free_cheaper_but_less_robust")
    assert [x["difference"] for x in claim.evidence.runs] == ([r["difference"] for r in learned] if len(learned) > 1 else [])
    # every model of another seed is recorded; one that did not learn only as the subject of the unreliability finding
    models = {m["name"]: m for m in result.meta["models"]}
    for r in rows[1:]:
        for prefix in ("Free-AT", "PGD-AT"):
            m = next(m for name, m in models.items() if name.endswith(f"(seed {r['seed']})") and name.startswith(prefix))
            assert (m.get("weak_finding") == "scratch_training_unreliable") == (m["clean_acc"] < 0.5)
    unreliable = result.get_claim("scratch_training_unreliable")
    assert unreliable.values["failed_share"] == sum(not r["learned"] for r in rows) / len(rows)
