"""CTC loss (``F.ctc_loss``, ``nn.CTCLoss``): against a brute-force sum over every alignment,
against PyTorch (values, and gradients on the logits through log_softmax), the gradient
convention on log_probs, infinite losses, argument forms and error messages. The op sweep
(``test_op_sweep.py``, ``test_torch_parity.py``) covers finite differences on its samples."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import DTypeError, ShapeError
from chainrule.ops import ctc as ctc_module
from tests.helpers import lazy_torch as torch

F = cr.nn.functional


def _log_softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def _brute_force_nll(lp: np.ndarray, target: list[int], blank: int) -> float:
    """-log of the summed probability of every path (one class per frame) that reads
    ``target`` once repeats are merged and blanks dropped; lp is (T, C)."""
    total = 0.0
    n_frames, n_cls = lp.shape
    for path in itertools.product(range(n_cls), repeat=n_frames):
        merged = [c for i, c in enumerate(path) if (i == 0 or c != path[i - 1]) and c != blank]
        if merged == target:
            total += np.exp(sum(lp[t, c] for t, c in enumerate(path)))
    return -np.log(total) if total > 0 else np.inf


def test_matches_brute_force_sum_over_alignments() -> None:
    rng = np.random.default_rng(0)
    lp = _log_softmax(rng.standard_normal((5, 6, 3)))
    targets = [[1, 2], [1, 1], [2], [], [2, 1, 2], [1, 1, 1]]
    il = [5, 5, 3, 4, 5, 4]  # [1, 1, 1] needs 5 frames: infinite at 4
    padded = np.zeros((6, 3), dtype=np.int64)
    for n, t in enumerate(targets):
        padded[n, :len(t)] = t
    out = F.ctc_loss(cr.tensor(lp), cr.tensor(padded), il, [len(t) for t in targets],
                     reduction="none").numpy()
    want = [_brute_force_nll(lp[:il[n], n], t, 0) for n, t in enumerate(targets)]
    assert np.isinf(want[-1]) and np.isinf(out[-1])
    np.testing.assert_allclose(out, want, rtol=1e-12)
    # a blank that is not class 0, unbatched input
    out = F.ctc_loss(cr.tensor(lp[:, 0]), cr.tensor([0, 1, 0]), 5, 3, blank=2,
                     reduction="sum").item()
    assert out == pytest.approx(_brute_force_nll(lp[:, 0], [0, 1, 0], 2), rel=1e-12)


def _inputs(rng: np.random.Generator, concatenated: bool) -> tuple:
    t_len, n, n_cls = 6, 4, 5
    x = rng.standard_normal((t_len, n, n_cls))
    tl = np.array([3, 1, 0, 2])
    il = np.array([6, 4, 2, 5])
    padded = rng.integers(1, n_cls, (n, 3))
    padded[0] = [2, 2, 3]  # a repeated label: no skip over the blank between them
    targets = (np.concatenate([padded[i, :tl[i]] for i in range(n)]) if concatenated
               else padded)
    return x, targets, il, tl


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("concatenated", [False, True])
def test_logits_gradient_and_value_equal_pytorch(reduction: str, concatenated: bool) -> None:
    """With log_softmax in the graph, as PyTorch's documentation asks, values and the logits'
    gradients agree with PyTorch's own ctc_loss exactly (float64)."""
    x, targets, il, tl = _inputs(np.random.default_rng(1), concatenated)
    xo = cr.tensor(x, requires_grad=True)
    ours = F.ctc_loss(xo.log_softmax(-1), cr.tensor(targets), cr.tensor(il), tl.tolist(),
                      reduction=reduction)
    xt = torch.tensor(x, requires_grad=True)
    theirs = torch.nn.functional.ctc_loss(xt.log_softmax(-1), torch.tensor(targets),
                                          torch.tensor(il), torch.tensor(tl),
                                          reduction=reduction)
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-12)
    u = np.random.default_rng(2).standard_normal(ours.shape)
    ours.backward(cr.tensor(u))
    theirs.backward(torch.tensor(u))
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-13)


