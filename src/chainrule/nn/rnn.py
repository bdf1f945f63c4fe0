"""Recurrent layers: ``RNN`` (tanh, relu), ``LSTM``, ``GRU`` and their cells, as ``torch.nn``.

Composed from existing ops (``linear``, ``sigmoid``, ``tanh``, ``unbind``, ``stack``/``cat``) and
trained by backpropagation through time: the engine differentiates the unrolled loop. Every
layer runs the same loop (``_scan``): the input-to-hidden product of a whole layer is one GEMM
over all time steps, then each step adds the hidden-to-hidden product and applies the cell.

Gates, weights and shapes are PyTorch's, so a PyTorch ``state_dict`` loads as is:

- ``weight_ih_l{k}`` (G*H, in), ``weight_hh_l{k}`` (G*H, H), ``bias_ih_l{k}``, ``bias_hh_l{k}``
  (G*H,), with a ``_reverse`` suffix for the backward direction; G = 1 (RNN), 4 (LSTM: i, f, g,
  o) or 3 (GRU: r, z, n); ``weight_hr_l{k}`` (P, H) for an LSTM with ``proj_size=P``.
- LSTM: i, f, o = sigmoid(.), g = tanh(.); c' = f*c + i*g; h' = o*tanh(c') (then h' @ W_hr^T).
- GRU: r, z = sigmoid(W_i{r,z} x + b_i{r,z} + W_h{r,z} h + b_h{r,z});
  n = tanh(W_in x + b_in + r * (W_hn h + b_hn)); h' = (1 - z) * n + z * h.
- Initialisation: every parameter ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).

Not fused: bench/rnn_step.py measures an LSTM forward + backward beside PyTorch's; see
docs/rnn.md for the ratio.
"""

from __future__ import annotations

import math
import numbers
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from chainrule import creation, ops
from chainrule.autograd.factories import as_tensor
from chainrule.autograd.tensor import Tensor
from chainrule.errors import fmt_shape, op_error
from chainrule.nn import functional as F
from chainrule.nn import init
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.nn.samples import Generator, ModuleSample
from chainrule.nn.utils.rnn import PackedSequence

__all__ = ["GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNBase", "RNNCell", "RNNCellBase"]

State = tuple  # (h,) for RNN and GRU, (h, c) for LSTM


# --- one time step of each cell: gi = W_ih x + b_ih (precomputed), state -> new state ---------


def _rnn_tanh_step(gi: Tensor, state: State, w_hh: Tensor, b_hh: Tensor | None,
                   w_hr: Tensor | None = None) -> State:
    return (ops.tanh(gi + ops.linear(state[0], w_hh, b_hh)),)


def _rnn_relu_step(gi: Tensor, state: State, w_hh: Tensor, b_hh: Tensor | None,
                   w_hr: Tensor | None = None) -> State:
    return (ops.relu(gi + ops.linear(state[0], w_hh, b_hh)),)


def _lstm_step(gi: Tensor, state: State, w_hh: Tensor, b_hh: Tensor | None,
               w_hr: Tensor | None = None) -> State:
    h, c = state
    H = c.shape[-1]
    gates = gi + ops.linear(h, w_hh, b_hh)
    s = ops.sigmoid(gates)  # i, f, o from one sigmoid (the g quarter is computed and unused)
    c = s[:, H:2 * H] * c + s[:, :H] * ops.tanh(gates[:, 2 * H:3 * H])
    h = s[:, 3 * H:] * ops.tanh(c)
    if w_hr is not None:
        h = ops.linear(h, w_hr, None)
    return h, c


def _gru_step(gi: Tensor, state: State, w_hh: Tensor, b_hh: Tensor | None,
              w_hr: Tensor | None = None) -> State:
    h = state[0]
    H = h.shape[-1]
    gh = ops.linear(h, w_hh, b_hh)
    rz = ops.sigmoid(gi[:, :2 * H] + gh[:, :2 * H])
    n = ops.tanh(gi[:, 2 * H:] + rz[:, :H] * gh[:, 2 * H:])
    return (n + rz[:, H:] * (h - n),)


