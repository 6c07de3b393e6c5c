"""The backdoor toolkit of the lab: all-to-all poisoning, clean-label poison, Activation Clustering, and the
retraining defenses q09 measures (NAD, ANP, retraining the last layer)."""
from __future__ import annotations

import copy

import pytest
import torch

from answers.lab import backdoor, data, models, repair


def test_all_to_all_sends_every_poisoned_image_to_the_next_class_and_scores_it():
    clean = data.signs(300, 50, seed=1)
    p = backdoor.badnets(clean, backdoor.Trigger(2), ratio=0.1, target=None, seed=0)
    idx = list(p.poisoned)
    assert len(idx) == 30 and p.target is None
    assert torch.equal(p.y_train[idx], (clean.y_train[idx] + 1) % 10)
    assert p.fingerprint != backdoor.badnets(clean, backdoor.Trigger(2), 0.1, target=1, seed=0).fingerprint

    class Next(torch.nn.Module):   # reads the label from pixel (0, 0); sends triggered images to the next class
        def forward(self, x):
            label = (x[:, 0, 0, 0] * 10).long()
            label = torch.where(x[:, 0, -3, -3] == 0, (label + 1) % 10, label)   # the 2×2 trigger's dark pixel
            return torch.nn.functional.one_hot(label, 10).float()
    y = torch.arange(10)
    x = torch.full((10, 3, 8, 8), 0.5)
    x[:, 0, 0, 0] = y.float() / 10 + 0.01
    s = backdoor.scores(Next(), x, y, backdoor.Trigger(2), target=None)
    assert s.ca == 1.0 and s.asr == 1.0 and s.ra == 0.0 and len(s.attack) == 10   # every image counts


def test_label_consistent_poison_keeps_every_label_and_stamps_only_the_chosen_target_images():
    torch.manual_seed(0)
    model = models.build("small_cnn", width=4).eval()
    x, y = torch.rand(60, 3, 32, 32), torch.arange(60) % 10
    trig = backdoor.Trigger(3)
    state = torch.get_rng_state()
    out, chosen = backdoor.label_consistent(x, y, model, trig, target=3, fraction=0.5, eps=8 / 255, seed=0)
    assert torch.equal(torch.get_rng_state(), state)                      # the caller's random stream untouched
    assert len(chosen) == 3 and (y[chosen] == 3).all()                    # half of the six images of class 3
    others = torch.ones(60, dtype=torch.bool)
    others[chosen] = False
    assert torch.equal(out[others], x[others])
    assert torch.equal(out[chosen], trig.stamp(out[chosen]))              # stamped
    body = torch.ones(32, 32, dtype=torch.bool)
    body[-4:-1, -4:-1] = False                                            # off the trigger: within ε of the original
    diff = (out[chosen] - x[chosen])[..., body]
    assert diff.abs().max() <= 8 / 255 + 1e-6 and diff.abs().max() > 1 / 255
    again, _ = backdoor.label_consistent(x, y, model, trig, target=3, fraction=0.5, eps=8 / 255, seed=0)
    assert torch.equal(again, out)


def test_silhouette_matches_the_definition_on_a_hand_case():
    pts = torch.tensor([[0.0], [1.0], [10.0]])
    labels = torch.tensor([0, 0, 1])
    # point 0: a = 1, b = 10 → 0.9; point 1: a = 1, b = 9 → 8/9; point 2 alone: a = 0, b = 9.5 → 1
    assert backdoor.silhouette(pts, labels) == pytest.approx((0.9 + 8 / 9 + 1) / 3)


def test_activation_clustering_isolates_a_planted_minority():
    class Identity(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Identity()

        def forward(self, x):
            return self.layer(x)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 6, generator=g)
    y = torch.arange(200) % 2
    planted = (y == 1) & (torch.arange(200) < 60)         # 30 of label 1's 100 images sit far away
    x[planted] += 8.0
    model = Identity()
    found = backdoor.activation_clusters(model, model.layer, x, y, dims=3)
    one = next(c for c in found if c.label == 1)
    assert one.size == pytest.approx(0.3) and torch.equal(one.members[one.smaller], planted.nonzero().flatten())
    zero = next(c for c in found if c.label == 0)
    assert one.silhouette > zero.silhouette + 0.3


def test_anp_masks_prune_through_torch_and_survive_state_dict():
    torch.manual_seed(0)
    model = models.build("small_cnn", width=4).eval()
    x, y = torch.rand(64, 3, 32, 32), torch.randint(0, 10, (64,))
    before = copy.deepcopy(model.state_dict())
    masks = repair.neuron_masks(model, x, y, steps=5, batch_size=32)
    assert set(masks) == {"block1.1", "block2.1", "features.1"}
    assert all(((m >= 0) & (m <= 1)).all() for m in masks.values())
    after = model.state_dict()                                            # learning masks leaves the model alone
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    chosen = {n: torch.where(torch.arange(len(m)) % 2 == 0, 0.0, 1.0) for n, m in masks.items()}
    pruned = repair.prune_neurons(model, chosen, threshold=0.2)
    assert pruned == sum(len(m) // 2 + len(m) % 2 for m in chosen.values())
    out = model(x)
    twin = models.build("small_cnn", width=4).eval()
    for n in chosen:
        torch.nn.utils.prune.identity(twin.get_submodule(n), "weight")
    twin.load_state_dict(model.state_dict())                              # masks are buffers: they travel
    assert torch.equal(twin(x), out)
    assert (twin.features[1].weight[::2] == 0).all() and (twin.features[1].weight[1::2] != 0).all()


def test_nad_and_head_retraining_change_what_they_should():
    torch.manual_seed(0)
    model = models.build("small_cnn", width=4).eval()
    x, y = torch.rand(64, 3, 32, 32), torch.randint(0, 10, (64,))
    features = copy.deepcopy(model.features.state_dict())
    head = model.head.weight.clone()
    repair.retrain_head(model, x, y, epochs=2, seed=0)
    assert all(torch.equal(v, model.features.state_dict()[k]) for k, v in features.items())
    assert not torch.equal(model.head.weight, head)
    assert all(p.requires_grad for p in model.parameters())
    student = models.build("small_cnn", width=4).eval()
    start = copy.deepcopy(student.state_dict())
    repair.nad(student, ["block2", "features"], x, y, teacher_epochs=1, epochs=1, seed=0)
    assert any(not torch.equal(start[k], v) for k, v in student.state_dict().items())
    assert not student.training
