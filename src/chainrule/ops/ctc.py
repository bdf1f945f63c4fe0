"""Connectionist temporal classification (CTC) loss: one primitive, ``ctc_loss``.

CTC scores an unsegmented target sequence ``y`` (length S) against per-frame log-probabilities
``log_probs`` (T frames, C classes, one of them the ``blank``): the probability of ``y`` is the
sum over every frame-level path that reads ``y`` once repeats are merged and blanks dropped.
That sum runs over the extended label sequence ``y'`` = blank, y_1, blank, y_2, ..., y_S, blank
(length 2S + 1) with the forward (alpha) recursion, in log space:

    alpha_0(0) = lp_0(blank),  alpha_0(1) = lp_0(y_1)
    alpha_t(s) = lp_t(y'_s) + logsumexp(alpha_{t-1}(s), alpha_{t-1}(s-1), [alpha_{t-1}(s-2)])

the third term only where y'_s is a label different from y'_{s-2} (a path may skip a blank
between two different labels, never between two equal ones). ``log P(y) = logsumexp(alpha_{T-1}
(2S), alpha_{T-1}(2S-1))`` and the loss is ``-log P(y)``. The backward (beta) recursion, run by
the vjp, is the mirror image; ``beta_t(s)`` here counts the frames after t only, so
``alpha_t(s) + beta_t(s) - log P`` is the log-probability that a path sits at ``y'_s`` at frame
t, and the gradient is ``d loss / d lp_t(c) = -sum_{s: y'_s = c} exp(alpha_t(s) + beta_t(s) +
loss)`` (Graves et al. 2006, eq. 14, with the emission divided out).

Both recursions are vectorised over the batch and the extended positions: the only Python loop
is over time steps (T numpy updates each way). The occupancies are added onto the classes by
one batched matmul with the one-hot of y' (``add.at`` for a vocabulary too large for it).
Measured at 1.9-2.3x PyTorch's time (its C++ loops), forward + backward through log_softmax,
float32, 1 thread, T/N/C/S from 25/32/5/5 to 200/16/50/40: ``python -m bench.ctc_loss``.

The gradient is the derivative of the loss with respect to ``log_probs`` as free inputs (what
finite differences measure). PyTorch's ``ctc_loss`` returns that plus ``exp(log_probs)`` on the
frames t < input_length, which is the gradient with respect to the *logits* when ``log_probs =
log_softmax(logits)`` (pytorch/pytorch#52241, #181534). With ``log_softmax`` in the graph, as
PyTorch's documentation asks, the two conventions give the same gradient on the logits (the
extra term sums to 1 over the classes and ``log_softmax``'s backward removes it), so training
is the same; only ``log_probs.grad`` itself differs.
"""

from __future__ import annotations

from typing import Any

from chainrule import backend
from chainrule.errors import DTypeError, fmt_shape, op_error
from chainrule.ops import samples as S
from chainrule.ops.losses import _check_reduction
from chainrule.ops.registry import primitive, public

_INF = float("inf")
_ONEHOT_MAX = 1 << 22
"""The largest one-hot of y' (N x (2S + 1) x C elements) the vjp builds to add the occupancies
onto the classes with one matmul (20x faster than ``add.at`` at N=32, 2S+1=41, C=30); past it,
``add.at``."""


def _lengths(xp: Any, v: Any, what: str, n: int, batched: bool,
             lp_shape: tuple[int, ...]) -> backend.ndarray:
    """``input_lengths`` or ``target_lengths`` as an int64 array of shape (N,), checked."""
    a = xp.asarray(v)
    if a.dtype.kind not in "iu":
        raise op_error("ctc_loss", f"{what} has dtype {a.dtype} (values "
                       f"{a.ravel()[:4].tolist()})", "integer lengths (a list or tuple of ints, "
                       "or an int64/int32 tensor)", "convert it with .long()", kind=DTypeError)
    if a.shape != (n,) and not (not batched and a.shape == ()):
        raise op_error("ctc_loss", f"{what} has shape {fmt_shape(a.shape)} but log_probs "
                       f"{fmt_shape(lp_shape)} has a batch of {n}",
                       f"one length per batch item, shape ({n},)" + ("" if batched else
                                                                      " or a 0-d tensor"))
    return a.reshape(n).astype(backend.int64, copy=False)


