"""``Tensor``: a NumPy array plus what reverse-mode autodiff needs to know about it.

A tensor is a leaf (made by the user; ``requires_grad=True`` makes backward fill its ``.grad``) or
the output of a recorded op (``grad_fn`` is its graph node). Operators and methods are one-line
delegations to the ops in ``chainrule.ops`` (bound at the bottom of this module): the one import
cycle the design allows. The in-place methods and their rules live in ``inplace.py`` (a mixin
that ``Tensor`` inherits), the dtype policy in ``dtypes.py``, ``tensor``/``as_tensor``/
``from_numpy`` in ``factories.py`` and the ``to(...)`` argument parsing in ``to_args.py``.
"""

from __future__ import annotations

import copy as _copy
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from chainrule import backend
from chainrule.autograd.dtypes import _DEFAULT_DTYPE, to_dtype
from chainrule.autograd.grad_mode import _INFERENCE, STATE
from chainrule.autograd.inference import INFERENCE_VC
from chainrule.autograd.inplace import InplaceMixin
from chainrule.autograd.printing import PRINT_OPTIONS

_new = object.__new__


def _leaf(arr: Any, requires_grad: bool = False) -> Tensor:
    t = _new(Tensor)
    t._data = arr
    t._grad = None
    t._node = None
    t._meta = None
    t._vc = INFERENCE_VC if STATE.slow and _INFERENCE[0] else [0]
    t.requires_grad = False
    if requires_grad:
        t.requires_grad_(True)
    return t


def _raw(v: Any) -> Any:
    return v._data if isinstance(v, Tensor) else v


def _elementwise(ufunc: str) -> Callable[[Tensor, Any], Tensor]:
    """A non-differentiable operator method: the array module's ``ufunc``, outside the graph."""
    def method(self: Tensor, other: Any) -> Tensor:
        return self._cmp(ufunc, other)

    method.__name__ = ufunc
    return method


class _HookHandle:
    """Returned by ``register_hook``; ``remove()`` takes the hook off."""

    def __init__(self, hooks: list, fn: Callable[..., Any]) -> None:
        self._hooks, self._fn = hooks, fn

    def remove(self) -> None:
        if self._fn in self._hooks:
            self._hooks.remove(self._fn)


