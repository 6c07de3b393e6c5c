"""q04's claims at the tiny profile, and the invariants of its on/off tables."""
from __future__ import annotations

import pytest
from conftest import claim_suite

from answers import q04_conditional_attacks as q04

CLAIMS = ["patches_leave_model_alone", "conditional_patch_is_selective", "capture_blurs_the_switch",
          "more_pixels_easier_switch"]

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


def test_findings_are_decided_over_independent_runs(result):
    runs = result.tables["runs"].rows
    assert [r["run"] for r in runs] == list(range(q04.PROFILES["tiny"].runs)) and len({r["seed"] for r in runs}) == len(runs)
    # run 0 is the sections above: the on/off table's digital conditional patch and the resolution table
    onoff = {r["key"]: r for r in result.tables["onoff"].rows}
    resolution = {r["pixels"]: r for r in result.tables["resolution"].rows}
    assert runs[0]["on"] == onoff["conditional/digital"]["on_rate"]
    assert runs[0]["conditional"] == pytest.approx(resolution[32]["selectivity"])
    assert runs[0]["selectivity_24"] == pytest.approx(resolution[24]["selectivity"])
    # another seed trains other recognizers and optimises other patches
    assert runs[1]["on"] != runs[0]["on"] or runs[1]["selectivity_24"] != runs[0]["selectivity_24"]
    for claim_id, value in (("conditional_patch_is_selective", "conditional"), ("capture_blurs_the_switch", "blur"),
                            ("more_pixels_easier_switch", "resolution_gain")):
        claim = result.get_claim(claim_id)
        assert [x[value] for x in claim.evidence.runs] == pytest.approx([r[value] for r in runs])
    assert all(r["blur"] == pytest.approx(r["uncaptured"] - r["captured"]) for r in runs)
    models = [m["name"] for m in result.meta["models"]]
    assert all(f"digital recognizer 24×24 (seed {r['seed']})" in models for r in runs[1:])
