"""User-defined ops: cr.autograd.Function, as PyTorch scripts write them."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd import Function, gradcheck, gradgradcheck, once_differentiable


def t64(a, requires_grad=True) -> cr.Tensor:
    return cr.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


class MyExp(Function):
    @staticmethod
    def forward(ctx, x):
        y = x.exp()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return grad_output * y


class MySquare(Function):
    """Saves its input."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * x * g


class ScaledMul(Function):
    """Two tensors and a non-tensor argument."""

    @staticmethod
    def forward(ctx, a, b, alpha):
        ctx.save_for_backward(a, b)
        ctx.alpha = alpha
        ctx.seen_needs = ctx.needs_input_grad
        return a * b * alpha

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ga = g * b * ctx.alpha if ctx.needs_input_grad[0] else None
        gb = g * a * ctx.alpha if ctx.needs_input_grad[1] else None
        return ga, gb, None


class SplitSquare(Function):
    """Two outputs: the first k elements doubled, the rest squared."""

    calls = 0

    @staticmethod
    def forward(ctx, x, k):
        ctx.k = k
        ctx.save_for_backward(x)
        return x[:k] * 2, x[k:] * x[k:]

    @staticmethod
    def backward(ctx, ga, gb):
        SplitSquare.calls += 1
        (x,) = ctx.saved_tensors
        return cr.cat([ga * 2, gb * 2 * x[ctx.k:]]), None


X = np.array([0.3, -0.7, 1.2, 0.5])


def test_single_output_forward_and_backward() -> None:
    x = t64(X)
    y = MyExp.apply(x)
    assert repr(y.grad_fn) == "<MyExpBackward>" and y.grad_fn.name == "MyExp"
    np.testing.assert_allclose(y.detach().numpy(), np.exp(X))
    (y * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp(X))


@pytest.mark.parametrize("fn", [MyExp, MySquare], ids=lambda f: f.__name__)
def test_gradcheck_and_gradgradcheck(fn) -> None:
    x = t64(X)
    assert gradcheck(fn.apply, [x])
    assert gradgradcheck(fn.apply, [x])


def test_double_backward_through_saved_output() -> None:
    x = t64(X)
    (g,) = cr.grad(MyExp.apply(x).sum(), x, create_graph=True)
    assert g.requires_grad
    (h,) = cr.grad(g.sum(), x)
    np.testing.assert_allclose(h.numpy(), np.exp(X))


def test_composes_with_registered_ops() -> None:
    x = t64(X)
    w = t64([1.0, 2.0, 3.0, 4.0])

    def f(x, w):
        return (MySquare.apply(x.sin() * w) + MyExp.apply(w)).tanh()

    assert gradcheck(f, [x, w])
    assert gradgradcheck(f, [x, w])


def test_non_tensor_arguments_and_needs_input_grad() -> None:
    a = t64(X)
    b = t64(X[::-1].copy(), requires_grad=False)
    y = ScaledMul.apply(a, b, 3.0)
    assert y.grad_fn.op.name == "ScaledMul"
    y.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), 3 * b.numpy())
    assert b.grad is None
    assert gradcheck(lambda a, b: ScaledMul.apply(a, b, 0.5), [t64(X), t64(X + 1)])
    assert gradgradcheck(lambda a, b: ScaledMul.apply(a, b, 0.5), [t64(X), t64(X + 1)])


def test_needs_input_grad_seen_in_forward() -> None:
    ctxs = []

    class Probe(Function):
        @staticmethod
        def forward(ctx, a, b, c):
            ctxs.append(ctx.needs_input_grad)
            return a * 1.0

        @staticmethod
        def backward(ctx, g):
            return g, None, None

    Probe.apply(t64(X), t64(X, requires_grad=False), 5)
    assert ctxs[-1] == (True, False, False)
    with cr.no_grad():
        Probe.apply(t64(X), t64(X), 5)
    assert ctxs[-1] == (False, False, False)


