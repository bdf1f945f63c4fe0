"""Loss functions with ``torch.nn.functional``'s names, signatures and semantics.

Every loss takes ``reduction`` in {'none', 'mean', 'sum'} (``kl_div`` also 'batchmean'); the
deprecated ``size_average``/``reduce`` arguments are accepted where PyTorch accepts them.

The hot ones are single fused primitives (``chainrule.ops.losses``): ``cross_entropy`` (class
indices with weight, ignore_index and label smoothing, or class probabilities), ``nll_loss``,
``mse_loss``, ``huber_loss``/``smooth_l1_loss``, ``binary_cross_entropy`` and
``binary_cross_entropy_with_logits``. The rest are composed from differentiable ops.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from chainrule import backend, ops
from chainrule.autograd.factories import as_tensor
from chainrule.autograd.tensor import Tensor
from chainrule.errors import DTypeError, fmt_shape, op_error
from chainrule.ops import losses as _losses

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cosine_embedding_loss",
    "cosine_similarity",
    "cross_entropy",
    "gaussian_nll_loss",
    "hinge_embedding_loss",
    "huber_loss",
    "kl_div",
    "l1_loss",
    "margin_ranking_loss",
    "mse_loss",
    "multi_margin_loss",
    "multilabel_soft_margin_loss",
    "nll_loss",
    "pairwise_distance",
    "poisson_nll_loss",
    "smooth_l1_loss",
    "soft_margin_loss",
    "triplet_margin_loss",
]

_REDUCTIONS = ("mean", "sum", "none")


# --- shared checks ------------------------------------------------------------------------------


def _data(v: Any) -> backend.ndarray:
    """The array behind a tensor, array or number (no copy for a tensor)."""
    return v._data if isinstance(v, Tensor) else backend.xp.asarray(v)


def _shape(v: Any) -> tuple[int, ...]:
    return v._data.shape if isinstance(v, Tensor) else backend.xp.shape(v)


def _legacy_reduction(size_average: bool | None, reduce: bool | None) -> str:
    """PyTorch's mapping of the deprecated ``size_average``/``reduce`` pair to a reduction."""
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    ret = "mean" if size_average and reduce else "sum" if reduce else "none"
    warnings.warn(f"size_average and reduce args will be deprecated, please use "
                  f"reduction='{ret}' instead.", UserWarning, stacklevel=3)
    return ret


def _reduction(name: str, reduction: str, size_average: Any = None, reduce: Any = None,
               allowed: tuple[str, ...] = _REDUCTIONS) -> str:
    """The effective reduction, validated (with the legacy arguments folded in)."""
    if size_average is not None or reduce is not None:
        return _legacy_reduction(size_average, reduce)
    if reduction not in allowed:
        names = [repr(r) for r in allowed]
        raise op_error(name, f"reduction {reduction!r} is not supported",
                       ", ".join(names[:-1]) + " or " + names[-1], kind=ValueError)
    return reduction


def _reduce(loss: Any, reduction: str) -> Any:
    """'none': the elementwise loss; 'sum'; 'mean' (nan for an empty loss, as PyTorch)."""
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.mean() if loss.numel() else loss.sum() * math.nan


def _check_pair(name: str, input: Any, target: Any) -> None:
    """Elementwise losses: shapes must broadcast; different shapes warn as in PyTorch (a (N, 1)
    prediction against an (N,) target silently becomes an (N, N) loss)."""
    si, st = _shape(input), _shape(target)
    if si == st or isinstance(target, (int, float)):
        return
    try:
        out = backend.xp.broadcast_shapes(si, st)
    except ValueError:
        raise op_error(name, f"input {fmt_shape(si)} and target {fmt_shape(st)} do not "
                       "broadcast", f"a target of the input's shape {fmt_shape(si)}") from None
    warnings.warn(f"{name}: target {fmt_shape(st)} differs in shape from input {fmt_shape(si)}; "
                  f"they broadcast to {fmt_shape(out)}, which is likely a mistake: give them "
                  "the same shape (e.g. input.squeeze(-1) or target.view_as(input))",
                  UserWarning, stacklevel=3)


