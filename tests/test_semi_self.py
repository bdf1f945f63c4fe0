"""Semi- and self-supervised regimes on two moons with 10 labels (chainrule.train.semi)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.data.augment import GaussianNoise, labelled_indices
from chainrule.data.datasets.synthetic import moons
from chainrule.train import evaluate, fit
from chainrule.train import semi as S


@pytest.fixture(scope="module")
def two_moons():
    x, y = moons(1200, noise=0.1, seed=0).tensors
    x, y = x.detach().numpy().astype(np.float32), y.detach().numpy().astype(np.int64).reshape(-1)
    x = (x - x.mean(0)) / x.std(0)
    lab, unl = labelled_indices(y[:1000], 10, seed=0)
    return x[:1000][lab], y[:1000][lab], x[:1000][unl], x[1000:], y[1000:]


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU())


def _acc(model, x, y) -> float:
    return evaluate(model, (x, y), nn.CrossEntropyLoss())["accuracy"]


@pytest.fixture(scope="module")
def supervised(two_moons):
    xl, yl, _, xte, yte = two_moons
    cr.manual_seed(0)
    return _acc(S.fine_tune(_mlp(), 32, xl, yl, 2, epochs=200, batch_size=10), xte, yte)


def _semi(module, two_moons, callbacks=()):
    xl, yl, xu, xte, yte = two_moons
    h = fit(module, nn.CrossEntropyLoss(), optim.Adam(module.parameters(), lr=3e-3),
            S.SemiBatches(xl, yl, xu, 10, 7), epochs=30, progress=False, callbacks=callbacks)
    return _acc(module, xte, yte), h


def test_fixmatch_beats_supervised_only(two_moons, supervised) -> None:
    cr.manual_seed(0)
    m = S.FixMatch(nn.Sequential(_mlp(), nn.Linear(32, 2)), GaussianNoise(0.05),
                   GaussianNoise(0.3), threshold=0.9)
    acc, h = _semi(m, two_moons)
    assert "aux_loss" in h.history
    assert acc >= 0.95 and acc >= supervised + 0.05, (acc, supervised)


def test_pseudo_label_beats_supervised_only_over_seeds() -> None:
    """Lee 2013's recipe (ramp-up of the unlabelled weight to 3, labels recomputed every step)
    with noise on the unlabelled inputs: well above supervised-only on the mean of 3 seeds
    (``python -m bench.pseudo_label_moons``: 10 seeds, and what each ingredient does)."""
    from bench.pseudo_label_moons import pseudo_label
    from bench.pseudo_label_moons import supervised as supervised_only

    sup, pseudo = [], []
    for seed in range(3):
        sup.append(supervised_only(seed))
        m = pseudo_label(seed)
        assert m.step == 67 * 15 and m.alpha == 3.0 and m.threshold == 0.95
        assert "aux_loss" in m.history.history and 0 < m.mask_rate <= 1
        pseudo.append(m.test_accuracy)
    assert np.mean(pseudo) >= np.mean(sup) + 0.05 and np.mean(pseudo) >= 0.93, (pseudo, sup)


def test_lee_ramp_up_of_the_unlabelled_weight() -> None:
    assert [S.lee_weight(t, 10, 20, 3.0) for t in (0, 9, 10, 15, 20, 99)] == \
        [0.0, 0.0, 0.0, 1.5, 3.0, 3.0]
    assert S.lee_weight(5, 0, 0, 2.0) == 2.0
    cr.manual_seed(0)
    m = S.PseudoLabel(nn.Linear(2, 2), threshold=0.0, rampup=(2, 4), weight=3.0)
    xl, xu = cr.randn(4, 2), cr.randn(8, 2)
    losses = []
    for _ in range(5):
        m(xl, xu)
        losses.append(m.aux_loss.item())
    assert losses[:3] == [0.0, 0.0, 0.0] and 0 < losses[3] < losses[4]  # alpha 0, 0, 0, 1.5, 3
    m.eval()
    m(xl, xu)
    assert m.step == 5  # evaluation does not advance the ramp
    with pytest.raises(ValueError, match=r"PseudoLabel: rampup \(5, 2\)"):
        S.PseudoLabel(nn.Linear(2, 2), rampup=(5, 2))


def test_pseudo_label_with_a_threshold_schedule(two_moons, supervised) -> None:
    cr.manual_seed(0)
    m = S.PseudoLabel(nn.Sequential(_mlp(), nn.Linear(32, 2)), rampup=(0, 100),
                      augment=GaussianNoise(0.3))
    sched = S.ThresholdSchedule(m, 0.6, 0.95)
    acc, h = _semi(m, two_moons, [sched])
    assert sched.record["threshold"][0] == pytest.approx(0.6)
    assert sched.record["threshold"][-1] == pytest.approx(0.95)
    assert 0 < sched.record["mask_rate"][-1] <= 1 and "aux_loss" in h.history
    assert acc >= supervised and acc > 0.9, (acc, supervised)


@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_autoencoder_and_denoising_reconstruct(two_moons, noise: float) -> None:
    _, _, xu, _, _ = two_moons
    cr.manual_seed(0)
    enc = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 8))
    dec = nn.Sequential(nn.Tanh(), nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 2))
    h = S.pretrain_autoencoder(enc, dec, xu, epochs=10, batch_size=32, noise_std=noise)
    loss = h.history["loss"]
    assert loss[-1] < 0.3 * loss[0]


def test_contrastive_pretraining_then_linear_probe(two_moons, supervised) -> None:
    xl, yl, xu, xte, yte = two_moons
    cr.manual_seed(0)
    enc = _mlp()
    h = S.pretrain_contrastive(enc, 32, xu, GaussianNoise(0.1), epochs=15, batch_size=64,
                               temperature=0.5)
    assert h.history["loss"][-1] < h.history["loss"][0]
    before = [p.detach().numpy().copy() for p in enc.parameters()]
    probe = S.linear_probe(enc, xl, yl, 2, epochs=100, batch_size=10)
    for a, p in zip(before, enc.parameters()):  # the encoder stayed frozen
        np.testing.assert_array_equal(a, p.detach().numpy())
    assert _acc(probe, xte, yte) > 0.75


def test_nt_xent_matches_a_hand_computation() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    z = np.concatenate([a, b])
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    s = z @ z.T / 0.5
    np.fill_diagonal(s, -np.inf)
    pos = np.concatenate([np.arange(3, 6), np.arange(3)])
    ref = np.mean(-s[np.arange(6), pos] + np.log(np.exp(s).sum(1)))
    got = nn.NTXentLoss(0.5)(cr.tensor(a), cr.tensor(b)).item()
    np.testing.assert_allclose(got, ref, rtol=1e-10)