def test_forward_runs_without_recording() -> None:
    seen = []

    class Check(Function):
        @staticmethod
        def forward(ctx, x):
            y = x * 2
            seen.append((cr.is_grad_enabled(), y.grad_fn))
            return y

        @staticmethod
        def backward(ctx, g):
            return g * 2

    out = Check.apply(t64(X))
    assert seen == [(False, None)]
    assert out.grad_fn.name == "Check"
    assert cr.is_grad_enabled()


def test_no_graph_under_no_grad_or_without_grad_inputs() -> None:
    with cr.no_grad():
        y = MyExp.apply(t64(X))
    assert y.grad_fn is None and not y.requires_grad
    y = MyExp.apply(t64(X, requires_grad=False))
    assert y.grad_fn is None


def test_backward_may_return_none() -> None:
    class FirstOnly(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, g):
            return g, None

    a, b = t64(X), t64(X)
    FirstOnly.apply(a, b).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), np.ones(4))
    assert b.grad is None


def test_backward_single_tensor_return_for_single_input() -> None:
    x = t64(X)
    MyExp.apply(x).sum().backward()  # returns a tensor, not a tuple
    assert x.grad is not None


def test_multiple_outputs_one_backward_call() -> None:
    x = t64(X)
    SplitSquare.calls = 0
    a, b = SplitSquare.apply(x, 2)
    assert a.grad_fn is not b.grad_fn
    assert a.grad_fn.next_functions[0][0] is b.grad_fn.next_functions[0][0]
    assert a.grad_fn.next_functions[0][0].name == "SplitSquare"
    (a.sum() * 3 + (b * b).sum()).backward()
    assert SplitSquare.calls == 1
    expected = np.concatenate([[6.0, 6.0], 4 * X[2:] ** 3])
    np.testing.assert_allclose(x.grad.numpy(), expected)


def test_multiple_outputs_only_one_used_gets_zeros() -> None:
    x = t64(X)
    _, b = SplitSquare.apply(x, 2)
    b.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.concatenate([[0.0, 0.0], 2 * X[2:]]))


def test_multiple_outputs_gradcheck_and_gradgradcheck() -> None:
    x = t64(X)
    assert gradcheck(lambda x: SplitSquare.apply(x, 1), [x])
    assert gradgradcheck(lambda x: SplitSquare.apply(x, 3), [x])


def test_multiple_outputs_hooks_and_capture() -> None:
    x = t64(X)
    a, b = SplitSquare.apply(x, 2)
    b.retain_grad()
    seen = []
    a.register_hook(lambda g: seen.append(g.numpy().copy()))
    (a.sum() + (b * 3).sum()).backward()
    np.testing.assert_allclose(seen[0], [1.0, 1.0])
    np.testing.assert_allclose(b.grad.numpy(), [3.0, 3.0])
    a, b = SplitSquare.apply(x, 2)
    (gb,) = cr.grad((a.sum() + (b * b).sum()), b)
    np.testing.assert_allclose(gb.detach().numpy(), 2 * b.detach().numpy())


def test_set_materialize_grads_false_gives_none() -> None:
    got = []

    class Two(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(False)
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, ga, gb):
            got.append((ga is None, gb is None))
            out = 0
            if ga is not None:
                out = out + ga * 2
            if gb is not None:
                out = out + gb * 3
            return out

    x = t64(X)
    _, b = Two.apply(x)
    b.sum().backward()
    assert got == [(True, False)]
    np.testing.assert_allclose(x.grad.numpy(), np.full(4, 3.0))


