"""``kl_divergence(p, q)``: KL(p || q) for the pairs with a closed form (as
``torch.distributions.kl_divergence``), and ``register_kl`` to add more."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.distributions.bernoulli import Bernoulli
from chainrule.distributions.categorical import Categorical
from chainrule.distributions.distribution import Distribution
from chainrule.distributions.normal import Normal
from chainrule.nn.functional import softplus

__all__ = ["kl_divergence", "register_kl"]

_KL: dict[tuple[type, type], Callable[[Any, Any], Tensor]] = {}


def register_kl(type_p: type, type_q: type) -> Callable[[Callable[..., Tensor]],
                                                        Callable[..., Tensor]]:
    """Decorator: register ``fn(p, q)`` as KL(p || q) for ``type_p`` and ``type_q``."""
    def wrap(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
        _KL[(type_p, type_q)] = fn
        return fn
    return wrap


def kl_divergence(p: Distribution, q: Distribution) -> Tensor:
    """KL(p || q), elementwise over the batch shape (differentiable in both parameters)."""
    for tp in type(p).__mro__:
        for tq in type(q).__mro__:
            fn = _KL.get((tp, tq))
            if fn is not None:
                return fn(p, q)
    known = ", ".join(f"({a.__name__}, {b.__name__})" for a, b in _KL)
    raise NotImplementedError(f"kl_divergence: no closed form registered for "
                              f"({type(p).__name__}, {type(q).__name__}); known: {known}")


@register_kl(Normal, Normal)
def _kl_normal_normal(p: Normal, q: Normal) -> Tensor:
    var_ratio = (p.scale / q.scale) ** 2
    t1 = ((p.loc - q.loc) / q.scale) ** 2
    return 0.5 * (var_ratio + t1 - 1 - var_ratio.log())


@register_kl(Categorical, Categorical)
def _kl_categorical_categorical(p: Categorical, q: Categorical) -> Tensor:
    t = p.probs * (p.logits - q.logits)
    t = t.masked_fill(q.probs.detach()._data == 0, math.inf)
    t = t.masked_fill(p.probs.detach()._data == 0, 0.0)
    return t.sum(-1)


@register_kl(Bernoulli, Bernoulli)
def _kl_bernoulli_bernoulli(p: Bernoulli, q: Bernoulli) -> Tensor:
    t1 = p.probs * (softplus(-q.logits) - softplus(-p.logits))
    t2 = (1 - p.probs) * (softplus(q.logits) - softplus(p.logits))
    return t1 + t2