def _padded_targets(xp: Any, targets: Any, tl: backend.ndarray, n: int, blank: int,
                    lp_shape: tuple[int, ...]) -> backend.ndarray:
    """The targets as (N, max(target_lengths)) int64, positions past each length set to the
    blank, from the padded (N, S) or the concatenated 1-D form; values checked."""
    t = xp.asarray(targets)
    if t.dtype.kind not in "iu":
        raise op_error("ctc_loss", f"targets have dtype {t.dtype} and shape {fmt_shape(t.shape)}",
                       "integer class indices (int64 or int32), padded (N, S) or concatenated "
                       "(sum(target_lengths),)", "convert them with targets.long()",
                       kind=DTypeError)
    s_max = int(tl.max())
    pos = xp.arange(s_max)
    valid = pos[None, :] < tl[:, None]                    # (N, S)
    if t.ndim == 1:
        total = int(tl.sum())
        if t.shape[0] != total:
            raise op_error("ctc_loss", f"concatenated targets have {t.shape[0]} entries but "
                           f"target_lengths {tl.tolist()} sum to {total}",
                           "1-D targets of length sum(target_lengths), or padded (N, S) targets")
        start = xp.cumsum(tl) - tl
        picked = t[xp.where(valid, start[:, None] + pos[None, :], 0)] if total else (
            xp.zeros(valid.shape, dtype=t.dtype))
    elif t.ndim == 2:
        if t.shape[0] != n:
            raise op_error("ctc_loss", f"padded targets {fmt_shape(t.shape)} have {t.shape[0]} "
                           f"rows but log_probs {fmt_shape(lp_shape)} have a batch of {n}",
                           f"targets of shape ({n}, S), one row per batch item")
        if t.shape[1] < s_max:
            raise op_error("ctc_loss", f"padded targets {fmt_shape(t.shape)} are shorter than "
                           f"target_lengths {tl.tolist()}", f"targets of shape ({n}, S) with S "
                           f">= max(target_lengths) = {s_max}")
        picked = t[:, :s_max]
    else:
        raise op_error("ctc_loss", f"targets have shape {fmt_shape(t.shape)}",
                       "padded (N, S) or concatenated 1-D (sum(target_lengths),) targets")
    n_cls = lp_shape[-1]
    bad = valid & ((picked < 0) | (picked >= n_cls) | (picked == blank))
    if bad.any():
        b, s = (int(i[0]) for i in xp.nonzero(bad))
        value = int(picked[b, s])
        where = f"batch item {b}, target position {s}"
        if value == blank:
            raise op_error("ctc_loss", f"targets contain the blank index {blank} ({where})",
                           f"labels in [0, {n_cls - 1}] other than blank={blank}", "the blank "
                           "marks 'no label' and cannot be a target: shift the labels or pick "
                           "another blank", kind=ValueError)
        raise op_error("ctc_loss", f"target value {value} ({where}) is outside the {n_cls} "
                       f"classes of log_probs {fmt_shape(lp_shape)}",
                       f"labels in [0, {n_cls - 1}]", kind=IndexError)
    return xp.where(valid, picked, blank).astype(backend.int64, copy=False)