_STEPS: dict[str, Callable[..., State]] = {
    "RNN_TANH": _rnn_tanh_step, "RNN_RELU": _rnn_relu_step, "LSTM": _lstm_step, "GRU": _gru_step,
}
_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _scan(step: Callable[..., State], gis: Sequence[Tensor], state: State, weights: tuple,
          reverse: bool) -> tuple[list[Tensor], State]:
    """Run one direction of one layer over time: backpropagation through time is the engine
    differentiating this loop.

    ``gis`` are the input products ``W_ih x_t + b_ih`` of the time steps, (B_t, gates) each;
    ``weights`` = (w_hh, b_hh, w_hr). A packed batch (longest sequence first) has B_t <= B,
    nonincreasing: step t runs only the first B_t sequences, so a finished sequence keeps its
    last state, which is its ``h_n``. Returns the outputs of the steps (in time order) and the
    final state.
    """
    w_hh, b_hh, w_hr = weights
    xs = gis
    T = len(xs)
    outs: list[Any] = [None] * T
    if reverse:  # sequences join as t decreases: their initial state enters then
        full = state
        state = tuple(s[:xs[-1].shape[0]] for s in full) \
            if xs[-1].shape[0] < full[0].shape[0] else full
        for t in range(T - 1, -1, -1):
            bs, have = xs[t].shape[0], state[0].shape[0]
            if bs > have:
                state = tuple(ops.cat([s, f[have:bs]], 0) for s, f in zip(state, full))
            state = step(xs[t], state, w_hh, b_hh, w_hr)
            outs[t] = state[0]
        return outs, state
    done: list[State] = []  # final states of finished sequences, last rows first
    for t in range(T):
        bs, have = xs[t].shape[0], state[0].shape[0]
        if bs < have:
            done.append(tuple(s[bs:] for s in state))
            state = tuple(s[:bs] for s in state)
        state = step(xs[t], state, w_hh, b_hh, w_hr)
        outs[t] = state[0]
    if done:
        state = tuple(ops.cat([s, *(d[i] for d in reversed(done))], 0)
                      for i, s in enumerate(state))
    return outs, state


def _time_steps(gi: Tensor, batch_sizes: list[int] | None) -> Sequence[Tensor]:
    """The input products of a whole sequence (one GEMM) cut into time steps: ``unbind`` (or
    ``split`` by batch sizes, packed), whose gradients join in one node. (Slicing ``gi[t]`` per
    step instead would send a full-size gradient back from every step: O(T^2) in backward.)"""
    return ops.unbind(gi, 0) if batch_sizes is None else ops.split(gi, batch_sizes, 0)