def _same_shape_weight(name: str, weight: Any, input: Any) -> None:
    if _shape(weight) != _shape(input):
        raise op_error(name, f"weight {fmt_shape(_shape(weight))} and input "
                       f"{fmt_shape(_shape(input))} differ in shape",
                       "a weight of the input's shape (one per element)", kind=ValueError)


def _weighted(loss: Any, weight: Any, reduction: str, divisor: Any) -> Any:
    """``loss * weight`` reduced; 'mean' divides the sum by ``divisor``."""
    loss = loss * weight
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / divisor


# --- regression ---------------------------------------------------------------------------------


def mse_loss(input: Any, target: Any, size_average: bool | None = None,
             reduce: bool | None = None, reduction: str = "mean",
             weight: Any = None) -> Tensor:
    """Mean squared error ``(input - target)^2``; with ``weight`` (the input's shape) each
    term is weighted and 'mean' divides by the sum of the weights (PyTorch 2.x)."""
    reduction = _reduction("mse_loss", reduction, size_average, reduce)
    if _shape(input) != _shape(target):
        _check_pair("mse_loss", input, target)
    if weight is None:
        return _losses._mse_loss(input, target, reduction)
    _same_shape_weight("mse_loss", weight, input)
    d = ops.sub(input, target)
    return _weighted(d * d, weight, reduction, ops.sum(weight))


def l1_loss(input: Any, target: Any, size_average: bool | None = None,
            reduce: bool | None = None, reduction: str = "mean",
            weight: Any = None) -> Tensor:
    """Mean absolute error ``|input - target|`` (gradient sign(input - target), 0 at 0); with
    ``weight`` 'mean' divides by the sum of the weights."""
    reduction = _reduction("l1_loss", reduction, size_average, reduce)
    _check_pair("l1_loss", input, target)
    loss = ops.abs(ops.sub(input, target))
    if weight is None:
        return _reduce(loss, reduction)
    _same_shape_weight("l1_loss", weight, input)
    return _weighted(loss, weight, reduction, ops.sum(weight))


def _check_positive(name: str, arg: str, value: Any, allow_zero: bool) -> None:
    if not isinstance(value, (int, float)) or value < 0 or (value == 0 and not allow_zero):
        raise op_error(name, f"{arg}={value!r}",
                       f"a {'non-negative' if allow_zero else 'positive'} number", kind=ValueError)


def huber_loss(input: Any, target: Any, reduction: str = "mean", delta: float = 1.0,
               weight: Any = None) -> Tensor:
    """Huber loss: ``0.5 d^2`` where ``|d| < delta``, else ``delta (|d| - 0.5 delta)``, with
    ``d = input - target``. With ``weight``, 'mean' is the plain mean of the weighted terms (as
    PyTorch)."""
    reduction = _reduction("huber_loss", reduction)
    _check_positive("huber_loss", "delta", delta, allow_zero=False)
    _check_pair("huber_loss", input, target)
    if weight is None:
        return _losses._huber_loss(input, target, reduction, delta, 1.0)
    _same_shape_weight("huber_loss", weight, input)
    loss = _losses._huber_loss(input, target, "none", delta, 1.0)
    return _weighted(loss, weight, reduction, float(math.prod(_shape(input))))