def _ctc_inputs(xp: Any, lp: Any, targets: Any, input_lengths: Any, target_lengths: Any,
                blank: Any, reduction: str) -> tuple:
    """Check every argument; return (log_probs (T, N, C), targets (N, S), input_lengths (N,),
    target_lengths (N,), unbatched)."""
    if reduction not in ("mean", "sum", "none"):
        _check_reduction("ctc_loss", reduction)
    if lp.dtype.kind != "f":
        raise op_error("ctc_loss", f"log_probs have dtype {lp.dtype}", "floating-point "
                       "log-probabilities (e.g. log_softmax of the logits)", kind=DTypeError)
    if lp.ndim not in (2, 3):
        raise op_error("ctc_loss", f"log_probs have shape {fmt_shape(lp.shape)}",
                       "(T, N, C) log-probabilities (time, batch, classes), or (T, C) unbatched")
    if lp.size == 0:
        raise op_error("ctc_loss", f"log_probs of shape {fmt_shape(lp.shape)} are empty",
                       "at least one frame, one batch item and one class")
    unbatched = lp.ndim == 2
    shape = lp.shape
    lp3 = lp[:, None] if unbatched else lp
    n_frames, n, n_cls = lp3.shape
    if isinstance(blank, bool) or not isinstance(blank, (int, backend.integer)) or not (
            0 <= blank < n_cls):
        raise op_error("ctc_loss", f"blank={blank!r} is not a class of log_probs "
                       f"{fmt_shape(shape)} ({n_cls} classes)", f"an int in [0, {n_cls - 1}]",
                       kind=ValueError)
    il = _lengths(xp, input_lengths, "input_lengths", n, not unbatched, shape)
    tl = _lengths(xp, target_lengths, "target_lengths", n, not unbatched, shape)
    for what, v, ok, want in (
            ("input_lengths", il, (il >= 0) & (il <= n_frames), f"lengths in [0, T={n_frames}]"),
            ("target_lengths", tl, tl >= 0, "lengths >= 0")):
        if not ok.all():
            raise op_error("ctc_loss", f"{what} {v.tolist()} contains {int(v[~ok][0])} "
                           f"(log_probs {fmt_shape(shape)})", want, kind=ValueError)
    return lp3, _padded_targets(xp, targets, tl, n, int(blank), shape), il, tl, unbatched


def _ctc_samples(rng: S.Rng):
    def lp(*shape: int):  # log-probability-like values; the loss is smooth in all of them
        return rng.standard_normal(shape) - 1.5
    yield S.Sample([lp(5, 2, 4), S.array([[1, 2, 2], [3, 0, 0]]), S.array([5, 4]),
                    S.array([3, 1])], (0, "mean", False),
                   label="padded (N, S), repeated label, padding ignored, mean")
    yield S.Sample([lp(4, 3, 3), S.array([0, 1, 1, 0]), S.array([4, 3, 4]), S.array([2, 1, 1])],
                   (2, "sum", False), label="concatenated targets, blank=2, sum")
    yield S.Sample([lp(4, 2, 3), S.array([[1, 1, 1], [2, 1, 0]]), S.array([4, 4]),
                    S.array([3, 2])], (0, "none", True),
                   label="none, zero_infinity: item 0 impossible ('111' needs 5 frames)")
    yield S.Sample([lp(4, 3), S.array([2, 1]), S.array(4), S.array(2)], (0, "mean", False),
                   label="unbatched (T, C)")
    yield S.Sample([lp(3, 3, 3), S.array([[1, 2], [0, 0], [0, 0]]), S.array([3, 2, 0]),
                    S.array([2, 0, 0])], (0, "mean", False),
                   label="empty targets, input_lengths 0 (mean divides by max(len, 1))")
    yield S.Sample([lp(3, 2, 3), S.array([[1], [2]], dtype="int32"),
                    S.array([3, 2], dtype="int32"), S.array([1, 1], dtype="int32")],
                   (0, "sum", False), label="int32 targets and lengths")


def _torch_ctc(torch: Any, lp: Any, targets: Any, il: Any, tl: Any, blank: int = 0,
               reduction: str = "mean", zero_infinity: bool = False) -> Any:
    """PyTorch's ``ctc_loss`` with its gradient moved to the free-input convention: PyTorch
    adds ``exp(log_probs)`` on frames t < input_length (see the module docstring), so the
    reference subtracts it through a term whose value is exactly 0. Values are PyTorch's own."""
    F = torch.nn.functional
    loss = F.ctc_loss(lp, targets, il, tl, blank, reduction, zero_infinity)
    lp3 = lp if lp.dim() == 3 else lp.unsqueeze(1)
    il_, tl_ = torch.as_tensor(il).reshape(-1), torch.as_tensor(tl).reshape(-1)
    live = (torch.arange(lp3.shape[0])[:, None] < il_[None]).to(lp.dtype)
    extra = (lp3.exp().sum(-1) * live).sum(0)          # (N,)
    if zero_infinity:  # PyTorch zeroes the whole gradient of an infinite loss
        raw = F.ctc_loss(lp3.detach(), targets, il, tl, blank, "none", False)
        extra = extra * torch.isfinite(raw).to(lp.dtype)
    if reduction == "mean":
        extra = (extra / tl_.clamp(min=1).to(lp.dtype)).mean()
    elif reduction == "sum":
        extra = extra.sum()
    elif lp.dim() == 2:
        extra = extra[0]
    return loss - (extra - extra.detach())