def test_blank_zero_infinity_unbatched_equal_pytorch() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3, 4))
    targets, il, tl = np.array([[0, 1, 0], [2, 2, 2], [1, 0, 0]]), [4, 4, 3], [3, 3, 1]
    for kwargs in ({"blank": 3}, {"blank": 3, "zero_infinity": True, "reduction": "none"}):
        xo, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        ours = F.ctc_loss(xo.log_softmax(-1), cr.tensor(targets), il, tl, **kwargs)
        theirs = torch.nn.functional.ctc_loss(xt.log_softmax(-1), torch.tensor(targets), il, tl,
                                              **kwargs)
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-12)
        ours.sum().backward()
        theirs.sum().backward()
        np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-13)
    xo, xt = cr.tensor(x[:, 0], requires_grad=True), torch.tensor(x[:, 0], requires_grad=True)
    ours = F.ctc_loss(xo.log_softmax(-1), cr.tensor([1, 2]), cr.tensor(4), cr.tensor(2))
    theirs = torch.nn.functional.ctc_loss(xt.log_softmax(-1), torch.tensor([1, 2]),
                                          torch.tensor(4), torch.tensor(2))
    assert ours.shape == () and ours.item() == pytest.approx(theirs.item(), rel=1e-12)
    ours.backward()
    theirs.backward()
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-13)


def test_log_probs_gradient_is_the_free_input_derivative() -> None:
    """The gradient with respect to log_probs is the derivative of the loss (finite
    differences agree); PyTorch's is that plus exp(log_probs) on frames t < input_length, times
    each item's loss weight (pytorch/pytorch#52241): the term log_softmax's backward cancels."""
    x, targets, il, tl = _inputs(np.random.default_rng(4), False)
    lp = _log_softmax(x)
    lo = cr.tensor(lp, requires_grad=True)

    def loss(t: Any) -> Any:
        return F.ctc_loss(t, cr.tensor(targets), il.tolist(), tl.tolist())

    assert cr.autograd.gradcheck(loss, [lo], eps=1e-6, atol=1e-7, rtol=1e-5)
    loss(lo).backward()
    lt = torch.tensor(lp, requires_grad=True)
    torch.nn.functional.ctc_loss(lt, torch.tensor(targets), il.tolist(), tl.tolist()).backward()
    live = np.arange(lp.shape[0])[:, None] < il[None, :]
    weight = 1.0 / (np.maximum(tl, 1) * len(tl))  # 'mean'
    np.testing.assert_allclose(lo.grad.numpy(),
                               lt.grad.numpy() - np.exp(lp) * (live * weight)[:, :, None],
                               rtol=1e-9, atol=1e-13)


def test_infinite_loss_zero_infinity_and_nan_gradient_as_pytorch() -> None:
    """A target that cannot fit (longer than the input, or repeats needing blanks) is allowed:
    its loss is inf and its gradient nan on its frames, as PyTorch; zero_infinity makes both 0
    and leaves the other items alone."""
    lp = _log_softmax(np.random.default_rng(5).standard_normal((3, 2, 4)))
    targets, il, tl = np.array([[1, 2, 3, 1], [1, 1, 0, 0]]), [3, 2], [4, 2]
    grads = {}
    for zi in (False, True):
        lo = cr.tensor(lp, requires_grad=True)
        out = F.ctc_loss(lo, cr.tensor(targets), il, tl, reduction="none", zero_infinity=zi)
        assert (np.isinf(out.detach().numpy()) == [not zi, not zi]).all()
        if zi:
            assert out.detach().numpy().tolist() == [0.0, 0.0]
        out.sum().backward()
        grads[zi] = g = lo.grad.numpy()
        lt = torch.tensor(lp, requires_grad=True)
        torch.nn.functional.ctc_loss(lt, torch.tensor(targets), il, tl, reduction="none",
                                     zero_infinity=zi).sum().backward()
        np.testing.assert_array_equal(np.isnan(g), np.isnan(lt.grad.numpy()))
    assert np.isnan(grads[False][:, 0]).all()  # item 0: every frame (input length 3)
    assert np.isnan(grads[False][:2, 1]).all() and (grads[False][2, 1] == 0).all()
    assert (grads[True] == 0).all()
    # the mean with one infinite item is inf; zero_infinity keeps the finite item's share
    lo = cr.tensor(lp, requires_grad=True)
    mixed = F.ctc_loss(lo, cr.tensor([[1, 2, 3, 1], [1, 0, 0, 0]]), il, [4, 1],
                       zero_infinity=True)
    alone = F.ctc_loss(cr.tensor(lp[:, 1:]), cr.tensor([[1]]), [2], [1], reduction="sum")
    assert mixed.item() == pytest.approx(alone.item() / 2, rel=1e-12)
    assert np.isinf(F.ctc_loss(cr.tensor(lp), cr.tensor(targets), il, tl).item())


