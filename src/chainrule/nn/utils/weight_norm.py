"""Weight and spectral normalisation by forward pre-hooks (``torch.nn.utils.weight_norm``,
``torch.nn.utils.spectral_norm``): the parameter ``name`` is replaced by others from which it is
recomputed before every forward.

* ``weight_norm``: ``weight = g * v / ||v||`` (the norm over every dim but ``dim``), parameters
  ``weight_g`` and ``weight_v``.
* ``spectral_norm``: ``weight = weight_orig / sigma``, ``sigma`` the largest singular value of
  ``weight_orig`` (as a matrix, rows along ``dim``) estimated by power iteration on the buffers
  ``weight_u`` and ``weight_v``, one or more iterations per training forward, as PyTorch does.
"""

from __future__ import annotations

from typing import Any, TypeVar

from chainrule import backend, creation, ops
from chainrule.autograd.factories import tensor
from chainrule.autograd.tensor import Tensor
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter

__all__ = ["remove_spectral_norm", "remove_weight_norm", "spectral_norm", "weight_norm"]

M = TypeVar("M", bound=Module)


def norm_except_dim(v: Tensor, dim: int) -> Tensor:
    """The 2-norm of ``v`` over every dim but ``dim`` (kept, size 1); over all with ``dim=-1``."""
    if dim == -1:
        return ops.sqrt((v * v).sum())
    dim = dim % v.ndim
    others = tuple(d for d in range(v.ndim) if d != dim)
    return ops.sqrt((v * v).sum(dim=others, keepdim=True)) if others else ops.abs(v)


def _weight_norm(v: Tensor, g: Tensor, dim: int) -> Tensor:
    return v * (g / norm_except_dim(v, dim))


class WeightNorm:
    """The forward pre-hook of ``weight_norm``: recomputes ``name`` from ``name_g``, ``name_v``."""

    def __init__(self, name: str, dim: int | None) -> None:
        self.name = name
        self.dim = -1 if dim is None else dim

    def compute_weight(self, module: Module) -> Tensor:
        return _weight_norm(getattr(module, self.name + "_v"), getattr(module, self.name + "_g"),
                            self.dim)

    def __call__(self, module: Module, inputs: Any) -> None:
        setattr(module, self.name, self.compute_weight(module))


def _hook_of(module: Module, kind: type, name: str) -> tuple[int, Any] | None:
    for k, hook in module._forward_pre_hooks.items():
        if isinstance(hook, kind) and hook.name == name:
            return k, hook
    return None


def _take_parameter(module: Module, name: str, who: str) -> Parameter:
    w = module._parameters.get(name)
    if w is None:
        raise ValueError(f"{who}: {type(module).__name__} has no parameter {name!r} (its "
                         f"parameters: {sorted(module._parameters)})")
    return w


def weight_norm(module: M, name: str = "weight", dim: int | None = 0) -> M:
    """Reparametrise ``module.<name>`` as ``g * v / ||v||`` (PyTorch's ``weight_norm``): the
    parameters become ``<name>_g`` (the norms, shape 1 except along ``dim``) and ``<name>_v``
    (the direction), and ``<name>`` is recomputed before each forward. ``dim=None``: one norm
    for the whole tensor."""
    if _hook_of(module, WeightNorm, name) is not None:
        raise RuntimeError(f"Cannot register two weight_norm hooks on the same parameter {name}")
    fn = WeightNorm(name, dim)
    w = _take_parameter(module, name, "weight_norm")
    del module._parameters[name]
    module.register_parameter(name + "_g", Parameter(norm_except_dim(w.detach(), fn.dim)))
    module.register_parameter(name + "_v", Parameter(w.detach()))
    setattr(module, name, fn.compute_weight(module))
    module.register_forward_pre_hook(fn)
    return module


def _remove(module: M, name: str, kind: type, who: str, suffixes: tuple[str, ...]) -> M:
    """Undo a hook of ``kind``: ``<name>`` becomes a plain parameter (its current value), the
    tensors ``<name><suffix>`` and the hook go."""
    found = _hook_of(module, kind, name)
    if found is None:
        raise ValueError(f"{who} of '{name}' not found in {module}")
    k, fn = found
    w = fn.compute_weight(module, False) if kind is SpectralNorm else fn.compute_weight(module)
    for suffix in ("", *suffixes):
        delattr(module, name + suffix)
    module.register_parameter(name, Parameter(w.detach()))
    del module._forward_pre_hooks[k]
    return module


