"""Hand-computed expected values for the parts whose only other check is PyTorch parity (issue 13
item 20): Adam's bias correction, BatchNorm's running statistics, StepLR's schedule and
clip_grad_norm_'s total norm. These run without torch; each number is worked out in the comment
beside it from the published update rule."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim


def _half_square_steps(opt_cls, steps: int, **kw) -> list[list[float]]:
    """Minimise 0.5 * sum(p^2) (so grad = p) from p = [1, -2]; p after each step."""
    p = cr.tensor([1.0, -2.0], dtype=cr.float64, requires_grad=True)
    opt = opt_cls([p], **kw)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * (p * p).sum()).backward()
        opt.step()
        out.append(p.detach().numpy().tolist())
    return out


def test_adam_bias_correction_by_hand() -> None:
    """Kingma & Ba, Algorithm 1, lr 0.1, betas (0.9, 0.999), eps 1e-8, grad = p:
    step 1: m = 0.1 g, v = 0.001 g^2, m^ = g, v^ = g^2: p -= 0.1 g / (|g| + 1e-8):
            1 -> 0.900000001, -2 -> -1.9000000005.
    step 2 (p = 0.9): m = 0.9 * 0.1 + 0.1 * 0.9 = 0.18, m^ = 0.18 / 0.19 = 0.9473684;
            v = 0.999 * 0.001 + 0.001 * 0.81 = 0.001809, v^ = 0.001809 / 0.001999 = 0.9049525;
            p -= 0.1 * 0.9473684 / 0.9512899 = 0.0995878: p = 0.8004122.
    An off-by-one bias correction (1 - beta^(t+1)) gives 0.947... at step 1 instead."""
    got = _half_square_steps(optim.Adam, 3, lr=0.1, betas=(0.9, 0.999), eps=1e-8)
    want = [[0.900000001, -1.9000000005],
            [0.8004122297123382, -1.800166486621093],
            [0.701586274504415, -1.700623392812114]]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


def test_sgd_momentum_by_hand() -> None:
    """lr 0.1, momentum 0.9, grad = p: b1 = 1 -> p = 0.9; b2 = 0.9 * 1 + 0.9 = 1.8 ->
    p = 0.9 - 0.18 = 0.72 (for p0 = 1)."""
    got = _half_square_steps(optim.SGD, 2, lr=0.1, momentum=0.9)
    np.testing.assert_allclose(got, [[0.9, -1.8], [0.72, -1.44]], rtol=1e-14)


def test_batchnorm_running_statistics_by_hand() -> None:
    """Ioffe & Szegedy / PyTorch: running_var is updated with the UNBIASED batch variance
    (divide by n - 1), the output is normalised with the biased one (divide by n).
    batch 1, columns [1, 3, 5] and [2, 6, 10]: means 3 and 6; unbiased variances
    (4 + 0 + 4) / 2 = 4 and (16 + 0 + 16) / 2 = 16 (biased: 8/3, 32/3).
    momentum 0.1 from mean 0, var 1: running_mean = 0.3, 0.6; running_var = 0.9 + 0.4 = 1.3,
    0.9 + 1.6 = 2.5. batch 2, columns [0, 2] and [1, 1]: means 1, 1; unbiased variances 2, 0:
    running_mean = 0.27 + 0.1 = 0.37, 0.54 + 0.1 = 0.64; running_var = 1.17 + 0.2 = 1.37,
    2.25 + 0 = 2.25."""
    bn = nn.BatchNorm1d(2, momentum=0.1).double()
    y = bn(cr.tensor([[1.0, 2.0], [3.0, 6.0], [5.0, 10.0]], dtype=cr.float64))
    np.testing.assert_allclose(bn.running_mean.numpy(), [0.3, 0.6], rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(), [1.3, 2.5], rtol=1e-12)
    assert int(bn.num_batches_tracked.item()) == 1
    np.testing.assert_allclose(y.detach().numpy()[:, 0],
                               np.array([-2.0, 0.0, 2.0]) / math.sqrt(8 / 3 + 1e-5), rtol=1e-12)
    bn(cr.tensor([[0.0, 1.0], [2.0, 1.0]], dtype=cr.float64))
    np.testing.assert_allclose(bn.running_mean.numpy(), [0.37, 0.64], rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(), [1.37, 2.25], rtol=1e-12)
    bn.eval()  # eval normalises with the running statistics
    y = bn(cr.tensor([[1.37, 0.64]], dtype=cr.float64))
    np.testing.assert_allclose(y.detach().numpy(),
                               [[1.0 / math.sqrt(1.37 + 1e-5), 0.0]], rtol=1e-12, atol=1e-15)


def test_batchnorm_cumulative_average_by_hand() -> None:
    """momentum=None: a plain average of the batches' statistics (1 / num_batches_tracked).
    Batches with means 3, 1 (column 0 above): running_mean = 0 + 1 * (3 - 0) = 3, then
    3 + (1 - 3) / 2 = 2; running_var: 1 + (4 - 1) = 4, then 4 + (2 - 4) / 2 = 3."""
    bn = nn.BatchNorm1d(1, momentum=None).double()
    bn(cr.tensor([[1.0], [3.0], [5.0]], dtype=cr.float64))
    bn(cr.tensor([[0.0], [2.0]], dtype=cr.float64))
    np.testing.assert_allclose(bn.running_mean.numpy(), [2.0], rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(), [3.0], rtol=1e-12)


def test_steplr_by_hand() -> None:
    """StepLR(step_size=2, gamma=0.5) from lr 1: epochs 0, 1 at 1; 2, 3 at 0.5; 4 at 0.25
    (lr = 1 * 0.5 ** (epoch // 2)): decaying one epoch early would give 0.5 at epoch 1."""
    p = cr.zeros(1, requires_grad=True)
    opt = optim.SGD([p], lr=1.0)
    sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    lrs = []
    for _ in range(6):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    assert sched.get_last_lr() == [0.125]


def test_multisteplr_and_exponentiallr_by_hand() -> None:
    p = cr.zeros(1, requires_grad=True)
    opt = optim.SGD([p], lr=1.0)
    sched = optim.lr_scheduler.MultiStepLR(opt, milestones=[1, 3], gamma=0.1)
    lrs = []
    for _ in range(4):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    np.testing.assert_allclose(lrs, [1.0, 0.1, 0.1, 0.01], rtol=1e-12)
    opt = optim.SGD([p], lr=2.0)
    sched = optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
    opt.step()
    sched.step()
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5)


def _grads(*gs: list) -> list[cr.Tensor]:
    ps = []
    for g in gs:
        p = cr.zeros(np.shape(g), dtype=cr.float64, requires_grad=True)
        p.grad = cr.tensor(g, dtype=cr.float64)
        ps.append(p)
    return ps


def test_clip_grad_norm_uses_the_total_norm_by_hand() -> None:
    """Gradients [3, 4] (norm 5) and [[12]] (norm 12): the total 2-norm is
    sqrt(9 + 16 + 144) = 13, not 5 + 12 = 17. max_norm 6.5: every gradient is scaled by
    6.5 / (13 + 1e-6) = 0.49999996: [1.5, 2.0] and [[6.0]]."""
    a, b = _grads([3.0, 4.0], [[12.0]])
    total = nn.utils.clip_grad_norm_([a, b], max_norm=6.5)
    assert float(total.item()) == pytest.approx(13.0, rel=1e-12)
    coef = 6.5 / (13.0 + 1e-6)
    np.testing.assert_allclose(a.grad.numpy(), [3.0 * coef, 4.0 * coef], rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), [[12.0 * coef]], rtol=1e-12)


def test_clip_grad_norm_leaves_small_gradients_and_takes_other_norms_by_hand() -> None:
    a, b = _grads([3.0, 4.0], [[12.0]])
    total = nn.utils.clip_grad_norm_([a, b], max_norm=100.0)
    assert float(total.item()) == pytest.approx(13.0, rel=1e-12)
    np.testing.assert_array_equal(a.grad.numpy(), [3.0, 4.0])  # norm below max: untouched
    a, b = _grads([3.0, -4.0], [[12.0]])
    assert float(nn.utils.clip_grad_norm_([a, b], 100.0, norm_type=math.inf).item()) == 12.0
    a, b = _grads([3.0, -4.0], [[12.0]])
    assert float(nn.utils.clip_grad_norm_([a, b], 100.0, norm_type=1.0).item()) == 19.0


def test_clip_grad_value_by_hand() -> None:
    (a,) = _grads([3.0, -4.0, 0.5])
    nn.utils.clip_grad_value_([a], clip_value=1.0)
    np.testing.assert_array_equal(a.grad.numpy(), [1.0, -1.0, 0.5])
