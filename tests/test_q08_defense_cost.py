"""q08's claims at the tiny profile, and the invariants its tables must satisfy."""
from __future__ import annotations

import math

from conftest import claim_suite

CLAIMS = ["smoothing_calls", "jpeg_nonadaptive", "median_nonadaptive",
          "calls_dominate_cost", "at_buys_linf", "certify_calls", "radius_within_cap",
          "first_round_is_k2", "course_nine_is_3x3", "mean_far_below_worst", "worst_case_reached",
          "worst_case_many_classes", "no_input_exceeds_worst", "certification_calls", "loop_equals_batched",
          "batched_faster", "few_certified",
          "pgd_at_epoch_cost"]


result, test_every_expected_claim_is_made, test_claim_at_tiny, test_models_healthy = claim_suite("q08", CLAIMS)


def test_tables_and_figures_present(result):
    assert {"inference", "at_runs", "smoothing", "patchcleanser", "calls_distribution", "loop_vs_batched",
            "training"} <= set(result.tables)
    assert {"pareto", "calls_vs_k", "latency_vs_calls"} <= set(result.figures)


def test_inference_rows_are_sane(result):
    for row in result.tables["inference"].rows:
        assert 0 <= row["clean_acc"] <= 1 and 0 <= row["robust_acc"] <= 1
        assert row["latency_b1_ms"] > 0 and row["latency_batch_ms"] > 0 and row["peak_mb"] >= 0
        assert row["calls_per_image"] >= 1
        assert math.isclose(row["throughput"] * row["latency_batch_ms"] / 1e3, 1, rel_tol=1e-6)


def test_calls_distribution_counts_every_image(result):
    dist = result.tables["calls_distribution"].rows
    k6 = next(r for r in result.tables["patchcleanser"].rows if r["k"] == 6)
    assert math.isclose(sum(r["fraction"] for r in dist), 1.0)
    assert min(r["calls"] for r in dist) == k6["min_calls"] and max(r["calls"] for r in dist) == k6["max_calls"]


def test_smoothing_row_separates_abstention_from_the_vote(result):
    row = next(r for r in result.tables["inference"].rows if r["key"] == "smoothing")
    assert 0 <= row["abstain_rate"] <= 1
    # abstaining can only lose accuracy: the plain vote is right wherever the abstaining classifier is
    assert row["vote_acc"] >= row["clean_acc"] - 1e-9


def test_nothing_certified_is_shown_as_missing_not_zero(result):
    for row in result.tables["smoothing"].rows:
        if row["certified_acc_r0"] == 0:
            assert row["mean_radius_when_correct"] is None and row["max_radius"] is None


def test_every_training_row_is_timed_the_same_way(result):
    rows = result.tables["training"].rows
    assert all(r["cpu_seconds"] > 0 and r["wall_ratio_to_normal_epoch"] > 0 for r in rows)
    assert next(r for r in rows if r["key"] == "normal")["ratio_to_normal_epoch"] == 1.0


def test_timing_findings_rest_on_paired_rounds(result):
    from answers.lab.timing import LOOKS
    for cid in ("calls_dominate_cost", "batched_faster", "pgd_at_epoch_cost"):
        e = result.get_claim(cid).evidence
        assert e.n in LOOKS and all("sign test" in t for t in e.tests), cid
        assert e.alpha == 0.05 / len(LOOKS)
        design = e.to_dict()["design"]
        assert all(v in LOOKS for k, v in design.items() if k.endswith("_rounds"))
    clocks = {cid: set(v for k, v in result.get_claim(cid).evidence.design.items() if k.endswith("_clock"))
              for cid in ("calls_dominate_cost", "batched_faster", "pgd_at_epoch_cost")}
    # the speed-up of batching is a wait (wall); a defense's work per image and an epoch's cost are compute
    assert clocks == {"calls_dominate_cost": {"cpu"}, "batched_faster": {"wall"}, "pgd_at_epoch_cost": {"cpu"}}


def test_pgd_at_is_judged_over_independent_training_runs(result):
    """Run 0 is the inference table's pair; every other run trained its own pair (recorded as healthy models) and
    the finding's evidence holds one gain per run, each the difference of that run's two accuracies."""
    rows = result.tables["at_runs"].rows
    inf = {r["key"]: r for r in result.tables["inference"].rows}
    assert rows[0]["at_robust"] == inf["pgd_at"]["robust_acc"] and rows[0]["none_robust"] == inf["none"]["robust_acc"]
    assert len({r["seed"] for r in rows}) == len(rows) >= 2
    assert all(math.isclose(r["gain"], r["at_robust"] - r["none_robust"]) for r in rows)
    claim = next(c for c in result.claims if c.id == "at_buys_linf")
    assert [run["gain"] for run in claim.evidence.runs] == [r["gain"] for r in rows]
    for r in rows[1:]:
        assert {f"base (seed {r['seed']})", f"PGD-AT (seed {r['seed']})"} <= {m["name"] for m in result.meta["models"]}
