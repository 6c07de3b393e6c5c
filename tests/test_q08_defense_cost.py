"""q08's claims at the tiny profile, and the invariants its tables must satisfy."""
from __future__ import annotations

import math

import pytest

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
    # run 0's first attacker is the table's PGD, its outcome reused: the worst case can only be lower
    assert rows[0]["at_pgd"] == pytest.approx(inf["pgd_at"]["robust_acc"])
    assert all(r["at_worst"] <= r["at_pgd"] for r in rows)
    assert rows[0]["none_worst"] <= inf["none"]["robust_acc"]
    assert len({r["seed"] for r in rows}) == len(rows) >= 2
    assert all(math.isclose(r["gain"], r["at_worst"] - r["none_worst"]) for r in rows)
    claim = next(c for c in result.claims if c.id == "at_buys_linf")
    assert [run["gain"] for run in claim.evidence.runs] == [r["gain"] for r in rows]
    for r in rows[1:]:
        assert {f"base (seed {r['seed']})", f"PGD-AT (seed {r['seed']})"} <= {m["name"] for m in result.meta["models"]}


def test_the_noise_control_pays_no_more_clean_accuracy_than_the_defense(result):
    from answers.q08_defense_cost import NOISE_SIGMAS
    rows = result.tables["noise_control"].rows
    assert [r["key"] for r in rows] == ["jpeg", "median"]
    for r in rows:
        assert r["noise_sigma"] in NOISE_SIGMAS
        assert r["noise_clean_cost"] <= r["clean_cost"] or r["noise_sigma"] == 0.0
        claim = result.get_claim(f"{r['key']}_nonadaptive")
        assert claim.values["noise_robust"] == r["noise_robust"] and claim.values["robust"] == r["robust_acc"]


def test_the_strongest_noise_within_the_defenses_cost_is_chosen():
    from answers.q08_defense_cost import strongest_noise_within
    costs = {0.0: 0.0, 0.05: 0.01, 0.1: 0.04, 0.15: 0.03, 0.2: 0.12}   # not monotone: sampling noise
    assert strongest_noise_within(costs, 0.035) == 0.15      # the largest level within the cost, not the first
    assert strongest_noise_within(costs, 0.04) == 0.15
    assert strongest_noise_within(costs, 0.5) == 0.2
    assert strongest_noise_within(costs, 0.0) == 0.0
    assert strongest_noise_within(costs, -0.02) == 0.0        # a defense that gains accuracy: no noise at all


def test_noise_of_a_larger_scale_costs_more_and_is_repeatable():
    import torch

    from answers.q08_defense_cost import noisy

    class Identity(torch.nn.Module):
        def forward(self, x):
            return torch.stack([x.flatten(1).mean(1), 1 - x.flatten(1).mean(1)], 1)

    x = torch.full((8, 3, 4, 4), 0.5)
    assert torch.equal(noisy(Identity(), 0.1, 3)(x), noisy(Identity(), 0.1, 3)(x))
    # the control changes its input: at σ = 0 nothing moves, at σ > 0 the images the model sees differ
    seen = []

    class Spy(torch.nn.Module):
        def forward(self, x):
            seen.append(x.clone())
            return torch.zeros(len(x), 2)
    noisy(Spy(), 0.0, 3)(x), noisy(Spy(), 0.1, 3)(x)
    assert torch.equal(seen[0], x) and not torch.equal(seen[1], x)


def test_the_worst_case_falls_to_a_transferred_attack_when_gradients_hide():
    """A model whose gradient is zero everywhere (masked) stops white-box PGD: the worst case still counts the
    images the attack transferred from its open twin breaks."""
    import torch

    from answers.lab.attacks import PGD
    from answers.q08_defense_cost import LINF_PGD, worst_case

    class Brightness(torch.nn.Module):   # class 0 when the image is brighter than 0.5, else class 1
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.tensor([[1.0], [-1.0]]))

        def forward(self, x):
            return (self.see(x).flatten(1).mean(1, keepdim=True) - 0.5) @ self.w.T * 50

        def see(self, x):
            return x

    class Masked(Brightness):   # the same decisions up to a rounding finer than ε, and no gradient at all
        def see(self, x):
            return torch.round(x * 512) / 512

    x, y = torch.full((16, 1, 8, 8), 0.51), torch.zeros(16, dtype=torch.long)
    masked = Masked()
    assert bool((masked(x).argmax(1) == y).all())
    alone = masked(PGD(masked, **LINF_PGD)(x, y)).argmax(1) == y
    assert bool(alone.all())                                         # white-box PGD gets nowhere
    rows = worst_case(masked, Brightness(), x, y)
    assert bool(rows[0].all()) and float(rows.all(0).float().mean()) == 0.0   # the transferred one gets through
    # an outcome already measured for the first attacker is used as it is
    known = torch.zeros(16, dtype=torch.bool)
    assert torch.equal(worst_case(masked, Brightness(), x, y, known)[0], known)