def test_mark_non_differentiable() -> None:
    got = []

    class SortFn(Function):
        @staticmethod
        def forward(ctx, x):
            idx = np.argsort(x.detach().numpy())
            values = cr.tensor(x.detach().numpy()[idx])
            index = cr.tensor(idx)
            mask = cr.tensor((x.detach().numpy() > 0).astype(np.float64))
            ctx.mark_non_differentiable(mask)
            ctx.idx = idx
            return values, index, mask

        @staticmethod
        def backward(ctx, gv, gi, gm):
            got.append((gi, gm))
            out = np.zeros_like(gv.numpy())
            out[ctx.idx] = gv.numpy()
            return cr.tensor(out)

    x = t64(X)
    v, i, m = SortFn.apply(x)
    assert v.requires_grad
    assert not i.requires_grad and i.dtype == np.int64  # integer outputs: never differentiable
    assert not m.requires_grad and m.grad_fn is None
    np.testing.assert_allclose(v.detach().numpy(), np.sort(X))
    (v * cr.tensor([1.0, 2.0, 3.0, 4.0], dtype=cr.float64)).sum().backward()
    gi, gm = got[0]
    assert gi is not None and gm is not None  # materialised as zeros
    np.testing.assert_array_equal(gm.numpy(), np.zeros(4))
    expected = np.zeros(4)
    expected[np.argsort(X)] = [1.0, 2.0, 3.0, 4.0]
    np.testing.assert_allclose(x.grad.numpy(), expected)


def test_wrong_gradient_shape_names_class_input_and_shapes() -> None:
    class Bad(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b.sum()

        @staticmethod
        def backward(ctx, g):
            return g, g[:2]

    a, b = t64(X), t64(X)
    with pytest.raises(RuntimeError, match=r"Bad\.backward.*shape \(2,\) for input 1.*\(4,\)"):
        Bad.apply(a, b).sum().backward()


def test_broadcastable_gradient_is_summed_back() -> None:
    class Bias(Function):
        @staticmethod
        def forward(ctx, x, b):
            return x + b

        @staticmethod
        def backward(ctx, g):
            return g, g  # g has x's shape (2, 3); b is (3,)

    x = t64(np.ones((2, 3)))
    b = t64(np.ones(3))
    Bias.apply(x, b).sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), [2.0, 2.0, 2.0])


