"""The array-module seam: the one place that decides which array library runs the numbers.

Everything else asks this module for its array module instead of importing NumPy for array work:

* ``get_array_module(*arrays)``: the module that owns the given arrays (call it where an input
  array exists, e.g. ``xp = backend.get_array_module(p._data)``);
* ``xp``: the default module, for creating fresh arrays where no input array exists;
* ``to_numpy(arr)``: a host (NumPy) copy or view, for CPU-only work such as writing a file;
* dtype constants (``float32``, ...), the dtype constructor ``dtype`` and the array and scalar
  types (``ndarray``, ``generic``, ``integer``, ``floating``) for ``isinstance`` and dtype checks;
* ``special(xp, name)``: the array library's own special functions (``erf``, ``digamma``, ...),
  where it has them.

Code in ``nn/``, ``optim/``, ``ops/`` and ``autograd/`` looks these names up as attributes of this
module at call time (``backend.xp``, not ``from chainrule.backend import xp``), so moving to a GPU
array library (CuPy) touches this file alone; ``tests/test_seam.py`` keeps NumPy imports out of
those packages. Forwards get their array module from the op's entry point (``xp``, their first
argument), vjps from their context (``c.xp``, built by ``ops.namespace.array_namespace(xp)``).
"""

from __future__ import annotations

import ctypes
import os
import sys
from typing import Any

import numpy

xp = numpy
"""The active array module (NumPy)."""

host = numpy
"""The host (CPU) array module, for work that stays on the CPU by design whatever ``xp`` is:
finite-difference Jacobians in float64 (``autograd.gradcheck``), files, printing. Arrays reach it
through ``to_numpy``."""

ndarray = numpy.ndarray
"""The host array type (``isinstance(v, backend.ndarray)``)."""
generic = numpy.generic
"""NumPy's scalar types (``np.float32(1.0)``, ...)."""
dtype = numpy.dtype
"""The dtype constructor and type: ``backend.dtype("int64")``, ``isinstance(d, backend.dtype)``."""
number = numpy.number
integer = numpy.integer
"""NumPy's integer scalar types (``isinstance(v, backend.integer)``)."""
floating = numpy.floating
"""NumPy's floating scalar types."""

float16 = numpy.dtype("float16")
float32 = numpy.dtype("float32")
float64 = numpy.dtype("float64")
int8 = numpy.dtype("int8")
int16 = numpy.dtype("int16")
int32 = numpy.dtype("int32")
int64 = numpy.dtype("int64")
uint8 = numpy.dtype("uint8")
bool_ = numpy.dtype("bool")
intp = numpy.dtype("intp")

FLOAT_DTYPES = (float16, float32, float64)


class _Bfloat16:
    """``cr.bfloat16``: PyTorch's brain floating point, which NumPy does not have. The name
    exists so that scripts can mention it (``dtype = cr.bfloat16 if ok else cr.float16``,
    ``x.dtype == cr.bfloat16`` is False); using it as a dtype raises a TypeError that says so
    (NumPy asks for ``.dtype`` and chainrule for ``._dtype`` when converting one)."""

    __slots__ = ()
    is_floating_point = True
    is_complex = False
    is_signed = True
    itemsize = 2

    def __repr__(self) -> str:
        return "bfloat16"

    @property
    def dtype(self) -> Any:
        raise TypeError("bfloat16 is not available in chainrule (NumPy has no bfloat16 dtype); "
                        "use cr.float16 (e.g. cr.autocast('cpu', dtype=cr.float16)) or "
                        "cr.float32")

    _dtype = dtype


bfloat16 = _Bfloat16()
"""A name only: NumPy has no bfloat16 (see ``_Bfloat16``)."""

broadcast_shapes = numpy.broadcast_shapes
"""Shape arithmetic (no arrays): the shape two or more shapes broadcast to."""


class Size(tuple):
    """A shape, as ``torch.Size``: a tuple of ints (``Tensor.shape`` and ``Tensor.size()`` return
    one) with ``numel()``. It compares, hashes, prints and slices as the plain tuple it is (a
    slice or a sum is a plain tuple, where PyTorch keeps ``torch.Size``)."""

    __slots__ = ()

    def numel(self) -> int:
        """The number of elements of a tensor of this shape (1 for ``()``)."""
        n = 1
        for s in self:
            n *= s
        return n