def test_a_class_of_probability_zero_gets_a_zero_gradient() -> None:
    """log_probs of -inf (a masked class) leave the loss finite and the gradient 0 there, with
    no warning (PyTorch's gradient is nan at those entries: exp(-inf + inf))."""
    p = np.array([[0.5, 0.5, 0.0], [0.2, 0.8, 0.0], [0.6, 0.4, 0.0]])
    with np.errstate(divide="ignore"):
        lp = np.log(p)[:, None]
    lo = cr.tensor(lp, requires_grad=True)
    loss = F.ctc_loss(lo, cr.tensor([[1]]), [3], [1], reduction="sum")
    loss.backward()
    assert loss.item() == pytest.approx(_brute_force_nll(lp[:, 0], [1], 0), rel=1e-12)
    g = lo.grad.numpy()[:, 0]
    assert np.isfinite(g).all() and (g[:, 2] == 0).all()


def test_argument_forms_agree() -> None:
    """Lengths as lists, tuples or tensors (int64 or int32); targets padded or concatenated;
    an unbatched input with int or 0-d lengths and 1-D or (1, S) targets."""
    lp = cr.tensor(_log_softmax(np.random.default_rng(6).standard_normal((5, 2, 4))))
    padded = cr.tensor([[1, 3, 9], [2, 0, 0]])  # entries past each length are never read
    ref = F.ctc_loss(lp, padded, [5, 4], [2, 1], reduction="none").numpy()
    for targets, il, tl in [
            (padded, (5, 4), (2, 1)),
            (padded, cr.tensor([5, 4]), cr.tensor([2, 1])),
            (padded.int(), cr.tensor([5, 4]).int(), cr.tensor([2, 1]).int()),
            (cr.tensor([1, 3, 2]), [5, 4], [2, 1])]:
        np.testing.assert_allclose(
            F.ctc_loss(lp, targets, il, tl, reduction="none").numpy(), ref, rtol=1e-12)
    for targets, il, tl in [(cr.tensor([1, 3]), 5, 2), (cr.tensor([[1, 3]]), cr.tensor(5),
                                                       cr.tensor([2]))]:
        out = F.ctc_loss(lp[:, 0], targets, il, tl, reduction="none")
        assert out.shape == () and out.item() == pytest.approx(ref[0], rel=1e-12)
    # 'mean' divides each loss by its target length (at least 1), then averages
    assert F.ctc_loss(lp, padded, [5, 4], [2, 1]).item() == pytest.approx(
        (ref[0] / 2 + ref[1]) / 2, rel=1e-12)
    assert F.ctc_loss(lp, padded, [5, 4], [2, 1], reduction="sum").item() == pytest.approx(
        ref.sum(), rel=1e-12)
    assert F.ctc_loss(lp, padded, [5, 0], [2, 0], reduction="none").numpy()[1] == 0.0


def test_module_dtypes_and_create_graph() -> None:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((5, 2, 4))
    args = (cr.tensor([[1, 2], [3, 3]]), [5, 5], [2, 2])
    m = cr.nn.CTCLoss(blank=0, reduction="sum", zero_infinity=True)
    assert repr(m) == "CTCLoss()" and m.blank == 0 and m.zero_infinity
    lp = cr.tensor(x).log_softmax(-1)
    assert m(lp, *args).item() == F.ctc_loss(lp, *args, reduction="sum",
                                             zero_infinity=True).item()
    for dtype in (cr.float32, cr.float16):
        lo = cr.tensor(x, dtype=dtype, requires_grad=True)
        out = F.ctc_loss(lo.log_softmax(-1), *args)
        out.backward()
        assert out.dtype == dtype and lo.grad.dtype == dtype
        assert out.item() == pytest.approx(F.ctc_loss(lp, *args).item(),
                                           rel=1e-5 if dtype == cr.float32 else 3e-3)
    lo = cr.tensor(x, requires_grad=True)
    with pytest.raises(RuntimeError, match="ctc_loss"):
        cr.grad(F.ctc_loss(lo, *args), [lo], create_graph=True)