@primitive("ctc_loss", nin=4, res=True, saves="", order=1, torch=_torch_ctc,
           samples=_ctc_samples,
           formula="loss_n = -log sum_{paths -> y_n} prod_t p_t(path_t) (alpha recursion over "
                   "y' = blank-interleaved y_n);  d loss_n/d log_probs[t,n,c] = -sum_{s: y'_s=c} "
                   "alpha_t(s) beta_t(s) / P(y_n)")
def _ctc_loss(xp, log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean",
              zero_infinity=False):
    """CTC loss of log-probabilities (T, N, C) (or (T, C)) against label sequences (see
    ``ctc_loss``). The residuals keep alpha (T, N, 2S + 1) for the vjp's beta pass."""
    lp, tg, il, tl, unbatched = _ctc_inputs(xp, log_probs, targets, input_lengths,
                                            target_lengths, blank, reduction)
    n_frames, n, _ = lp.shape
    work = lp.dtype if lp.dtype.itemsize >= 4 else backend.float32  # float16 runs in float32
    n_ext = 2 * tg.shape[1] + 1
    ext = xp.full((n, n_ext), blank, dtype=backend.int64)  # y': blank, y_1, blank, ..., blank
    ext[:, 1::2] = tg
    skip = xp.zeros((n, n_ext), dtype=work)                 # 0 where s-2 -> s is allowed
    skip[:, :3] = -_INF
    skip[:, 3:] = xp.where((ext[:, 3:] != blank) & (ext[:, 3:] != ext[:, 1:-2]), 0.0, -_INF)
    rows = xp.arange(n)
    lpe = lp[:, rows[:, None], ext].astype(work, copy=False)  # (T, N, 2S + 1)
    live = xp.arange(n_frames)[:, None] < il[None, :]       # (T, N): frames inside each input
    alpha = xp.empty((n_frames, n, n_ext), dtype=work)
    alpha[0] = -_INF
    alpha[0, :, :2] = lpe[0, :, :2]
    for t in range(1, n_frames):  # written in place: a from s, s-1, s-2 (where allowed)
        a, r = alpha[t - 1], alpha[t]
        r[:, 0] = a[:, 0]
        xp.logaddexp(a[:, 1:], a[:, :-1], out=r[:, 1:])
        xp.logaddexp(r[:, 2:], a[:, :-2] + skip[:, 2:], out=r[:, 2:])
        r += lpe[t]
    alpha[~live] = -_INF  # frames past an input's length (they never feed earlier ones)
    last = xp.maximum(il - 1, 0)
    end = alpha[last, rows, 2 * tl]
    before = xp.where(tl > 0, alpha[last, rows, xp.maximum(2 * tl - 1, 0)], -_INF)
    loglik = xp.where(il > 0, xp.logaddexp(end, before), xp.where(tl == 0, 0.0, -_INF))
    nll = -loglik
    if zero_infinity:
        nll = xp.where(xp.isinf(nll), 0.0, nll)
    if reduction == "mean":
        out = (nll / xp.maximum(tl, 1)).mean()
    elif reduction == "sum":
        out = nll.sum()
    else:
        out = nll[0] if unbatched else nll
    res = (log_probs.shape, log_probs.dtype, ext, skip, lpe, live, alpha, loglik, il, tl)
    return xp.asarray(out).astype(log_probs.dtype, copy=False), res


