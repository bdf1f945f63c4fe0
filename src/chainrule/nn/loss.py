"""Loss modules (``torch.nn``'s ``*Loss`` classes): each stores its options and calls the
functional loss in ``forward``. Per-class weights are registered as buffers, so ``.to()``
moves them and ``state_dict()`` saves them, as in PyTorch."""

from __future__ import annotations

from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.nn import functional as F
from chainrule.nn.functional.loss import _legacy_reduction
from chainrule.nn.module import Module
from chainrule.nn.samples import Array, Generator, ModuleSample, away_from, integers

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "CTCLoss",
    "CosineEmbeddingLoss",
    "CosineSimilarity",
    "CrossEntropyLoss",
    "GaussianNLLLoss",
    "HingeEmbeddingLoss",
    "HuberLoss",
    "KLDivLoss",
    "L1Loss",
    "MSELoss",
    "MarginRankingLoss",
    "MultiLabelSoftMarginLoss",
    "MultiMarginLoss",
    "NLLLoss",
    "PairwiseDistance",
    "PoissonNLLLoss",
    "SmoothL1Loss",
    "SoftMarginLoss",
    "TripletMarginLoss",
]


def _shifted(rng: Generator, shape: tuple[int, ...],
             kinks: tuple[float, ...]) -> tuple[Array, Array]:
    """(input, target) whose differences stay clear of the loss's kinks."""
    target = rng.standard_normal(shape)
    return target + away_from(rng, shape, kinks, 1.0), target


def _signs(rng: Generator, shape: tuple[int, ...]) -> Array:
    """Targets in {1, -1} (a floating array, as PyTorch takes them)."""
    return rng.choice([-1.0, 1.0], shape)


class _Loss(Module):
    """Base of the losses: holds ``reduction`` (folding in the deprecated ``size_average`` and
    ``reduce`` arguments as PyTorch does)."""

    reduction: str

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean") -> None:
        super().__init__()
        if size_average is not None or reduce is not None:
            self.reduction = _legacy_reduction(size_average, reduce)
        else:
            self.reduction = reduction


class _WeightedLoss(_Loss):
    """A loss with an optional per-class ``weight`` buffer."""

    weight: Tensor | None

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)


class L1Loss(_Loss):
    """Mean absolute error ``|input - target|`` (see ``nn.functional.l1_loss``)."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(inputs=_shifted(rng, (3, 4), (0.0,)))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.l1_loss(input, target, reduction=self.reduction)


class MSELoss(_Loss):
    """Mean squared error ``(input - target)^2`` (see ``nn.functional.mse_loss``)."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(inputs=(rng.standard_normal((3, 4)), rng.standard_normal((3, 4))))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)


class HuberLoss(_Loss):
    """Quadratic for ``|input - target| < delta``, linear beyond (see
    ``nn.functional.huber_loss``)."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(kwargs={"delta": 0.8}, inputs=_shifted(rng, (3, 4), (-0.8, 0.8)))

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        if not isinstance(delta, (float, int)):
            raise TypeError(f"delta must be a float or int, got: {type(delta)}")
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class SmoothL1Loss(_Loss):
    """Quadratic for ``|input - target| < beta`` (scaled by 1/beta), linear beyond (see
    ``nn.functional.smooth_l1_loss``)."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(kwargs={"beta": 0.5}, inputs=_shifted(rng, (3, 4), (-0.5, 0.5)))

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of class indices under log-probabilities (see
    ``nn.functional.nll_loss``)."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(kwargs={"weight": rng.uniform(0.5, 1.5, 4)},
                            inputs=(rng.standard_normal((3, 4)), integers([0, 3, 1])))

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 ignore_index: int = -100, reduce: bool | None = None,
                 reduction: str = "mean") -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class CrossEntropyLoss(_WeightedLoss):
    """Cross-entropy of logits against class indices or class probabilities, with class
    weights, ``ignore_index`` and label smoothing (see ``nn.functional.cross_entropy``)."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(kwargs={"weight": rng.uniform(0.5, 1.5, 4), "label_smoothing": 0.1},
                            inputs=(rng.standard_normal((3, 4)), integers([0, 3, 1])))

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 ignore_index: int = -100, reduce: bool | None = None,
                 reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(input, target, weight=self.weight,
                               ignore_index=self.ignore_index, reduction=self.reduction,
                               label_smoothing=self.label_smoothing)


class CTCLoss(_Loss):
    """Connectionist temporal classification loss of (T, N, C) log-probabilities against
    unaligned label sequences (see ``nn.functional.ctc_loss``): ``loss(log_probs, targets,
    input_lengths, target_lengths)``."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        # the inputs are logits and ``call`` applies log_softmax first, as PyTorch's docs ask:
        # with it in the graph PyTorch's gradient is the true one (nn.functional.ctc_loss), so
        # parity holds on the logits; targets padded (N, S), lengths per item
        return ModuleSample(kwargs={"blank": 0, "reduction": "mean"},
                            inputs=(rng.standard_normal((4, 2, 3)), integers([[1, 2], [2, 0]]),
                                    integers([4, 3]), integers([2, 1])),
                            call=lambda m, x, *rest: m(x.log_softmax(-1), *rest))

    def __init__(self, blank: int = 0, reduction: str = "mean",
                 zero_infinity: bool = False) -> None:
        super().__init__(reduction=reduction)
        self.blank = blank
        self.zero_infinity = zero_infinity

    def forward(self, log_probs: Tensor, targets: Tensor, input_lengths: Any,
                target_lengths: Any) -> Tensor:
        return F.ctc_loss(log_probs, targets, input_lengths, target_lengths, self.blank,
                          self.reduction, self.zero_infinity)


