"""Function transforms (chainrule.func) and chainrule.autograd.functional, against analytic
answers and against torch.func / torch.autograd.functional."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.func as cf
from chainrule.autograd import functional as AF
from tests.helpers import lazy_torch as torch

RNG = np.random.default_rng(0)
X = RNG.standard_normal(3)
Y = RNG.standard_normal(3)
V = RNG.standard_normal(3)


def t64(a, requires_grad=False) -> cr.Tensor:
    return cr.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


def f_scalar(x):
    return (x.sin() * x.exp()).sum()


def df_scalar(x):
    return np.exp(x) * (np.sin(x) + np.cos(x))


def d2f_scalar(x):
    return np.diag(2 * np.exp(x) * np.cos(x))


def close(t, expected, **kw) -> None:
    np.testing.assert_allclose(np.asarray(t.detach().numpy() if isinstance(t, cr.Tensor) else t),
                               expected, rtol=kw.get("rtol", 1e-10), atol=kw.get("atol", 1e-12))


# --- chainrule.func: analytic -----------------------------------------------------------------


def test_grad_analytic() -> None:
    g = cf.grad(f_scalar)(t64(X))
    assert isinstance(g, cr.Tensor) and not g.requires_grad
    close(g, df_scalar(X))


def test_grad_accepts_arrays_and_floats() -> None:
    close(cf.grad(f_scalar)(X), df_scalar(X))
    g = cf.grad(lambda x: x * x)(3.0)
    assert g.item() == pytest.approx(6.0) and g.dtype == np.float32


def test_grad_argnums() -> None:
    def f(x, y):
        return (x * y * y).sum()
    gx, gy = cf.grad(f, argnums=(0, 1))(t64(X), t64(Y))
    close(gx, Y * Y)
    close(gy, 2 * X * Y)
    close(cf.grad(f, argnums=1)(X, Y), 2 * X * Y)
    close(cf.grad(f, argnums=-1)(X, Y), 2 * X * Y)
    with pytest.raises(ValueError, match="argnums"):
        cf.grad(f, argnums=2)(X, Y)


def test_grad_has_aux_and_kwargs() -> None:
    def f(x, scale=1.0):
        y = (x * x).sum() * scale
        return y, {"y": y.item()}
    g, aux = cf.grad(f, has_aux=True)(t64(X), scale=3.0)
    close(g, 6 * X)
    assert aux["y"] == pytest.approx(3 * (X * X).sum())


def test_grad_of_unused_argument_is_zero() -> None:
    g = cf.grad(lambda x, y: (x * 2).sum(), argnums=1)(t64(X), Y)
    close(g, np.zeros(3))
    g = cf.grad(lambda x: t64(1.0))(X)  # output does not depend on x at all
    close(g, np.zeros(3))


def test_grad_needs_a_scalar() -> None:
    with pytest.raises(RuntimeError, match=r"scalar.*shape \(3,\)"):
        cf.grad(lambda x: x * 2)(X)


def test_grad_leaves_no_dot_grad() -> None:
    x = t64(X, requires_grad=True)
    w = t64(Y, requires_grad=True)
    g = cf.grad(lambda x: (w * x).sum())(x)
    close(g, Y)
    assert x.grad is None and w.grad is None


def test_grad_works_under_no_grad() -> None:
    with cr.no_grad():
        g = cf.grad(f_scalar)(t64(X))
    close(g, df_scalar(X))
    assert cr.is_grad_enabled()


def test_grad_result_is_differentiable_when_input_requires_grad() -> None:
    x = t64(X, requires_grad=True)
    g = cf.grad(f_scalar)(x)
    assert g.requires_grad
    g.sum().backward()
    close(x.grad, np.diag(d2f_scalar(X)))


def test_grad_closure_over_a_parameter_keeps_the_graph() -> None:
    w = t64(Y, requires_grad=True)
    g = cf.grad(lambda x: (w * x * x).sum())(t64(X))  # 2 w x
    assert g.requires_grad
    g.sum().backward()
    close(w.grad, 2 * X)


def test_grad_sees_only_paths_through_its_argument() -> None:
    x = t64(X, requires_grad=True)
    y = x * 2  # a closure derived from x is a constant to the transform
    g = cf.grad(lambda z: (z * y).sum())(x)
    close(g, 2 * X)


def test_value_and_grad() -> None:
    v, g = cf.value_and_grad(f_scalar)(t64(X))
    assert v.item() == pytest.approx(float((np.sin(X) * np.exp(X)).sum()))
    assert not v.requires_grad
    close(g, df_scalar(X))
    (v, aux), g = cf.value_and_grad(lambda x: (f_scalar(x), 7), has_aux=True)(X)
    assert aux == 7
    g, v = cf.grad_and_value(f_scalar)(X)
    close(g, df_scalar(X))


def test_vjp() -> None:
    out, vjp_fn = cf.vjp(lambda x, y: x.exp() * y, t64(X), t64(Y))
    close(out, np.exp(X) * Y)
    gx, gy = vjp_fn(t64(V))
    close(gx, V * np.exp(X) * Y)
    close(gy, V * np.exp(X))
    gx2, _ = vjp_fn(t64(2 * V))  # callable again
    close(gx2, 2 * V * np.exp(X) * Y)
    with pytest.raises(RuntimeError, match="shape"):
        vjp_fn(t64(np.ones(4)))


def test_vjp_tuple_output_and_aux() -> None:
    out, vjp_fn, aux = cf.vjp(lambda x: ((x * 2, x.sin()), "aux"), t64(X), has_aux=True)
    assert aux == "aux" and len(out) == 2
    (g,) = vjp_fn((t64(V), t64(Y)))
    close(g, 2 * V + np.cos(X) * Y)


def test_jacobian_analytic() -> None:
    J = cf.jacobian(lambda x: x.tanh() * x.sum())(t64(X))
    expected = np.diag((1 - np.tanh(X) ** 2) * X.sum()) + np.tanh(X)[:, None]
    close(J, expected)
    assert J.shape == (3, 3)


def test_jacobian_shapes_and_structure() -> None:
    x = t64(np.ones((2, 3)))
    J = cf.jacobian(lambda x: x * 3)(x)
    assert J.shape == (2, 3, 2, 3)
    close(J.reshape(6, 6), 3 * np.eye(6))
    Js = cf.jacobian(lambda x, y: (x * y, x.sum()), argnums=(0, 1))(t64(X), t64(Y))
    assert len(Js) == 2 and len(Js[0]) == 2
    close(Js[0][0], np.diag(Y))
    close(Js[0][1], np.diag(X))
    close(Js[1][0], np.ones(3))
    close(Js[1][1], np.zeros(3))
    assert cf.jacobian(lambda x: x.sum())(t64(X)).shape == (3,)
    assert cf.jacobian(lambda x: x * 2)(t64(2.0)).shape == ()


def test_hessian_analytic() -> None:
    H = cf.hessian(f_scalar)(t64(X))
    close(H, d2f_scalar(X))
    A = RNG.standard_normal((3, 3))
    H = cf.hessian(lambda x: (x * (t64(A) @ x)).sum())(t64(X))
    close(H, A + A.T)


def test_hessian_two_arguments() -> None:
    H = cf.hessian(lambda x, y: (x * x * y).sum(), argnums=(0, 1))(t64(X), t64(Y))
    close(H[0][0], np.diag(2 * Y))
    close(H[0][1], np.diag(2 * X))
    close(H[1][0], np.diag(2 * X))
    close(H[1][1], np.zeros((3, 3)))


def test_hvp() -> None:
    hv = cf.hvp(f_scalar, (t64(X),), (t64(V),))
    close(hv[0], d2f_scalar(X) @ V)
    close(cf.hvp(f_scalar, t64(X), t64(V)), d2f_scalar(X) @ V)
    hx, hy = cf.hvp(lambda x, y: (x * x * y).sum(), (X, Y), (V, V))
    close(hx, 2 * Y * V + 2 * X * V)
    close(hy, 2 * X * V)


def test_transforms_do_not_touch_grad_or_mode() -> None:
    x = t64(X, requires_grad=True)
    cf.hessian(f_scalar)(x)
    cf.jacobian(lambda x: x.exp())(x)
    cf.hvp(f_scalar, (x,), (t64(V),))
    cf.vjp(lambda x: x.exp(), x)[1](t64(V))
    assert x.grad is None and cr.is_grad_enabled()


def test_jacobian_of_grad_of_grad_third_order() -> None:
    d3 = cf.grad(cf.grad(cf.grad(lambda x: x ** 4)))(t64(1.5))
    assert d3.item() == pytest.approx(24 * 1.5)


# --- chainrule.autograd.functional: analytic --------------------------------------------------


def test_functional_jacobian_structures() -> None:
    x, y = t64(X), t64(Y)
    J = AF.jacobian(lambda a: a.exp(), x)
    close(J, np.diag(np.exp(X)))
    J = AF.jacobian(lambda a, b: a * b, (x, y))
    assert isinstance(J, tuple) and len(J) == 2
    close(J[0], np.diag(Y))
    J = AF.jacobian(lambda a: (a * 2, a.sum()), x)
    assert isinstance(J, tuple) and J[1].shape == (3,)
    J = AF.jacobian(lambda a, b: (a * b, a.sum()), (x, y))
    assert isinstance(J[0], tuple) and J[1][1].shape == (3,)
    close(J[1][1], np.zeros(3))
    assert not J[0][0].requires_grad


def test_functional_strict() -> None:
    with pytest.raises(RuntimeError, match="does not depend on input 1"):
        AF.jacobian(lambda a, b: a * 2, (t64(X), t64(Y)), strict=True)
    with pytest.raises(RuntimeError, match="strict"):
        AF.vjp(lambda a, b: (a * 2).sum(), (t64(X), t64(Y)), strict=True)


def test_functional_create_graph() -> None:
    x = t64(X, requires_grad=True)
    J = AF.jacobian(lambda a: a ** 3, x, create_graph=True)
    assert J.requires_grad
    J.sum().backward()
    close(x.grad, 6 * X)


def test_functional_vjp_jvp() -> None:
    out, v = AF.vjp(lambda a: a.exp() * 2, t64(X), t64(V))
    close(out, 2 * np.exp(X))
    close(v, 2 * np.exp(X) * V)
    out, v = AF.vjp(lambda a: (a * a).sum(), t64(X))  # v may be None for a scalar output
    close(v, 2 * X)
    with pytest.raises(RuntimeError, match="v can be None only"):
        AF.vjp(lambda a: a * 2, t64(X))
    with pytest.raises(RuntimeError, match="shape"):
        AF.vjp(lambda a: a * 2, t64(X), t64(np.ones(2)))
    M = RNG.standard_normal((2, 3))
    out, jv = AF.jvp(lambda a: (t64(M) @ a).sin(), t64(X), t64(V))
    close(jv, np.cos(M @ X) * (M @ V))
    out, jv = AF.jvp(lambda a, b: a * b, (t64(X), t64(Y)), (t64(V), t64(V)))
    close(jv, V * Y + X * V)


def test_functional_hessian_hvp_vhp() -> None:
    H = AF.hessian(f_scalar, t64(X))
    close(H, d2f_scalar(X))
    out, hv = AF.hvp(f_scalar, t64(X), t64(V))
    close(hv, d2f_scalar(X) @ V)
    assert out.item() == pytest.approx(float((np.sin(X) * np.exp(X)).sum()))
    out, vh = AF.vhp(f_scalar, t64(X), t64(V))
    close(vh, V @ d2f_scalar(X))
    H = AF.hessian(lambda a, b: (a * a * b).sum(), (t64(X), t64(Y)))
    close(H[0][1], np.diag(2 * X))
    close(H[1][1], np.zeros((3, 3)))
    with pytest.raises(RuntimeError, match="single-element"):
        AF.hessian(lambda a: a * 2, t64(X))


def test_functional_accessible_as_attribute() -> None:
    assert cr.autograd.functional.jacobian is AF.jacobian
    assert cr.func.hessian is cf.hessian


# --- against PyTorch ----------------------------------------------------------------------------



CASES = {
    "sin_exp": (lambda x: (x.sin() * x.exp()).sum(), lambda x: (x.sin() * x.exp()).sum()),
    "tanh_quad": (lambda x: (x.tanh() * x * x).sum(), lambda x: (x.tanh() * x * x).sum()),
    "sigmoid_div": (lambda x: (x.sigmoid() / (1.0 + x * x)).mean(),
                    lambda x: (x.sigmoid() / (1.0 + x * x)).mean()),
    "log_sqrt": (lambda x: ((x * x + 1.0).log() * (x * x + 2.0).sqrt()).sum(),
                 lambda x: ((x * x + 1.0).log() * (x * x + 2.0).sqrt()).sum()),
}


def tt(a):
    return torch.tensor(np.asarray(a, dtype=np.float64))


# torch.func's first use imports TorchScript, which warns that it is deprecated
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("name", sorted(CASES))
def test_against_torch_func(name: str) -> None:
    fc, ft = CASES[name]
    close(cf.grad(fc)(t64(X)), torch.func.grad(ft)(tt(X)).numpy())
    close(cf.hessian(fc)(t64(X)), torch.func.hessian(ft)(tt(X)).numpy())
    close(cf.jacobian(lambda x: x * fc(x))(t64(X)),
          torch.func.jacrev(lambda x: x * ft(x))(tt(X)).numpy())
    _, vjp_c = cf.vjp(lambda x: x.exp() * fc(x), t64(X))
    _, vjp_t = torch.func.vjp(lambda x: x.exp() * ft(x), tt(X))
    close(vjp_c(t64(V))[0], vjp_t(tt(V))[0].numpy())
    hv_t = torch.func.jvp(torch.func.grad(ft), (tt(X),), (tt(V),))[1]
    close(cf.hvp(fc, (t64(X),), (t64(V),))[0], hv_t.numpy())


@pytest.mark.parametrize("name", sorted(CASES))
def test_against_torch_autograd_functional(name: str) -> None:
    fc, ft = CASES[name]
    TF = torch.autograd.functional
    close(AF.hessian(fc, t64(X)), TF.hessian(ft, tt(X)).numpy())
    close(AF.hvp(fc, t64(X), t64(V))[1], TF.hvp(ft, tt(X), tt(V))[1].numpy())
    close(AF.vhp(fc, t64(X), t64(V))[1], TF.vhp(ft, tt(X), tt(V))[1].numpy())

    def gc(x):
        return x.exp() * fc(x)

    def gt(x):
        return x.exp() * ft(x)

    close(AF.jacobian(gc, t64(X)), TF.jacobian(gt, tt(X)).numpy())
    close(AF.vjp(gc, t64(X), t64(V))[1], TF.vjp(gt, tt(X), tt(V))[1].numpy())
    close(AF.jvp(gc, t64(X), t64(V))[1], TF.jvp(gt, tt(X), tt(V))[1].numpy())


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_against_torch_two_inputs() -> None:
    def fc(a, b):
        return (a.sin() * b.exp() + a * a * b).sum()

    TF = torch.autograd.functional
    Hc = AF.hessian(fc, (t64(X), t64(Y)))
    Ht = TF.hessian(fc, (tt(X), tt(Y)))
    for i in range(2):
        for j in range(2):
            close(Hc[i][j], Ht[i][j].numpy())
    gc = cf.grad(fc, argnums=(0, 1))(t64(X), t64(Y))
    gt = torch.func.grad(fc, argnums=(0, 1))(tt(X), tt(Y))
    for a, b in zip(gc, gt):
        close(a, b.numpy())
    Jc = AF.jacobian(lambda a, b: (a * b, b.exp()), (t64(X), t64(Y)))
    Jt = TF.jacobian(lambda a, b: (a * b, b.exp()), (tt(X), tt(Y)))
    for i in range(2):
        for j in range(2):
            close(Jc[i][j], Jt[i][j].numpy())