def _as_input(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else as_tensor(x)


def _joined(out: Any) -> Any:
    """Flatten a recurrent layer's nested outputs into one vector (``(output, h_n)``,
    ``(output, (h_n, c_n))``), for the module sweep; works on chainrule's and torch's tensors."""
    parts: list[Any] = []

    def walk(o: Any) -> None:
        if isinstance(o, (tuple, list)):
            for p in o:
                walk(p)
        else:
            parts.append(o.reshape(-1))
    walk(out)
    return sys.modules[type(parts[0]).__module__.split(".")[0]].cat(parts)


class RNNBase(Module):
    """The machinery shared by ``RNN``, ``LSTM`` and ``GRU`` (PyTorch's ``RNNBase``): weights
    named ``weight_ih_l{k}[_reverse]``..., multi-layer, bidirectional, ``batch_first``,
    ``dropout`` between layers, initial states, unbatched and packed input."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        name = {"RNN_TANH": "RNN", "RNN_RELU": "RNN"}.get(mode, mode)
        if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) \
                or not 0 <= dropout <= 1:
            raise ValueError("dropout should be a number in range [0, 1] representing the "
                             "probability of an element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so "
                          "non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", stacklevel=2)
        for arg, value in (("bias", bias), ("batch_first", batch_first)):
            if not isinstance(value, bool):
                raise TypeError(f"{arg} should be of type bool, got: {type(value).__name__}")
        for arg, value in (("input_size", input_size), ("hidden_size", hidden_size),
                           ("num_layers", num_layers)):
            if not isinstance(value, int):
                raise TypeError(f"{arg} should be of type int, got: {type(value).__name__}")
            if value <= 0:
                raise ValueError(f"{arg} must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable "
                             "projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if proj_size and mode != "LSTM":
            raise ValueError(f"{name}: proj_size argument is only supported for LSTM")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        gate_size = _GATES[mode] * hidden_size
        real_hidden = proj_size or hidden_size
        D = 2 if bidirectional else 1
        self._flat_weights_names: list[str] = []
        self._all_weights: list[list[str]] = []
        for layer in range(num_layers):
            for direction in range(D):
                in_size = input_size if layer == 0 else real_hidden * D
                shapes = [("weight_ih", (gate_size, in_size)),
                          ("weight_hh", (gate_size, real_hidden))]
                if bias:
                    shapes += [("bias_ih", (gate_size,)), ("bias_hh", (gate_size,))]
                if proj_size:
                    shapes += [("weight_hr", (proj_size, hidden_size))]
                suffix = "_reverse" if direction == 1 else ""
                names = []
                for base, shape in shapes:
                    n = f"{base}_l{layer}{suffix}"
                    setattr(self, n, Parameter(creation.empty(*shape, dtype=dtype,
                                                              device=device)))
                    names.append(n)
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def flatten_parameters(self) -> None:
        """A no-op (cuDNN's contiguous weight buffer does not exist here); kept so that scripts
        calling it run unchanged."""

    @property
    def all_weights(self) -> list[list[Parameter]]:
        """The parameters per layer and direction, in PyTorch's order."""
        return [[getattr(self, n) for n in names] for names in self._all_weights]

    @property
    def _flat_weights(self) -> list[Parameter]:
        return [getattr(self, n) for n in self._flat_weights_names]

    def _layer_weights(self, layer: int, direction: int) -> tuple:
        p = self._parameters
        sfx = f"_l{layer}" + ("_reverse" if direction else "")
        return (p["weight_ih" + sfx], p.get("bias_ih" + sfx), p["weight_hh" + sfx],
                p.get("bias_hh" + sfx), p.get("weight_hr" + sfx))

    def _name(self) -> str:
        return type(self).__name__

    def _state_shapes(self, batch: int) -> list[tuple[int, ...]]:
        D = 2 if self.bidirectional else 1
        h = (self.num_layers * D, batch, self.proj_size or self.hidden_size)
        return [h, (self.num_layers * D, batch, self.hidden_size)] if self.mode == "LSTM" \
            else [h]

    def _check_state(self, hx: list[Tensor], batch: int, batched: bool) -> None:
        labels = ["h_0", "c_0"]
        for i, (h, want) in enumerate(zip(hx, self._state_shapes(batch))):
            want = want if batched else (want[0], want[2])
            if tuple(h.shape) != want:
                hint = ("for unbatched (2-D) input the state is (num_layers * num_directions, "
                        "hidden_size)") if not batched else ""
                raise op_error(self._name(), f"{labels[i]} has shape {fmt_shape(h.shape)}",
                               f"{fmt_shape(want)} (num_layers * num_directions, batch, "
                               f"{'hidden' if i else 'hidden or proj'}_size)", hint)

    def forward(self, input: Any, hx: Any = None) -> tuple[Any, Any]:
        """``input`` is (T, B, input_size) ((B, T, ...) with ``batch_first``), unbatched
        (T, input_size), or a ``PackedSequence``; ``hx`` the initial state (zeros when None):
        ``h_0`` for RNN/GRU, ``(h_0, c_0)`` for LSTM, each (num_layers * num_directions, B,
        hidden_size). Returns ``(output, h_n)`` (RNN, GRU) or ``(output, (h_n, c_n))`` (LSTM),
        ``output`` being (T, B, num_directions * hidden_size) or packed like the input."""
        name = self._name()
        lstm = self.mode == "LSTM"
        packed = isinstance(input, PackedSequence)
        batch_sizes: list[int] | None = None
        if packed:
            x, bs_tensor, sorted_indices, unsorted_indices = input
            batch_sizes = [int(b) for b in bs_tensor.tolist()]
            B, batched = batch_sizes[0], True
        else:
            x = _as_input(input)
            sorted_indices = unsorted_indices = None
            if x.dim() not in (2, 3):
                raise op_error(name, f"input has shape {fmt_shape(x.shape)}",
                               "a 3-D (T, B, input_size) batch or 2-D (T, input_size) unbatched "
                               "input", kind=ValueError)
            batched = x.dim() == 3
            if not batched:
                x = ops.unsqueeze(x, 1)
            elif self.batch_first:
                x = ops.transpose(x, 0, 1)
            B = x.shape[1]
        if x.shape[-1] != self.input_size:
            raise op_error(name, f"input of shape {fmt_shape(x.shape)} has {x.shape[-1]} "
                           f"features but input_size={self.input_size}",
                           f"input of shape (..., {self.input_size})")
        if hx is None:
            states = [creation.zeros(*s, dtype=x.dtype) for s in self._state_shapes(B)]
        else:
            states = list(hx) if lstm else [hx]
            if lstm and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
                raise op_error(name, f"hx is a {type(hx).__name__}", "a tuple (h_0, c_0)",
                               kind=TypeError)
            states = [_as_input(s) for s in states]
            self._check_state(states, B, batched)
            if not batched:
                states = [ops.unsqueeze(s, 1) for s in states]
            if sorted_indices is not None:
                states = [ops.index_select(s, 1, sorted_indices) for s in states]
        step = _STEPS[self.mode]
        D = 2 if self.bidirectional else 1
        finals: list[State] = []
        seq = x  # the layer's input sequence: (T, B, features), or (sum of B_t, features) packed
        for layer in range(self.num_layers):
            outs = []
            for d in range(D):
                state0 = tuple(s[layer * D + d] for s in states)
                w_ih, b_ih, *weights = self._layer_weights(layer, d)
                out, final = _scan(step, _time_steps(ops.linear(seq, w_ih, b_ih), batch_sizes),
                                   state0, tuple(weights), reverse=d == 1)
                outs.append(ops.stack(out, 0) if batch_sizes is None else ops.cat(out, 0))
                finals.append(final)
            seq = outs[0] if D == 1 else ops.cat(outs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                seq = F.dropout(seq, self.dropout, True)
        h_n = tuple(ops.stack([f[i] for f in finals], 0) for i in range(len(states)))
        if unsorted_indices is not None:
            h_n = tuple(ops.index_select(h, 1, unsorted_indices) for h in h_n)
        output: Any = seq
        if packed:
            output = PackedSequence(output, bs_tensor, sorted_indices, unsorted_indices)
        elif not batched:
            output = ops.squeeze(output, 1)
            h_n = tuple(ops.squeeze(h, 1) for h in h_n)
        elif self.batch_first:
            output = ops.transpose(output, 0, 1)
        return output, (h_n if lstm else h_n[0])

    def extra_repr(self) -> str:
        s = "{input_size}, {hidden_size}"
        if self.proj_size != 0:
            s += ", proj_size={proj_size}"
        if self.num_layers != 1:
            s += ", num_layers={num_layers}"
        if self.bias is not True:
            s += ", bias={bias}"
        if self.batch_first is not False:
            s += ", batch_first={batch_first}"
        if self.dropout != 0:
            s += ", dropout={dropout}"
        if self.bidirectional is not False:
            s += ", bidirectional={bidirectional}"
        return s.format(**self.__dict__)


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) (``nonlinearity='relu'``
    for ReLU), as ``torch.nn.RNN``: ``RNN(input_size, hidden_size, num_layers=1,
    nonlinearity='tanh', bias=True, batch_first=False, dropout=0.0, bidirectional=False)``.
    Returns ``(output, h_n)``."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(3, 2), kwargs={"num_layers": 2, "bidirectional": True},
                            inputs=(rng.standard_normal((3, 2, 3)),
                                    rng.standard_normal((4, 2, 2))), call=_sample_call)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, *args: Any,
                 device: Any = None, dtype: Any = None, **kwargs: Any) -> None:
        modes = {"tanh": "RNN_TANH", "relu": "RNN_RELU"}
        if nonlinearity not in modes:
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' "
                             "or 'relu'.")
        super().__init__(modes[nonlinearity], input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, *args,
                         **_tail(args, kwargs, device, dtype))
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory, as ``torch.nn.LSTM``: gates i, f, g, o in that order in the
    weights; c_t = f*c_{t-1} + i*g, h_t = o*tanh(c_t) (times ``weight_hr`` when
    ``proj_size > 0``). Returns ``(output, (h_n, c_n))``."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(3, 2), kwargs={"num_layers": 2, "bidirectional": True},
                            inputs=(rng.standard_normal((3, 2, 3)),
                                    rng.standard_normal((4, 2, 2)),
                                    rng.standard_normal((4, 2, 2))),
                            call=_sample_call_lstm)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, device, dtype)


