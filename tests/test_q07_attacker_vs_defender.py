"""q07's claims at the tiny profile, and the invariants of its attacker × defender matrix."""
from __future__ import annotations

from answers.lab.zoo import THREAT

from conftest import claim_suite

CLAIMS = ["adaptive_undoes_preprocessing", "training_defense_beats_none"]
ATTACKS = ["FGSM", "PGD", "adaptive (EOT/BPDA)", "transfer", f"patch {THREAT.patch}×{THREAT.patch}"]


result, test_every_expected_claim_is_made, test_claim_at_tiny, test_models_healthy = claim_suite("q07", CLAIMS)


def test_worst_case_is_at_most_every_attack(result):
    for row in result.tables["matrix"].rows:
        assert row["worst_case"] <= min(row[a] for a in ATTACKS) + 1e-9
        assert all(0 <= row[a] <= 1 for a in ATTACKS)


def test_transfer_attack_never_queries_the_defended_model(result):
    # the transfer attacker's counted calls are on its own surrogate; every other attack queries the target
    costs = result.tables["attacker_cost"].rows
    assert all(r["attacker_calls_per_image"] > 0 for r in costs)
    assert {r["attack"] for r in costs} == set(ATTACKS)


def test_defenses_come_from_the_one_list(result):
    keys = [r["key"] for r in result.tables["matrix"].rows]
    assert keys == ["none", "jpeg", "median", "deflection", "smoothing", "pgd_at"]


def test_best_single_attack_is_the_minimum_column(result):
    for row in result.tables["matrix"].rows:
        assert row["best_single_attack"] == min(row[a] for a in ATTACKS)


def test_linf_worst_case_is_over_the_linf_attacks_only(result):
    # the per-arm finding compares attacks of one threat model: the patch (no L∞ bound) is not in it
    linf = ATTACKS[:4]
    for row in result.tables["matrix"].rows:
        assert row["strongest_linf"] in linf
        assert row["worst_case"] <= row["worst_linf"] <= row[row["strongest_linf"]] == min(row[a] for a in linf)


def test_comparisons_over_defenses_test_each_defense(result):
    matrix = {r["key"]: r for r in result.tables["matrix"].rows}
    combined = result.tables["linf_combined"].rows
    assert [r["key"] for r in combined] == [k for k in matrix if k != "none"]
    for r in combined:
        assert r["gap"] == matrix[r["key"]][r["strongest_linf"]] - matrix[r["key"]]["worst_linf"] >= 0
        assert 0 <= r["p_holm"] <= 1
    pre = result.get_claim("adaptive_undoes_preprocessing")
    assert pre.evidence.design["arms"] == ["jpeg", "median", "deflection"]
    # the count is the defenses whose own Holm-adjusted test is decided with the adaptive attack stronger
    holding = [k for k, p in zip(pre.evidence.design["arms"], pre.evidence.design["adjusted_p"])
               if p < pre.evidence.alpha and matrix[k]["adaptive (EOT/BPDA)"] < matrix[k]["PGD"]]
    assert pre.values["defenses"] == len(holding) and pre.evidence.design["holding"] == holding


def test_pgd_at_is_judged_over_independent_training_runs(result):
    """Run 0 is the matrix's pair; every other run trained its own pair (recorded as healthy models), and the
    finding's evidence holds one worst-case gain per run."""
    rows = result.tables["at_runs"].rows
    at, none = result.row("matrix", "pgd_at"), result.row("matrix", "none")
    assert (rows[0]["at_worst"], rows[0]["none_worst"]) == (at["worst_case"], none["worst_case"])
    assert len({r["seed"] for r in rows}) == len(rows) >= 2
    claim = next(c for c in result.claims if c.id == "training_defense_beats_none")
    assert [run["gain"] for run in claim.evidence.runs] == [r["at_worst"] - r["none_worst"] for r in rows]
    names = {m["name"] for m in result.meta["models"]}
    assert all({f"base (seed {r['seed']})", f"PGD-AT (seed {r['seed']})"} <= names for r in rows[1:])
