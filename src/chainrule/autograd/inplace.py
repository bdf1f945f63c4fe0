"""The in-place rules, as a mixin that ``Tensor`` inherits.

In-place methods (``add_``, ``mul_``, ``zero_``, ``x[i] = v``, ``-=``) mutate the array when no
graph is being recorded (``no_grad``, or nothing requires grad) and bump the version counter, so a
graph that saved the old value refuses to run backward instead of giving a wrong gradient. While
recording, they are applied out of place and the tensor is rebound to the result (its history
continues through the new node). A leaf that requires grad cannot be modified in place outside
``no_grad``, as in PyTorch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule import backend
from chainrule.autograd.grad_mode import STATE
from chainrule.autograd.inference import InferenceTensorError

# This module is imported before ``Tensor`` exists (Tensor inherits the mixin), so the names
# below are bound by ``bind``, called from the bottom of tensor.py once Tensor and the ops are
# loaded: the one allowed cycle (tensor -> ops), continued.
Tensor: Any = None
F: Any = None
as_tensor: Any = None
_BINARY_OPS: dict[str, Callable[..., Any]] = {}
_ndarray = backend.ndarray
_HOST_UFUNCS = {name: getattr(backend.host, name)
                for name in ("add", "subtract", "multiply", "true_divide")}


def bind(tensor_cls: type, ops: Any) -> None:
    """Bind ``Tensor``, the ops and ``as_tensor`` (called once, by tensor.py)."""
    global Tensor, F, as_tensor
    from chainrule.autograd import factories

    Tensor, F, as_tensor = tensor_cls, ops, factories.as_tensor
    _BINARY_OPS.update({"add_": ops.add, "sub_": ops.sub, "mul_": ops.mul, "div_": ops.div})


def _inference_inplace(name: str) -> RuntimeError:
    return RuntimeError(f"{name}: Inplace update to inference tensor outside InferenceMode is not "
                        "allowed. You can make a clone to get a normal tensor first.")


def _bump(t: Any, name: str) -> None:  # count a change in place, before: inference tensors refuse
    try:
        t._vc[0] += 1
    except InferenceTensorError:
        raise _inference_inplace(name) from None


class InplaceMixin:
    """``Tensor``'s in-place methods (see the module docstring for the rules)."""

    __slots__ = ()
    _data: backend.ndarray
    _node: Any
    _vc: list[int]
    requires_grad: bool

    def _inplace(self, name: str, fn: Callable[..., Tensor], *args: Any) -> Tensor:
        """Apply ``fn(self, *args)`` in place (see the module docstring for the rules)."""
        recording = STATE.enabled and (self.requires_grad or any(
            isinstance(a, Tensor) and a.requires_grad for a in args))
        if recording and self._node is None and self.requires_grad:
            raise RuntimeError(
                f"{name}: a leaf tensor that requires grad is being modified in place while "
                "gradients are recorded; do the update inside `with cr.no_grad():` (as "
                "optimisers do) or use the out-of-place op")
        if recording and self._node is not None and self._node.op.is_view:
            raise RuntimeError(
                f"{name}: in-place change of a view ({self._node.op.name} of another tensor) "
                "while gradients are recorded is not supported: chainrule applies it out of "
                "place, so the base tensor would not see it. Write the new values into the base "
                "instead, e.g. `h[0:2] = h[0:2] * 10`, or compute the result out of place")
        with_grad = recording
        if not with_grad:
            prev = STATE.enabled
            STATE.enabled = False
            try:
                r = fn(self, *args)
            finally:
                STATE.enabled = prev
        else:
            r = fn(self, *args)
        if r._data.shape != self._data.shape:
            raise ValueError(f"{name}: the result has shape {r._data.shape} but the tensor "
                             f"modified in place has shape {self._data.shape}; the other operand "
                             "must broadcast to the tensor's shape")
        if with_grad:
            self._data = r._data if r.dtype == self.dtype else r._data.astype(self.dtype)
            self._node = r._node
            self.requires_grad = True
        else:
            d = self._data
            _bump(self, name)
            backend.get_array_module(d).copyto(d, r._data, casting="unsafe")
            if STATE.recorder is not None:  # cr.compile records the write
                STATE.recorder.copyto(d, r._data)
        return self

    def _fast_inplace(self, name: str, ufunc: str, other: Any) -> Tensor:
        """``xp.ufunc(self, other, out=self)`` when nothing is recorded (``xp`` the array module
        of the tensor's array); the general path otherwise."""
        if STATE.enabled and (self.requires_grad or (isinstance(other, Tensor)
                                                     and other.requires_grad)):
            return self._inplace(name, _BINARY_OPS[name], other)
        d = self._data
        o = other._data if isinstance(other, Tensor) else other
        try:
            self._vc[0] += 1  # first: an inference tensor refuses before its memory changes
            if type(d) is _ndarray:  # host arrays: the ufunc itself, out positional
                _HOST_UFUNCS[ufunc](d, o, d)  # (casting="same_kind" is the ufunc default)
            else:
                getattr(backend.get_array_module(d), ufunc)(d, o, out=d, casting="same_kind")
        except InferenceTensorError:
            raise _inference_inplace(name) from None
        except (ValueError, TypeError) as e:
            self._vc[0] -= 1  # nothing was written
            if hasattr(e, "casting"):  # NumPy's casting error (PyTorch: a RuntimeError)
                raise RuntimeError(f"{name}: result type {e.from_} can't be cast to the "
                                   f"desired output type {e.to} of this in-place op (the "
                                   f"tensor is {d.dtype}; use an out-of-place op, or "
                                   f".to() first)") from None
            raise type(e)(f"{name}: cannot apply {backend.xp.shape(o)} in place to {d.shape} "
                          f"({e})") from None
        if STATE.recorder is not None:
            STATE.recorder.ufunc_into(ufunc, d, o)
        return self

    def _scaled(self, other: Any, alpha: Any) -> Any:
        """``other * alpha``: a recorded op while recording, a bare array otherwise (the
        optimiser path: no Tensor is built for the temporary)."""
        if STATE.enabled and (self.requires_grad or (isinstance(other, Tensor)
                                                     and other.requires_grad)):
            return other * alpha
        o = other._data if isinstance(other, Tensor) else other
        r = backend.get_array_module(o).asarray(o) * alpha
        if STATE.recorder is not None:
            STATE.recorder.scale(o, alpha, r)
        return r

    def add_(self, other: Any, alpha: Any = 1) -> Tensor:
        if alpha != 1:
            other = self._scaled(other, alpha)
        return self._fast_inplace("add_", "add", other)

    def sub_(self, other: Any, alpha: Any = 1) -> Tensor:
        if alpha != 1:
            other = self._scaled(other, alpha)
        return self._fast_inplace("sub_", "subtract", other)

    def mul_(self, other: Any) -> Tensor:
        return self._fast_inplace("mul_", "multiply", other)

    def div_(self, other: Any) -> Tensor:
        return self._fast_inplace("div_", "true_divide", other)

    def addcmul_(self, t1: Any, t2: Any, value: Any = 1) -> Tensor:
        return self.add_(t1 * t2 * value)

    def addcdiv_(self, t1: Any, t2: Any, value: Any = 1) -> Tensor:
        return self.add_(t1 / t2 * value)

    def lerp_(self, end: Any, weight: Any) -> Tensor:
        return self.add_((end - self) * weight)

    def pow_(self, exponent: Any) -> Tensor:
        return self._inplace("pow_", F.pow, exponent)

    def neg_(self) -> Tensor:
        return self._inplace("neg_", F.neg)

    def exp_(self) -> Tensor:
        return self._inplace("exp_", F.exp)

    def sqrt_(self) -> Tensor:
        return self._inplace("sqrt_", F.sqrt)

    def abs_(self) -> Tensor:
        return self._inplace("abs_", F.abs)

    def relu_(self) -> Tensor:
        return self._inplace("relu_", F.relu)

    def sigmoid_(self) -> Tensor:
        return self._inplace("sigmoid_", F.sigmoid)

    def tanh_(self) -> Tensor:
        return self._inplace("tanh_", F.tanh)

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:
        return self._inplace("clamp_", F.clamp, min, max)

    clip_ = clamp_

    def copy_(self, src: Any) -> Tensor:
        src_t = src if isinstance(src, Tensor) else as_tensor(src)
        return self._inplace("copy_", lambda s, o: F.expand(F.cast(o, s.dtype), s.shape)
                             if o.shape != s.shape else F.cast(o, s.dtype), src_t)

    def _fill_nograd(self, name: str, values: Any) -> Tensor:
        if self.requires_grad and self._node is None and STATE.enabled:
            raise RuntimeError(f"{name}: a leaf tensor that requires grad is being modified in "
                               "place; wrap it in `with cr.no_grad():`")
        if self._node is not None and STATE.enabled:
            return self._inplace(name, lambda s: F.mul(s, 0) + as_tensor(
                backend.get_array_module(values).broadcast_to(values, s.shape).astype(s.dtype)))
        _bump(self, name)
        self._data[...] = values
        if STATE.recorder is not None:
            STATE.recorder.setitem(self._data, ..., values)
        return self

    def zero_(self) -> Tensor:
        return self._fill_nograd("zero_", 0)

    def fill_(self, value: Any) -> Tensor:
        return self._fill_nograd("fill_", value._data if isinstance(value, Tensor) else value)

    def normal_(self, mean: float = 0.0, std: float = 1.0, generator: Any = None) -> Tensor:
        from chainrule import random as _random
        rng = _random.generator_of(generator)
        return self._fill_nograd("normal_", rng.normal(mean, std, self.shape))

    def uniform_(self, a: float = 0.0, b: float = 1.0, generator: Any = None) -> Tensor:
        from chainrule import random as _random
        rng = _random.generator_of(generator)
        return self._fill_nograd("uniform_", rng.uniform(a, b, self.shape))

    def __iadd__(self, other: Any) -> Tensor:
        return self._fast_inplace("add_", "add", other)

    def __isub__(self, other: Any) -> Tensor:
        return self._fast_inplace("sub_", "subtract", other)

    def __imul__(self, other: Any) -> Tensor:
        return self._fast_inplace("mul_", "multiply", other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self._fast_inplace("div_", "true_divide", other)

    def __setitem__(self, index: Any, value: Any) -> None:
        index = F.normalize_index(index)
        if STATE.enabled and (self.requires_grad or (isinstance(value, Tensor)
                                                     and value.requires_grad)):
            self._inplace("setitem", lambda s, v: F.index_put(s, v, index), value)
            return
        _bump(self, "setitem")
        self._data[index] = value._data if isinstance(value, Tensor) else value
        if STATE.recorder is not None:
            STATE.recorder.setitem(self._data, index, value)