def test_large_vocabulary_scatter_equals_one_hot_matmul(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past ``_ONEHOT_MAX`` the vjp adds the occupancies with add.at: the same gradient."""
    x, targets, il, tl = _inputs(np.random.default_rng(8), False)
    grads = []
    for limit in (ctc_module._ONEHOT_MAX, 0):
        monkeypatch.setattr(ctc_module, "_ONEHOT_MAX", limit)
        lo = cr.tensor(x, requires_grad=True)
        F.ctc_loss(lo, cr.tensor(targets), il, tl, reduction="sum").backward()
        grads.append(lo.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-13, atol=1e-15)


LP = np.log(np.full((3, 2, 4), 0.25))
T2 = np.array([[1, 2], [1, 1]])


@pytest.mark.parametrize("args, kwargs, kind, match", [
    ((LP, T2.astype(float), [3, 3], [2, 2]), {}, DTypeError,
     r"ctc_loss: targets have dtype float64 .*integer class indices.*targets\.long\(\)"),
    ((LP, T2, [3, 3, 3], [2, 2]), {}, ShapeError,
     r"ctc_loss: input_lengths has shape \(3,\) but log_probs \(3, 2, 4\) has a batch of 2"),
    ((LP, T2, [3, 3], [2]), {}, ShapeError,
     r"ctc_loss: target_lengths has shape \(1,\) but log_probs \(3, 2, 4\) has a batch of 2"),
    ((LP, np.ones((3, 2), int), [3, 3], [2, 2]), {}, ShapeError,
     r"padded targets \(3, 2\) have 3 rows but log_probs \(3, 2, 4\) have a batch of 2"),
    ((LP, T2, [3, 3], [3, 2]), {}, ShapeError,
     r"padded targets \(2, 2\) are shorter than target_lengths \[3, 2\]"),
    ((LP, np.array([1, 2, 1]), [3, 3], [2, 2]), {}, ShapeError,
     r"concatenated targets have 3 entries but target_lengths \[2, 2\] sum to 4"),
    ((LP, T2, [3, 3], [2, 2]), {"blank": 4}, ValueError,
     r"ctc_loss: blank=4 is not a class of log_probs \(3, 2, 4\) \(4 classes\)"),
    ((LP, T2, [3, 3], [2, 2]), {"blank": -1}, ValueError, r"blank=-1 .*\[0, 3\]"),
    ((LP, np.array([[1, 2], [1, 0]]), [3, 3], [2, 2]), {}, ValueError,
     r"targets contain the blank index 0 \(batch item 1, target position 1\)"),
    ((LP, np.array([[1, 2], [1, 2]]), [3, 3], [2, 2]), {"blank": 2}, ValueError,
     r"blank index 2 \(batch item 0, target position 1\)"),
    ((LP, np.array([[1, 5], [1, 1]]), [3, 3], [2, 2]), {}, IndexError,
     r"target value 5 \(batch item 0, target position 1\) is outside the 4 classes"),
    ((LP, np.array([[1, -1], [1, 1]]), [3, 3], [2, 2]), {}, IndexError, r"target value -1"),
    ((LP, T2, [4, 3], [2, 2]), {}, ValueError,
     r"input_lengths \[4, 3\] contains 4 \(log_probs \(3, 2, 4\)\); expected lengths in "
     r"\[0, T=3\]"),
    ((LP, T2, [3, 3], [-1, 2]), {}, ValueError, r"target_lengths \[-1, 2\] contains -1"),
    ((LP, T2, [3.0, 3.0], [2, 2]), {}, DTypeError, r"input_lengths has dtype float"),
    ((LP[None], T2, [3, 3], [2, 2]), {}, ShapeError,
     r"log_probs have shape \(1, 3, 2, 4\); expected \(T, N, C\)"),
    ((LP, T2[None], [3, 3], [2, 2]), {}, ShapeError, r"targets have shape \(1, 2, 2\)"),
    ((T2, T2, [3, 3], [2, 2]), {}, DTypeError, r"log_probs have dtype int64"),
    ((LP, T2, [3, 3], [2, 2]), {"reduction": "avg"}, ValueError,
     r"ctc_loss: reduction 'avg' is not supported"),
    ((np.zeros((3, 0, 4)), np.zeros((0, 2), int), [], []), {}, ShapeError,
     r"log_probs of shape \(3, 0, 4\) are empty"),
])
def test_errors_name_the_op_and_the_values(args: tuple, kwargs: dict, kind: type,
                                           match: str) -> None:
    tensors = [cr.tensor(a) if isinstance(a, np.ndarray) else a for a in args]
    with pytest.raises(kind, match=match):
        F.ctc_loss(*tensors, **kwargs)
