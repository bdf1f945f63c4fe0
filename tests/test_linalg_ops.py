"""``cr.linalg`` and PyTorch's top-level linear-algebra names beyond the registry sweep (which
checks the primitives of ops/decomp.py): PyTorch's argument conventions, the factors sliced out
of the packed decompositions, the composed products, gradients by finite differences and
against PyTorch, and the errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.ops import samples as S
from tests.helpers import lazy_torch as torch

RNG = np.random.default_rng(0)


def _pair(a: np.ndarray) -> tuple[Any, Any]:
    return cr.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


def _same(ours: Any, theirs: Any, rtol: float = 1e-10) -> None:
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=rtol,
                               atol=1e-12)


def _grads_match(fn_ours: Any, fn_theirs: Any, *arrays: np.ndarray, rtol: float = 1e-9) -> None:
    """Values, and the gradient of sum(out * u) for a fixed random u, agree with PyTorch."""
    ours, theirs = zip(*(_pair(a) for a in arrays))
    yo, yt = fn_ours(*ours), fn_theirs(*theirs)
    _same(yo, yt)
    u = RNG.standard_normal(tuple(yo.shape))
    go = cr.grad((yo * cr.tensor(u)).sum(), list(ours))
    gt = torch.autograd.grad((yt * torch.tensor(u)).sum(), list(theirs))
    for a, b in zip(go, gt):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=rtol, atol=1e-10)


def test_names_exist_where_torch_has_them() -> None:
    for name in ("inverse", "det", "logdet", "slogdet", "cholesky", "qr", "svd", "pinverse",
                 "matrix_power", "matrix_exp", "kron", "tensordot", "inner", "vdot", "addmv",
                 "chain_matmul"):
        assert callable(getattr(cr, name)), name
    for name in ("inv", "det", "slogdet", "solve", "cholesky", "qr", "eigh", "eigvalsh", "svd",
                 "svdvals", "pinv", "lstsq", "matrix_power", "matrix_exp", "multi_dot", "cross",
                 "vecdot", "matmul"):
        assert callable(getattr(cr.linalg, name)), name
    for name in ("inverse", "det", "logdet", "slogdet", "cholesky", "qr", "svd", "pinverse",
                 "matrix_power", "matrix_exp", "kron", "inner", "addmv"):
        assert callable(getattr(cr.Tensor, name)), name
    assert issubclass(cr.linalg.LinAlgError, RuntimeError)


def test_inverse_det_logdet_and_methods() -> None:
    a = S.full_rank(RNG, (2, 3, 3))
    _grads_match(cr.inverse, torch.inverse, a)
    _grads_match(lambda x: x.inverse(), lambda x: x.inverse(), a)
    _grads_match(cr.det, torch.det, a)
    _grads_match(lambda x: x.slogdet()[1], lambda x: torch.linalg.slogdet(x)[1], a)
    sign, logabs = cr.linalg.slogdet(cr.tensor(a))
    tsign, tlog = torch.linalg.slogdet(torch.tensor(a))
    _same(sign, tsign)
    _same(logabs, tlog)
    spd = S.symmetric(RNG, (2, 3, 3), 0.5)
    _grads_match(cr.logdet, torch.logdet, spd)
    assert np.isnan(cr.logdet(cr.tensor([[0.0, 1.0], [1.0, 0.0]])).item())


@pytest.mark.parametrize("sa,sb", [((3, 3), (3,)), ((2, 3, 3), (2, 3)), ((2, 3, 3), (3,)),
                                   ((2, 1, 3, 3), (4, 3, 2)), ((3, 3), (3, 4))])
def test_solve_broadcasts_and_takes_vectors_as_torch(sa: tuple, sb: tuple) -> None:
    a, b = S.full_rank(RNG, sa), RNG.standard_normal(sb)
    _grads_match(cr.linalg.solve, torch.linalg.solve, a, b)


def test_solve_left_false() -> None:
    a, b = S.full_rank(RNG, (3, 3)), RNG.standard_normal((2, 3))
    _grads_match(lambda x, y: cr.linalg.solve(x, y, left=False),
                 lambda x, y: torch.linalg.solve(x, y, left=False), a, b)


@pytest.mark.filterwarnings("ignore:torch.cholesky is deprecated")
def test_cholesky_upper_and_legacy_name() -> None:
    spd = S.symmetric(RNG, (2, 3, 3), 0.5)
    _grads_match(cr.linalg.cholesky, torch.linalg.cholesky, spd)
    _grads_match(lambda x: cr.linalg.cholesky(x, upper=True),
                 lambda x: torch.linalg.cholesky(x, upper=True), spd)
    _grads_match(lambda x: x.cholesky(), lambda x: x.cholesky(), spd)


def test_eigh_gauge_invariant_quantities_match_torch() -> None:
    """Eigenvalues, projectors v v^T and a function of A rebuilt from the factors (their
    gradients do not depend on the eigenvectors' signs)."""
    a = S.symmetric(RNG, (2, 4, 4), -2.0)

    def rebuilt(lib: Any, x: Any) -> Any:
        w, v = lib.linalg.eigh(x)
        return (v * lib.exp(w).unsqueeze(-2)) @ v.transpose(-1, -2)  # expm of a symmetric A

    _grads_match(lambda x: cr.linalg.eigh(x).eigenvalues, lambda x: torch.linalg.eigvalsh(x), a)
    _grads_match(lambda x: rebuilt(cr, x), lambda x: rebuilt(torch, x), a)
    _grads_match(lambda x: cr.linalg.eigh(x)[1][..., :1] * cr.linalg.eigh(x)[1][..., :1].mT,
                 lambda x: torch.linalg.eigh(x)[1][..., :1] * torch.linalg.eigh(x)[1][..., :1].mT,
                 a)
    w, v = cr.linalg.eigh(cr.tensor(a))
    np.testing.assert_allclose((v @ cr.diag_embed(w) @ v.mT).numpy(), a, atol=1e-12)
    big = np.abs(v.numpy()).argmax(-2)
    assert (np.take_along_axis(v.numpy(), big[..., None, :], -2) > 0).all()
    _same(cr.linalg.eigvalsh(cr.tensor(a)), torch.linalg.eigvalsh(torch.tensor(a)))


@pytest.mark.parametrize("shape", [(4, 3), (3, 4), (2, 3, 3)])
def test_svd_gauge_invariant_quantities_match_torch(shape: tuple) -> None:
    a = S.full_rank(RNG, shape)

    def parts(lib: Any, x: Any) -> Any:
        u, s, vh = lib.linalg.svd(x, full_matrices=False)
        rank1 = s[..., :1, None] * u[..., :, :1] @ vh[..., :1, :]  # u1 s1 v1^T
        return lib.cat([rank1.flatten(-2), s], -1)

    _grads_match(lambda x: parts(cr, x), lambda x: parts(torch, x), a)
    _grads_match(cr.linalg.svdvals, torch.linalg.svdvals, a)
    u, s, vh = cr.linalg.svd(cr.tensor(a))  # full_matrices=True by default, as torch
    tu, _, tvh = torch.linalg.svd(torch.tensor(a))
    assert u.shape == tu.shape and vh.shape == tvh.shape
    m, n = shape[-2:]
    eye_m, eye_n = np.broadcast_to(np.eye(m), u.shape), np.broadcast_to(np.eye(n), vh.shape)
    np.testing.assert_allclose(u.numpy().swapaxes(-1, -2) @ u.numpy(), eye_m, atol=1e-12)
    np.testing.assert_allclose(vh.numpy() @ vh.numpy().swapaxes(-1, -2), eye_n, atol=1e-12)
    k = min(m, n)
    us = u.numpy()[..., :k] * s.numpy()[..., None, :]
    np.testing.assert_allclose(us @ vh.numpy()[..., :k, :], a, atol=1e-12)
    _, _, lv = cr.svd(cr.tensor(a))  # legacy: V, reduced
    np.testing.assert_allclose(lv.numpy(), vh.numpy()[..., :k, :].swapaxes(-1, -2), atol=1e-12)
    assert cr.svd(cr.tensor(a), compute_uv=False).U.abs().sum().item() == 0


@pytest.mark.parametrize("shape", [(4, 3), (3, 4), (3, 3)])
def test_qr_modes_match_torch(shape: tuple) -> None:
    a = S.full_rank(RNG, shape)
    _grads_match(lambda x: cr.linalg.qr(x).Q, lambda x: torch.linalg.qr(x).Q, a)
    _grads_match(lambda x: cr.linalg.qr(x).R, lambda x: torch.linalg.qr(x).R, a)
    for mode in ("complete", "r"):
        q, r = cr.linalg.qr(cr.tensor(a), mode=mode)
        tq, tr = torch.linalg.qr(torch.tensor(a), mode=mode)
        assert q.shape == tq.shape
        _same(r, tr)
    q, r = cr.qr(cr.tensor(a))
    np.testing.assert_allclose((q @ r).numpy(), a, atol=1e-12)


def test_pinv_lstsq_and_pinverse() -> None:
    tall, wide = S.full_rank(RNG, (5, 3)), S.full_rank(RNG, (2, 4))
    _grads_match(cr.linalg.pinv, torch.linalg.pinv, tall)
    _grads_match(cr.pinverse, torch.pinverse, wide)
    b = RNG.standard_normal((5, 2))
    _grads_match(lambda x, y: cr.linalg.lstsq(x, y).solution,
                 lambda x, y: torch.linalg.lstsq(x, y).solution, tall, b)
    assert cr.linalg.lstsq(cr.tensor(tall), cr.tensor(b)).rank.item() == 3


@pytest.mark.parametrize("n", [0, 1, 2, 5, -1, -3])
def test_matrix_power(n: int) -> None:
    a = S.full_rank(RNG, (2, 3, 3)) * 0.7
    _grads_match(lambda x: cr.linalg.matrix_power(x, n), lambda x: torch.linalg.matrix_power(x, n),
                 a)


@pytest.mark.parametrize("scale", [0.1, 3.0])
def test_matrix_exp_matches_torch(scale: float) -> None:
    a = RNG.standard_normal((2, 3, 3)) * scale
    _grads_match(cr.matrix_exp, torch.matrix_exp, a, rtol=1e-8)


@pytest.mark.filterwarnings("ignore:torch.chain_matmul is deprecated")
def test_products_match_torch() -> None:
    r = RNG.standard_normal
    _grads_match(cr.kron, torch.kron, r((2, 3)), r((3, 2)))
    _grads_match(cr.kron, torch.kron, r((2, 1, 3)), r((2, 2)))
    _grads_match(lambda x, y: cr.tensordot(x, y, 2), lambda x, y: torch.tensordot(x, y, 2),
                 r((2, 3, 4)), r((3, 4, 5)))
    _grads_match(lambda x, y: cr.tensordot(x, y, ([0, 2], [2, 0])),
                 lambda x, y: torch.tensordot(x, y, ([0, 2], [2, 0])), r((2, 3, 4)), r((4, 5, 2)))
    _grads_match(cr.inner, torch.inner, r((2, 3)), r((4, 3)))
    _grads_match(cr.vdot, torch.vdot, r((3,)), r((3,)))
    _grads_match(lambda b, m, v: cr.addmv(b, m, v, beta=0.5, alpha=2.0),
                 lambda b, m, v: torch.addmv(b, m, v, beta=0.5, alpha=2.0),
                 r((2,)), r((2, 3)), r((3,)))
    _grads_match(lambda a, b, c: cr.linalg.multi_dot([a, b, c]),
                 lambda a, b, c: torch.linalg.multi_dot([a, b, c]), r((3,)), r((3, 4)), r((4,)))
    _grads_match(lambda a, b: cr.chain_matmul(a, b), lambda a, b: torch.chain_matmul(a, b),
                 r((2, 3)), r((3, 4)))
    _grads_match(cr.linalg.cross, torch.linalg.cross, r((2, 3)), r((1, 3)))
    _grads_match(lambda x, y: cr.cross(x, y, 0), lambda x, y: torch.cross(x, y, 0), r((3, 2)),
                 r((3, 1)))
    _grads_match(cr.linalg.vecdot, torch.linalg.vecdot, r((2, 3)), r((3,)))


def test_second_order_through_the_factors() -> None:
    a = cr.tensor(S.full_rank(RNG, (3, 3)), requires_grad=True)
    assert cr.autograd.gradgradcheck(lambda x: cr.linalg.solve(x, x.sum(0)), [a])
    spd = cr.tensor(S.symmetric(RNG, (3, 3), 0.5), requires_grad=True)
    assert cr.autograd.gradgradcheck(lambda x: cr.linalg.eigh(x).eigenvalues, [spd])
    assert cr.autograd.gradcheck(lambda x: cr.matrix_exp(x), [a])


@pytest.mark.parametrize("call,pattern", [
    (lambda: cr.linalg.inv(cr.tensor([[1.0, 2.0], [2.0, 4.0]])), r"^linalg\.inv: the input "
     r"matrix is singular"),
    (lambda: cr.linalg.solve(cr.zeros(2, 2), cr.ones(2)), r"^linalg\.solve: .*singular"),
    (lambda: cr.linalg.cholesky(cr.tensor([[1.0, 2.0], [2.0, 1.0]])),
     r"^linalg\.cholesky: .*not positive-definite"),
])
def test_linalg_errors(call: Any, pattern: str) -> None:
    with pytest.raises(cr.linalg.LinAlgError, match=pattern):
        call()


def test_shape_errors_name_the_op() -> None:
    with pytest.raises(RuntimeError, match=r"^linalg\.inv: A must be batches of square matrices"
                                           r", got a tensor of shape \(2, 3\)"):
        cr.inverse(cr.ones(2, 3))
    with pytest.raises(RuntimeError, match=r"^linalg\.solve: A \(3, 3\) and B \(2, 2\)"):
        cr.linalg.solve(cr.eye(3), cr.ones(2, 2))
    with pytest.raises(RuntimeError, match=r"^tensordot: contracted dims differ"):
        cr.tensordot(cr.ones(2, 3), cr.ones(2, 3), 1)
    with pytest.raises(RuntimeError, match=r"^linalg\.multi_dot: tensor 1 has shape \(3,\)"):
        cr.linalg.multi_dot([cr.ones(2, 3), cr.ones(3), cr.ones(3)])