def remove_weight_norm(module: M, name: str = "weight") -> M:
    """Undo ``weight_norm``: ``<name>`` becomes a plain parameter again (its current value)."""
    return _remove(module, name, WeightNorm, "weight_norm", ("_g", "_v"))


def _normalize(xp: Any, a: Any, eps: float) -> Any:
    return a / max(float(xp.sqrt(xp.dot(a, a))), eps)


class SpectralNorm:
    """The forward pre-hook of ``spectral_norm``."""

    def __init__(self, name: str = "weight", n_power_iterations: int = 1, dim: int = 0,
                 eps: float = 1e-12) -> None:
        if n_power_iterations <= 0:
            raise ValueError("spectral_norm: expected n_power_iterations to be positive, but got "
                             f"n_power_iterations={n_power_iterations}")
        self.name, self.dim = name, dim
        self.n_power_iterations, self.eps = n_power_iterations, eps

    def reshape_weight_to_matrix(self, w: Tensor) -> Tensor:
        if self.dim != 0:
            w = w.permute(self.dim, *[d for d in range(w.ndim) if d != self.dim])
        return w.reshape(w.shape[0], -1)

    def compute_weight(self, module: Module, do_power_iteration: bool) -> Tensor:
        w = getattr(module, self.name + "_orig")
        u, v = getattr(module, self.name + "_u"), getattr(module, self.name + "_v")
        mat = self.reshape_weight_to_matrix(w)
        if do_power_iteration:
            m = mat._data
            xp = backend.get_array_module(m)
            for _ in range(self.n_power_iterations):
                v._data[...] = _normalize(xp, m.T @ u._data, self.eps)
                u._data[...] = _normalize(xp, m @ v._data, self.eps)
            u._vc[0] += 1
            v._vc[0] += 1
        u, v = tensor(u._data.copy()), tensor(v._data.copy())  # the graph keeps these values
        return w / ops.dot(u, ops.mv(mat, v))

    def __call__(self, module: Module, inputs: Any) -> None:
        setattr(module, self.name, self.compute_weight(module, module.training))


def spectral_norm(module: M, name: str = "weight", n_power_iterations: int = 1,
                  eps: float = 1e-12, dim: int | None = None) -> M:
    """Divide ``module.<name>`` by its spectral norm before each forward (PyTorch's
    ``spectral_norm``): the parameter becomes ``<name>_orig``, with buffers ``<name>_u`` and
    ``<name>_v`` (the power iteration's vectors, started from ``cr.randn``). ``dim`` (default 0,
    1 for transposed convolutions) is the output dimension."""
    if _hook_of(module, SpectralNorm, name) is not None:
        raise RuntimeError(f"Cannot register two spectral_norm hooks on the same parameter "
                           f"{name}")
    if dim is None:
        dim = 1 if type(module).__name__.startswith("ConvTranspose") else 0
    fn = SpectralNorm(name, n_power_iterations, dim, eps)
    w = _take_parameter(module, name, "spectral_norm")
    h, wd = fn.reshape_weight_to_matrix(w.detach()).shape
    xp = backend.get_array_module(w._data)
    u = _normalize(xp, creation.randn(h, dtype=w.dtype)._data, eps)
    v = _normalize(xp, creation.randn(wd, dtype=w.dtype)._data, eps)
    del module._parameters[name]
    module.register_parameter(name + "_orig", w)
    setattr(module, name, w.detach())
    module.register_buffer(name + "_u", tensor(u))
    module.register_buffer(name + "_v", tensor(v))
    module.register_forward_pre_hook(fn)
    return module


def remove_spectral_norm(module: M, name: str = "weight") -> M:
    """Undo ``spectral_norm``: ``<name>`` becomes a plain parameter (the normalised value)."""
    return _remove(module, name, SpectralNorm, "spectral_norm", ("_u", "_v", "_orig"))
