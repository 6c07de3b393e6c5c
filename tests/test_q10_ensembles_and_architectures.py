"""q10's claims at the tiny profile, and the invariants behind its tables."""
from __future__ import annotations

import pytest

from conftest import claim_suite

from answers import q10_ensembles_and_architectures as q10
from answers.lab import zoo

CLAIMS = ["examples_transfer", "accuracy_not_robustness", "diversity_keeps_backdoor",
          "partitions_cover_once", "partitions_lower_asr", "partitions_cost_accuracy"]

result, test_every_expected_claim_is_made, test_claim_at_tiny, test_models_healthy = claim_suite("q10", CLAIMS)
CFG = q10.PROFILES["tiny"]


def test_every_architecture_is_measured_and_the_diagonal_is_the_white_box_attack(result):
    arch = {r["key"]: r for r in result.tables["architectures"].rows}
    assert list(arch) == list(zoo.ARCHITECTURES)
    grid = {r["source"]: r for r in result.tables["transfer"].rows}
    for a in zoo.ARCHITECTURES:
        assert grid[f"from {a}"][f"on {a}"] == arch[a]["pgd_acc"]
    assert "transfer_heatmap" in result.figures


def test_partition_table_counts_calls_and_certificates_within_their_bounds(result):
    rows = {r["key"]: r for r in result.tables["partitions"].rows}
    assert [r["k"] for r in result.tables["partitions"].rows] == [1, *CFG.ks]
    for k in CFG.ks:
        r = rows[f"k{k}"]
        assert r["calls_per_image"] == k
        assert 0 <= r["median_certified"] <= k // 2            # a vote of k can be certified against at most ⌊k/2⌋
        assert 1 <= r["poisoned_members"] <= k
        # every member trains epochs_per_member × the scale's epochs on 1/k of the data
        assert r["training_vs_single"] == zoo.PARTITIONED.epochs_per_member


def test_backdoor_table_has_each_architecture_and_both_ensembles(result):
    keys = [r["key"] for r in result.tables["backdoors"].rows]
    assert keys == [*zoo.ARCHITECTURES, "average", "vote", "one_poisoned"]


def test_partition_coverage_is_compared_by_content_so_a_duplicate_plus_an_omission_is_caught():
    import torch
    x, y = torch.rand(6, 3, 4, 4), torch.arange(6)
    whole = q10.samples(x, y)
    wrong = q10.samples(torch.cat([x[:5], x[:1]]), torch.cat([y[:5], y[:1]]))   # sample 0 twice, sample 5 missing
    assert len(wrong) == len(whole) - 1 and sum(wrong.values()) == sum(whole.values())   # sizes alone agree
    assert sum(((whole - wrong) + (wrong - whole)).values()) == 2
    halves = q10.samples(x[:3], y[:3]) + q10.samples(x[3:], y[3:])
    assert halves == whole


def test_partition_findings_are_decided_over_independent_runs(result):
    runs = result.tables["partition_runs"].rows
    assert [r["run"] for r in runs] == list(range(CFG.runs)) and len({r["seed"] for r in runs}) == len(runs)
    first = {r["key"]: r for r in result.tables["partitions"].rows}
    small, big = CFG.ks[0], CFG.ks[-1]
    assert (runs[0]["asr_single"], runs[0]["asr_vote"]) == (first["single"]["asr"], first[f"k{big}"]["asr"])
    assert (runs[0]["ca_few"], runs[0]["ca_many"]) == (first[f"k{small}"]["ca"], first[f"k{big}"]["ca"])
    # another seed poisons, partitions and trains anew
    assert runs[1]["asr_single"] != runs[0]["asr_single"] or runs[1]["ca_many"] != runs[0]["ca_many"]
    lower = result.get_claim("partitions_lower_asr")
    assert [x["lowered"] for x in lower.evidence.runs] == [r["asr_single"] - r["asr_vote"] for r in runs]
    cost = result.get_claim("partitions_cost_accuracy")
    # decided on each run's two votes image by image (McNemar stratified by run), its runs the table's
    assert [x["ca_cost"] for x in cost.evidence.runs] == pytest.approx([r["ca_few"] - r["ca_many"] for r in runs],
                                                                       abs=1e-6)
    assert any(name.startswith("McNemar stratified by run") for name in cost.evidence.tests)
    models = [m["name"] for m in result.meta["models"]]
    assert all(f"DPA k={big} (vote, seed {r['seed']})" in models for r in runs[1:])
    # the finding tests each architecture's model and each ensemble on its own (Holm), not only the ensembles
    claim = result.get_claim("diversity_keeps_backdoor")
    assert claim.evidence.design["arms"] == [*zoo.ARCHITECTURES, "average", "vote"]
    asr = {r["key"]: r["asr"] for r in result.tables["backdoors"].rows}
    assert all(claim.values[f"asr_{k}"] == asr[k] for k in claim.evidence.design["arms"])
