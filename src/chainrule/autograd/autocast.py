"""Automatic mixed precision: ``cr.autocast(device_type, dtype=None, enabled=True)``, as
``torch.autocast``.

Inside an enabled ``autocast("cpu", dtype=cr.float16)`` block the ops that PyTorch's CPU autocast
runs in lower precision (its ``lower_precision_fp`` list: linear, matmul, conv, conv_transpose,
scaled_dot_product_attention, prelu, einsum) cast their floating inputs to float16 first, and the
ops it runs in float32 (its ``fp32`` list: the losses, prod, 3-d pooling) cast float16 inputs
up to float32. Every other op runs in the dtype
of its inputs (NumPy promotes float16 with float32 to float32, as PyTorch does). The casts are
the differentiable ``cast`` op, so gradients flow back to float32 parameters as float32.

How: while a block is on, ``STATE.autocast`` holds :func:`_cast_hook` and ``STATE.slow`` is set,
so every op ends in the apply point's one slow path (``registry._slow``), which calls the hook.
The hook leaves ops outside the two lists alone; for an op in them with inputs to cast, it
applies the op again on the cast inputs and moves the result into the tensor the op returns
(the first, uncast result is dropped). The normal path is unchanged: with no block on, nothing
is checked beyond the ``STATE.slow`` flag that every op already reads.

NumPy has no bfloat16 and no BLAS for float16 (its float16 matmul is a plain loop, far slower
than float32): mixed precision here is for running PyTorch scripts unchanged and for studying
float16 numerics, not for speed. ``cr.bfloat16`` exists and refuses to be used.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

from chainrule import backend
from chainrule.autograd.grad_mode import STATE, refresh_slow
from chainrule.autograd.tensor import Tensor, _leaf

LOWER_PRECISION = frozenset({"linear", "matmul", "conv", "conv_transpose",
                             "scaled_dot_product_attention", "prelu_slopes", "einsum"})
"""Ops whose floating inputs (not float64) are cast to the autocast dtype (PyTorch's CPU
``lower_precision_fp`` list: mm, bmm, addmm, baddbmm, matmul, linear, conv*, conv_transpose*,
prelu, scaled_dot_product_attention; einsum computes through bmm there)."""

FLOAT32 = frozenset({"cross_entropy", "cross_entropy_probs", "nll_loss", "mse_loss", "huber_loss",
                     "binary_cross_entropy", "binary_cross_entropy_with_logits", "ctc_loss",
                     "prod"})
"""Ops whose float16 inputs are cast to float32 (PyTorch's CPU ``fp32`` list). Its linear
algebra (cholesky, inv, solve, eigh, qr, svd) is not here: the hook runs after the op, and
NumPy's linalg refuses float16 before that; give those ops float32 (``.float()``)."""

FLOAT32_3D = frozenset({"max_pool", "avg_pool"})
"""Ops cast to float32 only in their 3-d form (``max_pool3d``, ``avg_pool3d`` are on the fp32
list; the 1-d and 2-d ones are not)."""

_DEVICE_TYPES = ("cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve",
                 "fpga", "maia", "xla", "lazy", "vulkan", "mps", "meta", "hpu", "mtia",
                 "privateuseone")
_DTYPES: dict[str, Any] = {"cpu": backend.bfloat16, "cuda": backend.float16}  # set_autocast_dtype
_STACK: list[tuple[str, Any, bool]] = []  # (device type, dtype, enabled) of the open blocks
_F64 = backend.float64


def _state(device_type: str) -> tuple[Any, bool]:
    """The dtype and enabled flag of the innermost autocast block for ``device_type``."""
    for device, dtype, enabled in reversed(_STACK):
        if device == device_type:
            return dtype, enabled
    return _DTYPES.get(device_type, backend.float16), False


def is_autocast_enabled(device_type: str | None = None) -> bool:
    """Whether autocast is on for ``device_type`` (as ``torch.is_autocast_enabled``; with no
    argument PyTorch answers for CUDA, which is never on here)."""
    return _state("cuda" if device_type is None else device_type)[1]


def get_autocast_dtype(device_type: str) -> Any:
    """The dtype autocast casts to on ``device_type`` (CPU: ``cr.bfloat16`` by default, as in
    PyTorch, which chainrule cannot use: pass ``dtype=cr.float16``)."""
    return _state(device_type)[0]


def set_autocast_dtype(device_type: str, dtype: Any) -> None:
    """The dtype ``autocast(device_type)`` uses when given no ``dtype``."""
    _DTYPES[device_type] = dtype


def _bfloat16_error(where: str) -> TypeError:
    return TypeError(f"{where}: bfloat16 is not available in chainrule (NumPy has no bfloat16 "
                     "dtype); use dtype=cr.float16 for mixed precision, or cr.float32")


class autocast:
    """Context manager and decorator: run the ops inside in mixed precision, as
    ``torch.autocast(device_type, dtype=None, enabled=True, cache_enabled=None)``.

    ``device_type="cpu"``: ``dtype`` must be ``cr.float16`` (PyTorch's CPU default is bfloat16,
    which NumPy lacks: it raises unless ``enabled=False``); ``cr.float32`` / ``cr.float64``
    disable autocast with PyTorch's warning. ``device_type="cuda"``: there is no GPU, so autocast
    disables itself with PyTorch's warning (what PyTorch does on a machine without CUDA).
    ``enabled=False`` accepts any dtype and turns autocast off inside the block (nested blocks
    restore the outer state on exit). ``cache_enabled`` is accepted; casts are not cached.
    """

    _stacklevel = 2  # where warnings point: the caller (3 for the deprecated subclasses)

    def __init__(self, device_type: str, dtype: Any = None, enabled: bool = True,
                 cache_enabled: bool | None = None) -> None:
        if not isinstance(device_type, str):
            raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
        if device_type not in _DEVICE_TYPES:
            raise RuntimeError(f"Expected one of {', '.join(_DEVICE_TYPES)} device type at start "
                               f"of device string: {device_type}")
        self.device = device_type
        self.fast_dtype = _DTYPES.get(device_type, backend.float16) if dtype is None else dtype
        self._cache_enabled = cache_enabled
        enabled = bool(enabled)
        if enabled and device_type == "cuda":
            warnings.warn("CUDA is not available (chainrule runs on the CPU). Disabling autocast.",
                          UserWarning, stacklevel=self._stacklevel)
            enabled = False
        if enabled and device_type == "cpu":
            if self.fast_dtype is backend.bfloat16:
                raise _bfloat16_error("autocast('cpu')")
            dt = backend.dtype(self.fast_dtype)
            if dt != backend.float16:
                warnings.warn("In CPU autocast, but the target dtype is not supported. Disabling "
                              "autocast.\nCPU Autocast only supports dtypes of torch.bfloat16, "
                              "torch.float16 currently.", UserWarning,
                              stacklevel=self._stacklevel)
                enabled = False
            self.fast_dtype = dt
        self._enabled = enabled

    def __enter__(self) -> None:
        _STACK.append((self.device, self.fast_dtype, self._enabled))
        _refresh()

    def __exit__(self, *exc: object) -> None:
        _STACK.pop()
        _refresh()

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return fn(*args, **kwargs)
        return wrapper


def _refresh() -> None:
    """Install the hook while the innermost CPU block is enabled, remove it otherwise."""
    STATE.autocast = _cast_hook if _state("cpu")[1] else None
    refresh_slow()


def _target(op: Any, xs: Any, p: tuple) -> Any:
    name = op.name
    if name in LOWER_PRECISION:
        return _state("cpu")[0]
    if name in FLOAT32 or (name in FLOAT32_3D and len(p[0]) == 3):
        return backend.float32
    return None


def _castable(x: Any, to: Any) -> bool:
    dt = getattr(x, "dtype", None)
    return dt is not None and dt.kind == "f" and dt != _F64 and dt != to


def _cast_hook(op: Any, node: Any, xs: Any, p: tuple, t: Tensor) -> bool:
    """Called by the apply point for every op while autocast is on: for an op on the lists with
    inputs to cast, apply it again on the cast inputs, move the result into ``t`` and return
    True; otherwise return False (the op stands as computed)."""
    to = _target(op, xs, p)
    if to is None or not any(_castable(x, to) for x in xs):
        return False
    ins = []
    for i, x in enumerate(xs):
        if x is None or isinstance(x, (bool, int, float)):
            ins.append(x)
            continue
        edge = node.next[i] if node is not None else None
        if isinstance(edge, Tensor):
            a = edge  # a leaf that requires grad: the tensor itself
        else:
            a = _leaf(x)
            if edge is not None:  # an input computed by another op: wire it to that node
                a._node, a.requires_grad = edge, True
                if op.saves_x:
                    a._vc = node.vcs[i]
        ins.append(a.to(to) if _castable(x, to) else a)
    y = op.call(ins, *p) if op.nin == -1 else op.call(*ins, *p)
    t._data, t._node, t._vc, t.requires_grad = y._data, y._node, y._vc, y.requires_grad
    return True
