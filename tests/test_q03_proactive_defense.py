"""q03's claims at the tiny profile, and the invariants its tables must satisfy."""
from __future__ import annotations

from conftest import claim_suite

from answers.lab.defenses import PREPROCESSING

CLAIMS = ["naive_numbers_overstate", "training_recovers_clean_accuracy", "rotation_is_an_attack",
          "radius_within_cap"]


result, test_every_expected_claim_is_made, test_claim_at_tiny, test_models_healthy = claim_suite("q03", CLAIMS)


def test_every_proactive_defense_is_measured(result):
    rows = result.tables["preprocessing"].rows
    assert [r["防御 defense"] for r in rows] == ["none", *PREPROCESSING]
    for r in rows:
        for col in ("clean_untrained", "clean_trained", "naive_attack", "adaptive_attack"):
            assert 0 <= r[col] <= 1
    assert "defenses" in result.figures


def test_rotation_table_covers_both_directions(result):
    angles = [r["angle"] for r in result.tables["rotation"].rows]
    assert min(angles) == -30 and max(angles) == 30 and 0 in angles


def test_the_rotation_attack_is_judged_only_on_signs_no_turn_makes_into_another_class():
    from answers.lab.data import CLASS_NAMES
    from answers.q03_proactive_defense import shapes_kept_by_turns
    # square and diamond are 45° apart, plus and cross too, the two triangles 60° apart (each sign already drawn
    # turned up to ±15°): the attacker's ±30° reaches all six; nothing turns circle, ring, octagon or no-entry
    # into another sign. Without a turn every class keeps its shape
    assert [CLASS_NAMES[c] for c in shapes_kept_by_turns(30)] == ["circle", "ring", "octagon", "no_entry"]
    assert shapes_kept_by_turns(0) == list(range(len(CLASS_NAMES)))


def test_adaptive_verdicts_follow_their_p_values(result):
    for r in result.tables["preprocessing"].rows[1:]:
        significant = r["p_adaptive_vs_naive"] < 0.05
        assert (r["adaptive_verdict"].startswith("无显著")) == (not significant)
        if significant:
            assert r["adaptive_verdict"].endswith("lower") == (r["adaptive_attack"] < r["naive_attack"])
    # the table shows the finding's own per-defense tests (Holm-adjusted), and the finding counts its "lower" rows
    claim = result.get_claim("naive_numbers_overstate")
    adjusted = dict(zip(claim.evidence.design["arms"], claim.evidence.design["adjusted_p"]))
    rows = result.tables["preprocessing"].rows[1:]
    assert {r["key"]: r["p_adaptive_vs_naive"] for r in rows} == adjusted
    assert claim.values["overstated"] == sum(r["adaptive_verdict"].endswith("lower") for r in rows)
    assert claim.values["defenses"] == len(rows)


def test_certificate_table_shows_the_cap_it_is_bound_by(result):
    rows = {r["量 quantity"][:4]: r for r in result.tables["certificate"].rows}
    cap = result.meta["certificate"]["cap"]
    certified = result.tables["certificate"].rows[0]
    assert certified["max"] is None or certified["max"] <= cap + 1e-6
    assert result.meta["certificate"]["certified"] <= result.meta["certificate"]["images"]
    assert len(rows) == 4


def test_fine_tuning_on_a_costly_transform_wins_accuracy_back_even_at_tiny(result):
    # the finding declares that its count needs site's images; fine-tuning that does nothing must still fail here
    claim = result.get_claim("training_recovers_clean_accuracy")
    assert claim.values["costly_transforms"] > 0
    assert claim.values["recovered"] >= 1, claim.evidence.describe()
    runs = result.tables["recovery_runs"].rows
    held = claim.evidence.design["holding"]
    assert all(r[f"trained_{k}"] > r[f"untrained_{k}"] for k in held for r in runs)


def test_costly_transforms_are_chosen_on_half_the_images_with_a_margin_and_a_test():
    import torch

    from answers.q03_proactive_defense import COST_MARGIN, costly_transforms
    n = 2000
    plain = torch.ones(n, dtype=torch.bool)

    def wrong_on(every: int, offset: int = 0) -> torch.Tensor:
        correct = plain.clone()
        correct[offset::every] = False
        return correct

    behind = {"costly": wrong_on(5),                  # 20% lower on either half
              "odd_only": wrong_on(2, offset=1),      # wrong on every deciding image, right on every choosing one
              "within_margin": wrong_on(100),         # 2% lower on the choosing half: significant, within the margin
              "free": plain}
    assert COST_MARGIN == 0.03
    assert costly_transforms(behind, plain) == ["costly"]
    # a drop beyond the margin on too few images to be significant is not a cost either
    few = torch.ones(20, dtype=torch.bool)
    assert costly_transforms({"one_in_ten": wrong_on(5)[:20]}, few) == []
