"""The tensor functions attention code reaches for (tril, triu, cumsum, multinomial, baddbmm,
masked_fill, topk, where, bmm) and ``F.scaled_dot_product_attention``'s semantics: masks, causal,
dropout, fully masked rows, errors. The registry sweep checks the gradients; these check what a
PyTorch user writes."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

try:
    import torch
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


def test_tril_triu_as_a_student_writes_them() -> None:
    T = 4
    m = cr.ones(T, T).tril()
    np.testing.assert_array_equal(m.detach().numpy(), np.tril(np.ones((T, T), np.float32)))
    assert m.dtype == np.float32
    np.testing.assert_array_equal(cr.tril(cr.ones(3, 4), diagonal=1).detach().numpy(),
                                  np.tril(np.ones((3, 4)), 1))
    np.testing.assert_array_equal(cr.ones(2, 3, 3).triu(1).detach().numpy(),
                                  np.triu(np.ones((2, 3, 3)), 1))
    with pytest.raises(ValueError, match=r"tril: input has shape \(3,\).*at least 2"):
        cr.tril(cr.ones(3))


def test_masked_fill_then_softmax_gives_exact_zeros_and_right_gradients() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, 4, 4))
    u = rng.standard_normal((2, 4, 4))
    x = cr.tensor(a, requires_grad=True)
    tril = cr.tril(cr.ones(4, 4))
    w = x.masked_fill(tril == 0, float("-inf")).softmax(-1)  # (4, 4) mask broadcasts to (2, 4, 4)
    assert (w.detach().numpy()[:, np.triu_indices(4, 1)[0], np.triu_indices(4, 1)[1]] == 0).all()
    (w * cr.tensor(u)).sum().backward()
    assert (x.grad.detach().numpy()[:, 0, 1:] == 0).all()
    if torch is not None:
        xt = torch.tensor(a, requires_grad=True)
        wt = xt.masked_fill(torch.ones(4, 4).tril() == 0, float("-inf")).softmax(-1)
        (wt * torch.tensor(u)).sum().backward()
        np.testing.assert_allclose(w.detach().numpy(), wt.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(x.grad.detach().numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_cumsum_method_dtype_and_ints() -> None:
    x = cr.tensor([[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(x.cumsum(1).detach().numpy(), [[1, 3, 6], [4, 9, 15]])
    assert x.cumsum(dim=0).dtype == np.int64
    assert cr.cumsum(x, 1, dtype=cr.float32).dtype == np.float32
    with pytest.raises(IndexError, match="cumsum"):
        cr.cumsum(x, 2)


def test_multinomial_seeded_with_and_without_replacement() -> None:
    p = cr.tensor([0.1, 0.0, 0.6, 0.3])
    cr.manual_seed(3)
    a = cr.multinomial(p, 5, replacement=True)
    cr.manual_seed(3)
    b = p.multinomial(5, True)
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    assert a.dtype == np.int64 and a.shape == (5,) and not a.requires_grad
    g = cr.Generator().manual_seed(1)
    draws = cr.multinomial(p.expand(2000, 4), 1, True, generator=g).detach().numpy().ravel()
    freq = np.bincount(draws, minlength=4) / draws.size
    np.testing.assert_allclose(freq, [0.1, 0.0, 0.6, 0.3], atol=0.04)
    assert freq[1] == 0
    rows = cr.multinomial(cr.tensor([[1.0, 1.0, 1.0], [0.0, 2.0, 1.0]]), 2)
    assert rows.shape == (2, 2)
    assert all(len(set(r)) == 2 for r in rows.detach().numpy().tolist())
    assert 0 not in rows.detach().numpy()[1]
    # without replacement: the first draw follows the weights
    first = [cr.multinomial(cr.tensor([1.0, 3.0]), 2)[0].item() for _ in range(800)]
    assert abs(np.mean(first) - 0.75) < 0.06


def test_multinomial_errors_teach() -> None:
    with pytest.raises(ValueError, match=r"multinomial: cannot draw 3 distinct.*replacement=True"):
        cr.multinomial(cr.tensor([0.5, 0.0, 0.5]), 3)
    with pytest.raises(ValueError, match="multinomial: invalid weights"):
        cr.multinomial(cr.tensor([0.5, -1.0]), 1)
    with pytest.raises(TypeError, match="multinomial: input has dtype int64"):
        cr.multinomial(cr.tensor([1, 2]), 1)


@needs_torch
def test_baddbmm_matches_torch() -> None:
    rng = np.random.default_rng(1)
    i, b1, b2 = rng.standard_normal((3, 1)), rng.standard_normal((2, 3, 4)), \
        rng.standard_normal((2, 4, 5))
    ours = cr.tensor(i).baddbmm(cr.tensor(b1), cr.tensor(b2), beta=0.5, alpha=2.0)
    theirs = torch.tensor(i).baddbmm(torch.tensor(b1), torch.tensor(b2), beta=0.5, alpha=2.0)
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-12)
    nan = cr.full((2, 3, 5), float("nan"))
    assert np.isfinite(cr.baddbmm(nan, cr.tensor(b1), cr.tensor(b2), beta=0).detach().numpy()).all()


def test_existing_helpers_attention_code_uses() -> None:
    x = cr.tensor([[1.0, 5.0, 3.0], [2.0, 0.0, 4.0]])
    v, i = x.topk(2)
    np.testing.assert_array_equal(v.detach().numpy(), [[5, 3], [4, 2]])
    np.testing.assert_array_equal(i.detach().numpy(), [[1, 2], [2, 0]])
    v, _ = cr.topk(x, 1, dim=0)
    np.testing.assert_array_equal(v.detach().numpy(), [[2, 5, 4]])
    np.testing.assert_array_equal(cr.where(x > 2, x, cr.zeros(1)).numpy(), [[0, 5, 3], [0, 0, 4]])
    assert cr.bmm(cr.ones(2, 3, 4), cr.ones(2, 4, 5)).shape == (2, 3, 5)
    logits = cr.tensor([[1.0, 2.0, 3.0]])
    v, _ = logits.topk(2)
    kept = logits.masked_fill(logits < v[:, [-1]], float("-inf"))  # top-k sampling, as in nanoGPT
    assert np.isinf(kept.detach().numpy()[0, 0]) and F.softmax(kept, dim=-1).numpy()[0, 0] == 0


# --- scaled_dot_product_attention ---------------------------------------------------------------


def _qkv(rng: np.random.Generator, L: int = 3, S: int = 5) -> tuple:
    return (rng.standard_normal((2, 2, L, 4)), rng.standard_normal((2, 2, S, 4)),
            rng.standard_normal((2, 2, S, 3)))


def _both(args: tuple, **kw: object) -> tuple:
    """Our output and input gradients, and torch's, for the same call."""
    rng = np.random.default_rng(9)
    ours = [cr.tensor(a, requires_grad=True) for a in args]
    theirs = [torch.tensor(a, requires_grad=True) for a in args]
    mask = kw.pop("attn_mask", None)
    yo = F.scaled_dot_product_attention(*ours, attn_mask=None if mask is None else cr.tensor(mask),
                                        **kw)
    yt = torch.nn.functional.scaled_dot_product_attention(
        *theirs, attn_mask=None if mask is None else torch.tensor(mask), **kw)
    u = rng.standard_normal(yo.shape)
    yo.backward(cr.tensor(u))
    yt.backward(torch.tensor(u))
    return yo, yt, ours, theirs


