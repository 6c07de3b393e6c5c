"""q02's claims at the tiny profile, and the invariants of its patch tables."""
from __future__ import annotations

import pytest
from conftest import claim_suite

from answers import q02_physical_world_attacks as q02

CLAIMS = ["digital_patch_fades", "eot_recovers", "patch_not_occlusion", "cloth_training_not_reliable",
          "printing_snaps_to_palette", "bigger_patch_succeeds_more"]

result, test_every_expected_claim_is_made, test_claim_at_tiny, test_models_healthy = claim_suite("q02", CLAIMS)


def test_every_patch_is_measured_at_every_severity(result):
    rows = result.tables["severity"].rows
    assert [r["severity"] for r in rows] == list(q02.PROFILES["tiny"].severities)
    for r in rows:
        for key in [*q02.PATCHES, *q02.CONTROLS]:
            assert 0 <= r[key] <= 1 and 0 <= r[f"{key}_untargeted"] <= 1
        assert 0 <= r["accuracy_no_patch"] <= 1


def test_the_strongest_capture_is_the_same_scenes_in_every_table(result):
    # one generator offset for the evaluation scenes: the same patch through the same camera gives one number
    last = result.tables["severity"].rows[-1]
    conditions = {r["key"]: r for r in result.tables["conditions"].rows}
    sizes = {r["size"]: r for r in result.tables["size"].rows}
    for key in q02.PATCHES:
        assert conditions[key]["captured"] == last[key]
    assert sizes[q02.SIZE]["captured"] == last["eot"]


def test_patch_table_and_figures(result):
    keys = [r["key"] for r in result.tables["patches"].rows]
    assert keys == [*q02.PATCHES, *q02.CONTROLS]
    # the shuffled control is run 0's EOT patch rearranged: the same colours (printability), another pattern
    by = {r["key"]: r for r in result.tables["patches"].rows}
    assert by["shuffled"]["non_printability"] == pytest.approx(by["eot"]["non_printability"], rel=1e-5)
    assert by["shuffled"]["total_variation"] != by["eot"]["total_variation"]
    assert {"severity_curve", "scenes", "size_curve"} <= set(result.figures)
    areas = [r["area"] for r in result.tables["size"].rows]
    assert areas == sorted(areas) and all(0 < a < 1 for a in areas)


def test_cloth_comparison_is_decided_over_independent_optimisations(result):
    runs = result.tables["cloth_runs"].rows
    assert [r["run"] for r in runs] == list(range(q02.PROFILES["tiny"].runs))
    assert len({r["seed"] for r in runs}) == len(runs) >= 2
    # run 0 is the main pair of patches, measured on the same folded scenes as the conditions table
    conditions = {r["key"]: r for r in result.tables["conditions"].rows}
    assert runs[0]["cloth_trained"] == conditions["eot_cloth"]["captured_cloth"]
    assert runs[0]["plain_eot"] == conditions["eot"]["captured_cloth"]
    # another seed optimises other patches: their success differs
    assert (runs[1]["cloth_trained"], runs[1]["plain_eot"]) != (runs[0]["cloth_trained"], runs[0]["plain_eot"])
    claim = result.get_claim("cloth_training_not_reliable")
    assert claim.values["difference"] == pytest.approx(sum(r["difference"] for r in runs) / len(runs))
    # decided on the weakest optimisation, its interval over its own scenes
    assert claim.values["smallest_gain"] == min(r["difference"] for r in runs)
    low, high = claim.evidence.intervals["smallest_gain"]
    assert low <= claim.values["smallest_gain"] <= high


def test_patch_comparisons_are_decided_over_independent_optimisations(result):
    runs = result.tables["capture_runs"].rows
    assert [r["run"] for r in runs] == list(range(q02.PROFILES["tiny"].runs))
    assert len({r["seed"] for r in runs}) == len(runs)
    # run 0 is section 1's patches on the severity table's scenes
    digital, strongest = result.tables["severity"].rows[0], result.tables["severity"].rows[-1]
    assert runs[0]["digital_digital"] == digital["digital"]
    assert (runs[0]["digital_captured"], runs[0]["eot_captured"], runs[0]["random_captured"]) == \
        (strongest["digital"], strongest["eot"], strongest["random"])
    assert [r["shuffled_captured"] for r in runs[:1]] == [strongest["shuffled"]]
    # another seed optimises other patches (and draws another random control)
    assert runs[1]["eot_captured"] != runs[0]["eot_captured"] or runs[1]["digital_captured"] != runs[0]["digital_captured"]
    for claim_id, value in (("digital_patch_fades", "loss"), ("eot_recovers", "gain"), ("eot_recovers", "recovered"),
                            ("patch_not_occlusion", "over_shuffled")):
        claim = result.get_claim(claim_id)
        assert [r[value] for r in claim.evidence.runs] == pytest.approx([r[value] for r in runs])
        assert claim.values[value] == pytest.approx(sum(r[value] for r in runs) / len(runs))
    assert [r["loss"] for r in runs] == pytest.approx([r["digital_digital"] - r["digital_captured"] for r in runs])
    assert [r["gain"] for r in runs] == pytest.approx([r["eot_captured"] - r["digital_captured"] for r in runs])
    assert [r["recovered"] for r in runs] == pytest.approx(
        [(r["eot_captured"] - r["digital_captured"]) / r["loss"] for r in runs])
    # the share won back is shown with its interval, not decided: only the direction is the finding's rule
    eot = result.get_claim("eot_recovers")
    assert eot.rule == "gain > 0" and "recovered" in eot.evidence.intervals and "recovered" not in eot.rule
    sizes = {r["size"]: r["captured"] for r in result.tables["size"].rows}
    size_runs = result.tables["size_runs"].rows
    small, big = q02.PROFILES["tiny"].sizes[0], q02.PROFILES["tiny"].sizes[-1]
    assert (size_runs[0]["small"], size_runs[0]["big"]) == (sizes[small], sizes[big])
    assert len(result.get_claim("bigger_patch_succeeds_more").evidence.runs) == len(size_runs) == len(runs)


def test_the_shuffled_control_keeps_every_colour_and_loses_the_pattern():
    import torch
    patch = torch.rand(3, 10, 10)
    mixed = q02.shuffled(patch, 0)
    # each pixel (a colour of three channels) is still there, once; their positions are not
    assert sorted(map(tuple, mixed.flatten(1).T.tolist())) == sorted(map(tuple, patch.flatten(1).T.tolist()))
    assert not torch.equal(mixed, patch)
    assert torch.equal(q02.shuffled(patch, 0), mixed) and not torch.equal(q02.shuffled(patch, 1), mixed)