class Tensor(InplaceMixin):
    """An n-dimensional array that can record the operations applied to it.

    ``cr.Tensor([1, 2])`` makes a float32 tensor (as ``torch.Tensor`` does); ``cr.Tensor(2, 3)``
    an uninitialised-size one filled with zeros. Prefer ``cr.tensor(data)``, which infers dtype.
    """

    __slots__ = ("__weakref__", "_data", "_grad", "_meta", "_node", "_vc", "requires_grad")
    __array_ufunc__ = None  # ndarray (op) Tensor defers to Tensor's reflected operators
    __array_priority__ = 1000

    def __init__(self, *data: Any, requires_grad: bool = False) -> None:
        if len(data) == 1 and not isinstance(data[0], int):
            arr = backend.xp.array(_raw(data[0]), dtype=_DEFAULT_DTYPE[0])
        elif all(isinstance(d, int) for d in data):
            arr = backend.xp.zeros(data, dtype=_DEFAULT_DTYPE[0])
        else:
            raise TypeError(f"Tensor: expected data or integer sizes, got {data!r}")
        self._data = arr
        self._grad: Tensor | None = None
        self._node = None
        self._meta = None
        self._vc = [0]
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    # -- array facts -------------------------------------------------------------------------
    @property
    def shape(self) -> backend.Size:
        return backend.Size(self._data.shape)

    @property
    def dtype(self) -> Any:
        return self._data.dtype

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        return self._data.ndim

    def size(self, dim: int | None = None) -> Any:
        """The shape (PyTorch's ``x.size()``, a ``cr.Size``), or one dimension's length."""
        return backend.Size(self._data.shape) if dim is None else self._data.shape[dim]

    def numel(self) -> int:
        return int(self._data.size)

    nelement = numel  # PyTorch's older name for numel

    def element_size(self) -> int:
        return self._data.itemsize

    @property
    def device(self) -> backend.device:
        return backend.CPU

    @property
    def is_cuda(self) -> bool:
        return False

    def is_floating_point(self) -> bool:
        return self._data.dtype.kind == "f"

    def is_contiguous(self) -> bool:
        return bool(self._data.flags.c_contiguous)

    # -- autograd facts ----------------------------------------------------------------------
    @property
    def is_leaf(self) -> bool:
        return self._node is None

    @property
    def grad_fn(self) -> Any:
        return self._node

    @property
    def data(self) -> Tensor:
        """The same memory as a tensor that records nothing (shares the version counter)."""
        t = _leaf(self._data)
        t._vc = self._vc
        return t

    @data.setter
    def data(self, value: Any) -> None:
        if isinstance(value, Tensor):
            self._data = value._data
        else:
            self._data = backend.get_array_module(self._data).asarray(value)

    @property
    def _version(self) -> int:
        return self._vc[0]

    @property
    def grad(self) -> Tensor | None:
        """The accumulated gradient (None until a backward reaches this tensor)."""
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:  # PyTorch's checks and words
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of "
                                f"type {type(value).__name__}")
            if value._data.shape != self._data.shape:
                raise RuntimeError(f"attempting to assign a gradient of size "
                                   f"'{list(value._data.shape)}' to a tensor of size "
                                   f"'{list(self._data.shape)}'. Please ensure that the gradient "
                                   "and the tensor are the same size")
            if value._data.dtype != self._data.dtype:
                raise RuntimeError(f"attempting to assign a gradient with dtype "
                                   f"'{value._data.dtype}' to a tensor with dtype "
                                   f"'{self._data.dtype}'. Please ensure that the gradient and "
                                   "the tensor have the same dtype")
        self._grad = value

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self._data.dtype.kind != "f":
            raise RuntimeError(
                f"requires_grad_: only floating-point tensors can require gradients, this one is "
                f"{self._data.dtype}; make it with dtype=cr.float32 (or float64)")
        if requires_grad and self._vc is INFERENCE_VC and not _INFERENCE[0]:
            raise RuntimeError("Setting requires_grad=True on inference tensor outside "
                               "InferenceMode is not allowed.")
        if not requires_grad and self._node is not None:
            raise RuntimeError("requires_grad_(False): only leaf tensors can be switched off; "
                               "use .detach() for a non-leaf")
        self.requires_grad = bool(requires_grad)
        return self

    def is_inference(self) -> bool:
        """True for a tensor made inside ``inference_mode`` (or a view of one)."""
        return self._vc is INFERENCE_VC

    def detach(self) -> Tensor:
        """The same values, cut from the graph (shares memory and version counter)."""
        t = _leaf(self._data)
        t._vc = self._vc
        return t

    def detach_(self) -> Tensor:
        self._node = None
        self.requires_grad = False
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor after backward."""
        if self._node is None:
            return
        import weakref

        from chainrule.autograd.node import meta_of
        meta_of(self._node).retain = weakref.ref(self)

    @property
    def retains_grad(self) -> bool:
        n = self._node
        return n is not None and n.meta is not None and n.meta.retain is not None

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> _HookHandle:
        """Call ``hook(grad)`` when this tensor's gradient is computed; a returned tensor
        replaces the gradient."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: this tensor does not require grad, so no "
                               "gradient will reach it")
        if self._node is not None:
            from chainrule.autograd.node import meta_of
            hooks = meta_of(self._node).hooks
        else:
            if self._meta is None:
                self._meta = []
            hooks = self._meta
        hooks.append(hook)
        return _HookHandle(hooks, hook)

    def backward(self, gradient: Any = None, retain_graph: bool | None = None,
                 create_graph: bool = False, inputs: Sequence[Tensor] | None = None) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` (see ``chainrule.autograd``)."""
        _engine.backward((self,), None if gradient is None else (gradient,), retain_graph,
                         create_graph, inputs)

    # -- conversions ---------------------------------------------------------------------------
    def numpy(self, *, force: bool = False) -> Any:
        """The underlying NumPy array (shares memory). As in PyTorch, a tensor that requires
        grad refuses (writing into its buffer would corrupt saved tensors and gradients):
        use ``t.detach().numpy()``, or ``numpy(force=True)``."""
        if self.requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use "
                               "tensor.detach().numpy() instead.")
        if STATE.recorder is not None:
            STATE.recorder.data_read("numpy()")
        return self._data

    def item(self) -> Any:
        if self._data.size != 1:
            raise ValueError(f"item: only a tensor with one element can be converted to a Python "
                             f"number, this one has shape {self._data.shape}")
        if STATE.recorder is not None:
            STATE.recorder.data_read("item()")
        return self._data.item()

    def tolist(self) -> Any:
        if STATE.recorder is not None:
            STATE.recorder.data_read("tolist()")
        return self._data.tolist()

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> Any:
        a = self._data
        if STATE.recorder is not None:
            STATE.recorder.data_read("__array__")
        if dtype is not None and a.dtype != dtype:
            return a.astype(dtype)
        if copy:
            return a.copy()
        if self.requires_grad:  # read-only: writing would corrupt saved tensors and gradients
            a = a.view()
            a.flags.writeable = False
        return a

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError(f"bool: the truth value of a tensor with {self._data.size} "
                               "elements is ambiguous; use .any() or .all()")
        if STATE.recorder is not None:
            STATE.recorder.data_read("bool()")
        return bool(self._data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be used as an index")
        if STATE.recorder is not None:
            STATE.recorder.data_read("__index__")
        return int(self._data.item())

    def __format__(self, spec: str) -> str:
        if self._data.ndim == 0 and spec:
            return format(self._data.item(), spec)
        return repr(self) if not spec else format(str(self), spec)

    def __repr__(self) -> str:
        if STATE.recorder is not None:
            STATE.recorder.data_read("repr()")
        d = backend.to_numpy(self._data)  # PyTorch: "1., 2." when every float is whole
        host = backend.host
        whole = d.dtype.kind != "f" or not host.any(host.mod(d[host.isfinite(d)], 1))
        body = host.array2string(d, separator=", ", prefix="tensor(", **PRINT_OPTIONS,
                                 floatmode="maxprec_equal" if whole else "fixed")
        extras = []
        if self._data.dtype not in (_DEFAULT_DTYPE[0], backend.int64, backend.bool_):
            extras.append(f"dtype=cr.{self._data.dtype}")
        if self._node is not None:
            extras.append(f"grad_fn={self._node!r}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    __hash__ = object.__hash__

    def __deepcopy__(self, memo: dict) -> Tensor:
        if self._node is not None:
            raise RuntimeError("deepcopy: only leaf tensors can be deep-copied (this one has a "
                               "grad_fn); detach() it first")
        t = type(self).__new__(type(self))
        memo[id(self)] = t
        t._data = self._data.copy()
        t.grad = None if self.grad is None else _copy.deepcopy(self.grad, memo)
        t._node = None
        t._meta = None
        t._vc = [0]
        t.requires_grad = self.requires_grad
        for k, v in getattr(self, "__dict__", {}).items():
            setattr(t, k, _copy.deepcopy(v, memo))
        return t

    # -- dtype and device ------------------------------------------------------------------
    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)`` or ``to(other_tensor)``."""
        dtype = parse_to_args(args, kwargs, "to")
        if dtype is None or to_dtype(dtype) == self._data.dtype:
            return self
        return F.cast(self, to_dtype(dtype))

    def type(self, dtype: Any = None) -> Any:
        if dtype is None:
            return f"chainrule.{self._data.dtype}"
        return self.to(dtype)

    def cpu(self) -> Tensor:
        return self

    def cuda(self, *args: Any, **kwargs: Any) -> Tensor:
        backend.check_device("cuda", "cuda")
        return self

    def float(self) -> Tensor:
        return self.to(backend.float32)

    def double(self) -> Tensor:
        return self.to(backend.float64)

    def half(self) -> Tensor:
        return self.to(backend.float16)

    def long(self) -> Tensor:
        return self.to(backend.int64)

    def int(self) -> Tensor:
        return self.to(backend.int32)

    def bool(self) -> Tensor:
        return self.to(backend.bool_)

    # -- comparisons and logic (not differentiable) ------------------------------------------
    def _xp(self) -> Any:
        return backend.get_array_module(self._data)

    def _cmp(self, ufunc: str, other: Any) -> Tensor:
        o = _raw(other)
        return _leaf(getattr(backend.get_array_module(self._data, o), ufunc)(self._data, o))

    __eq__ = _elementwise("equal")  # type: ignore[assignment]
    __ne__ = _elementwise("not_equal")  # type: ignore[assignment]
    __lt__, __le__ = _elementwise("less"), _elementwise("less_equal")
    __gt__, __ge__ = _elementwise("greater"), _elementwise("greater_equal")
    __and__, __or__ = _elementwise("bitwise_and"), _elementwise("bitwise_or")
    __xor__, __floordiv__ = _elementwise("bitwise_xor"), _elementwise("floor_divide")
    __mod__ = _elementwise("remainder")

    def __invert__(self) -> Tensor:
        return _leaf(self._xp().invert(self._data))

    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__

    def equal(self, other: Any) -> bool:
        return bool(self._xp().array_equal(self._data, _raw(other)))

    def allclose(self, other: Any, rtol: float = 1e-5, atol: float = 1e-8) -> bool:
        return bool(self._xp().allclose(self._data, _raw(other), rtol=rtol, atol=atol))

    def isnan(self) -> Tensor:
        return _leaf(self._xp().isnan(self._data))

    def isinf(self) -> Tensor:
        return _leaf(self._xp().isinf(self._data))

    def isfinite(self) -> Tensor:
        return _leaf(self._xp().isfinite(self._data))

    def any(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return _leaf(self._xp().asarray(self._xp().any(self._data, axis=dim, keepdims=keepdim)))

    def all(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return _leaf(self._xp().asarray(self._xp().all(self._data, axis=dim, keepdims=keepdim)))

    # -- differentiable methods: one-line delegations to chainrule.ops ---------------------------
    def __rsub__(self, other: Any) -> Tensor:
        return F.sub(other, self)

    def __rtruediv__(self, other: Any) -> Tensor:
        return F.div(other, self)

    def __rpow__(self, other: Any) -> Tensor:
        return F.pow(other, self)

    def __rmatmul__(self, other: Any) -> Tensor:
        return F.matmul(other, self)

    def __pos__(self) -> Tensor:
        return self

    def __getitem__(self, index: Any) -> Tensor:
        return F.getitem(self, index)

    def add(self, other: Any, alpha: Any = 1) -> Tensor:
        return F.add(self, other if alpha == 1 else other * alpha)

    def sub(self, other: Any, alpha: Any = 1) -> Tensor:
        return F.sub(self, other if alpha == 1 else other * alpha)

    def where(self, condition: Any, other: Any) -> Tensor:
        return F.where(condition, self, other)

    def view_as(self, other: Tensor) -> Tensor:
        return F.reshape(self, other.shape)

    def reshape_as(self, other: Tensor) -> Tensor:
        return F.reshape(self, other.shape)

    @property
    def T(self) -> Tensor:
        return F.permute(self, tuple(range(self.ndim - 1, -1, -1)))

    @property
    def mT(self) -> Tensor:
        return F.transpose(self, -2, -1)

    def expand_as(self, other: Tensor) -> Tensor:
        return F.expand(self, other.shape)

    def contiguous(self) -> Tensor:
        return self if self._data.flags.c_contiguous else F.clone(self)


from chainrule import ops as F  # noqa: E402  (the one allowed cycle: methods delegate to ops)
from chainrule.autograd import engine as _engine  # noqa: E402
from chainrule.autograd import inplace as _inplace  # noqa: E402
from chainrule.autograd.to_args import parse_to_args  # noqa: E402

_inplace.bind(Tensor, F)