@needs_torch
@pytest.mark.parametrize("case", ["none", "bool", "bool_row_masked", "float", "causal",
                                  "causal_rect", "scale"])
def test_sdpa_matches_torch(case: str) -> None:
    rng = np.random.default_rng(2)
    args = _qkv(rng, L=4 if case == "causal" else 3, S=4 if case == "causal" else 5)
    kw: dict = {}
    if case.startswith("bool"):
        m = rng.random((3, 5)) > 0.5
        m[:, 0] = True
        if case == "bool_row_masked":
            m[1] = False  # a query that may attend to nothing: zeros, as PyTorch
        kw["attn_mask"] = m
    elif case == "float":
        kw["attn_mask"] = rng.standard_normal((2, 1, 3, 5))
    elif case.startswith("causal"):
        kw["is_causal"] = True
    elif case == "scale":
        kw["scale"] = 0.3
    yo, yt, ours, theirs = _both(args, **kw)
    np.testing.assert_allclose(yo.detach().numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.detach().numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-12)
    if case == "bool_row_masked":
        assert (yo.detach().numpy()[:, :, 1] == 0).all()


def test_sdpa_dropout_is_seeded_and_scaled() -> None:
    rng = np.random.default_rng(3)
    q, k, v = (cr.tensor(a) for a in _qkv(rng))
    cr.manual_seed(0)
    a = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    cr.manual_seed(0)
    b = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    plain = F.scaled_dot_product_attention(q, k, v)
    assert not np.allclose(a.detach().numpy(), plain.detach().numpy())
    ones = cr.ones(1, 1, 2000, 1)
    out = F.scaled_dot_product_attention(cr.zeros(1, 1, 1, 1), cr.zeros(1, 1, 2000, 1), ones,
                                         dropout_p=0.25)
    assert abs(out.item() - 1.0) < 0.05  # inverted dropout keeps the expectation
    assert (F.scaled_dot_product_attention(q, k, v, dropout_p=1.0).detach().numpy() == 0).all()


def test_sdpa_float32_stays_float32_and_errors_teach() -> None:
    q = cr.randn(2, 3, 4)
    assert F.scaled_dot_product_attention(q, q, q, is_causal=True).dtype == np.float32
    with pytest.raises(ValueError, match="scaled_dot_product_attention: query \\(2, 3, 4\\), "
                       "key \\(2, 3, 5\\)"):
        F.scaled_dot_product_attention(q, cr.randn(2, 3, 5), q)
    with pytest.raises(ValueError, match="both attn_mask and is_causal"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=cr.ones(3, 3) == 1, is_causal=True)
    with pytest.raises(NotImplementedError, match="enable_gqa"):
        F.scaled_dot_product_attention(q, q, q, enable_gqa=True)
