"""Recurrent layers and ``nn.utils.rnn`` beyond the module sweep's one sample: every option
against PyTorch with copied weights, packed vs padded batches, initial-state gradients,
backpropagation through 20 steps by finite differences, and the errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
from chainrule.nn.utils import rnn as rnn_utils

try:
    import torch
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


def _pair(name: str, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
    """Our layer (float64, weights moved off init) and torch's with the same weights."""
    cr.manual_seed(0)
    ours = getattr(nn, name)(*args, **kwargs).double()
    rng = np.random.default_rng(3)
    ours.load_state_dict({k: cr.tensor(v.detach().numpy() + 0.1 * rng.standard_normal(v.shape))
                          for k, v in ours.state_dict().items()})
    theirs = getattr(torch.nn, name)(*args, **kwargs).double()
    theirs.load_state_dict({k: torch.from_numpy(v.detach().numpy().copy())
                            for k, v in ours.state_dict().items()})
    return ours, theirs


def _flat(out: Any) -> list:
    if isinstance(out, (tuple, list)):
        return [a for o in out for a in _flat(o)]
    return [out]


def _compare(ours: Any, theirs: Any, inputs: list[np.ndarray], call: Any = None) -> None:
    """Outputs, input gradients and parameter gradients of a random projection agree."""
    call = call or (lambda m, *xs: m(*xs))
    xo = [cr.tensor(x, requires_grad=True) for x in inputs]
    xt = [torch.tensor(x, requires_grad=True) for x in inputs]
    yo, yt = _flat(call(ours, *xo)), _flat(call(theirs, *xt))
    assert len(yo) == len(yt)
    rng = np.random.default_rng(5)
    lo, lt = 0, 0
    for a, b in zip(yo, yt):
        if isinstance(b, torch.Tensor) and b.dtype == torch.int64:
            np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
            continue
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-9, atol=1e-12)
        u = rng.standard_normal(a.shape)
        lo = lo + (a * cr.tensor(u)).sum()
        lt = lt + (b * torch.tensor(u)).sum()
    lo.backward()
    lt.backward()
    for i, (a, b) in enumerate(zip(xo, xt)):
        np.testing.assert_allclose(a.grad.detach().numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=f"input {i}")
    tp = dict(theirs.named_parameters())
    for k, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tp[k].grad.numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=k)


_GEN = [np.random.default_rng(0)]


def R(shape: Any) -> np.ndarray:
    """Standard normal values from a generator reset before each test: a test's data do not
    depend on which tests ran before it (issue 13 item 23)."""
    return _GEN[0].standard_normal(shape)


@pytest.fixture(autouse=True)
def _fresh_generator() -> None:
    _GEN[0] = np.random.default_rng(0)


@needs_torch
@pytest.mark.parametrize("name,kwargs", [
    ("RNN", {"num_layers": 3, "bidirectional": True}),
    ("RNN", {"nonlinearity": "relu", "num_layers": 2}),
    ("RNN", {"bias": False, "batch_first": True}),
    ("LSTM", {"num_layers": 2, "bidirectional": True, "batch_first": True}),
    ("LSTM", {"proj_size": 2, "num_layers": 2, "bidirectional": True}),
    ("LSTM", {"bias": False}),
    ("GRU", {"num_layers": 3, "bidirectional": True}),
    ("GRU", {"batch_first": True, "bias": False}),
])
def test_layers_match_torch_with_initial_state(name: str, kwargs: dict) -> None:
    ours, theirs = _pair(name, 4, 3, **kwargs)
    L = kwargs.get("num_layers", 1) * (2 if kwargs.get("bidirectional") else 1)
    H = kwargs.get("proj_size", 0) or 3
    x = R((2, 5, 4)) if kwargs.get("batch_first") else R((5, 2, 4))
    if name == "LSTM":
        _compare(ours, theirs, [x, R((L, 2, H)), R((L, 2, 3))],
                 lambda m, x, h, c: m(x, (h, c)))
    else:
        _compare(ours, theirs, [x, R((L, 2, H))])


