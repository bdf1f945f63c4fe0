"""The global random state: ``cr.manual_seed`` seeds everything chainrule draws.

One ``numpy.random.Generator`` (PCG64) is the default source; ``Generator`` objects can be made
and passed explicitly (``generator=``), as in PyTorch. ``get_rng_state``/``set_rng_state`` give a
plain, serialisable snapshot (for bit-exact resume).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.grad_mode import STATE


class Generator:
    """A seedable random source (PyTorch's ``torch.Generator``)."""

    def __init__(self, device: Any = "cpu") -> None:
        self._rng = np.random.default_rng()
        self._seed: int | None = None

    def manual_seed(self, seed: int) -> Generator:
        self._seed = int(seed)
        self._rng = np.random.default_rng(int(seed))
        return self

    def initial_seed(self) -> int | None:
        return self._seed

    def get_state(self) -> dict:
        return self._rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self._rng.bit_generator.state = state

    @property
    def numpy(self) -> np.random.Generator:
        """The underlying NumPy generator."""
        return self._rng


default_generator = Generator()
default_generator.manual_seed(0)


def manual_seed(seed: int) -> Generator:
    """Seed the default generator (and NumPy's legacy global state) for reproducible runs."""
    np.random.seed(int(seed) % 2**32)
    return default_generator.manual_seed(seed)


def seed() -> int:
    """Seed the default generator from OS entropy and return the seed used."""
    s = int(np.random.SeedSequence().entropy % 2**63)
    default_generator.manual_seed(s)
    return s


def initial_seed() -> int | None:
    return default_generator.initial_seed()


def get_rng_state() -> dict:
    """A JSON-serialisable snapshot of the default generator."""
    return default_generator.get_state()


def set_rng_state(state: dict) -> None:
    default_generator.set_state(state)


def generator_of(generator: Generator | None) -> np.random.Generator:
    """The NumPy generator behind ``generator`` (the default one when None)."""
    if STATE.recorder is not None:  # cr.compile: a draw the replay must not repeat
        STATE.recorder.rng_draw()
    return (generator or default_generator).numpy
