"""The shared lab: data, models, attacks, defenses, PatchCleanser, smoothing, repair, metrics."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from answers.lab import cache, data, metrics, models, patchcleanser as pc, repair
from answers.lab.attacks import FGSM, PGD, PatchPGD
from answers.lab.defenses import BitDepth, Defended, JPEG, MedianFilter, PixelDeflection, wavelet_denoise
from answers.lab.instrument import count_calls
from answers.lab.smoothing import ABSTAIN, Smoothed


def test_signs_shape_range_balance_and_seed():
    x, y = data.make_signs(200, seed=3)
    assert x.shape == (200, 3, 32, 32) and x.dtype == torch.float32
    assert float(x.min()) >= 0 and float(x.max()) <= 1
    assert torch.bincount(y, minlength=data.NUM_CLASSES).tolist() == [20] * data.NUM_CLASSES
    x2, y2 = data.make_signs(200, seed=3)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(x, data.make_signs(200, seed=4)[0])


def test_signs_vary_in_background_and_position():
    x, y = data.make_signs(100, seed=0)
    corner = x[:, :, :4, :4].mean(dim=(1, 2, 3))
    assert corner.std() > 0.05                                   # backgrounds differ
    same = x[y == 0]
    centre_of_mass = (same.std(1).sum(1) > 0).float().mean()     # not all pixels identical
    assert centre_of_mass > 0


def test_split_has_no_overlap_and_a_fingerprint():
    s = data.signs(50, 20, seed=1)
    assert len(s.x_train) == 50 and len(s.x_test) == 20 and len(s.fingerprint) == 16
    assert s.fingerprint != data.signs(50, 20, seed=2).fingerprint


def test_models_map_images_to_logits():
    for arch in models.ARCHITECTURES:
        out = models.build(arch).eval()(torch.rand(4, 3, 32, 32))
        assert out.shape == (4, 10)


def test_unknown_architecture_names_choices():
    try:
        models.build("vgg99")
    except ValueError as exc:
        assert "small_cnn" in str(exc)
    else:
        raise AssertionError("expected ValueError")


def _model():
    torch.manual_seed(0)
    return models.build("small_cnn").eval()


def test_attacks_stay_in_their_ball_and_range():
    m, x, y = _model(), torch.rand(8, 3, 32, 32), torch.randint(0, 10, (8,))
    for attack in (FGSM(m, eps=4 / 255), PGD(m, eps=4 / 255, steps=3)):
        adv = attack(x, y)
        assert (adv - x).abs().max() <= 4 / 255 + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    adv = PGD(m, eps=0.5, alpha=0.2, steps=3, norm="L2")(x, y)
    assert ((adv - x).flatten(1).norm(dim=1) <= 0.5 + 1e-5).all()
    patch = PatchPGD(m, size=4, steps=2)(x, y)
    changed = ((patch - x).abs().sum(1) > 0).flatten(1).sum(1)
    assert (changed <= 16).all()


def test_pgd_lowers_accuracy_and_restores_train_mode():
    from answers.lab.train import fit
    m = _model()
    x, y = data.make_signs(512, seed=5)
    fit(m, x, y, epochs=2, progress=False)  # a briefly trained model, so its answers depend on the input
    x = x[:32]
    y = metrics.predict(m, x)  # labels the model gives, so clean accuracy is 1
    m.train()
    adv = PGD(m, eps=16 / 255, steps=5)(x, y)
    assert m.training
    m.eval()
    assert metrics.accuracy(metrics.predict(m, adv), y) < 1.0


def test_preprocessors_keep_shape_and_range():
    x = torch.rand(3, 3, 32, 32)
    for t in (JPEG(75), MedianFilter(3), BitDepth(3), PixelDeflection()):
        out = t(x)
        assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    assert len(torch.unique(BitDepth(2)(x))) <= 4
    flat = torch.full((1, 3, 32, 32), 0.3)
    assert torch.allclose(MedianFilter(3)(flat), flat) and torch.allclose(wavelet_denoise(flat), flat, atol=1e-6)


def test_defended_calls_the_model_once_per_image():
    m = _model()
    with count_calls(m) as c:
        Defended(m, JPEG(50))(torch.rand(5, 3, 32, 32))
    assert (c.images, c.forwards) == (5, 1)


@settings(max_examples=60, deadline=None)
@given(st.integers(8, 40), st.data())
def test_mask_set_covers_every_patch(n, draw):
    p = draw.draw(st.integers(1, n))
    k = draw.draw(st.integers(1, 7))
    ms = pc.MaskSet(n, p, k)
    masks = ms.masks
    assert len(masks) == len(ms) <= k * k
    top, left = draw.draw(st.integers(0, n - p)), draw.draw(st.integers(0, n - p))
    patch = torch.zeros(n, n, dtype=torch.bool)
    patch[top:top + p, left:left + p] = True
    assert ((masks & patch).flatten(1).sum(1) == p * p).any()


class _TableModel(nn.Module):
    """Answers a label looked up from which mask regions are fully greyed: an arbitrary masked-image classifier."""

    def __init__(self, masks: pc.MaskSet, table: torch.Tensor, classes: int):
        super().__init__()
        self.regions, self.table, self.classes = masks.masks, table, classes

    def forward(self, x):
        grey = (x == 0.5).all(1)
        covered = ~(self.regions[None] & ~grey[:, None]).flatten(2).any(2)
        code = (covered.long() * (torch.arange(covered.shape[1]) + 1)).sum(1) % len(self.table)
        return nn.functional.one_hot(self.table[code], self.classes).float()


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 4), st.integers(2, 12), st.integers(0, 2**31 - 1))
def test_double_masking_never_exceeds_the_worst_case_and_implementations_agree(k, classes, seed):
    ms = pc.MaskSet(16, 3, k)
    g = torch.Generator().manual_seed(seed)
    model = _TableModel(ms, torch.randint(0, classes, (97,), generator=g), classes)
    x = torch.rand(3, 3, 16, 16, generator=g) * 0.4
    with count_calls(model) as loop:
        a = pc.double_masking_loop(model, x, ms)
    with count_calls(model) as batched:
        b = pc.double_masking_batched(model, x, ms, chunk=50)
    assert torch.equal(a, b) and loop.images == batched.images
    assert loop.images <= 3 * pc.worst_case_calls(k, classes)
    y = torch.randint(0, classes, (3,), generator=g)
    assert torch.equal(pc.certify_loop(model, x, y, ms), pc.certify_batched(model, x, y, ms, chunk=50))


class _PatchDetector(nn.Module):
    """Says 1 if any visible pixel is bright (a patch), else 0: fooled by any unmasked patch."""

    def forward(self, x):
        seen = (x > 0.9).flatten(1).any(1).long()
        return nn.functional.one_hot(seen, 2).float()


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 6), st.integers(1, 5), st.data())
def test_a_certified_image_keeps_its_label_under_any_patch(k, p, draw):
    # PatchCleanser's guarantee, exercised where it is not vacuous: the clean image is certified, a patch fools
    # the undefended model, and double masking still returns the certified label wherever the patch lands
    n = 16
    ms, model = pc.MaskSet(n, p, k), _PatchDetector()
    x = torch.full((1, 3, n, n), 0.3)
    y = torch.zeros(1, dtype=torch.long)
    assert pc.certify_batched(model, x, y, ms).all()
    top, left = draw.draw(st.integers(0, n - p)), draw.draw(st.integers(0, n - p))
    patched = x.clone()
    patched[..., top:top + p, left:left + p] = 1.0
    assert model(patched).argmax(1).item() == 1
    assert pc.double_masking_batched(model, patched, ms).item() == 0
    assert pc.double_masking_loop(model, patched, ms).item() == 0


def test_disagreeing_model_reaches_the_worst_case():
    for k, classes in ((3, 10), (6, 10), (6, 40)):
        ms = pc.MaskSet(32, 3, k)
        m = pc.DisagreeingModel(ms, classes)
        with count_calls(m) as c:
            pc.double_masking_batched(m, torch.full((1, 3, 32, 32), 0.25), ms)
        assert c.images == pc.worst_case_calls(k, classes)
    assert pc.worst_case_calls(6, 10) == 1188 and pc.worst_case_calls(6, 36) == 1296
    assert pc.certification_calls(6) == 666


def test_smoothing_counts_and_certify():
    m = _model()
    sm = Smoothed(m, sigma=0.1, batch=64)
    x = torch.rand(5, 3, 32, 32)
    with count_calls(m) as c:
        counts = sm.counts(x, 20, torch.Generator().manual_seed(0))
    assert counts.sum(1).tolist() == [20] * 5 and c.images == 100
    labels, radius = sm.certify(x, n0=8, n=50, generator=torch.Generator().manual_seed(0))
    assert ((labels == ABSTAIN) == (radius == 0)).all() and (radius >= 0).all()


def test_metrics():
    import math
    y = torch.tensor([0, 1, 2, 3])
    assert metrics.accuracy(torch.tensor([0, 1, 0, ABSTAIN]), y) == 0.5   # an abstention counts as wrong
    empty = torch.empty(0, dtype=torch.long)
    assert math.isnan(metrics.accuracy(empty, empty))                   # no images: no accuracy, not 0 or an error
    assert metrics.predict(torch.nn.Identity(), torch.empty(0, 3)).dtype == torch.long


def test_fine_prune_prunes_dormant_channels_and_keeps_them_pruned():
    m = _model()
    x, y = data.make_signs(64, seed=0)
    m, frac = repair.fine_prune(m, m.features, x, y, max_drop=1.0, step=0.25, epochs=1)
    assert 0 < frac < 1
    acts = repair.channel_activity(m.eval(), m.features, x)
    assert (acts == 0).sum() >= int(frac * len(acts))


@pytest.mark.parametrize("fine_tuned", [False, True], ids=["from-scratch", "from-another-model"])
def test_training_does_not_disturb_the_callers_random_streams(tmp_path, monkeypatch, fine_tuned):
    """Cold (trains, and for a fine-tuned spec trains its start first) and warm (loads) leave the caller's torch,
    numpy and python streams where they were: same seed ⇒ same numbers after it, cold cache or warm."""
    import random
    import numpy as np
    from answers.lab.train import TrainSpec, trained_model
    monkeypatch.setenv("ANSWERS_CACHE_DIR", str(tmp_path))
    split = data.signs(200, 20, seed=9)
    spec = TrainSpec(width=8, epochs=1)
    if fine_tuned:
        spec = TrainSpec(width=8, epochs=1, noise_sigma=0.1, init=spec)
    draws = []
    for _ in range(2):  # first call trains, second loads from the cache
        torch.manual_seed(123)
        np.random.seed(123)
        random.seed(123)
        trained_model(spec, split)
        draws.append((torch.rand(3).tolist(), np.random.rand(3).tolist(), random.random()))
    assert len(list(tmp_path.glob("*.pt"))) == (2 if fine_tuned else 1)
    assert draws[0] == draws[1]


def test_a_cache_miss_leaves_the_callers_streams_as_a_hit_does(tmp_path):
    import random
    import numpy as np

    def noisy_create():
        torch.rand(5), np.random.rand(5), random.random()
        torch.manual_seed(999)
        return {"w": torch.zeros(1)}
    after = []
    for _ in range(2):
        torch.manual_seed(1), np.random.seed(1), random.seed(1)
        cache.get_or_create("m", {}, "fp", "v", noisy_create, root=tmp_path)
        after.append((torch.rand(2).tolist(), np.random.rand(2).tolist(), random.random()))
    assert after[0] == after[1]


def test_receptive_field_arithmetic_matches_gradient_support():
    """Theory (kernel/stride/padding) and measurement (where the gradient is non-zero) agree on an untrained net."""
    from answers.lab.models import SmallCNN
    from answers.lab.receptive import gradient_maps, support_side, theoretical_fields
    torch.manual_seed(0)
    model = SmallCNN(width=4).eval()
    layers = ["block1.2", "block2.2", "features.2"]
    fields = theoretical_fields(model, layers)
    assert [fields[n].size for n in layers] == [3, 8, 18]
    maps = gradient_maps(model, torch.rand(16, 3, 32, 32), layers)
    for n in layers:
        lo, hi = fields[n].window(maps[n].index, 32)
        assert support_side(maps[n].map) == hi - lo + 1
    with pytest.raises(ValueError, match="no layer"):
        theoretical_fields(model, ["nope"])


def test_zoo_recipes_share_threats_and_start_from_each_other():
    from answers.lab import zoo
    for profile in zoo.SCALES:
        at, noisy = zoo.spec("pgd_at", profile), zoo.spec("noisy", profile)
        assert at.init == noisy and at.adv_eps == zoo.THREAT.linf_eps and noisy.noise_sigma == zoo.THREAT.sigma
        assert zoo.spec("surrogate", profile).seed == zoo.spec("standard", profile).seed + 1
        assert zoo.spec("augment/jpeg", profile).init == zoo.spec("standard", profile)
    assert zoo.spec("standard", "tiny").width < zoo.spec("standard", "site").width
    with pytest.raises(ValueError, match="choose one of"):
        zoo.spec("no-such-model", "tiny")
    with pytest.raises(ValueError, match="choose one of"):
        zoo.split("huge")


def test_pruned_channels_survive_state_dict_deepcopy_and_fine_tuning():
    import copy
    m = _model()
    x, y = data.make_signs(64, seed=1)
    m, frac = repair.fine_prune(m, m.features, x, y, max_drop=1.0, step=0.25, epochs=1)
    dead = repair.channel_activity(m.eval(), m.features, x) == 0
    assert dead.sum() >= int(frac * len(dead)) > 0
    twin = copy.deepcopy(m)
    assert torch.equal(repair.channel_activity(twin.eval(), twin.features, x) == 0, dead)
    # a state_dict carries the masks: a fresh model pruned the same way loads it and stays pruned
    fresh = _model()
    repair.prune_channels(fresh.features)
    fresh.load_state_dict(m.state_dict())
    assert any(k.endswith("weight_mask") for k in m.state_dict())
    assert torch.equal(repair.channel_activity(fresh.eval(), fresh.features, x) == 0, dead)
    repair.fine_tune(twin, x, y, epochs=1, lr=0.1, seed=3)     # training cannot revive a pruned channel
    assert (repair.channel_activity(twin.eval(), twin.features, x)[dead] == 0).all()


@pytest.mark.parametrize("method_name", ["standard", "pgd", "fgsm_rs", "fgsm", "free"])
def test_every_training_method_trains_through_the_one_trainer(method_name):
    from answers.lab import methods
    from answers.lab.train import TrainSpec, fit, training_method
    eps = 4 / 255
    spec = TrainSpec(adv_eps=0.0 if method_name == "standard" else eps, adv_steps=2,
                     adv_method="pgd" if method_name == "standard" else method_name, replays=3)
    method = training_method(spec)
    expected = {"standard": methods.Standard, "pgd": methods.PGDTraining, "fgsm_rs": methods.FGSMRandomStart,
                "fgsm": methods.FGSMRandomStart, "free": methods.FreeAT}[method_name]
    assert type(method) is expected
    assert method.passes == {"standard": 1, "pgd": 3, "fgsm_rs": 2, "fgsm": 2, "free": 3}[method_name]
    x, y = data.make_signs(96, seed=2)
    model = _model()
    curve = methods.EpochCurve(x[:32], y[:32], eps=eps, steps=2)
    losses = fit(model, x, y, epochs=2, batch_size=32, lr=0.05, method=method, callbacks=[curve], seed=0)
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses)
    assert [r["epoch"] for r in curve.rows] == [1, 2]
    assert curve.rows[0]["train_seconds"] < curve.rows[1]["train_seconds"]
    assert all({"loss", "clean_acc", "robust_acc"} <= set(r) and 0 <= r["robust_acc"] <= 1 for r in curve.rows)


def test_free_at_replays_each_minibatch_and_keeps_its_perturbation_in_the_ball():
    from answers.lab import methods
    from answers.lab.train import fit
    eps = 8 / 255
    free = methods.FreeAT(eps, replays=4)
    model = _model()
    steps = []
    opt_step = torch.optim.SGD.step

    def counting(self, *a, **k):
        steps.append(1)
        return opt_step(self, *a, **k)

    x, y = data.make_signs(64, seed=4)
    torch.optim.SGD.step = counting
    try:
        fit(model, x, y, epochs=1, batch_size=32, method=free, seed=0)
    finally:
        torch.optim.SGD.step = opt_step
    assert len(steps) == 2 * 4                                  # two minibatches, four replays each
    assert free.delta.abs().max() <= eps + 1e-7 and free.delta.abs().max() > 0


def test_fgsm_rs_example_stays_in_the_ball_and_the_image_range():
    from answers.lab import methods
    eps = 8 / 255
    model = _model().train()
    x, y = data.make_signs(16, seed=5)
    seen = []
    m = methods.FGSMRandomStart(eps)
    m._train_on = lambda model, opt, step, xa, ya: seen.append(xa) or 0.0
    m.update(model, None, lambda: None, x, y)
    assert (seen[0] - x).abs().max() <= eps + 1e-6 and seen[0].min() >= 0 and seen[0].max() <= 1


def test_cifar10_is_read_from_disk_as_images_in_0_1(monkeypatch):
    import numpy as np
    import torchvision.datasets
    made = []

    class FakeCIFAR10:  # torchvision's loader, without the 170 MB download (checked by md5 in the real one)
        def __init__(self, root, train, download):
            assert download is False
            made.append(train)
            n = 6 if train else 4
            self.data = np.full((n, 32, 32, 3), 255, dtype=np.uint8)
            self.data[:, 0, 0, 0] = 0
            self.targets = list(range(n))

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
    split = data.cifar10.__wrapped__("anywhere")
    assert made == [True, False]
    assert split.x_train.shape == (6, 3, 32, 32) and split.x_test.shape == (4, 3, 32, 32)
    assert split.x_train.max() == 1 and split.x_train[0, 0, 0, 0] == 0 and split.x_train[0, 1, 0, 0] == 1
    assert split.y_train.tolist() == list(range(6)) and split.num_classes == 10


def test_fit_calls_back_at_evenly_spaced_checkpoints_with_the_loss_since_the_last():
    from answers.lab.train import fit
    x, y = data.make_signs(256, seed=3)
    calls = []
    losses = fit(_model(), x, y, epochs=2, batch_size=32, checkpoints=4,
                 callbacks=[lambda e, m, loss, s: calls.append((e, loss, s))])
    assert [c[0] for c in calls] == [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]
    assert all(a[2] < b[2] for a, b in zip(calls, calls[1:]))           # training time only grows
    # each epoch's mean loss is the mean of its four equal quarters
    for epoch in range(2):
        assert losses[epoch] == pytest.approx(sum(c[1] for c in calls[4 * epoch:4 * epoch + 4]) / 4, rel=1e-6)


def test_fit_takes_a_learning_rate_per_epoch_and_trains_only_what_requires_gradients():
    from answers.lab.train import fit
    x, y = data.make_signs(128, seed=5)
    model = _model()
    start = {k: v.clone() for k, v in model.state_dict().items() if "running" not in k and "tracked" not in k}
    fit(model, x, y, epochs=2, batch_size=64, schedule=lambda epoch: 0.0)      # no step moves a weight
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in start.items())
    fit(model, x, y, epochs=2, batch_size=64, schedule=lambda epoch: 0.0 if epoch == 0 else 0.05)
    assert any(not torch.equal(v, model.state_dict()[k]) for k, v in start.items())   # the second epoch's rate
    # a frozen part stays as it is, weight decay included
    frozen = next(model.parameters())
    before = frozen.detach().clone()
    frozen.requires_grad_(False)
    fit(model, x, y, epochs=1, batch_size=64, schedule=False, nesterov=False)
    assert torch.equal(frozen, before)


def test_a_training_curve_is_cached_with_its_weights(tmp_path, monkeypatch):
    from answers.lab import methods
    from answers.lab.train import TrainSpec, trained_model
    monkeypatch.setenv("ANSWERS_CACHE_DIR", str(tmp_path))
    x, y = data.make_signs(320, seed=4)
    split = data.Split("t", x[:256], y[:256], x[256:], y[256:], 10, data.fingerprint(x, y))
    spec = TrainSpec(width=4, epochs=2, batch_size=64, adv_eps=4 / 255, adv_method="free", replays=2)
    first = methods.EpochCurve(split.x_test, split.y_test, eps=4 / 255, steps=2)
    m1 = trained_model(spec, split, curve=first)
    assert [r["epoch"] for r in first.rows] == [0.5, 1.0, 1.5, 2.0]   # Free-AT: a checkpoint per replay's worth
    again = methods.EpochCurve(split.x_test, split.y_test, eps=4 / 255, steps=2)
    m2 = trained_model(spec, split, curve=again)
    assert again.rows == first.rows
    assert all(torch.equal(a, b) for a, b in zip(again.robust, first.robust))
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values()))
    # another evaluation is another record: it is not served the first one
    other = methods.EpochCurve(split.x_test, split.y_test, eps=4 / 255, steps=3)
    trained_model(spec, split, curve=other)
    assert [r["epoch"] for r in other.rows] == [0.5, 1.0, 1.5, 2.0] and len(list(tmp_path.glob("*.pt"))) == 2


def test_q06_scratch_recipes_and_tiny_reuses_site_models():
    from answers.lab import zoo
    from answers.lab.train import training_method
    spec = zoo.spec(zoo.scratch(zoo.free(4)), "site")
    assert (spec.adv_method, spec.replays, spec.epochs) == ("free", 4, zoo.scale("site").scratch_epochs // 4)
    assert zoo.spec(zoo.scratch(zoo.pgd(7)), "site").adv_steps == 7
    assert zoo.spec(zoo.scratch(zoo.pgd(7), 2), "site").epochs == 2
    assert zoo.spec(zoo.scratch(zoo.NATURAL), "site").adv_eps == 0
    assert zoo.spec(zoo.scratch(zoo.FGSM), "site").adv_method == "fgsm"
    assert [m.key for m in (zoo.NATURAL, zoo.pgd(3), zoo.free(2), zoo.FGSM_RS)] == ["natural", "pgd3", "free2", "fgsm_rs"]
    assert zoo.scratch(zoo.pgd(7), 2, zoo.CIFAR10).name == "scratch/pgd7/e2/on-cifar10"
    # FGSM's step (Wong et al. vary it): a multiple of ε that reaches the training method as its alpha
    large = zoo.spec(zoo.scratch(zoo.Method("fgsm_rs", step=2)), "site")
    assert (zoo.Method("fgsm_rs", step=2).key, large.adv_step) == ("fgsm_rs_a2", 2)
    assert training_method(large).alpha == pytest.approx(2 * large.adv_eps)
    assert training_method(zoo.spec(zoo.scratch(zoo.FGSM_RS), "site")).alpha == pytest.approx(1.25 * large.adv_eps)
    assert zoo.spec(zoo.scratch(zoo.Method("fgsm_rs", step=2), 1, zoo.CIFAR10), "full").adv_step == 2
    for bad in (lambda: zoo.Method("pgd"), lambda: zoo.Method("natural", 2), lambda: zoo.Method("trades", 1),
                lambda: zoo.Method("pgd", 7, step=2), lambda: zoo.Method("fgsm", step=-1)):
        with pytest.raises(ValueError):
            bad()
    # the same spec and the same data at tiny and site: one cached model serves both
    for m in (zoo.NATURAL, zoo.pgd(3), zoo.free(2), zoo.free(4), zoo.FGSM_RS, zoo.FGSM):
        assert zoo.spec(zoo.scratch(m), "tiny") == zoo.spec(zoo.scratch(m), "site")
    assert (zoo.split("tiny", 0, zoo.SIGNS_SCRATCH).fingerprint
            == zoo.split("site", 0, zoo.SIGNS_SCRATCH).fingerprint)
    # CIFAR-10 runs train at the papers' ε
    assert zoo.spec(zoo.scratch(zoo.pgd(7), dataset=zoo.CIFAR10), "full").adv_eps == zoo.PAPER_EPS


def test_the_zoo_names_what_it_composes_and_parses_no_name():
    """Names are derived from the objects (the weight cache and the tables use them), and a composed name given
    as a string is refused: the zoo has no grammar to parse."""
    from answers.lab import zoo
    assert zoo.backdoored(0.01, 5).name == "badnets/r0.01/t5" and zoo.backdoored(0.01, 5).dataset == zoo.Poisoned(0.01, 5)
    assert zoo.Poisoned().name == "signs-badnets" and zoo.Poisoned(0.01, 5).name == "signs-badnets-r0.01-t5"
    assert zoo.PARTITIONED.dataset == zoo.Poisoned(zoo.PARTITIONED.ratio, zoo.PARTITIONED.trigger)
    assert zoo.partition_member(4, 1).dataset.name == "signs-badnets-r0.01-t5/part1of4"
    assert zoo.recipe("standard").on("mlp").name == "standard@mlp" and zoo.recipe("standard").on("small_cnn").name == "standard"
    assert zoo.augmented("jpeg") is zoo.recipe("augment/jpeg")
    assert {d.name for d in zoo.DATASETS.values()} == set(zoo.DATASETS)
    for composed in ("standard@mlp", "badnets/r0.01/t5", "dpa/k4/p1", "scratch/pgd3"):
        with pytest.raises(ValueError, match="unknown model"):
            zoo.recipe(composed)
    with pytest.raises(TypeError, match="zoo's datasets"):
        zoo.split("tiny", 0, "signs")
    with pytest.raises(ValueError, match="does not exist"):
        zoo.partition_member(4, 4)
    # the typed datasets draw what the old names drew
    s = zoo.scale("tiny")
    assert zoo.split("tiny", 0, zoo.SIGNS24).x_train.shape[-1] == 24
    assert zoo.split("tiny", 0, zoo.Poisoned(0.5, 3)).fingerprint != zoo.split("tiny", 0, zoo.SIGNS_BADNETS).fingerprint
    assert len(zoo.split("tiny", 0, zoo.SIGNS_SCRATCH).y_train) == s.scratch_images
