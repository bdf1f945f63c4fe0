"""How each layer declares itself to the module sweep (``tests/test_module_sweep.py``).

Every public layer class has a classmethod ``_sample(cls, rng) -> ModuleSample``: the
constructor arguments of a small instance and the inputs of one call. The sweep builds the
module from it and runs one generic check: finite differences for the inputs and parameters,
``state_dict`` round trip, dtype moves, ``train``/``eval``, and parity with ``torch.nn``'s class
of the same name. Adding a layer is writing its class, ``_sample`` included::

    @classmethod
    def _sample(cls, rng: np.random.Generator) -> ModuleSample:
        return ModuleSample(args=(3, 2), inputs=(rng.standard_normal((4, 3)),))
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Generator = np.random.Generator
"""The random generator a ``_sample`` draws its data from."""
Array = np.ndarray
"""The arrays samples are made of (NumPy: samples are CPU test data)."""


def integers(values: Any) -> Array:
    """An int64 array of class indices or token ids for a sample."""
    return np.asarray(values, dtype=np.int64)


@dataclass
class ModuleSample:
    """One small instance of a layer and one call of it, for the module sweep.

    ``args``/``kwargs`` build the module (``cls(*args, **kwargs)``) and, unless
    ``torch_args``/``torch_kwargs`` say otherwise, ``torch.nn``'s class of the same name; NumPy
    arrays among them become tensors (of the default dtype when floating). ``build`` replaces
    both for containers whose arguments are modules: ``build(nn)`` returns a new instance, where
    ``nn`` is ``chainrule.nn`` or ``torch.nn``. ``inputs`` are the forward's arguments as NumPy
    arrays: floating ones are differentiated (all of them, or those whose positions ``grad`` lists),
    integer ones are constant tensors. ``call(module, *inputs)`` replaces ``module(*inputs)`` for
    containers that have no forward, or applies the op that makes a loss's input (``CTCLoss``:
    ``log_softmax`` of the logits).

    Flags: ``random`` (training-mode output draws random numbers: Dropout), ``mode_dependent``
    (training and eval outputs differ), ``torch=False`` (no parity check although torch.nn has the
    name; say why in a comment), ``atol`` (finite-difference tolerance, for kinks), ``rtol``
    (parity tolerance against torch, where torch's float64 kernel rounds a constant to float32;
    say which in a comment).
    """

    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    inputs: tuple = ()
    grad: tuple[int, ...] | None = None
    build: Callable[[Any], Any] | None = None
    call: Callable[..., Any] | None = None
    torch_args: tuple | None = None
    torch_kwargs: dict[str, Any] | None = None
    torch: bool = True
    random: bool = False
    mode_dependent: bool = False
    atol: float = 1e-6
    rtol: float = 1e-9


def away_from(rng: np.random.Generator, shape: tuple[int, ...], kinks: tuple[float, ...] = (0.0,),
              scale: float = 2.0, gap: float = 0.1) -> np.ndarray:
    """Normal values times ``scale``, none within ``gap`` of a kink (so finite differences do
    not straddle one)."""
    x = rng.standard_normal(shape) * scale
    for k in kinks:
        near = np.abs(x - k) < gap
        x[near] = k + np.where(x[near] >= k, gap, -gap) * 2
    return x


def materialized(nn: Any, module: Any, shape: tuple[int, ...]) -> Any:
    """A lazy layer with its parameters sized for an input of ``shape`` (zeros of ``nn``'s
    library, chainrule or torch, given to ``initialize_parameters``) but not yet called: the
    module sweep copies weights between the libraries before the first call."""
    lib = sys.modules[nn.__name__.partition(".")[0]]
    module.initialize_parameters(lib.zeros(shape))
    return module


def lazy_sample(cls: type, rng: np.random.Generator, args: tuple, kwargs: dict,
                shape: tuple[int, ...], **flags: Any) -> ModuleSample:
    """The sample of a lazy layer ``cls``: built from ``args``/``kwargs``, sized for an input
    of ``shape`` (``materialized``), called on one; ``flags`` as ``ModuleSample``'s."""
    name = cls.__name__
    return ModuleSample(build=lambda nn: materialized(nn, getattr(nn, name)(*args, **kwargs),
                                                      shape),
                        inputs=(rng.standard_normal(shape),), **flags)
