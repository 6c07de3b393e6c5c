"""q04's claims at the tiny profile, and the invariants of its on/off tables."""
from __future__ import annotations

from conftest import claim_suite

from answers import q04_conditional_attacks as q04

CLAIMS = ["patches_leave_model_alone", "conditional_patch_is_selective", "capture_blurs_the_switch",
          "backdoor_more_selective", "more_pixels_easier_switch"]

result, test_every_expected_claim_is_made, test_claim_at_tiny, test_models_healthy = claim_suite("q04", CLAIMS)


def test_every_attacker_is_measured_digitally_and_through_the_camera(result):
    keys = [r["key"] for r in result.tables["onoff"].rows]
    assert keys == [f"{a}/{s}" for s in ("digital", "captured") for a in ("always_on", "conditional", "backdoor")]
    for r in result.tables["onoff"].rows:
        assert 0 <= r["off_rate"] <= 1 and 0 <= r["on_rate"] <= 1
        assert abs(r["selectivity"] - (r["on_rate"] - r["off_rate"])) < 1e-6  # float32 rates


def test_only_the_backdoor_changes_the_model(result):
    changes = {r["key"].split("/")[0]: r["changes_model"] for r in result.tables["onoff"].rows}
    assert changes["backdoor"].startswith("是") and all(v.startswith("否") for k, v in changes.items() if k != "backdoor")


def test_size_and_resolution_tables(result):
    sizes = result.tables["size"].rows
    assert [r["size"] for r in sizes] == list(q04.PROFILES["tiny"].sizes)
    assert [r["pixels"] for r in result.tables["resolution"].rows] == [24, 32]
    assert {"scenes", "size_curve"} <= set(result.figures)