def _tune_allocator() -> bool:
    """Ask glibc to keep freed memory instead of returning it to the OS at once.

    A training step frees and re-allocates the same large arrays (gradients, temporaries) every
    iteration; by default glibc trims the top of the heap after each free and the next step pays
    for it again in page faults (measured: 164 faults and ~45% of a W1 step). A 64 MiB top pad
    removes them, without changing peak RSS. Set ``CHAINRULE_NO_MALLOPT=1`` to leave the
    allocator alone.
    """
    if os.environ.get("CHAINRULE_NO_MALLOPT") or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(-2, 64 * 2**20))  # M_TOP_PAD
    except (OSError, AttributeError):
        return False


ALLOCATOR_TUNED = _tune_allocator()


_MODULES: dict[type, Any] = {}
"""Array types of other array libraries -> their module. GPU array libraries are recognised
here, and only here: CuPy would register ``{cupy.ndarray: cupy}`` when it is first asked for."""


def get_array_module(*arrays: Any) -> Any:
    """The array module that owns ``arrays``: NumPy for NumPy arrays and scalars, Python scalars
    and anything else (the default ``xp``), unless one of them belongs to another registered
    array library (``_MODULES``). On hot paths: one ``type(a) is ndarray`` check first."""
    if _MODULES:
        for a in arrays:
            if type(a) is ndarray:
                continue
            m = _MODULES.get(type(a))
            if m is not None:
                return m
    return xp



_SPECIAL: dict[tuple[Any, str], Any] = {}


def special(module: Any, name: str) -> Any:
    """The elementwise special function ``name`` (SciPy's names: ``erf``, ``erfc``, ``erfinv``,
    ``gammaln``, ``digamma``, ``polygamma``) of the array library ``module``: SciPy's for NumPy,
    imported on first use (it costs ~0.15 s), or None where there is none (SciPy is optional:
    callers fall back to their own series or raise a clear error). CuPy would answer
    ``cupyx.scipy.special.NAME`` here."""
    key = (module, name)
    try:
        return _SPECIAL[key]
    except KeyError:
        pass
    found = None
    if module is numpy:
        try:
            import scipy.special as sp
        except ImportError:  # SciPy is optional
            sp = None
        found = getattr(sp, name, None)
    _SPECIAL[key] = found
    return found


def special_erf(module: Any) -> Any:
    """The elementwise ``erf`` of the array library ``module`` (``special(module, "erf")``)."""
    return special(module, "erf")


def to_numpy(arr: Any) -> numpy.ndarray:
    """A NumPy array with ``arr``'s values, for CPU-only work (files, printing, plotting).

    A NumPy array is returned as it is (no copy); a GPU array would be copied to the host here
    (CuPy: ``arr.get()``).
    """
    if type(arr) is ndarray:
        return arr
    return numpy.asarray(arr)


def is_floating(dtype: Any) -> bool:
    """True for the floating dtypes that can carry gradients."""
    return numpy.dtype(dtype).kind == "f"


class device:
    """A device name as PyTorch scripts write it: ``cr.device("cpu")``.

    Only ``"cpu"`` exists today; ``"cuda"`` raises a clear error until the GPU seam lands.
    """

    __slots__ = ("index", "type")

    def __init__(self, spec: str | device = "cpu", index: int | None = None) -> None:
        if isinstance(spec, device):
            self.type, self.index = spec.type, spec.index
            return
        name, _, idx = str(spec).partition(":")
        if name not in ("cpu", "cuda"):
            raise ValueError(f"device: unknown device {spec!r}; expected 'cpu' "
                             "(or 'cuda' on a GPU)")
        self.type = name
        self.index = int(idx) if idx else index

    def __repr__(self) -> str:
        return f"device(type={self.type!r})" if self.index is None else (
            f"device(type={self.type!r}, index={self.index})")

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and other.type == self.type

    def __hash__(self) -> int:
        return hash(self.type)


CPU = device("cpu")


