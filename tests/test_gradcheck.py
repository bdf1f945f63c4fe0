"""gradcheck and gradgradcheck must reject wrong derivatives (issue 13 item 21): the whole op
sweep rests on them, so a gradcheck that never failed would leave every gradient unchecked."""

from __future__ import annotations

import pytest

import chainrule as cr
from chainrule.autograd import Function, gradcheck, gradgradcheck
from chainrule.autograd.gradcheck import GradcheckError


class Cube(Function):
    """x**3 with a correct backward: 3 x^2 g (differentiable again)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * x * x * g


class CubeWrongFirst(Cube):
    """Off by the exponent: 2 x^2 g instead of 3 x^2 g."""

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * x * x * g


class CubeWrongSecond(Cube):
    """Right to first order, but x is detached inside backward, so d(backward)/dx is 0 instead
    of 6 x g: only a second-order check can see it."""

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        xd = x.detach()
        return 3 * xd * xd * g


def x64() -> cr.Tensor:
    return cr.tensor([0.5, -1.25, 2.0], dtype=cr.float64, requires_grad=True)


def test_a_correct_gradient_passes_both_checks() -> None:
    assert gradcheck(Cube.apply, [x64()])
    assert gradgradcheck(Cube.apply, [x64()])


def test_a_wrong_first_derivative_is_rejected_with_where_and_by_how_much() -> None:
    with pytest.raises(GradcheckError) as e:
        gradcheck(CubeWrongFirst.apply, [x64()])
    msg = str(e.value)
    # element (0,): numerical 3 * 0.5^2 = 0.75, analytical 2 * 0.5^2 = 0.5
    assert msg.startswith("gradcheck: Jacobian mismatch for output 0 with respect to input 0 "
                          "(shape (3,)) at input element (0,), output element 0: numerical "
                          "0.75"), msg
    assert "analytical 0.5;" in msg and "3 of 9 entries differ" in msg, msg
    assert gradcheck(CubeWrongFirst.apply, [x64()], raise_exception=False) is False


def test_a_wrong_second_derivative_passes_gradcheck_but_not_gradgradcheck() -> None:
    assert gradcheck(CubeWrongSecond.apply, [x64()])  # the first derivative is right
    with pytest.raises(GradcheckError, match=r"Jacobian mismatch for output 0 with respect to "
                       r"input 0 \(shape \(3,\)\) at input element \(0,\)") as e:
        gradgradcheck(CubeWrongSecond.apply, [x64()])
    assert "analytical 0;" in str(e.value), str(e.value)
    assert gradgradcheck(CubeWrongSecond.apply, [x64()], raise_exception=False) is False


def test_a_wrong_gradient_shape_is_named() -> None:
    class Bad(Cube):
        @staticmethod
        def backward(ctx, g):
            return g.sum()

    with pytest.raises((GradcheckError, RuntimeError, ValueError), match="shape"):
        gradcheck(Bad.apply, [x64()])


def test_a_small_error_inside_the_tolerance_passes_and_outside_fails() -> None:
    """The tolerances mean what they say: |a - n| <= atol + rtol |n|."""
    class Scaled(Cube):
        scale = 1.0

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x * x * g * Scaled.scale

    Scaled.scale = 1 + 1e-5
    assert gradcheck(Scaled.apply, [x64()], atol=0.0, rtol=1e-3)
    Scaled.scale = 1 + 1e-2
    assert not gradcheck(Scaled.apply, [x64()], atol=0.0, rtol=1e-3, raise_exception=False)
