"""MultiheadAttention and the transformer layers beyond their module-sweep samples: every mask
form, need_weights/average_attn_weights, unbatched input, self-attention, norm_first,
activations, PyTorch's weights and its eval fast path, and the errors."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn

try:
    import torch
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


def _copy_weights(ours: nn.Module, theirs: Any) -> None:
    theirs.load_state_dict({k: torch.from_numpy(v.detach().numpy().copy())
                            for k, v in ours.state_dict().items()})


def _pair(cls: str, *args: Any, **kwargs: Any) -> tuple:
    cr.manual_seed(0)
    ours = getattr(nn, cls)(*args, **kwargs).double()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's nested-tensor fast-path notices
        theirs = getattr(torch.nn, cls)(*args, **kwargs).double()
    _copy_weights(ours, theirs)
    return ours, theirs


def _close(a: Any, b: Any, rtol: float = 1e-9) -> None:
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=rtol, atol=1e-10)


@needs_torch
@pytest.mark.parametrize("kw", [{}, {"batch_first": True}, {"kdim": 3, "vdim": 5},
                                {"bias": False}])
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("average", [True, False])
def test_multihead_attention_matches_torch(kw: dict, need_weights: bool, average: bool) -> None:
    ours, theirs = _pair("MultiheadAttention", 4, 2, **kw)
    rng = np.random.default_rng(0)
    q = rng.standard_normal((3, 2, 4))
    k = rng.standard_normal((5, 2, kw.get("kdim", 4)))
    v = rng.standard_normal((5, 2, kw.get("vdim", 4)))
    if kw.get("batch_first"):
        q, k, v = (a.swapaxes(0, 1) for a in (q, k, v))
    am = rng.random((3, 5)) > 0.8
    kpm = rng.random((2, 5)) > 0.7
    am[:, 0] = kpm[:, 0] = False
    fm = rng.standard_normal((2 * 2, 3, 5))  # a float mask per batch entry and head
    for attn_mask, key_padding_mask in ((am, kpm), (fm, None), (None, kpm), (None, None)):
        xo = [cr.tensor(a, requires_grad=True) for a in (q, k, v)]
        xt = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
        mo = {"attn_mask": None if attn_mask is None else cr.tensor(attn_mask),
              "key_padding_mask": None if key_padding_mask is None else cr.tensor(key_padding_mask)}
        mt = {k_: None if v_ is None else torch.tensor(v_.numpy()) for k_, v_ in mo.items()}
        o, w = ours(*xo, need_weights=need_weights, average_attn_weights=average, **mo)
        ot, wt = theirs(*xt, need_weights=need_weights, average_attn_weights=average, **mt)
        _close(o, ot)
        if need_weights:
            _close(w, wt)
        else:
            assert w is None and wt is None
        u = rng.standard_normal(o.shape)
        o.backward(cr.tensor(u))
        ot.backward(torch.tensor(u))
        for a, b in zip(xo, xt):
            _close(a.grad, b.grad)
        tp = dict(theirs.named_parameters())
        for name, p in ours.named_parameters():
            _close(p.grad, tp[name].grad)
        ours.zero_grad()
        theirs.zero_grad()


@needs_torch
def test_multihead_self_attention_unbatched_and_causal_hint() -> None:
    ours, theirs = _pair("MultiheadAttention", 4, 2)
    x = np.random.default_rng(1).standard_normal((3, 4))
    xo, xt = cr.tensor(x), torch.tensor(x)
    mask = nn.Transformer.generate_square_subsequent_mask(3, dtype=cr.float64)
    o, w = ours(xo, xo, xo, attn_mask=mask, is_causal=True)
    ot, wt = theirs(xt, xt, xt, attn_mask=torch.tensor(mask.detach().numpy()), is_causal=True)
    assert o.shape == (3, 4) and w.shape == (3, 3)
    _close(o, ot)
    _close(w, wt)
    assert (w.detach().numpy()[np.triu_indices(3, 1)] == 0).all()


def test_multihead_attention_errors_teach() -> None:
    with pytest.raises(ValueError, match="embed_dim 6 is not divisible by num_heads 4"):
        nn.MultiheadAttention(6, 4)
    with pytest.raises(NotImplementedError, match="add_bias_kv"):
        nn.MultiheadAttention(4, 2, add_bias_kv=True)
    m = nn.MultiheadAttention(4, 2)
    x = cr.randn(3, 2, 4)
    with pytest.raises(RuntimeError, match="is_causal=True is a hint and needs attn_mask"):
        m(x, x, x, is_causal=True)
    with pytest.raises(ValueError, match=r"key_padding_mask has shape \(3, 3\); expected"):
        m(x, x, x, key_padding_mask=cr.zeros(3, 3) == 1)
    with pytest.raises(ValueError, match="query has 5 features"):
        m(cr.randn(3, 2, 5), x, x)


@needs_torch
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu", "callable"])
def test_encoder_layer_options_match_torch(norm_first: bool, activation: str) -> None:
    act_o = cr.nn.functional.silu if activation == "callable" else activation
    act_t = torch.nn.functional.silu if activation == "callable" else activation
    cr.manual_seed(0)
    ours = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation=act_o,
                                      norm_first=norm_first).double()
    theirs = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation=act_t,
                                              norm_first=norm_first).double()
    _copy_weights(ours, theirs)
    x = np.random.default_rng(2).standard_normal((5, 3, 8))
    kpm = np.zeros((3, 5), bool)
    kpm[1, 3:] = True  # a padded sequence
    kpm = np.where(kpm, -np.inf, 0.0)  # float, like src_mask (torch warns on mixed types)
    mask = nn.Transformer.generate_square_subsequent_mask(5, dtype=cr.float64)
    o = ours(cr.tensor(x), src_mask=mask, src_key_padding_mask=cr.tensor(kpm), is_causal=True)
    t = theirs(torch.tensor(x), src_mask=torch.tensor(mask.detach().numpy()),
               src_key_padding_mask=torch.tensor(kpm), is_causal=True)
    _close(o, t)


@needs_torch
def test_transformer_default_layout_matches_torch_and_eval_fast_path() -> None:
    """Sequence-first layout (PyTorch's default); then torch's eval fast path (no grad), which
    computes the same function by other kernels: equal to rounding in float32."""
    kw = {"d_model": 8, "nhead": 2, "num_encoder_layers": 2, "num_decoder_layers": 2,
          "dim_feedforward": 16, "dropout": 0.1}
    ours, theirs = _pair("Transformer", **kw)
    ours.eval()
    theirs.eval()
    rng = np.random.default_rng(3)
    src, tgt = rng.standard_normal((6, 2, 8)), rng.standard_normal((4, 2, 8))
    mask = nn.Transformer.generate_square_subsequent_mask(4)
    o = ours(cr.tensor(src), cr.tensor(tgt), tgt_mask=mask.double())
    t = theirs(torch.tensor(src), torch.tensor(tgt), tgt_mask=torch.tensor(mask.numpy()).double())
    _close(o, t)
    enc_o = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 2)
    enc_t = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(8, 2, 16,
                                                                         batch_first=True), 2)
    _copy_weights(enc_o, enc_t)
    enc_o.eval()
    enc_t.eval()
    x = rng.standard_normal((2, 6, 8)).astype(np.float32)
    with torch.no_grad():
        ref = enc_t(torch.tensor(x))
    np.testing.assert_allclose(enc_o(cr.tensor(x)).detach().numpy(), ref.numpy(), rtol=1e-4,
                               atol=1e-5)


def test_square_subsequent_mask_and_training_step() -> None:
    m = nn.Transformer.generate_square_subsequent_mask(3)
    assert m.dtype == np.float32
    np.testing.assert_array_equal(m.numpy(), [[0, -np.inf, -np.inf], [0, 0, -np.inf], [0, 0, 0]])
    cr.manual_seed(0)
    model = nn.Transformer(8, 2, 1, 1, 16, dropout=0.1, batch_first=True, norm_first=True,
                           activation="gelu")
    opt = cr.optim.Adam(model.parameters(), lr=1e-2)
    src, tgt = cr.randn(4, 5, 8), cr.randn(4, 3, 8)
    losses = []
    for _ in range(15):
        opt.zero_grad()
        loss = ((model(src, tgt, tgt_mask=m, tgt_is_causal=True) - tgt) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        nn.TransformerEncoderLayer(8, 2, activation="tanh")