class BCELoss(_WeightedLoss):
    """Binary cross-entropy of probabilities (see ``nn.functional.binary_cross_entropy``)."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(kwargs={"weight": rng.uniform(0.5, 1.5, 4)},
                            inputs=(rng.uniform(0.1, 0.9, (3, 4)), rng.uniform(0, 1, (3, 4))))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy(input, target, weight=self.weight,
                                      reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid + binary cross-entropy, numerically stable (see
    ``nn.functional.binary_cross_entropy_with_logits``)."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(kwargs={"pos_weight": rng.uniform(0.5, 1.5, 4)},
                            inputs=(rng.standard_normal((3, 4)), rng.uniform(0, 1, (3, 4))))

    weight: Tensor | None
    pos_weight: Tensor | None

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean",
                 pos_weight: Tensor | None = None) -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(input, target, self.weight,
                                                  pos_weight=self.pos_weight,
                                                  reduction=self.reduction)


class KLDivLoss(_Loss):
    """Kullback-Leibler divergence with log-probability inputs (see
    ``nn.functional.kl_div``); use ``reduction='batchmean'`` for the true KL per sample."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(kwargs={"reduction": "batchmean"},
                            inputs=(rng.standard_normal((3, 4)), rng.uniform(0.1, 1, (3, 4))))

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean", log_target: bool = False) -> None:
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class MultiMarginLoss(_WeightedLoss):
    """Multi-class hinge loss (see ``nn.functional.multi_margin_loss``)."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(kwargs={"margin": 0.5, "weight": rng.uniform(0.5, 1.5, 4)},
                            inputs=(rng.standard_normal((3, 4)), integers([0, 3, 1])))

    def __init__(self, p: int = 1, margin: float = 1.0, weight: Tensor | None = None,
                 size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean") -> None:
        super().__init__(weight, size_average, reduce, reduction)
        if p not in (1, 2):
            raise ValueError("only p == 1 and p == 2 supported")
        if weight is not None and weight.dim() != 1:
            raise ValueError("MultiMarginLoss: expected weight to be None or 1D tensor, got "
                             f"{weight.dim()}D instead")
        self.p = p
        self.margin = margin

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.multi_margin_loss(input, target, p=self.p, margin=self.margin,
                                   weight=self.weight, reduction=self.reduction)


class HingeEmbeddingLoss(_Loss):
    """Hinge embedding loss for targets in {1, -1} (see
    ``nn.functional.hinge_embedding_loss``)."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(kwargs={"margin": 0.5},
                            inputs=(away_from(rng, (3, 4), (0.5,), 1.0), _signs(rng, (3, 4))),
                            grad=(0,))

    def __init__(self, margin: float = 1.0, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.hinge_embedding_loss(input, target, margin=self.margin,
                                      reduction=self.reduction)


class SoftMarginLoss(_Loss):
    """Two-class logistic loss ``log(1 + exp(-y x))`` (see ``nn.functional.soft_margin_loss``).
    """

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(inputs=(rng.standard_normal((3, 4)), _signs(rng, (3, 4))), grad=(0,))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.soft_margin_loss(input, target, reduction=self.reduction)



class NTXentLoss(Module):
    """SimCLR's contrastive loss on two views ``(z1, z2)`` of a batch (see
    ``nn.functional.nt_xent_loss``); ``temperature`` 0.5 by default."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        # torch.nn has no NT-Xent loss: no parity check
        return ModuleSample(kwargs={"temperature": 0.7}, torch=False,
                            inputs=(rng.standard_normal((3, 2)), rng.standard_normal((3, 2))))

    def __init__(self, temperature: float = 0.5, reduction: str = "mean") -> None:
        super().__init__()
        self.temperature = temperature
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"

    def forward(self, z1: Tensor, z2: Tensor) -> Tensor:
        return F.nt_xent_loss(z1, z2, self.temperature, self.reduction)


class MarginRankingLoss(_Loss):
    """``max(0, -y (x1 - x2) + margin)`` (see ``nn.functional.margin_ranking_loss``)."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        x1 = rng.standard_normal((5,))
        return ModuleSample(kwargs={"margin": 0.2}, grad=(0, 1),
                            inputs=(x1, x1 + away_from(rng, (5,), (0.2, -0.2), 1.0),
                                    _signs(rng, (5,))))

    def __init__(self, margin: float = 0.0, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1: Tensor, input2: Tensor, target: Tensor) -> Tensor:
        return F.margin_ranking_loss(input1, input2, target, self.margin,
                                     reduction=self.reduction)


class CosineEmbeddingLoss(_Loss):
    """``1 - cos`` for similar pairs, ``max(0, cos - margin)`` for dissimilar ones (see
    ``nn.functional.cosine_embedding_loss``)."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(grad=(0, 1), inputs=(rng.standard_normal((4, 3)),
                                                  rng.standard_normal((4, 3)),
                                                  _signs(rng, (4,))), atol=1e-5)

    def __init__(self, margin: float = 0.0, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1: Tensor, input2: Tensor, target: Tensor) -> Tensor:
        return F.cosine_embedding_loss(input1, input2, target, self.margin,
                                       reduction=self.reduction)


class TripletMarginLoss(_Loss):
    """``max(0, margin + d(a, p) - d(a, n))`` (see ``nn.functional.triplet_margin_loss``)."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        a = rng.standard_normal((4, 3))
        return ModuleSample(kwargs={"margin": 0.5}, atol=1e-5,
                            inputs=(a, a + 0.1 * rng.standard_normal((4, 3)),
                                    a + rng.standard_normal((4, 3))))

    def __init__(self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6,
                 swap: bool = False, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.margin, self.p, self.eps, self.swap = margin, p, eps, swap

    def forward(self, anchor: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        return F.triplet_margin_loss(anchor, positive, negative, self.margin, self.p, self.eps,
                                     self.swap, reduction=self.reduction)


class GaussianNLLLoss(_Loss):
    """Gaussian negative log-likelihood with a predicted variance (see
    ``nn.functional.gaussian_nll_loss``)."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(inputs=(rng.standard_normal((3, 2)), rng.standard_normal((3, 2)),
                                    rng.random((3, 2)) + 0.5))

    def __init__(self, *, full: bool = False, eps: float = 1e-6,
                 reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.full, self.eps = full, eps

    def forward(self, input: Tensor, target: Tensor, var: Any) -> Tensor:
        return F.gaussian_nll_loss(input, target, var, self.full, self.eps, self.reduction)


class PoissonNLLLoss(_Loss):
    """Poisson negative log-likelihood (see ``nn.functional.poisson_nll_loss``)."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(grad=(0,), inputs=(rng.standard_normal((3, 2)),
                                                rng.random((3, 2)) * 3))

    def __init__(self, log_input: bool = True, full: bool = False,
                 size_average: bool | None = None, eps: float = 1e-8,
                 reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.log_input, self.full, self.eps = log_input, full, eps

    def forward(self, log_input: Tensor, target: Tensor) -> Tensor:
        return F.poisson_nll_loss(log_input, target, self.log_input, self.full, eps=self.eps,
                                  reduction=self.reduction)


class MultiLabelSoftMarginLoss(_Loss):
    """Multi-label one-versus-all logistic loss (see
    ``nn.functional.multilabel_soft_margin_loss``)."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(grad=(0,), inputs=(rng.standard_normal((3, 4)),
                                                (rng.random((3, 4)) > 0.5) * 1.0))

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.weight = weight

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.multilabel_soft_margin_loss(input, target, self.weight,
                                             reduction=self.reduction)


class CosineSimilarity(Module):
    """Cosine similarity along ``dim`` (see ``nn.functional.cosine_similarity``)."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(inputs=(rng.standard_normal((3, 4)), rng.standard_normal((3, 4))))

    def __init__(self, dim: int = 1, eps: float = 1e-8) -> None:
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return F.cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    """The p-norm of ``x1 - x2 + eps`` along the last dim (see
    ``nn.functional.pairwise_distance``)."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(inputs=(rng.standard_normal((3, 4)), rng.standard_normal((3, 4))))

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> None:
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)