@needs_torch
@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_zero_initial_state_and_unbatched_input(name: str) -> None:
    ours, theirs = _pair(name, 4, 3, num_layers=2, bidirectional=True)
    _compare(ours, theirs, [R((5, 2, 4))])
    _compare(ours, theirs, [R((5, 4))])  # unbatched (T, input_size)
    if name == "LSTM":
        _compare(ours, theirs, [R((5, 4)), R((4, 3)), R((4, 3))],
                 lambda m, x, h, c: m(x, (h, c)))
    else:
        _compare(ours, theirs, [R((5, 4)), R((4, 3))])


@needs_torch
@pytest.mark.parametrize("name", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("batched", [True, False])
def test_cells_match_torch(name: str, batched: bool) -> None:
    ours, theirs = _pair(name, 4, 3)
    shape = (2,) if batched else ()
    states = [R((*shape, 3)) for _ in range(2 if name == "LSTMCell" else 1)]
    call = (lambda m, x, h, c: m(x, (h, c))) if name == "LSTMCell" else None
    _compare(ours, theirs, [R((*shape, 4)), *states], call)
    _compare(ours, theirs, [R((*shape, 4))])  # zero state


@needs_torch
def test_relu_rnn_cell_and_repr() -> None:
    ours, theirs = _pair("RNNCell", 4, 3, nonlinearity="relu", bias=False)
    _compare(ours, theirs, [R((2, 4)), R((2, 3))])
    assert repr(ours) == repr(theirs) == "RNNCell(4, 3, bias=False, nonlinearity=relu)"
    assert repr(nn.LSTM(4, 3, 2, dropout=0.5, proj_size=2)) == \
        repr(torch.nn.LSTM(4, 3, 2, dropout=0.5, proj_size=2))


# --- packed sequences ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_packed_equals_each_sequence_run_alone(name: str) -> None:
    """A packed batch gives, for every sequence, the outputs and h_n of running it alone
    (unsorted lengths, enforce_sorted=False, bidirectional, two layers)."""
    cr.manual_seed(0)
    m = getattr(nn, name)(3, 4, num_layers=2, bidirectional=True).double()
    lengths = [2, 5, 1, 4]
    x = cr.tensor(R((5, 4, 3)))
    packed = rnn_utils.pack_padded_sequence(x, lengths, enforce_sorted=False)
    out, hn = m(packed)
    padded, lens = rnn_utils.pad_packed_sequence(out)
    assert lens.tolist() == lengths and padded.shape == (5, 4, 8)
    hs = _flat(hn)
    for b, n in enumerate(lengths):
        alone_out, alone_h = m(x[:n, b:b + 1])
        np.testing.assert_allclose(padded.detach().numpy()[:n, b],
                                   alone_out.detach().numpy()[:, 0], rtol=1e-12,
                                   atol=1e-15)  # entries near 0: float64 rounding, not a bug
        assert not padded.detach().numpy()[n:, b].any()
        for h, ha in zip(hs, _flat(alone_h)):
            np.testing.assert_allclose(h.detach().numpy()[:, b], ha.detach().numpy()[:, 0],
                                       rtol=1e-12, atol=1e-15)


@needs_torch
@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_packed_matches_torch(name: str, enforce_sorted: bool) -> None:
    ours, theirs = _pair(name, 3, 4, num_layers=2, bidirectional=True, batch_first=True)
    lengths = [5, 4, 2, 1] if enforce_sorted else [2, 5, 1, 4]

    def call(m: Any, x: Any, h: Any, c: Any = None) -> Any:
        u = rnn_utils if isinstance(m, nn.Module) else torch.nn.utils.rnn
        packed = u.pack_padded_sequence(x, lengths, batch_first=True,
                                        enforce_sorted=enforce_sorted)
        out, hn = m(packed, (h, c) if c is not None else h)
        assert type(out).__name__ == "PackedSequence"
        return u.pad_packed_sequence(out, batch_first=True, total_length=6), hn

    states = [R((4, 4, 4)) for _ in range(2 if name == "LSTM" else 1)]
    _compare(ours, theirs, [R((4, 5, 3)), *states], call)


@needs_torch
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_and_pack_utilities_match_torch(batch_first: bool, side: str) -> None:
    seqs = [R((n, 2)) for n in (3, 5, 1)]
    ours = rnn_utils.pad_sequence([cr.tensor(s) for s in seqs], batch_first, -1.0, side)
    theirs = torch.nn.utils.rnn.pad_sequence([torch.tensor(s) for s in seqs], batch_first,
                                             -1.0, side)
    np.testing.assert_array_equal(ours.detach().numpy(), theirs.detach().numpy())
    po = rnn_utils.pack_sequence([cr.tensor(s) for s in seqs], enforce_sorted=False)
    pt = torch.nn.utils.rnn.pack_sequence([torch.tensor(s) for s in seqs],
                                          enforce_sorted=False)
    for a, b in zip(po, pt):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    for a, b in zip(rnn_utils.unpack_sequence(po), torch.nn.utils.rnn.unpack_sequence(pt)):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_gradient_flows_through_pack_and_unpack() -> None:
    x = cr.tensor(R((4, 3, 2)), requires_grad=True)

    def f(x: cr.Tensor) -> cr.Tensor:
        p = rnn_utils.pack_padded_sequence(x, cr.tensor([2, 4, 3]), enforce_sorted=False)
        y, _ = rnn_utils.pad_packed_sequence(p._with_data(p.data * p.data))
        return y
    assert cr.autograd.gradcheck(f, [x])
    y = f(x)
    y.sum().backward()
    mask = np.zeros((4, 3, 1))
    for b, n in enumerate([2, 4, 3]):
        mask[:n, b] = 1
    np.testing.assert_allclose(x.grad.detach().numpy(), 2 * x.detach().numpy() * mask)


def test_enforce_sorted_and_length_errors() -> None:
    x = cr.zeros(4, 3, 2)
    with pytest.raises(RuntimeError, match="enforce_sorted=False"):
        rnn_utils.pack_padded_sequence(x, [2, 4, 3])
    with pytest.raises(ValueError, match="length <= 0"):
        rnn_utils.pack_padded_sequence(x, [4, 3, 0])
    with pytest.raises(ValueError, match="lengths <= 4"):
        rnn_utils.pack_padded_sequence(x, [5, 3, 1])
    with pytest.raises(ValueError, match="one length per sequence"):
        rnn_utils.pack_padded_sequence(x, [4, 3])
    p = rnn_utils.pack_padded_sequence(x, [4, 3, 1])
    assert p.sorted_indices is None and p.batch_sizes.tolist() == [3, 2, 2, 1]
    with pytest.raises(ValueError, match="total_length >= 4"):
        rnn_utils.pad_packed_sequence(p, total_length=3)


# --- gradients through time -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_gradcheck_through_20_time_steps(name: str) -> None:
    """Backpropagation through time matches finite differences over 20 steps, for the input,
    the initial state(s) and the recurrent weight."""
    cr.manual_seed(0)
    m = getattr(nn, name)(2, 3).double()
    x = cr.tensor(R((20, 2, 2)), requires_grad=True)
    states = [cr.tensor(R((1, 2, 3)), requires_grad=True)
              for _ in range(2 if name == "LSTM" else 1)]
    w = cr.tensor(m.weight_hh_l0.detach().numpy().copy(), requires_grad=True)

    def f(x: Any, w: Any, *states: Any) -> Any:
        m._parameters["weight_hh_l0"] = w
        out, hn = m(x, tuple(states) if name == "LSTM" else states[0])
        return out.sum() + _flat(hn)[0].sum()

    assert cr.autograd.gradcheck(f, [x, w, *states], eps=1e-6, atol=1e-6, rtol=1e-4)


@needs_torch
def test_initial_state_gradients_match_torch() -> None:
    ours, theirs = _pair("LSTM", 3, 4, num_layers=2)
    h0, c0 = R((2, 3, 4)), R((2, 3, 4))
    ho, co = cr.tensor(h0, requires_grad=True), cr.tensor(c0, requires_grad=True)
    ht, ct = torch.tensor(h0, requires_grad=True), torch.tensor(c0, requires_grad=True)
    x = R((6, 3, 3))
    ours(cr.tensor(x), (ho, co))[0][-1].sum().backward()
    theirs(torch.tensor(x), (ht, ct))[0][-1].sum().backward()
    np.testing.assert_allclose(ho.grad.detach().numpy(), ht.grad.detach().numpy(), rtol=1e-9)
    np.testing.assert_allclose(co.grad.detach().numpy(), ct.grad.detach().numpy(), rtol=1e-9)


def test_dropout_between_layers_only_in_training() -> None:
    cr.manual_seed(0)
    m = nn.GRU(3, 4, num_layers=2, dropout=0.5)
    x = cr.randn(5, 2, 3)
    cr.manual_seed(1)
    a = m(x)[0].detach().numpy()
    cr.manual_seed(2)
    b = m(x)[0].detach().numpy()
    assert not np.allclose(a, b)
    m.eval()
    np.testing.assert_array_equal(m(x)[0].detach().numpy(), m(x)[0].detach().numpy())
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        nn.RNN(3, 4, dropout=0.2)


def test_parameters_names_shapes_and_init() -> None:
    m = nn.LSTM(5, 8, num_layers=2, bidirectional=True)
    shapes = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    assert list(shapes)[:5] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                                "weight_ih_l0_reverse"]
    assert shapes["weight_ih_l1_reverse"] == (32, 16) and shapes["weight_hh_l1"] == (32, 8)
    bound = 1 / np.sqrt(8)
    assert all(np.abs(p.detach().numpy()).max() <= bound for p in m.parameters())
    assert len(m.all_weights) == 4 and len(m.all_weights[0]) == 4
    m.flatten_parameters()
    out, (h, c) = m(cr.randn(7, 3, 5))
    assert out.shape == (7, 3, 16) and h.shape == c.shape == (4, 3, 8)
    out, (h, c) = nn.LSTM(5, 8, proj_size=3, batch_first=True)(cr.randn(2, 7, 5))
    assert out.shape == (2, 7, 3) and h.shape == (1, 2, 3) and c.shape == (1, 2, 8)
    assert nn.RNN(5, 8, 2, "relu").nonlinearity == "relu"


