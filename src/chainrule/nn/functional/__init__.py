"""Functional forms of the layers, activations and losses (``torch.nn.functional``)."""

from chainrule.nn.functional.activation import (
    celu,
    elu,
    gelu,
    glu,
    hardshrink,
    hardsigmoid,
    hardswish,
    hardtanh,
    leaky_relu,
    log_softmax,
    logsigmoid,
    mish,
    prelu,
    relu,
    relu6,
    rrelu,
    selu,
    sigmoid,
    silu,
    softmax,
    softmin,
    softplus,
    softshrink,
    softsign,
    step,
    tanh,
    tanhshrink,
    threshold,
)
from chainrule.nn.functional.contrastive import nt_xent_loss
from chainrule.nn.functional.layers import (
    batch_norm,
    bilinear,
    dropout,
    embedding,
    embedding_bag,
    layer_norm,
    linear,
    normalize,
    one_hot,
    pad,
    rms_norm,
)
from chainrule.nn.functional.loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cosine_embedding_loss,
    cosine_similarity,
    cross_entropy,
    gaussian_nll_loss,
    hinge_embedding_loss,
    huber_loss,
    kl_div,
    l1_loss,
    margin_ranking_loss,
    mse_loss,
    multi_margin_loss,
    multilabel_soft_margin_loss,
    nll_loss,
    pairwise_distance,
    poisson_nll_loss,
    smooth_l1_loss,
    soft_margin_loss,
    triplet_margin_loss,
)
from chainrule.nn.functional.spatial import (
    alpha_dropout,
    channel_shuffle,
    dropout1d,
    dropout2d,
    dropout3d,
    feature_alpha_dropout,
    local_response_norm,
    pixel_shuffle,
    pixel_unshuffle,
)

# The ops whose functional form is the op itself (declared with ``functional=True`` in the op
# registry); the forms above that add PyTorch's extra arguments (``inplace=``) take precedence.
from chainrule.ops.public import functionals as _functionals

globals().update({_n: _f for _n, _f in _functionals().items() if _n not in globals()})
