"""Probability distributions with PyTorch's names (``torch.distributions``): ``Normal``,
``Categorical`` and ``Bernoulli``, each with ``sample``, ``log_prob``, ``entropy``, ``mean``,
``stddev``/``variance`` and (``Normal``) the reparameterised, differentiable ``rsample``;
arguments validated as PyTorch validates them."""

from chainrule.distributions import bernoulli, categorical, kl, normal
from chainrule.distributions.bernoulli import Bernoulli
from chainrule.distributions.categorical import Categorical
from chainrule.distributions.distribution import Distribution
from chainrule.distributions.kl import kl_divergence, register_kl
from chainrule.distributions.normal import Normal

__all__ = ["Bernoulli", "Categorical", "Distribution", "Normal", "bernoulli", "categorical",
           "kl_divergence", "normal", "register_kl"]
