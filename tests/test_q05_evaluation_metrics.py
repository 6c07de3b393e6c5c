"""q05's claims at the tiny profile, the backdoor metrics on hand-made cases, and its tables' invariants."""
from __future__ import annotations

import pytest
import torch
from conftest import claim_suite

from answers import q05_evaluation_metrics as q05
from answers.kb import evidence as ev
from answers.lab import backdoor

CLAIMS = ["ca_kept_asr_high", "asr_rises_with_ratio", "asr_rises_with_trigger", "patch_leaves_ca", "queries_counted",
          "attack_cost_varies"]

result, test_every_expected_claim_is_made, test_claim_at_tiny, test_models_healthy = claim_suite("q05", CLAIMS)


class _Scripted(torch.nn.Module):
    """Predicts the target for every image whose pixel (-2, -2) is black (a 1-pixel trigger), else the label
    written in its top-left pixel."""

    def forward(self, x):
        label = (x[:, 0, 0, 0] * 10).long()
        logits = torch.nn.functional.one_hot(label, 10).float()
        logits[x[:, 0, -2, -2] == 0] = torch.nn.functional.one_hot(torch.tensor(3), 10).float()
        return logits


def test_backdoor_metrics_on_a_hand_made_model():
    y = torch.tensor([0, 1, 2, 3, 4, 5])
    x = torch.full((6, 3, 8, 8), 0.5)
    x[:, 0, 0, 0] = y.float() / 10 + 0.01
    x[1, 0, 0, 0] = 0.91                      # image 1 is misclassified as 9 when clean
    s = backdoor.scores(_Scripted(), x, y, backdoor.Trigger(1), target=3)
    # CA over all six; the trigger (one black pixel at (-2, -2)) sends every other-class image to the target
    assert s.clean.tolist() == [True, False, True, True, True, True] and abs(s.ca - 5 / 6) < 1e-6
    assert s.asr == 1.0 and s.ra == 0.0 and len(s.attack) == 5


def test_sweep_covers_every_cell_and_the_smallest_ratio_is_consistent(result):
    cfg = q05.PROFILES["tiny"]
    rows = result.tables["sweep"].rows
    assert [r["poison_ratio"] for r in rows] == list(cfg.ratios)
    for side in cfg.triggers:
        reached = [r["poison_ratio"] for r in rows if r[f"asr_t{side}"] >= q05.ASR_GOAL]
        smallest = next(r for r in result.tables["smallest_ratio"].rows if r["trigger"] == side)["smallest_ratio"]
        assert smallest == (min(reached) if reached else None)
    assert {"ca_heatmap", "asr_heatmap"} <= set(result.figures)


def test_cost_tables(result):
    attack = result.tables["attack_cost"].rows
    assert [r["queries_per_image"] for r in attack][:2] == [1, q05.PGD_STEPS]
    assert all(r["ms_per_image"] > 0 for r in attack)
    smooth = result.tables["defense_cost"].rows[-1]
    assert smooth["calls_per_image"] == q05.PROFILES["tiny"].smooth_samples


def test_rise_runs_feed_the_evidence(result):
    cfg = q05.PROFILES["tiny"]
    sweep = {r["poison_ratio"]: r for r in result.tables["sweep"].rows}
    lo_r, hi_r, lo_t, hi_t = cfg.ratios[0], cfg.ratios[-1], cfg.triggers[0], cfg.triggers[-1]
    grid = {"asr_rises_with_ratio": {f"t{t}": (sweep[lo_r][f"asr_t{t}"], sweep[hi_r][f"asr_t{t}"]) for t in cfg.triggers},
            "asr_rises_with_trigger": {f"r{r * 1000:g}pm".replace(".", "_"): (sweep[r][f"asr_t{lo_t}"],
                                                                              sweep[r][f"asr_t{hi_t}"])
                                       for r in cfg.ratios}}
    for claim, arms in grid.items():
        rows = result.tables[f"{claim}_runs"].rows
        assert [r["run"] for r in rows] == list(range(cfg.runs)) and len({r["seed"] for r in rows}) == cfg.runs
        keys = [k[len("rise_"):] for k in rows[0] if k.startswith("rise_")]
        assert keys and set(keys) <= set(arms)
        for key in keys:
            assert all(abs(r[f"rise_{key}"] - (r[f"high_{key}"] - r[f"low_{key}"])) < 1e-9 for r in rows)
        evidence = result.get_claim(claim).evidence
        assert [[run[f"rise_{k}"] for k in keys] for run in evidence.runs] == \
            [[pytest.approx(r[f"rise_{k}"]) for k in keys] for r in rows]
        assert len(evidence.design["adjusted_p"]) == len(keys)                      # one test per arm, Holm


def _cell(attack: list[bool]) -> backdoor.BackdoorScores:
    hits = torch.tensor(attack)
    return backdoor.BackdoorScores(torch.ones(3, dtype=torch.bool), hits, ~hits)


def test_arms_are_chosen_on_half_of_run_0_and_decided_on_the_other_half():
    low_on_choosing, low_on_deciding, top = _cell([False, True] * 2), _cell([True, False] * 2), _cell([True] * 4)
    arms = [q05.Arm("a", "a", (0.01, 2), (0.1, 2)), q05.Arm("b", "b", (0.01, 3), (0.1, 3))]
    cells = {(0.01, 2): low_on_choosing, (0.01, 3): low_on_deciding, (0.1, 2): top, (0.1, 3): top}
    chosen = q05.with_room(cells, arms)
    # the arm whose low cell is low only on the deciding images is not chosen: the choice never sees them
    assert [a.key for a in chosen.arms] == ["a"] and (chosen.of, chosen.at_ceiling) == (2, 1)
    assert "1 档" in chosen.which_zh() and "共 2 档" in chosen.which_zh()
    decided = q05.part(low_on_choosing, ev.DECIDE)
    assert decided.asr == 1.0 and decided.ra == 0.0 and decided.ca == 1.0 and len(decided.attack) == 2
    assert q05.part(low_on_choosing, ev.CHOOSE).asr == 0.0
    # every arm at the ceiling: all tested, and the sentence says so
    at_top = q05.with_room({c: top for c in cells}, arms)
    assert at_top.arms == arms and at_top.at_ceiling == 2 and "都已到顶" in at_top.which_zh()
    assert q05.with_room({c: _cell([False] * 4) for c in cells}, arms).which_zh() == "每一档都列出"