@_ctc_loss.defvjp
def _(c, g):
    if not c.need[0]:
        return None, None, None, None
    shape, dtype, ext, skip, lpe, live, alpha, loglik, il, tl = c.res
    _, reduction, zero_infinity = c.p
    xp = backend.get_array_module(alpha)
    n_frames, n, n_ext = alpha.shape
    rows = xp.arange(n)
    # beta_t(s): log-probability of finishing y' from (t, s), the frames after t only
    end = xp.full((n, n_ext), -_INF, dtype=alpha.dtype)
    end[rows, xp.maximum(2 * tl - 1, 0)] = xp.where(tl > 0, 0.0, -_INF)
    end[rows, 2 * tl] = 0.0  # after the line above, which writes position 0 when tl = 0
    beta = xp.empty_like(alpha)
    beta[-1] = -_INF
    first = il - 1  # the frame where each item's beta starts
    for t in range(n_frames - 1, -1, -1):
        r = beta[t]
        if t < n_frames - 1:  # from s, s+1, s+2 (where allowed) at frame t+1
            b = beta[t + 1] + lpe[t + 1]
            r[:, -1] = b[:, -1]
            xp.logaddexp(b[:, :-1], b[:, 1:], out=r[:, :-1])
            xp.logaddexp(r[:, :-2], b[:, 2:] + skip[:, 2:], out=r[:, :-2])
        starts = first == t
        if starts.any():
            r[starts] = end[starts]
    beta[~live] = -_INF
    finite = xp.isfinite(loglik)
    scale = xp.asarray(g, dtype=alpha.dtype)
    if reduction == "mean":
        scale = scale / (xp.maximum(tl, 1) * n).astype(alpha.dtype)
    scale = xp.broadcast_to(scale.reshape(-1) if scale.ndim else scale, (n,))
    gamma = alpha + beta
    gamma += xp.where(finite, -loglik, 0.0)[None, :, None]
    gamma = xp.exp(gamma, out=gamma)                        # occupancy of (t, s), t < il
    gamma *= -scale[None, :, None]
    n_cls = shape[-1]  # add the occupancies of each class's positions s
    if n * n_ext * n_cls <= _ONEHOT_MAX:  # one batched matmul with the one-hot of y'
        onehot = (ext[:, :, None] == xp.arange(n_cls)).astype(gamma.dtype)
        grad = xp.matmul(gamma.transpose(1, 0, 2), onehot).transpose(1, 0, 2)
    else:  # a large vocabulary: scatter-add, no (N, 2S + 1, C) one-hot
        grad = xp.zeros((n_frames, n, n_cls), dtype=gamma.dtype)
        xp.add.at(grad, (xp.arange(n_frames)[:, None, None], rows[None, :, None], ext[None]),
                  gamma)
    if not zero_infinity and not finite.all():  # an infinite loss: nan, as PyTorch
        grad = xp.where((live & ~finite[None, :])[:, :, None], xp.nan, grad)
    return grad.reshape(shape).astype(dtype, copy=False), None, None, None


@public(export=False, functional=True)
def ctc_loss(log_probs: Any, targets: Any, input_lengths: Any, target_lengths: Any,
             blank: int = 0, reduction: str = "mean", zero_infinity: bool = False) -> Any:
    """Connectionist temporal classification loss, as ``torch.nn.functional.ctc_loss``.

    ``log_probs``: (T, N, C) log-probabilities (time, batch, classes, e.g. ``log_softmax`` of
    the logits over C), or (T, C) unbatched. ``targets``: integer labels, padded (N, S) (only
    the first ``target_lengths[n]`` of row n are read) or concatenated 1-D
    (sum(target_lengths),); no target may be the ``blank``. ``input_lengths``,
    ``target_lengths``: one per batch item, as tensors, lists or tuples. ``reduction``: 'none'
    (one loss per item), 'sum', or 'mean' (each loss divided by its target length, at least 1,
    then the batch mean). A target that cannot fit its input (longer than the input, or
    repeats needing blanks between them) has an infinite loss, or 0 with ``zero_infinity``
    (and a zero gradient).

    The gradient is with respect to ``log_probs`` as free inputs; PyTorch's adds
    ``exp(log_probs)`` to it, which ``log_softmax``'s backward cancels, so with
    ``log_softmax`` in the graph the logits get PyTorch's gradient exactly.
    """
    return _ctc_loss(log_probs, targets, input_lengths, target_lengths, blank, reduction,
                     zero_infinity)
