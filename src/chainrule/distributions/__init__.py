"""Probability distributions with PyTorch's names and semantics (``torch.distributions``).

Continuous: ``Normal``, ``MultivariateNormal``, ``Uniform``, ``Exponential``, ``Laplace``,
``Cauchy``, ``StudentT``, ``Gamma``, ``Chi2``, ``Beta``, ``Dirichlet``, ``LogNormal``,
``Gumbel``, ``HalfNormal``, ``RelaxedBernoulli``, ``RelaxedOneHotCategorical``. Discrete:
``Bernoulli``, ``Categorical``, ``OneHotCategorical``, ``Binomial``, ``Geometric``, ``Poisson``.
Built from others: ``Independent``, ``MixtureSameFamily``, ``TransformedDistribution`` with the
``transforms``. Each has ``batch_shape``/``event_shape``, ``sample``, ``log_prob``,
``entropy``, ``mean``, ``mode``, ``variance``, ``expand`` (and ``rsample``, ``cdf``, ``icdf``
where PyTorch has them); ``rsample`` is differentiable in the parameters through chainrule's ops
(Gamma, Beta, Dirichlet, Chi2 and StudentT through the implicit reparameterisation gradient).
``constraints`` and ``validate_args`` check parameters and values with PyTorch's messages;
``kl_divergence`` has the closed forms PyTorch registers among these, ``register_kl`` adds more.
Samples come from chainrule's generator: ``cr.manual_seed`` makes them reproducible.
See docs/distributions.md.
"""

from chainrule.distributions import constraints, transforms
from chainrule.distributions.bernoulli import Bernoulli
from chainrule.distributions.categorical import Categorical, OneHotCategorical
from chainrule.distributions.composite import Independent, MixtureSameFamily
from chainrule.distributions.discrete import Binomial, Geometric, Poisson
from chainrule.distributions.distribution import Distribution
from chainrule.distributions.gamma import Beta, Chi2, Dirichlet, Gamma
from chainrule.distributions.kl import kl_divergence, register_kl
from chainrule.distributions.location_scale import Cauchy, Laplace, StudentT
from chainrule.distributions.multivariate_normal import MultivariateNormal
from chainrule.distributions.normal import Normal
from chainrule.distributions.transformed import (
    ExpRelaxedCategorical,
    Gumbel,
    HalfNormal,
    LogitRelaxedBernoulli,
    LogNormal,
    RelaxedBernoulli,
    RelaxedOneHotCategorical,
    TransformedDistribution,
)
from chainrule.distributions.transforms import (
    AbsTransform,
    AffineTransform,
    ComposeTransform,
    ExpTransform,
    IndependentTransform,
    PowerTransform,
    SigmoidTransform,
    SoftplusTransform,
    TanhTransform,
    Transform,
)
from chainrule.distributions.uniform import Exponential, Uniform

__all__ = [
    "AbsTransform", "AffineTransform", "Bernoulli", "Beta", "Binomial", "Categorical", "Cauchy",
    "Chi2", "ComposeTransform", "Dirichlet", "Distribution", "ExpRelaxedCategorical",
    "ExpTransform", "Exponential", "Gamma", "Geometric", "Gumbel", "HalfNormal", "Independent",
    "IndependentTransform", "Laplace", "LogNormal", "LogitRelaxedBernoulli",
    "MixtureSameFamily", "MultivariateNormal", "Normal", "OneHotCategorical", "Poisson",
    "PowerTransform", "RelaxedBernoulli", "RelaxedOneHotCategorical", "SigmoidTransform",
    "SoftplusTransform", "StudentT", "TanhTransform", "Transform", "TransformedDistribution",
    "Uniform", "constraints", "kl_divergence", "register_kl", "transforms",
]
