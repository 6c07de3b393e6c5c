"""q01's claims at the tiny profile, and the invariants its tables must satisfy."""
from __future__ import annotations

import pytest
import torch
from conftest import claim_suite

from answers.lab import cues
from answers.lab.data import NUM_CLASSES
from answers.q01_why_easily_fooled import EPS_GRID

CLAIMS = ["standard_model_follows_texture", "a_patch_of_texture_is_enough",
          "gradients_confirm_the_arithmetic", "effective_field_is_smaller", "local_units_global_vote",
          "small_eps_flips_half", "direction_not_size", "shape_control_follows_shape",
          "adversarial_training_moves_the_threshold", "shape_bias_is_not_robustness",
          "deep_units_are_texture_detectors", "shape_training_changes_what_units_see"]


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


def test_comparisons_of_training_are_decided_over_runs(result):
    """Run 0 repeats the sections' own numbers; every other run trained its own three models (recorded); each of
    the three findings that compare ways of training carries one value per run, computed from that run's row."""
    rows = result.tables["training_runs"].rows
    shares = {r["模型 model"]: r["texture_share"] for r in result.tables["cue_conflict"].rows}
    assert (rows[0]["standard_texture_share"], rows[0]["shape_texture_share"]) == (shares["standard"],
                                                                                   shares["shape-trained"])
    minimal = {r["模型 model"]: r["flipped_at_threat"] for r in result.tables["minimal_eps"].rows
               if r["attack"].startswith("PGD")}
    assert rows[0]["standard_flipped_at_threat"] == pytest.approx(minimal["standard"], abs=1e-6)
    assert rows[0]["shape_flipped_at_threat"] == pytest.approx(minimal["shape-trained"], abs=1e-6)
    assert len({r["seed"] for r in rows}) == len(rows) >= 2
    names = {m["name"] for m in result.meta["models"]}
    assert all(f"{n} (seed {r['seed']})" in names for r in rows[1:] for n in ("standard", "shape-trained", "PGD-AT"))
    runs = {c.id: c.evidence.runs for c in result.claims if c.evidence is not None}
    assert [r["shape_minus_standard"] for r in runs["shape_bias_is_not_robustness"]] == pytest.approx(
        [r["shape_flipped_at_threat"] - r["standard_flipped_at_threat"] for r in rows])
    assert [r["at_minus_standard"] for r in runs["adversarial_training_moves_the_threshold"]] == pytest.approx(
        [r["at_flipped_at_ref"] - r["standard_flipped_at_ref"] for r in rows])
    assert result.claim_values("shape_control_follows_shape")["shape_trained_max"] == max(
        r["shape_texture_share"] for r in rows)


def test_what_units_see_is_decided_over_the_training_runs(result):
    """Run 0's conv3 purities are the unit table's; the other runs are the training runs' own models; both unit
    findings carry every run's difference, with the seeds of the training runs."""
    units = result.tables["unit_runs"].rows
    table = {(r["模型 model"], r["layer"]): r for r in result.tables["unit_selectivity"].rows}
    assert units[0]["standard_texture"] == table["standard", "conv3"]["texture_purity"]
    assert units[0]["shape_trained_shape"] == table["shape-trained", "conv3"]["shape_purity"]
    assert [u["seed"] for u in units] == [r["seed"] for r in result.tables["training_runs"].rows]
    for claim, value, a, b in (("deep_units_are_texture_detectors", "standard_texture_minus_shape",
                                "standard_texture", "standard_shape"),
                               ("shape_training_changes_what_units_see", "shape_trained_shape_minus_texture",
                                "shape_trained_shape", "shape_trained_texture")):
        runs = result.get_claim(claim).evidence.runs
        assert [r[value] for r in runs] == pytest.approx([u[a] - u[b] for u in units])
        assert all(0 <= u[a] <= 1 for u in units)


def test_the_untrained_reference_is_the_same_network_initialised_afresh():
    import torch

    from answers.lab.models import SmallCNN
    from answers.lab.receptive import untrained_copy
    torch.manual_seed(1)
    trained = SmallCNN()
    with torch.no_grad():
        trained.features[0].weight.fill_(0.5)
        trained.features[1].running_mean.fill_(3.0)
    before = {k: v.clone() for k, v in trained.state_dict().items()}
    state = torch.get_rng_state()
    a, b = untrained_copy(trained, 7), untrained_copy(trained, 7)
    assert torch.equal(torch.get_rng_state(), state)                                 # the caller's stream is kept
    assert all(torch.equal(v, trained.state_dict()[k]) for k, v in before.items())  # the model is untouched
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())  # one seed, one network
    assert not torch.equal(a.features[0].weight, trained.features[0].weight)
    assert torch.equal(a.features[1].running_mean, torch.zeros(64)) and not a.training
    assert not torch.equal(untrained_copy(trained, 8).features[0].weight, a.features[0].weight)


def test_effective_field_check_compares_with_the_untrained_network(result):
    claim = result.get_claim("effective_field_is_smaller")
    assert claim.kind == "check" and 0 < claim.values["untrained_area_fraction_50"] <= 1
    assert 0 < claim.values["area_fraction_50"] <= 1
