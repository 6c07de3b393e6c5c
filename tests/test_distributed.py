"""Multi-process training under torchrun (DDP, gloo on CPU): two processes on the same global minibatch train
the same model as one process, each on half of every minibatch."""
from __future__ import annotations

import io
import shutil

import pytest
import torch

from answers.core import ranks
from answers.lab import cache, launch


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    # an MLP has no BatchNorm: DDP's averaged gradient is then exactly one process's gradient on the whole batch
    # (with BatchNorm each process would normalise with its own half's statistics)
    common = dict(model="standard", arch="mlp", profile="tiny", epochs=2, batch_size=64, images=512, out=out, threads=1)
    return launch.launch(1, **common), launch.launch(2, **common)


def test_two_processes_train_the_same_model_as_one(runs):
    one, two = runs
    w1, w2 = torch.load(one.weights), torch.load(two.weights)
    assert w1.keys() == w2.keys()
    for name in w1:
        assert torch.allclose(w1[name], w2[name], atol=1e-5, rtol=1e-4), name
    assert one.losses == pytest.approx(two.losses, rel=1e-5)
    # the weights moved: equality is not two untrained copies of the same initialisation
    assert one.losses[1] < one.losses[0]


def test_ddp_replicas_end_identical_and_the_gap_would_show_a_difference(runs, tmp_path):
    one, two = runs
    assert len(one.replicas) == 1 and len(two.replicas) == 2 and one.replica_gap() == 0
    assert two.replica_gap() == 0.0
    # a replica that took one step of its own is seen
    drift = torch.load(two.replicas[1])
    name = next(iter(drift))
    drift[name] = drift[name] + 1e-3
    torch.save(drift, tmp_path / "drift.pt")
    assert launch.Run(2, 1, [], [], two.weights, [], (two.replicas[0], tmp_path / "drift.pt")).replica_gap() == (
        pytest.approx(1e-3, rel=1e-3))


def test_each_process_sees_half_of_every_minibatch(runs):
    one, two = runs
    # 512 images × 2 epochs, one forward each (standard training): all of it alone, half of it in each process
    assert one.images_per_process == [1024]
    assert two.images_per_process == [512, 512]
    assert len(two.epoch_seconds) == 2 and all(s > 0 for s in two.epoch_seconds)


CACHED = dict(model="standard", arch="mlp", profile="tiny", epochs=2, batch_size=64, images=512, threads=1, cached=True)


@pytest.fixture(scope="module")
def cached_first(tmp_path_factory):
    """Two processes training through an empty weight cache: (their run, the cache folder they filled)."""
    tmp = tmp_path_factory.mktemp("ddp-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ANSWERS_CACHE_DIR", str(tmp / "cache"))
        return launch.launch(2, out=tmp / "first", timeout=300, **CACHED), tmp / "cache"


def test_under_torchrun_the_weight_cache_is_written_once_and_read_by_every_rank(runs, cached_first, tmp_path,
                                                                               monkeypatch):
    # rank 0 alone locks and writes; the other rank trains with it (waiting for rank 0's lock would deadlock)
    first, cache_dir = cached_first
    shutil.copytree(cache_dir, tmp_path / "cache")
    monkeypatch.setenv("ANSWERS_CACHE_DIR", str(tmp_path / "cache"))
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 1
    second = launch.launch(2, out=tmp_path / "second", timeout=300, **CACHED)   # now from the cache
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 1
    one, w1, w2 = torch.load(runs[0].weights), torch.load(first.weights), torch.load(second.weights)
    for name in one:
        assert torch.allclose(w1[name], one[name], atol=1e-5, rtol=1e-4), name
        assert torch.equal(w2[name], w1[name]), name
    assert second.losses == first.losses and len(first.losses) == 2   # the recorded curve came back too


def test_under_torchrun_a_weight_entry_whose_bytes_changed_is_retrained_by_every_rank(runs, cached_first, tmp_path,
                                                                                     monkeypatch):
    # the entry is rewritten as a well-formed torch file holding other weights, its checksum left as it was: no
    # rank may load it (a follower that did would also desert rank 0's collective training)
    _, cache_dir = cached_first
    shutil.copytree(cache_dir, tmp_path / "cache")
    monkeypatch.setenv("ANSWERS_CACHE_DIR", str(tmp_path / "cache"))
    (entry,) = (tmp_path / "cache").glob("*.pt")
    blob = torch.load(entry, weights_only=True)
    forged = {k: v + 1.0 if v.is_floating_point() and not k.startswith("curve.") else v
              for k, v in blob["state"].items()}
    torch.save({**blob, "state": forged}, entry)
    again = launch.launch(2, out=tmp_path / "again", timeout=300, **CACHED)
    one, w = torch.load(runs[0].weights), torch.load(again.weights)
    for name in one:
        assert not torch.allclose(w[name], forged[name]), f"{name}: the changed entry was loaded"
        assert torch.allclose(w[name], one[name], atol=1e-5, rtol=1e-4), name
    # rank 0 replaced the entry with the retrained weights, under a checksum that vouches for them
    stored = torch.load(io.BytesIO(cache.read_checked(entry)), weights_only=True)["state"]
    assert all(torch.equal(stored[name], w[name]) for name in one)


def test_a_missing_launch_reports_its_error(tmp_path):
    with pytest.raises(RuntimeError, match="torchrun with 2 processes failed"):
        launch.launch(2, model="no-such-model", profile="tiny", epochs=1, batch_size=64, out=tmp_path,
                           threads=1, timeout=600)


def test_answers_under_torchrun_leaves_through_the_process_group_exit(monkeypatch):
    # a torchrun process that returns normally can abort in the interpreter's teardown (gloo threads still
    # joinable): the CLI must hand its exit code to ranks.leave instead of returning
    left = []

    def leave(code):
        left.append(code)
        raise SystemExit(code)

    monkeypatch.setattr(ranks, "leave", leave)
    from answers import cli
    assert cli.main(["list", "--json"]) == 0 and left == []          # outside torchrun: a plain return
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(SystemExit):
        cli.main(["run", "no-such-question"])
    assert left == [2]
