"""``MultiheadAttention``, with PyTorch's parameters (``in_proj_weight``, ``in_proj_bias``,
``out_proj``), layouts, masks and return values."""

from __future__ import annotations

import math
from typing import Any

from chainrule import backend, creation, ops
from chainrule.autograd.factories import as_tensor
from chainrule.autograd.tensor import Tensor
from chainrule.errors import fmt_shape
from chainrule.nn import functional as F
from chainrule.nn import init
from chainrule.nn.linear import Linear
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.nn.samples import Generator, ModuleSample


class NonDynamicallyQuantizableLinear(Linear):
    """``Linear`` under the name PyTorch gives ``MultiheadAttention.out_proj`` (so reprs match)."""


def _float_mask(mask: Any, dtype: Any, name: str) -> Tensor | None:
    """PyTorch's mask convention for attention layers, as an additive float mask: a bool mask
    is True where attention is *not* allowed (-inf there, 0 elsewhere); a float mask is added."""
    if mask is None:
        return None
    m = mask if isinstance(mask, Tensor) else as_tensor(mask)
    if m.dtype == backend.bool_:
        xp = backend.get_array_module(m._data)
        return as_tensor(xp.where(m._data, -math.inf, 0.0).astype(dtype))
    if m.dtype.kind != "f":
        raise TypeError(f"MultiheadAttention: {name} has dtype {m.dtype}; expected a bool mask "
                        "(True = not allowed) or a float mask (added to the scores)")
    return m


