"""q03's claims at the tiny profile, and the invariants its tables must satisfy."""
from __future__ import annotations

from conftest import claim_suite

from answers.lab.transforms import PROACTIVE

CLAIMS = ["adaptive_beats_every_defense", "naive_numbers_overstate", "training_recovers_clean_accuracy",
          "rotation_is_an_attack", "certificate_covers_less_than_attacks"]


result, test_every_expected_claim_is_made, test_claim_holds = claim_suite("q03", CLAIMS)


def test_every_proactive_defense_is_measured(result):
    rows = result.tables["preprocessing"].rows
    assert [r["防御 defense"] for r in rows] == ["none", *PROACTIVE]
    for r in rows:
        for col in ("clean_untrained", "clean_trained", "naive_attack", "adaptive_attack"):
            assert 0 <= r[col] <= 1
    assert "defenses" in result.figures


def test_rotation_table_covers_both_directions(result):
    angles = [r["angle"] for r in result.tables["rotation"].rows]
    assert min(angles) == -30 and max(angles) == 30 and 0 in angles