def smooth_l1_loss(input: Any, target: Any, size_average: bool | None = None,
                   reduce: bool | None = None, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """Smooth L1: ``0.5 d^2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta``; ``beta=0``
    is the L1 loss. Equals ``huber_loss(..., delta=beta) / beta``."""
    reduction = _reduction("smooth_l1_loss", reduction, size_average, reduce)
    _check_positive("smooth_l1_loss", "beta", beta, allow_zero=True)
    if beta == 0:
        return l1_loss(input, target, reduction=reduction)
    _check_pair("smooth_l1_loss", input, target)
    return _losses._huber_loss(input, target, reduction, beta, 1.0 / beta)


# --- classification -----------------------------------------------------------------------------


def _class_weight(weight: Any) -> Any:
    """A per-class weight handed to a primitive as a constant (no gradient flows to it, as in
    PyTorch for class-index targets)."""
    return None if weight is None else _data(weight)


def cross_entropy(input: Any, target: Any, weight: Any = None, size_average: bool | None = None,
                  ignore_index: int = -100, reduce: bool | None = None,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy between logits ``input`` and ``target``, as
    ``torch.nn.functional.cross_entropy``.

    ``input`` is (N, C), (C,) or (N, C, d1, ...). ``target`` holds either integer class
    indices of shape (N,), () or (N, d1, ...), or class probabilities of the input's shape
    (floating point). ``weight`` (C,) weights each class; with class indices 'mean' divides by
    the summed weight of the non-ignored targets. Targets equal to ``ignore_index`` contribute
    nothing (class indices only). ``label_smoothing`` in [0, 1] mixes the target with the
    uniform distribution: (1 - e) * target + e / C.

    One fused primitive computes log-softmax and the loss: its gradient is
    ``(a * softmax(x) - b) / sum of weights``, with ``b`` the smoothed, weighted target.
    """
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    st = _shape(target)
    if st != _shape(input) or not st:  # class indices: the hot path
        if weight is None and not label_smoothing:
            return _losses._cross_entropy(input, target, reduction, None, ignore_index, 0.0)
        _check_smoothing(label_smoothing)
        return _losses._cross_entropy(input, target, reduction, _class_weight(weight),
                                     ignore_index, float(label_smoothing))
    t = _data(target)
    if t.dtype.kind != "f":
        cax = 1 if len(st) > 1 else 0
        idx_shape = st[:cax] + st[cax + 1:]
        raise op_error("cross_entropy", f"target has the input's shape {fmt_shape(st)} and "
                       f"dtype {t.dtype}", "class probabilities (floating point) of shape "
                       f"{fmt_shape(st)}, or integer class indices of shape "
                       f"{fmt_shape(idx_shape)}", kind=DTypeError)
    if ignore_index >= 0:
        raise op_error("cross_entropy", f"ignore_index={ignore_index} with class-probability "
                       "targets", "ignore_index < 0 (it applies to class indices only)",
                       kind=ValueError)
    _check_smoothing(label_smoothing)
    if weight is not None and not (isinstance(weight, Tensor) and weight.requires_grad):
        weight = _data(weight).astype(_data(input).dtype, copy=False)  # a constant
    return _losses._cross_entropy_probs(input, target, weight, reduction, float(label_smoothing))


def _check_smoothing(label_smoothing: Any) -> None:
    if not 0.0 <= label_smoothing <= 1.0:
        raise op_error("cross_entropy", f"label_smoothing={label_smoothing!r}",
                       "a value in [0, 1]", kind=ValueError)


def nll_loss(input: Any, target: Any, weight: Any = None, size_average: bool | None = None,
             ignore_index: int = -100, reduce: bool | None = None,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of class indices ``target`` under log-probabilities ``input``
    ((N, C), (C,) or (N, C, d1, ...)): ``-weight[t] * input[t]``; 'mean' divides by the summed
    weight of the non-ignored targets. ``cross_entropy(x, t) == nll_loss(log_softmax(x, 1), t)``.
    """
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    return _losses._nll_loss(input, target, reduction, _class_weight(weight), ignore_index)


def binary_cross_entropy(input: Any, target: Any, weight: Any = None,
                         size_average: bool | None = None, reduce: bool | None = None,
                         reduction: str = "mean") -> Tensor:
    """Binary cross-entropy between probabilities ``input`` in [0, 1] and ``target`` (same
    shape): ``-w (y log x + (1 - y) log(1 - x))``, each log clamped to >= -100 as PyTorch.
    ``weight`` broadcasts against the target and is a constant. Prefer
    ``binary_cross_entropy_with_logits`` on logits: it is numerically stable."""
    reduction = _reduction("binary_cross_entropy", reduction, size_average, reduce)
    if weight is not None:
        weight = _broadcast_weight("binary_cross_entropy", weight, _shape(target))
    return _losses._binary_cross_entropy(input, target, reduction, weight)


def _broadcast_weight(name: str, weight: Any, shape: tuple[int, ...]) -> backend.ndarray:
    w = _data(weight)
    try:
        backend.get_array_module(w).broadcast_shapes(w.shape, shape)
    except ValueError:
        raise op_error(name, f"weight {fmt_shape(w.shape)} does not broadcast against the "
                       f"target {fmt_shape(shape)}", "a weight that broadcasts to the target's "
                       "shape") from None
    return w


def binary_cross_entropy_with_logits(input: Any, target: Any, weight: Any = None,
                                     size_average: bool | None = None,
                                     reduce: bool | None = None, reduction: str = "mean",
                                     pos_weight: Any = None) -> Tensor:
    """Sigmoid + binary cross-entropy in one stable primitive:
    ``w ((1 - y) x + (1 + (pos_weight - 1) y) log(1 + exp(-x)))``, finite for any logit.
    ``weight`` broadcasts against the loss; ``pos_weight`` weighs the positive term (one per
    class, broadcast along the last dimension). Both are constants."""
    reduction = _reduction("binary_cross_entropy_with_logits", reduction, size_average, reduce)
    if weight is not None:
        weight = _broadcast_weight("binary_cross_entropy_with_logits", weight, _shape(target))
    if pos_weight is not None:
        pos_weight = _broadcast_weight("binary_cross_entropy_with_logits", pos_weight,
                                       _shape(target))
    return _losses._bce_with_logits(input, target, reduction, weight, pos_weight)


def kl_div(input: Any, target: Any, size_average: bool | None = None,
           reduce: bool | None = None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """Kullback-Leibler divergence with ``input`` as log-probabilities:
    ``target * (log(target) - input)`` (0 where target is 0), or with ``log_target=True``
    ``exp(target) * (target - input)``. ``reduction='batchmean'`` divides the sum by the batch
    size (the true KL divergence per sample); 'mean' divides by the number of elements."""
    reduction = _reduction("kl_div", reduction, size_average, reduce,
                           allowed=(*_REDUCTIONS, "batchmean"))
    _check_pair("kl_div", input, target)
    if log_target:
        loss = ops.exp(target) * ops.sub(target, input)
    else:
        t = _data(target)
        if isinstance(target, Tensor) and target.requires_grad:  # xlogy(t, t), differentiable
            tlogt = target * ops.log(ops.where(t > 0, target, 1.0))
        else:  # xlogy(t, t) as a constant: 0 where t == 0
            xp = backend.get_array_module(t)
            with xp.errstate(divide="ignore", invalid="ignore"):
                tlogt = xp.where(t == 0, 0.0, t * xp.log(t))
        loss = ops.sub(tlogt, ops.mul(target, input))
    if reduction == "batchmean":
        s = loss.sum()
        return s / _shape(input)[0] if len(_shape(input)) else s
    return _reduce(loss, reduction)


def multi_margin_loss(input: Any, target: Any, p: int = 1, margin: float = 1.0,
                      weight: Any = None, size_average: bool | None = None,
                      reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """Multi-class hinge loss of scores ``input`` (N, C) or (C,) against class indices
    ``target``: ``sum_{j != y} w[y] max(0, margin - x[y] + x[j])^p / C`` per sample,
    p in {1, 2}. ``weight`` (C,) is a constant."""
    name = "multi_margin_loss"
    reduction = _reduction(name, reduction, size_average, reduce)
    if p not in (1, 2):
        raise op_error(name, f"p={p!r}", "p == 1 or p == 2", kind=ValueError)
    x, t = _data(input), _data(target)
    if x.ndim not in (1, 2):
        raise op_error(name, f"input has shape {fmt_shape(x.shape)}",
                       "scores of shape (N, C) or (C,)")
    out_shape = t.shape if x.ndim == 1 and t.shape == (1,) else None  # as PyTorch: (C,), (1,)
    cax = _losses._check_target(x, t if out_shape is None else t.reshape(()), name)[0]
    n_cls = x.shape[cax]
    w = None
    if weight is not None:
        w = _data(weight)
        if w.ndim != 1:
            raise op_error(name, f"weight has shape {fmt_shape(w.shape)}",
                           f"a 1-D weight of shape ({n_cls},)", kind=ValueError)
    xs = input if x.ndim == 2 else ops.reshape(input, (1, n_cls))
    ts = t.reshape(-1)
    picked = ops.gather(xs, 1, ts[:, None])
    h = ops.relu(margin - picked + xs)
    if p == 2:
        h = h * h
    xp = backend.get_array_module(x)
    keep = xp.ones(xs.shape, dtype=x.dtype)
    keep[xp.arange(len(ts)), ts] = 0.0
    if w is not None:
        keep *= w.astype(x.dtype, copy=False)[ts][:, None]
    loss = ops.sum(h * keep, 1) * (1.0 / n_cls)
    if x.ndim == 1:
        loss = ops.reshape(loss, out_shape or ())
    return _reduce(loss, reduction)


def hinge_embedding_loss(input: Any, target: Any, margin: float = 1.0,
                         size_average: bool | None = None, reduce: bool | None = None,
                         reduction: str = "mean") -> Tensor:
    """Hinge embedding loss for targets in {1, -1}: ``x`` where y = 1, ``max(0, margin - x)``
    where y = -1 (as PyTorch, a target that is neither contributes both terms)."""
    reduction = _reduction("hinge_embedding_loss", reduction, size_average, reduce)
    _check_pair("hinge_embedding_loss", input, target)
    t = _data(target)
    loss = (ops.where(t != 1, ops.clamp(ops.sub(margin, input), 0.0, None), 0.0)
            + ops.where(t != -1, input, 0.0))
    return _reduce(loss, reduction)


def soft_margin_loss(input: Any, target: Any, size_average: bool | None = None,
                     reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """Two-class logistic loss ``log(1 + exp(-y x))`` for targets in {1, -1}, computed stably
    (finite for any ``x``, where PyTorch's overflows to inf beyond |x| ~ 710)."""
    reduction = _reduction("soft_margin_loss", reduction, size_average, reduce)
    _check_pair("soft_margin_loss", input, target)
    return _reduce(ops.softplus(-(input * target), 1.0, math.inf), reduction)



# --- distances and the losses built on them ---------------------------------------------------


def cosine_similarity(x1: Any, x2: Any, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """``x1 . x2 / (max(||x1||, eps) max(||x2||, eps))`` along ``dim`` (broadcasting first; the
    norms clamped without a gradient through the clamp, as PyTorch)."""
    def unit(x: Any) -> Any:
        n = ops.sqrt(ops.sum(x * x, dim, True))
        return x / (n + ops.clamp(n.detach(), eps, None) - n.detach())
    return ops.sum(unit(x1) * unit(x2), dim)


def pairwise_distance(x1: Any, x2: Any, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    """``||x1 - x2 + eps||_p`` along the last dim."""
    d = ops.sub(x1, x2) + eps
    if p == 2:
        return ops.sqrt(ops.sum(d * d, -1, keepdim))
    if p == 1:
        return ops.sum(ops.abs(d), -1, keepdim)
    if p == math.inf:
        return ops.amax(ops.abs(d), -1, keepdim)
    return ops.sum(ops.abs(d) ** p, -1, keepdim) ** (1.0 / p)


def margin_ranking_loss(input1: Any, input2: Any, target: Any, margin: float = 0.0,
                        size_average: bool | None = None, reduce: bool | None = None,
                        reduction: str = "mean") -> Tensor:
    """``max(0, -y (x1 - x2) + margin)`` for targets y in {1, -1}."""
    reduction = _reduction("margin_ranking_loss", reduction, size_average, reduce)
    return _reduce(ops.clamp(-target * ops.sub(input1, input2) + margin, 0.0, None), reduction)


def cosine_embedding_loss(input1: Any, input2: Any, target: Any, margin: float = 0.0,
                          size_average: bool | None = None, reduce: bool | None = None,
                          reduction: str = "mean") -> Tensor:
    """``1 - cos(x1, x2)`` where y = 1, ``max(0, cos(x1, x2) - margin)`` where y = -1 (cosine
    along the last dim, as PyTorch with its 1e-12 guard on the squared norms)."""
    reduction = _reduction("cosine_embedding_loss", reduction, size_average, reduce)
    prod = ops.sum(input1 * input2, -1)
    cos = prod / ops.sqrt((ops.sum(input1 * input1, -1) + 1e-12)
                          * (ops.sum(input2 * input2, -1) + 1e-12))
    t = _data(target)
    loss = ops.where(t == 1, 1 - cos, 0.0) + ops.where(t == -1, ops.clamp(cos - margin, 0.0,
                                                                           None), 0.0)
    return _reduce(loss, reduction)


def triplet_margin_loss(anchor: Any, positive: Any, negative: Any, margin: float = 1.0,
                        p: float = 2.0, eps: float = 1e-6, swap: bool = False,
                        size_average: bool | None = None, reduce: bool | None = None,
                        reduction: str = "mean") -> Tensor:
    """``max(0, margin + d(a, p) - d(a, n))`` with ``d`` the pairwise p-norm distance
    (``swap``: d(a, n) replaced by d(p, n) where smaller)."""
    reduction = _reduction("triplet_margin_loss", reduction, size_average, reduce)
    d_ap = pairwise_distance(anchor, positive, p, eps)
    d_an = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_an = ops.minimum(d_an, pairwise_distance(positive, negative, p, eps))
    return _reduce(ops.clamp(margin + d_ap - d_an, 0.0, None), reduction)


def gaussian_nll_loss(input: Any, target: Any, var: Any, full: bool = False, eps: float = 1e-6,
                      reduction: str = "mean") -> Tensor:
    """``0.5 (log(var) + (input - target)^2 / var)`` (+ ``0.5 log(2 pi)`` when ``full``), var
    clamped below by ``eps`` with the gradient passing through the clamp, as PyTorch."""
    reduction = _reduction("gaussian_nll_loss", reduction)
    var = var if isinstance(var, Tensor) else as_tensor(var)
    if var.ndim == len(_shape(input)) - 1 and tuple(var.shape) == _shape(input)[:-1]:
        var = ops.unsqueeze(var, -1)
    if bool((var._data < 0).any()):
        raise op_error("gaussian_nll_loss", "var has negative entries", "var >= 0",
                       kind=ValueError)
    var = var + (ops.clamp(var.detach(), eps, None) - var.detach())
    loss = 0.5 * (ops.log(var) + ops.sub(input, target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def poisson_nll_loss(input: Any, target: Any, log_input: bool = True, full: bool = False,
                     size_average: bool | None = None, eps: float = 1e-8,
                     reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """Poisson negative log-likelihood: ``exp(x) - y x`` (``log_input``) or
    ``x - y log(x + eps)``; ``full`` adds Stirling's ``y log y - y + 0.5 log(2 pi y)`` (y > 1)."""
    reduction = _reduction("poisson_nll_loss", reduction, size_average, reduce)
    if log_input:
        loss = ops.exp(input) - target * input
    else:
        loss = input - target * ops.log(input + eps)
    if full:
        t = _data(target)
        safe = backend.xp.where(t > 1, t, 1.0)
        stirling = safe * backend.xp.log(safe) - safe + 0.5 * backend.xp.log(2 * math.pi * safe)
        loss = loss + as_tensor(backend.xp.where(t > 1, stirling, 0.0).astype(
            loss.dtype))
    return _reduce(loss, reduction)


def multilabel_soft_margin_loss(input: Any, target: Any, weight: Any = None,
                                size_average: bool | None = None, reduce: bool | None = None,
                                reduction: str = "mean") -> Tensor:
    """Per-class logistic loss averaged over the C classes: ``-(y log sigmoid(x) + (1 - y)
    log sigmoid(-x))``, then reduced over the batch."""
    reduction = _reduction("multilabel_soft_margin_loss", reduction, size_average, reduce)
    loss = (target * ops.softplus(-input, 1.0, math.inf)
            + (1 - target) * ops.softplus(input, 1.0, math.inf))
    if weight is not None:
        loss = loss * weight
    return _reduce(ops.mean(loss, -1), reduction)