class MultiheadAttention(Module):
    """Attention over ``num_heads`` heads of size ``embed_dim // num_heads``, as
    ``torch.nn.MultiheadAttention``: ``forward(query, key, value)`` returns
    ``(attn_output, attn_weights)``.

    Layouts: (L, N, E) or, with ``batch_first``, (N, L, E); unbatched (L, E). Masks follow
    PyTorch: ``key_padding_mask`` (N, S) and ``attn_mask`` (L, S) or (N*num_heads, L, S), bool
    True where attention is *not* allowed, or float added to the scores. ``need_weights=False``
    returns ``(attn_output, None)`` through the fused ``scaled_dot_product_attention``; with
    weights, they are averaged over heads unless ``average_attn_weights=False``.
    ``add_bias_kv`` and ``add_zero_attn`` are not supported (they raise).
    """

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        kpm = rng.random((2, 4)) > 0.7
        kpm[:, 0] = False  # every query keeps a key to attend to
        return ModuleSample(
            args=(4, 2), kwargs={"kdim": 3, "vdim": 5, "batch_first": True},
            inputs=(rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4, 3)),
                    rng.standard_normal((2, 4, 5)), kpm),
            call=lambda m, q, k, v, kpm: _out_and_weights(m(q, k, v, key_padding_mask=kpm)))

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) and num_heads "
                             f"({num_heads}) must be positive")
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim {embed_dim} is not divisible by "
                             f"num_heads {num_heads}; expected embed_dim = num_heads * head_dim")
        if add_bias_kv or add_zero_attn:
            raise NotImplementedError("MultiheadAttention: add_bias_kv and add_zero_attn are not "
                                      "supported in chainrule; leave them False")
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        kw = {"dtype": dtype, "device": device}
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(creation.empty(3 * embed_dim, embed_dim, **kw))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.q_proj_weight = Parameter(creation.empty(embed_dim, embed_dim, **kw))
            self.k_proj_weight = Parameter(creation.empty(embed_dim, self.kdim, **kw))
            self.v_proj_weight = Parameter(creation.empty(embed_dim, self.vdim, **kw))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(creation.empty(3 * embed_dim, **kw))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, **kw)
        self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """As PyTorch: Xavier-uniform projections, zero biases."""
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)

    def _project(self, query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, ...]:
        E = self.embed_dim
        b = self.in_proj_bias
        bq, bk, bv = (None, None, None) if b is None else (b[:E], b[E:2 * E], b[2 * E:])
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            if query is key and key is value:  # self-attention: one GEMM
                return ops.chunk(ops.linear(query, w, b), 3, -1)
            wq, wk, wv = w[:E], w[E:2 * E], w[2 * E:]
        else:
            wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        return ops.linear(query, wq, bq), ops.linear(key, wk, bk), ops.linear(value, wv, bv)

    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Any = None,
                need_weights: bool = True, attn_mask: Any = None,
                average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
        """``(attn_output, attn_weights)``; see the class docstring for layouts and masks.
        ``is_causal`` is a hint, as in PyTorch: ``attn_mask`` must hold the causal mask."""
        if is_causal and attn_mask is None:
            raise RuntimeError("MultiheadAttention: is_causal=True is a hint and needs attn_mask "
                               "too (e.g. nn.Transformer.generate_square_subsequent_mask(L))")
        batched = query.ndim == 3
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise ValueError(f"MultiheadAttention: query {fmt_shape(query.shape)}, key "
                             f"{fmt_shape(key.shape)}, value {fmt_shape(value.shape)}; expected "
                             "all 3-D (batched) or all 2-D (unbatched)")
        if query.shape[-1] != self.embed_dim:
            raise ValueError(f"MultiheadAttention: query has {query.shape[-1]} features "
                             f"(shape {fmt_shape(query.shape)}); expected embed_dim = "
                             f"{self.embed_dim}")
        same = query is key and key is value
        if not batched:  # (L, E) -> (1, L, E)
            query, key, value = (t.unsqueeze(0) for t in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = as_tensor(key_padding_mask).unsqueeze(0)
        elif not self.batch_first:  # (L, N, E) -> (N, L, E)
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        if same:
            key = value = query
        N, L, _ = query.shape
        S = key.shape[1]
        H, hd = self.num_heads, self.head_dim
        q, k, v = self._project(query, key, value)
        q, k, v = (t.reshape(N, t.shape[1], H, hd).transpose(1, 2) for t in (q, k, v))
        mask = self._merged_mask(attn_mask, key_padding_mask, q.dtype, N, L, S)
        p = self.dropout if self.training else 0.0
        if need_weights:
            scores = (q * (1.0 / math.sqrt(hd))) @ k.transpose(-2, -1)
            if mask is not None:
                scores = scores + mask
            weights = ops.softmax(scores, -1)
            if p > 0.0:
                weights = F.dropout(weights, p, True)
            out = weights @ v
        else:
            out = ops.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
            weights = None
        out = self.out_proj(out.transpose(1, 2).reshape(N, L, self.embed_dim))
        if not batched:
            out = out.squeeze(0)
        elif not self.batch_first:
            out = out.transpose(0, 1)
        if weights is not None:
            if average_attn_weights:
                weights = weights.mean(1)
            if not batched:
                weights = weights.squeeze(0)
        return out, weights

    def _merged_mask(self, attn_mask: Any, key_padding_mask: Any, dtype: Any, N: int, L: int,
                     S: int) -> Tensor | None:
        """One additive mask broadcastable to (N, H, L, S), from PyTorch's two."""
        am = _float_mask(attn_mask, dtype, "attn_mask")
        kpm = _float_mask(key_padding_mask, dtype, "key_padding_mask")
        if am is not None:
            if am.ndim == 3:
                if am.shape != (N * self.num_heads, L, S):
                    raise ValueError(f"MultiheadAttention: attn_mask has shape "
                                     f"{fmt_shape(am.shape)}; expected ({L}, {S}) or "
                                     f"({N * self.num_heads}, {L}, {S})")
                am = am.reshape(N, self.num_heads, L, S)
            elif am.shape != (L, S):
                raise ValueError(f"MultiheadAttention: attn_mask has shape {fmt_shape(am.shape)};"
                                 f" expected ({L}, {S}) or ({N * self.num_heads}, {L}, {S})")
        if kpm is not None:
            if kpm.shape != (N, S):
                raise ValueError(f"MultiheadAttention: key_padding_mask has shape "
                                 f"{fmt_shape(kpm.shape)}; expected (batch, source length) = "
                                 f"({N}, {S})")
            kpm = kpm.reshape(N, 1, 1, S)
            am = kpm if am is None else am + kpm
        return am


def _out_and_weights(result: tuple) -> Any:
    """The module sweep's view of (output, weights): both in one tensor, so both are checked."""
    out, weights = result
    return out + weights[..., :1]