class GRU(RNNBase):
    """Gated recurrent unit, as ``torch.nn.GRU``: gates r, z, n in that order in the weights;
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h_t = (1 - z) * n + z * h_{t-1}. Returns
    ``(output, h_n)``."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(3, 2), kwargs={"num_layers": 2, "bidirectional": True},
                            inputs=(rng.standard_normal((3, 2, 3)),
                                    rng.standard_normal((4, 2, 2))), call=_sample_call)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, *args: Any, device: Any = None,
                 dtype: Any = None, **kwargs: Any) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, *args, **_tail(args, kwargs, device, dtype))


def _tail(args: tuple[Any, ...], kwargs: dict[str, Any], device: Any, dtype: Any
          ) -> dict[str, Any]:
    """The keyword arguments RNN and GRU pass on to ``RNNBase`` after their own. As in PyTorch,
    positional arguments past ``bidirectional`` go on to ``RNNBase``, whose next ones are
    ``(proj_size, device, dtype)`` (a non-zero proj_size is refused there), and a
    ``proj_size=`` keyword is refused here."""
    if "proj_size" in kwargs:
        raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
    tail = {**kwargs, "device": device, "dtype": dtype}
    for name in ("device", "dtype")[:max(0, len(args) - 1)]:  # given positionally
        if tail.pop(name) is not None:
            raise TypeError(f"got multiple values for argument {name!r}")
    return tail


def _sample_call(m: Any, x: Any, h: Any) -> Any:
    return _joined(m(x, h))


def _sample_call_lstm(m: Any, x: Any, h: Any, c: Any) -> Any:
    return _joined(m(x, (h, c)))


# --- cells ------------------------------------------------------------------------------------


class RNNCellBase(Module):
    """Parameters ``weight_ih`` (G*H, in), ``weight_hh`` (G*H, H), ``bias_ih``, ``bias_hh``
    (G*H,) of one recurrent cell, initialised ~ U(-1/sqrt(H), 1/sqrt(H)) as PyTorch's."""

    _mode = ""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        G = num_chunks * hidden_size
        self.weight_ih = Parameter(creation.empty(G, input_size, dtype=dtype, device=device))
        self.weight_hh = Parameter(creation.empty(G, hidden_size, dtype=dtype, device=device))
        if bias:
            self.bias_ih = Parameter(creation.empty(G, dtype=dtype, device=device))
            self.bias_hh = Parameter(creation.empty(G, dtype=dtype, device=device))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def extra_repr(self) -> str:
        s = "{input_size}, {hidden_size}"
        if "bias" in self.__dict__ and self.bias is not True:
            s += ", bias={bias}"
        if "nonlinearity" in self.__dict__ and self.nonlinearity != "tanh":
            s += ", nonlinearity={nonlinearity}"
        return s.format(**self.__dict__)

    def _run(self, input: Any, hx: Any, nstates: int) -> State | Tensor:
        name = type(self).__name__
        x = _as_input(input)
        if x.dim() not in (1, 2):
            raise op_error(name, f"input has shape {fmt_shape(x.shape)}",
                           "a 2-D (batch, input_size) or 1-D (input_size,) input",
                           kind=ValueError)
        if x.shape[-1] != self.input_size:
            raise op_error(name, f"input of shape {fmt_shape(x.shape)} has {x.shape[-1]} "
                           f"features but input_size={self.input_size}",
                           f"input of shape (..., {self.input_size})")
        batched = x.dim() == 2
        if not batched:
            x = ops.unsqueeze(x, 0)
        if hx is None:
            states = tuple(creation.zeros(x.shape[0], self.hidden_size, dtype=x.dtype)
                           for _ in range(nstates))
        else:
            states = tuple(_as_input(s) for s in (hx if nstates == 2 else (hx,)))
            want = (x.shape[0], self.hidden_size) if batched else (self.hidden_size,)
            for i, s in enumerate(states):
                if tuple(s.shape) != want:
                    raise op_error(name, f"{'hc'[i]}x has shape {fmt_shape(s.shape)} for input "
                                   f"{fmt_shape(x.shape if batched else x.shape[1:])}",
                                   fmt_shape(want))
            if not batched:
                states = tuple(ops.unsqueeze(s, 0) for s in states)
        p = self._parameters
        gi = ops.linear(x, p["weight_ih"], p["bias_ih"])
        out = _STEPS[self._mode](gi, states, p["weight_hh"], p["bias_hh"])
        if not batched:
            out = tuple(ops.squeeze(s, 0) for s in out)
        return out if nstates == 2 else out[0]


