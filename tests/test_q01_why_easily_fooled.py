"""q01's claims at the tiny profile, and the invariants its tables must satisfy."""
from __future__ import annotations

import pytest
import torch
from conftest import claim_suite

from answers.lab import cues
from answers.lab.data import NUM_CLASSES
from answers.q01_why_easily_fooled import EPS_GRID

CLAIMS = ["standard_model_follows_texture", "a_patch_of_texture_is_enough", "bias_comes_from_the_data",
          "gradients_confirm_the_arithmetic", "effective_field_is_smaller", "local_units_global_vote",
          "small_eps_flips_half", "direction_not_size", "adversarial_training_moves_the_threshold",
          "shape_bias_is_not_robustness", "deep_units_are_texture_detectors", "shape_training_changes_what_units_see"]


result, test_every_expected_claim_is_made, test_claim_at_tiny, test_models_healthy = claim_suite("q01", CLAIMS)


def test_cue_conflict_shares_add_up(result):
    for r in result.tables["cue_conflict"].rows:
        assert 0 <= r["decided_by_texture"] + r["decided_by_shape"] <= 1
        assert 0 <= r["texture_share"] <= 1


def test_accuracy_falls_as_eps_grows(result):
    rows = result.tables["accuracy_vs_eps"].rows
    assert [r["eps_255"] for r in rows] == list(EPS_GRID)
    for model in ("standard", "shape-trained", "PGD-AT"):
        accs = [r[model] for r in rows]
        assert all(a >= b for a, b in zip(accs, accs[1:])), model  # cumulative by construction


def test_effective_field_never_exceeds_the_theoretical_one(result):
    for r in result.tables["receptive_fields"].rows:
        assert r["effective_rf_50"] <= r["effective_rf_90"] <= r["gradient_support"] <= r["image_size"]


def test_cue_conflict_images_never_agree():
    _, shapes, textures = cues.cue_conflict(200, seed=3)
    assert (shapes != textures).all()
    assert set(shapes.tolist()) == set(range(NUM_CLASSES))


def test_cue_data_is_seeded_and_labelled_by_shape():
    a, b = cues.cue_split(50, 10, seed=5), cues.cue_split(50, 10, seed=5)
    assert a.fingerprint == b.fingerprint and torch.equal(a.x_train, b.x_train)
    assert a.fingerprint != cues.cue_split(50, 10, seed=5, textures="random").fingerprint
    with pytest.raises(ValueError, match="agree"):
        cues.cue_split(50, 10, seed=5, textures="stylized")