def check_device(spec: Any, where: str) -> device:
    """Validate a ``device=`` argument; only the CPU is available without a GPU backend."""
    d = spec if isinstance(spec, device) else device(spec if spec is not None else "cpu")
    if d.type != "cpu":
        raise RuntimeError(
            f"{where}: device {str(d)!r} is not available: chainrule runs on the CPU (NumPy) here; "
            "cr.cuda.is_available() is False. Use device='cpu'.")
    return d


_DEFAULT_DEVICE = [CPU]


def set_default_device(device_spec: Any) -> None:
    """``cr.set_default_device("cpu")`` as PyTorch scripts call it; ``None`` resets it. Any other
    device raises: chainrule runs on the CPU (NumPy) only."""
    if device_spec is None:
        _DEFAULT_DEVICE[0] = CPU
        return
    _DEFAULT_DEVICE[0] = check_device(device_spec, "set_default_device")


def get_default_device() -> device:
    """The device new tensors are made on: always ``device("cpu")`` here."""
    return _DEFAULT_DEVICE[0]


def _no_gpu(what: str) -> RuntimeError:
    return RuntimeError(f"cr.cuda.{what}: there is no GPU here: chainrule runs on the CPU "
                        "(NumPy) and cr.cuda.is_available() is False; guard GPU-only code with "
                        "`if cr.cuda.is_available():`")


class _Device:
    """What ``cr.cuda``, ``cr.mps`` and ``cr.cpu`` share: availability and count (``_count``
    devices), and the calls PyTorch accepts without the device, which do nothing here."""

    _count = 0

    @classmethod
    def is_available(cls) -> bool:
        return cls._count > 0

    @classmethod
    def device_count(cls) -> int:
        return cls._count

    @staticmethod
    def manual_seed(seed: int) -> None:
        """Nothing to seed without the device (PyTorch also ignores it then); ``cr.manual_seed``
        seeds the CPU generator."""

    @staticmethod
    def synchronize(device: Any = None) -> None:
        """Nothing to wait for: CPU work is finished when a call returns."""

    @staticmethod
    def empty_cache() -> None:
        """No device memory to release."""

    amp: Any = None  # cr.cuda.amp / cr.cpu.amp, set by chainrule/__init__ (amp sits above)


class cuda(_Device):
    """``cr.cuda`` as PyTorch scripts call it on a machine without a GPU: ``is_available()`` is
    False, ``device_count()`` is 0; the seeding and synchronisation calls that PyTorch accepts
    without a GPU do nothing; the calls that need a GPU raise, saying so."""

    @staticmethod
    def is_initialized() -> bool:
        return False

    @staticmethod
    def manual_seed_all(seed: int) -> None:
        """Nothing to seed without a GPU (as ``manual_seed``)."""

    @staticmethod
    def current_device() -> int:
        raise _no_gpu("current_device()")

    @staticmethod
    def get_device_name(device: Any = None) -> str:
        raise _no_gpu("get_device_name()")

    @staticmethod
    def set_device(device: Any) -> None:
        raise _no_gpu("set_device()")

    @staticmethod
    def is_bf16_supported(including_emulation: bool = True) -> bool:
        """False: no GPU (and NumPy has no bfloat16)."""
        return False


class mps(_Device):
    """``cr.mps`` as PyTorch scripts call it: there is no Apple GPU here (``is_available()`` is
    False, ``device_count()`` 0); seeding, synchronising and emptying the cache do nothing."""


class cpu(_Device):
    """``cr.cpu`` as PyTorch scripts call it: the one device here."""

    _count = 1

    @staticmethod
    def current_device() -> str:
        return "cpu"


class backends:
    """``cr.backends.cudnn`` / ``cr.backends.mps`` as PyTorch scripts read and set them: no
    cuDNN and no Apple GPU here (``is_available()`` is False); the cuDNN flags can be set and
    change nothing."""

    class cudnn:
        benchmark = False
        deterministic = False
        enabled = False

        @staticmethod
        def is_available() -> bool:
            return False

    class mps:
        @staticmethod
        def is_available() -> bool:
            return False

        @staticmethod
        def is_built() -> bool:
            return False