class RNNCell(RNNCellBase):
    """One Elman RNN step, h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (or ReLU), as
    ``torch.nn.RNNCell(input_size, hidden_size, bias=True, nonlinearity='tanh')``."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(3, 2), inputs=(rng.standard_normal((4, 3)),
                                                 rng.standard_normal((4, 2))))

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device: Any = None, dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device,
                         dtype=dtype)
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        self.nonlinearity = nonlinearity
        self._mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"

    def forward(self, input: Any, hx: Any = None) -> Tensor:
        """``input`` (B, input_size) or (input_size,), ``hx`` (B, hidden_size) or zeros;
        returns h'."""
        return self._run(input, hx, 1)


class LSTMCell(RNNCellBase):
    """One LSTM step (gates i, f, g, o), as ``torch.nn.LSTMCell(input_size, hidden_size,
    bias=True)``: ``cell(x, (h, c))`` returns ``(h', c')``."""

    _mode = "LSTM"

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(3, 2), inputs=(rng.standard_normal((4, 3)),
                                                 rng.standard_normal((4, 2)),
                                                 rng.standard_normal((4, 2))),
                            call=_sample_call_lstm)

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device,
                         dtype=dtype)

    def forward(self, input: Any, hx: Any = None) -> tuple[Tensor, Tensor]:
        """``input`` (B, input_size) or (input_size,), ``hx = (h, c)`` or zeros; returns
        ``(h', c')``."""
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise op_error("LSTMCell", f"hx is a {type(hx).__name__}", "a tuple (h, c)",
                           kind=TypeError)
        return self._run(input, hx, 2)  # type: ignore[return-value]


class GRUCell(RNNCellBase):
    """One GRU step (gates r, z, n), as ``torch.nn.GRUCell(input_size, hidden_size,
    bias=True)``."""

    _mode = "GRU"

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(3, 2), inputs=(rng.standard_normal((4, 3)),
                                                 rng.standard_normal((4, 2))))

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device,
                         dtype=dtype)

    def forward(self, input: Any, hx: Any = None) -> Tensor:
        """``input`` (B, input_size) or (input_size,), ``hx`` (B, hidden_size) or zeros;
        returns h'."""
        return self._run(input, hx, 1)  # type: ignore[return-value]
