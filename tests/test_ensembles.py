"""Ensembles and Deep Partition Aggregation in the lab: hash partitions, plurality votes, the certificate; the
architectures q10 compares; the zoo names that reach them."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from answers.lab import backdoor, data, ensembles, models, zoo


def test_partitions_are_disjoint_cover_everything_and_do_not_depend_on_order():
    split = backdoor.badnets(data.signs(300, 20, seed=2), backdoor.Trigger(3), 0.05, target=3, seed=0)
    k = 4
    parts = [ensembles.partition(split, k, i) for i in range(k)]
    assert sum(len(p.y_train) for p in parts) == len(split.y_train)
    pattern = backdoor.Trigger(3).pattern()
    for p in parts:                                       # renumbered within each partition: still the poisoned images
        idx = list(p.poisoned)
        assert (p.y_train[idx] == 3).all()
        assert all(torch.equal(p.x_train[j][..., -4:-1, -4:-1], pattern) for j in idx)
    assert sum(len(p.poisoned) for p in parts) == len(split.poisoned) == 15
    shuffled = torch.randperm(len(split.x_train), generator=torch.Generator().manual_seed(1))
    assert torch.equal(ensembles.partition_of(split.x_train[shuffled], k), ensembles.partition_of(split.x_train, k)[shuffled])
    assert len({p.fingerprint for p in parts}) == k
    with pytest.raises(ValueError, match="partition"):
        ensembles.partition(split, k, k)


def test_the_partition_is_the_documented_hash_and_a_partition_is_named_and_fingerprinted_by_its_own_data():
    # sha256 of the image's pixels quantised to 0…255, its first 8 bytes read big-endian, modulo k (written
    # independently with numpy); a white pixel is 255, not wrapped around
    g = torch.Generator().manual_seed(0)
    x = torch.rand(60, 3, 6, 6, generator=g)
    x[0] = 1.0
    for k in (1, 2, 7):
        want = [int(hashlib.sha256(np.rint(img * 255).astype(np.uint8).tobytes()).digest()[:8].hex(), 16) % k
                for img in x.numpy()]
        assert ensembles.partition_of(x, k).tolist() == want
    assert ensembles.partition_of(x, 1).eq(0).all()       # one partition (a single model) is a valid DPA
    with pytest.raises(ValueError, match="at least one partition"):
        ensembles.partition_of(x, 0)
    split = data.signs(120, 20, seed=3)
    part = ensembles.partition(split, 3, 1)
    assert part.name == f"{split.name}-part1of3"
    # the fingerprint keys the member's weights in the cache: it covers all four tensors of the partition
    assert part.fingerprint == data.fingerprint(part.x_train, part.y_train, part.x_test, part.y_test)


def test_plurality_breaks_ties_to_the_smaller_class_and_the_certificate_matches_the_formula():
    counts = torch.tensor([[5, 5, 0],     # tie: class 0 wins; the runner-up needs no extra vote → 0
                           [1, 6, 3],     # 6 vs 3 + 1 (class 0 < 1 wins ties): ⌊(6 − 4) / 2⌋ = 1 … class 2: 3 + 0 → max(2, 3) = 3
                           [0, 0, 10],    # 10 vs max(0 + 1, 0 + 1) = 1: ⌊9 / 2⌋ = 4
                           [7, 2, 1]])    # 7 vs max(2, 1) (no smaller class): ⌊5 / 2⌋ = 2
    assert ensembles.plurality(counts).tolist() == [0, 1, 2, 0]
    assert ensembles.certified_poisons(counts).tolist() == [0, 1, 4, 2]
    # unanimous for class 0: no challenger has a vote or wins ties, ⌊4 / 2⌋ = 2 (3 moved votes make 1 : 3)
    assert ensembles.certified_poisons(torch.tensor([[4, 0, 0]])).tolist() == [2]


def test_the_certificate_is_safe_and_tight_against_moving_votes():
    # each inserted or removed sample changes at most one member's vote; the strongest use of c changes moves c
    # votes from the winner to one challenger: with c = ρ no challenger wins, with c = ρ + 1 one does
    g = torch.Generator().manual_seed(0)
    for _ in range(200):
        counts = torch.multinomial(torch.ones(4), 9, replacement=True, generator=g).bincount(minlength=4)[None]
        rho = int(ensembles.certified_poisons(counts)[0])
        top = int(ensembles.plurality(counts)[0])

        def winners(c: int) -> set[int]:
            out = set()
            for challenger in set(range(4)) - {top}:
                moved = counts.clone()
                moved[0, top] -= c
                moved[0, challenger] += c
                out.add(int(ensembles.plurality(moved)[0]))
            return out
        assert winners(rho) == {top}
        assert winners(rho + 1) != {top}


def test_votes_count_members_and_the_logit_average_is_a_module():
    torch.manual_seed(0)
    members = [models.build("small_cnn", width=4).eval() for _ in range(3)]
    x = torch.rand(7, 3, 32, 32)
    counts = ensembles.votes(members, x, 10)
    assert counts.sum(1).tolist() == [3] * 7
    avg = ensembles.logit_average(members)
    assert torch.allclose(avg(x), torch.stack([m(x) for m in members]).mean(0))
    vote = ensembles.plurality_vote(members, 10)
    assert torch.equal(vote(x).long(), counts) and torch.equal(vote(x).argmax(1), ensembles.plurality(counts))


@pytest.mark.parametrize("arch", ["mlp", "convmixer"])
def test_new_architectures_classify_and_train(arch):
    m = models.build(arch, 10, width=4)
    x, y = torch.rand(16, 3, 32, 32), torch.randint(0, 10, (16,))
    loss = torch.nn.functional.cross_entropy(m(x), y)
    loss.backward()
    assert all(p.grad is not None for p in m.parameters())


def test_zoo_moves_recipes_to_architectures_and_names_partition_members():
    assert zoo.spec(zoo.recipe("badnets").on("convmixer"), "tiny").arch == "convmixer"
    assert zoo.recipe("badnets").on("convmixer").dataset == zoo.SIGNS_BADNETS
    with pytest.raises(ValueError, match="architecture"):
        zoo.recipe("standard").on("vgg")
    with pytest.raises(ValueError, match="fine-tunes"):
        zoo.spec(zoo.recipe("camera").on("mlp"), "tiny")
    member = zoo.partition_member(4, 1)
    assert member.dataset == zoo.Part(zoo.PARTITIONED.dataset, 4, 1)
    part = zoo.split("tiny", 0, member.dataset)
    assert len(part.y_train) < zoo.scale("tiny").n_train