def test_wrong_number_of_gradients() -> None:
    class Few(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(RuntimeError, match=r"Few\.backward returned 1 gradient.*2 argument"):
        Few.apply(t64(X), t64(X)).sum().backward()

    class Extra(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2, None  # extra trailing None is accepted, as in PyTorch

    x = t64(X)
    Extra.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(4, 2.0))


def test_gradient_for_non_tensor_argument_raises() -> None:
    class Scale(Function):
        @staticmethod
        def forward(ctx, x, k):
            return x * k

        @staticmethod
        def backward(ctx, g):
            return g * 2, g

    with pytest.raises(RuntimeError, match=r"Scale\.backward.*argument 1.*not a tensor \(float\)"):
        Scale.apply(t64(X), 2.0).sum().backward()


def test_gradient_dtype_follows_input() -> None:
    class Up(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return cr.tensor(g.numpy().astype(np.float64) * 2)

    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (Up.apply(x) * 1.0).sum().backward()
    assert x.grad.dtype == np.float32


def test_numpy_backward_first_order_and_once_differentiable() -> None:
    class NpTanh(Function):
        @staticmethod
        def forward(ctx, x):
            y = cr.tensor(np.tanh(x.detach().numpy()))
            ctx.save_for_backward(y)
            return y

        @staticmethod
        @once_differentiable
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return cr.tensor(g.numpy() * (1 - y.numpy() ** 2))

    x = t64(X)
    assert gradcheck(NpTanh.apply, [x])
    assert NpTanh._op.order == 1
    with pytest.raises(RuntimeError, match="'NpTanh' supports first-order gradients only"):
        cr.grad(NpTanh.apply(x).sum(), x, create_graph=True)


def test_inplace_change_to_saved_tensor_raises() -> None:
    x = t64(X)
    y = MySquare.apply(x)
    with cr.no_grad():
        x.add_(1)
    with pytest.raises(RuntimeError, match=r"'MySquare'.*modified in place"):
        y.sum().backward()
    x2 = t64(X)
    y2 = MyExp.apply(x2)
    with cr.no_grad():
        y2.mul_(2)  # the saved output itself
    with pytest.raises(RuntimeError, match="'MyExp'"):
        y2.sum().backward()


def test_retain_graph_and_freeing() -> None:
    x = t64(X)
    y = MyExp.apply(x).sum()
    node = y.grad_fn.next[0]
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp(X))
    assert node.x is None and node.res is None  # ctx and saved tensors released
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_unsaved_inputs_are_not_kept() -> None:
    big = t64(np.ones(1000))
    y = ScaledMul.apply(big, t64(np.ones(1000)), 1.0)
    assert y.grad_fn.x[0] is big.detach().numpy()  # saved: kept

    class Twice(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    z = Twice.apply(big)
    assert z.grad_fn.x[0].strides == (0,)  # not saved: a zero-memory placeholder of its shape
    assert z.grad_fn.x[0].shape == big.shape
    z = MyExp.apply(big)  # a saved output is recomputed from the inputs under create_graph
    assert z.grad_fn.x[0] is big.detach().numpy()


def test_setup_context_style() -> None:
    class Cube(Function):
        @staticmethod
        def forward(x):
            return x * x * x

        @staticmethod
        def setup_context(ctx, inputs, output):
            (x,) = inputs
            ctx.save_for_backward(x)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x * x * g

    x = t64(X)
    assert gradcheck(Cube.apply, [x])
    assert gradgradcheck(Cube.apply, [x])


def test_vjp_alias_for_backward() -> None:
    class Double(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def vjp(ctx, g):
            return g * 2

    x = t64(X)
    Double.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(4, 2.0))


def test_identity_backward_does_not_share_gradient_memory() -> None:
    class Add(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, g):
            return g, g

    a, b = t64(X), t64(X)
    Add.apply(a, b).sum().backward()
    a.grad.mul_(10)
    np.testing.assert_allclose(b.grad.numpy(), np.ones(4))


def test_forward_returning_its_input() -> None:
    class Ident(Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return g

    x = t64(X)
    y = Ident.apply(x)
    assert y is not x and y.grad_fn.name == "Ident" and x.is_leaf
    (y * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(4, 2.0))


def test_calling_an_instance_raises() -> None:
    with pytest.raises(RuntimeError, match=r"MyExp\.apply"):
        MyExp()(t64(X))


def test_save_for_backward_only_takes_tensors() -> None:
    class Saves(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x, None, 3.0)
            return x

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(TypeError, match="argument 2 is a float"):
        Saves.apply(t64(X))


def test_save_none_and_intermediate() -> None:
    class Inter(Function):
        @staticmethod
        def forward(ctx, x):
            c = x.cos()
            ctx.save_for_backward(None, c)
            return x.sin()

        @staticmethod
        def backward(ctx, g):
            none, c = ctx.saved_tensors
            assert none is None
            return g * c

    x = t64(X)
    assert gradcheck(Inter.apply, [x])


def test_function_under_anomaly_mode_names_the_class() -> None:
    class Boom(Function):
        @staticmethod
        def forward(ctx, x):
            return x * float("nan")

        @staticmethod
        def backward(ctx, g):
            return g

    with cr.autograd.detect_anomaly(), pytest.raises(RuntimeError, match="'Boom' produced"):
        Boom.apply(t64(X))


def test_torch_parity_of_a_custom_function() -> None:
    torch = pytest.importorskip("torch")

    class TExp(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * y

    xt = torch.tensor(X, requires_grad=True)
    (gt,) = torch.autograd.grad((TExp.apply(xt) * xt).sum(), xt, create_graph=True)
    (ht,) = torch.autograd.grad((gt * gt).sum(), xt)
    x = t64(X)
    (g,) = cr.grad((MyExp.apply(x) * x).sum(), x, create_graph=True)
    (h,) = cr.grad((g * g).sum(), x)
    np.testing.assert_allclose(g.detach().numpy(), gt.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(h.numpy(), ht.numpy(), rtol=1e-12)