def test_errors_name_the_layer_and_shapes() -> None:
    m = nn.LSTM(5, 8)
    with pytest.raises(ValueError, match=r"LSTM: input of shape \(7, 3, 4\) has 4 features but "
                       "input_size=5"):
        m(cr.randn(7, 3, 4))
    with pytest.raises(ValueError, match=r"LSTM: h_0 has shape \(1, 2, 8\); expected "
                       r"\(1, 3, 8\)"):
        m(cr.randn(7, 3, 5), (cr.zeros(1, 2, 8), cr.zeros(1, 3, 8)))
    with pytest.raises(TypeError, match=r"a tuple \(h_0, c_0\)"):
        m(cr.randn(7, 3, 5), cr.zeros(1, 3, 8))
    with pytest.raises(ValueError, match="2-D"):
        nn.GRU(5, 8)(cr.randn(7, 3, 5, 1))
    with pytest.raises(ValueError, match="only supported for LSTM"):
        nn.GRU(5, 8, proj_size=2)
    with pytest.raises(ValueError, match="Unknown nonlinearity"):
        nn.RNN(5, 8, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match=r"GRUCell: hx has shape \(2, 8\)"):
        nn.GRUCell(5, 8)(cr.randn(3, 5), cr.zeros(2, 8))


def test_trains_by_backprop_through_time() -> None:
    """An LSTM learns to output the first element of its sequence at the last step (needs
    memory over 8 steps)."""
    cr.manual_seed(0)
    lstm, head = nn.LSTM(1, 8), nn.Linear(8, 1)
    opt = cr.optim.Adam([*lstm.parameters(), *head.parameters()], lr=0.03)
    x = cr.randn(8, 32, 1)
    first = None
    for _ in range(150):
        out, _ = lstm(x)
        loss = ((head(out[-1]) - x[0]) ** 2).mean()
        first = first or loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 * first
