"""Streaming metrics against direct NumPy computations over the whole data."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.train.metrics import (
    MAE,
    MSE,
    R2,
    Accuracy,
    ConfusionMatrix,
    Mean,
    TopKAccuracy,
    get_metric,
)


def batches(n: int, size: int):
    for s in range(0, n, size):
        yield slice(s, s + size)


def stream(metric, out: np.ndarray, tgt: np.ndarray, size: int = 7):
    metric.reset()
    for sl in batches(len(out), size):
        metric.update(cr.from_numpy(out[sl]), cr.from_numpy(tgt[sl]))
    return metric.compute()


@pytest.fixture
def scores():
    rng = np.random.default_rng(0)
    out = rng.standard_normal((53, 6)).astype(np.float32)
    labels = rng.integers(0, 6, 53)
    return out, labels


def test_accuracy_indices_and_one_hot(scores) -> None:
    out, labels = scores
    ref = np.mean(out.argmax(1) == labels)
    assert stream(Accuracy(), out, labels) == pytest.approx(ref, abs=0)
    one_hot = np.eye(6, dtype=np.float32)[labels]
    assert stream(Accuracy(), out, one_hot) == pytest.approx(ref, abs=0)
    assert Accuracy()(out, labels) == pytest.approx(ref, abs=0)  # one batch, no state


def test_accuracy_binary_threshold() -> None:
    p = np.array([[0.2], [0.7], [0.51], [0.1]], np.float32)
    y = np.array([0, 1, 0, 1])
    assert stream(Accuracy(), p, y, 3) == 0.5
    logits = np.array([-1.0, 2.0, 0.5, -0.2], np.float32)
    assert stream(Accuracy(threshold=0.0), logits, y.astype(np.float32), 2) == 0.5


def test_top_k(scores) -> None:
    out, labels = scores
    for k in (1, 2, 3, 6):
        top = np.argsort(-out, axis=1)[:, :k]
        ref = np.mean([labels[i] in top[i] for i in range(len(labels))])
        assert stream(TopKAccuracy(k), out, labels) == pytest.approx(ref, abs=0)
    assert stream(TopKAccuracy(1), out, labels) == stream(Accuracy(), out, labels)


def test_confusion_matrix(scores) -> None:
    out, labels = scores
    ref = np.zeros((6, 6), np.int64)
    for t, p in zip(labels, out.argmax(1)):
        ref[t, p] += 1
    np.testing.assert_array_equal(stream(ConfusionMatrix(), out, labels), ref)
    np.testing.assert_array_equal(stream(ConfusionMatrix(num_classes=6), out, labels, 50), ref)
    m = ConfusionMatrix()
    m.update(np.array([[1.0, 0.0]]), np.array([0]))  # grows when a larger class shows up
    m.update(np.array([[0.0, 0.0, 1.0]]), np.array([2]))
    np.testing.assert_array_equal(m.compute(), np.diag([1, 0, 1]))
    with pytest.raises(ValueError, match="num_classes"):
        ConfusionMatrix(num_classes=2).update(np.eye(3), np.arange(3))


def test_regression_metrics() -> None:
    rng = np.random.default_rng(1)
    y = rng.standard_normal((41, 3))
    p = y + 0.3 * rng.standard_normal((41, 3))
    assert stream(MAE(), p, y, 5) == pytest.approx(np.abs(p - y).mean(), rel=1e-12)
    assert stream(MSE(), p, y, 5) == pytest.approx(np.square(p - y).mean(), rel=1e-12)
    ss_res = np.square(y - p).sum(0)
    ss_tot = np.square(y - y.mean(0)).sum(0)
    assert stream(R2(), p, y, 5) == pytest.approx(np.mean(1 - ss_res / ss_tot), rel=1e-12)
    y1, p1 = y[:, 0], p[:, 0]  # one output, shape (N,)
    ref1 = 1 - np.square(y1 - p1).sum() / np.square(y1 - y1.mean()).sum()
    assert stream(R2(), p1, y1, 4) == pytest.approx(ref1, rel=1e-12)


def test_r2_is_numerically_careful() -> None:
    """Targets with a huge mean and a tiny spread: the naive sum(y^2) - n*mean^2 cancels."""
    rng = np.random.default_rng(2)
    y = 1e8 + rng.standard_normal(1000)
    p = y + 0.1 * rng.standard_normal(1000)
    ref = 1 - np.square(y - p).sum() / np.square(y - y.mean()).sum()
    assert stream(R2(), p, y, 13) == pytest.approx(ref, rel=1e-9)


def test_r2_constant_targets() -> None:
    y = np.full(10, 3.0)
    assert stream(R2(), y.copy(), y) == 1.0
    assert stream(R2(), y + 1, y) == 0.0


def test_mean_is_weighted() -> None:
    m = Mean()
    m.update(1.0, 3)
    m.update(3.0, 1)
    assert m.compute() == 1.5


def test_get_metric() -> None:
    assert isinstance(get_metric("accuracy"), Accuracy)
    assert get_metric("top3_accuracy").k == 3
    assert get_metric("top_k_accuracy").k == 5
    assert isinstance(get_metric("r2"), R2)
    m = get_metric(lambda out, tgt: float(np.mean(np.asarray(out) == np.asarray(tgt))))
    m.update(np.array([1, 2]), np.array([1, 0]))
    m.update(np.array([1, 1, 1, 1]), np.array([1, 1, 1, 1]))
    assert m.compute() == pytest.approx(5 / 6)
    with pytest.raises(ValueError, match="unknown name 'acuracy'"):
        get_metric("acuracy")
