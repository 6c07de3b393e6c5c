"""q06's claims at the tiny profile, and the invariants behind its tables."""
from __future__ import annotations

import pytest
from conftest import claim_suite

from answers import q06_adversarial_training_cost as q06
from answers.lab import zoo

CLAIMS = ["free_starves", "pgd_step_cheaper_than_training_step", "free_close_to_natural",
          "pgd_starves_at_fast_budget", "scratch_training_unreliable",
          "none_matches_natural", "large_step_does_not_collapse", "two_processes_same_curve",
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
    assert all(r["learned"] == (min(r[f"free{min(CFG.ms)}_clean"], r["pgd7_clean"]) >= 0.5) for r in rows)
    assert all(r["difference"] == pytest.approx(r[f"free{min(CFG.ms)}"] - r["pgd7"]) for r in learned)
    # every model of another seed is recorded; one that did not learn only as the subject of the unreliability finding
    models = {m["name"]: m for m in result.meta["models"]}
    for r in rows[1:]:
        for key in (f"free{min(CFG.ms)}", "pgd7"):
            m = models[f"{q06.label(key)} (seed {r['seed']})"]
            assert (m.get("weak_finding") == "scratch_training_unreliable") == (m["clean_acc"] < 0.5)
    unreliable = result.get_claim("scratch_training_unreliable")
    assert unreliable.values["failed_share"] == sum(not r["learned"] for r in rows) / len(rows)
    # decided by the weakest model of every run, on its own test images
    weakest = min(min(r[f"free{min(CFG.ms)}_clean"], r["pgd7_clean"]) for r in rows)
    assert unreliable.values["weakest_clean"] == pytest.approx(weakest)
    low, high = unreliable.evidence.intervals["weakest_clean"]
    assert low <= weakest <= high


def test_equal_budget_gives_pgd_a_complete_schedule_of_the_same_passes(result):
    rows = result.tables["budget_runs"].rows
    fast = zoo.spec(zoo.scratch(zoo.FGSM_RS), "tiny")
    assert [r["seed"] for r in rows] == [r["seed"] for r in result.tables["runs_fgsm_rs_vs_pgd7"].rows]
    for r in rows:
        assert r["passes"] == 2 * fast.epochs and r["fgsm_rs_epochs"] == fast.epochs
        assert r["pgd_passes"] <= r["passes"] < r["pgd_passes"] + 8        # PGD-7: 8 passes per minibatch
        assert r["difference"] == pytest.approx(r["fgsm_rs"] - r["pgd"])
    # PGD trained for those epochs from the start (its schedule sized to them), not read off the 8-epoch run
    assert zoo.spec(zoo.scratch(zoo.pgd(7), rows[0]["pgd_epochs"]), "tiny").epochs == rows[0]["pgd_epochs"]
    assert rows[0]["fgsm_rs"] == pytest.approx({r["key"]: r for r in result.tables["runs"].rows}["fgsm_rs"]["robust_acc"])
    claim = result.get_claim("pgd_starves_at_fast_budget")
    assert claim.evidence.runs == tuple({"pgd_clean": pytest.approx(r["pgd_clean"]),
                                         "fgsm_rs_clean": pytest.approx(r["fgsm_rs_clean"])} for r in rows)
    assert len(claim.evidence.tests) == 2                        # one test per method, Holm-adjusted
    models = {m["name"]: m for m in result.meta["models"]}
    for r in rows:
        m = models[f"{q06.label('pgd7')}, {r['pgd_epochs']} epochs (seed {r['seed']})"]
        assert m["clean_acc"] == pytest.approx(r["pgd_clean"])


def test_fgsm_rs_against_pgd_trained_to_the_end_is_shown_over_the_same_runs(result):
    rows = result.tables["runs_fgsm_rs_vs_pgd7"].rows
    free = result.tables[f"runs_free{min(CFG.ms)}_vs_pgd7"].rows
    # the same PGD-7 runs as the Free-AT comparison, each with its own seed; a pair learned only if both did
    assert [(r["seed"], r["pgd7"], r["pgd7_clean"]) for r in rows] == [(r["seed"], r["pgd7"], r["pgd7_clean"]) for r in free]
    for r in rows:
        assert r["difference"] == pytest.approx(r["fgsm_rs"] - r["pgd7"])
        assert r["learned"] == (min(r["fgsm_rs_clean"], r["pgd7_clean"]) >= 0.5)


def test_overfitting_runs_read_each_curve_peak_and_end(result):
    rows = result.tables["overfitting_runs"].rows
    assert len(rows) == CFG.runs
    for r in rows:
        for step in ("default", "large"):
            assert r[f"drop_{step}"] == pytest.approx(r[f"peak_{step}"] - r[f"final_{step}"]) and r[f"drop_{step}"] >= 0
        assert r["loss"] == pytest.approx(r["final_default"] - r["final_large"])
    first = {r["key"]: r for r in result.tables["overfitting"].rows}["fgsm_rs"]
    assert (rows[0]["peak_default"], rows[0]["final_default"]) == (first["peak_robust_acc"], first["final_robust_acc"])
    assert result.get_claim("large_step_does_not_collapse").evidence.design["runs"] == CFG.runs


def test_natural_is_compared_with_the_best_adversarial_method_of_each_run(result):
    rows = result.tables["clean_runs"].rows
    fast = result.tables["runs_fgsm_rs_vs_pgd7"].rows
    free = result.tables[f"runs_free{min(CFG.ms)}_vs_pgd7"].rows
    for r, a, b in zip(rows, fast, free, strict=True):
        assert r["seed"] == a["seed"] == b["seed"]
        candidates = {q06.label("fgsm_rs"): a["fgsm_rs_clean"], q06.label(f"free{min(CFG.ms)}"): b[f"free{min(CFG.ms)}_clean"],
                      q06.label("pgd7"): a["pgd7_clean"]}
        assert r["best"] == pytest.approx(max(candidates.values())) and candidates[r["best_method"]] == r["best"]
        assert r["gap"] == pytest.approx(r["natural"] - r["best"])
    claim = result.get_claim("none_matches_natural")
    assert [x["gap"] for x in claim.evidence.runs] == pytest.approx([r["gap"] for r in rows])
