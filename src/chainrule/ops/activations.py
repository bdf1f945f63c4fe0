"""Piecewise activations whose branch is chosen by comparing the input with a constant:
``hardshrink``, ``threshold`` and ``prelu_slopes`` (x or w * x: PReLU, RReLU).

They are primitives rather than compositions because a composition would compute the branch
mask outside the ops (``where(|x| > lambd, x, 0)`` with a mask made from the input's array),
and ``cr.compile`` replays only what the ops compute: the mask would be frozen at the recorded
step (PReLU's old ``where(x._data > 0, ...)`` did: under ``cr.compile`` its loss drifted from
eager's). Inside a primitive the forward recomputes it on every call. The other activations of
``torch.nn.functional`` that chainrule composes (selu, celu, mish, hardswish, softshrink, ...)
use only primitives whose masks live inside them (``clamp``, ``relu``, ``elu``).
"""

from __future__ import annotations

from typing import Any

from chainrule.ops import samples as S
from chainrule.ops.registry import primitive


def _away_from(*kinks: float) -> S.Domain:
    """Normal values times 2, none within 0.1 of a kink (moved 0.2 off it)."""
    def domain(rng: S.Rng, shape: tuple[int, ...]) -> Any:
        x = S.array(rng.standard_normal(shape) * 2.0)
        for k in kinks:
            near = abs(x - k) < 0.1
            x[near] = k + (x[near] >= k) * 0.4 - 0.2
        return x
    return domain


@primitive("hardshrink", torch=lambda torch, x, lambd: torch.nn.functional.hardshrink(x, lambd),
           kinks=True, formula="d hardshrink(x)/dx = 1 if |x| > lambd else 0",
           samples=S.unary(_away_from(-0.5, 0.5, -0.2, 0.2), params=((0.5,), (0.2,))),
           method=True)
def hardshrink(xp, x, lambd=0.5):
    """x where |x| > lambd, else 0."""
    return xp.where(xp.abs(x) > lambd, x, 0.0).astype(x.dtype, copy=False)


@hardshrink.defvjp
def _(c, g):
    x = c.x[0]
    lambd = c.p[0]
    return (c.xp.where(c.xp.abs(x) > lambd, g, 0.0),)


@primitive("threshold",
           torch=lambda torch, x, th, value: torch.nn.functional.threshold(x, th, value),
           kinks=True, formula="d threshold(x, th, value)/dx = 1 if x > th else 0",
           samples=S.unary(_away_from(0.0, 0.3), params=((0.0, 0.0), (0.3, -1.5))))
def threshold(xp, x, threshold, value):
    """x where x > threshold, else ``value``."""
    return xp.where(x > threshold, x, value).astype(x.dtype, copy=False)


@threshold.defvjp
def _(c, g):
    return (c.xp.where(c.x[0] > c.p[0], g, 0.0),)


def _prelu_samples(rng: S.Rng):
    for sx, sw in (((2, 3), (3,)), ((2, 3, 4), (3, 1)), ((), ()), ((4,), (1,)), ((2, 3), (2, 3))):
        yield S.Sample([S.away_from_zero(rng, sx), rng.uniform(0.05, 0.5, sw)])


@primitive("prelu_slopes", nin=2, torch=lambda torch, x, w: torch.where(x > 0, x, w * x),
           kinks=True, formula="y = x if x > 0 else w x;  dy/dx = 1 or w;  dy/dw = 0 or x",
           samples=_prelu_samples, export=False)
def prelu_slopes(xp, x, w):
    """x where x > 0, else w * x, with slopes ``w`` broadcast against x (PReLU's learnt
    slopes, RReLU's drawn ones). At x = 0 the gradient is w, as PyTorch's."""
    return xp.where(x > 0, x, w * x)


@prelu_slopes.defvjp
def _(c, g):
    x, w = c.x
    xp = c.xp
    pos = x > 0
    gx = xp.where(pos, g, g * w) if c.need[0] else None
    gw = xp.where(pos, 0.0, g * x) if c.need[1] else None
    return gx, gw
