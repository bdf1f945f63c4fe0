"""What is measured: the workloads, their units and the targets (no NumPy here: the orchestrating
process imports this module and must stay light)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Workload:
    """One benchmark: a name, a one-line description, its unit and how a raw second converts."""

    name: str
    title: str
    unit: str  # what the table shows
    scale: float  # seconds per step -> unit
    target: str = ""  # human-readable target (1 thread)
    target_kind: str = ""  # "vs_numpy", "vs_torch", "max" (absolute upper bound) or ""
    target_value: float = 0.0


FRAMEWORKS = ("chainrule", "numpy", "torch")
"""Frameworks in table order; "numpy" is the hand-written floor."""

FRAMEWORK_TITLES = {"chainrule": "chainrule", "numpy": "hand NumPy", "torch": "PyTorch"}

CHAIN_OPS = 100  # ops in W5's chain; W5's time per step is divided by this

WORKLOADS: dict[str, Workload] = {w.name: w for w in (
    Workload("W1", "W1 MLP 784-128-10 ReLU, cross-entropy, batch 64", "ms/step", 1e3,
             ">= 0.95x hand NumPy", "vs_numpy", 0.95),
    Workload("W2", "W2 MLP 784-1024-1024-10 ReLU, cross-entropy, batch 256", "ms/step", 1e3,
             ">= 1.0x PyTorch", "vs_torch", 1.0),
    Workload("W3", "W3 MLP 784-30-10 sigmoid, quadratic (MSE) loss, batch 10", "ms/step", 1e3,
             ">= 0.8x hand NumPy", "vs_numpy", 0.8),
    Workload("W4", "W4 LeNet-5-like CNN on 1x28x28 (conv5-pool-conv5-pool-120-84-10), "
             "cross-entropy, SGD, batch 64", "ms/step", 1e3, ">= 1.0x PyTorch", "vs_torch", 1.0),
    Workload("W5", f"W5 chain of {CHAIN_OPS} elementwise ops (add, mul, tanh) on 16 elements, "
             "forward+backward", "us/op", 1e6 / CHAIN_OPS, "<= 1.5 us/op", "max", 1.5),
    Workload("import", "import time, fresh interpreter (chainrule / numpy / torch)", "s", 1.0,
             "<= 0.25 s", "max", 0.25),
    Workload("rss", "peak RSS of a process running W1 training steps", "MiB", 1.0,
             "<= 80 MiB", "max", 80.0),
)}

TIMED = ("W1", "W2", "W3", "W4", "W5")
"""Workloads timed in interleaved windows inside long-lived worker processes."""


class Unavailable(Exception):
    """A framework cannot run a workload here (not installed, or an op it needs is missing)."""


@dataclass
class Runner:
    """One framework's implementation of one workload, as the worker process drives it.

    ``step()`` runs one timed step and returns its loss (or output); ``reset()`` restores the
    initial parameters (untimed, before each window, so every window starts from the same state);
    ``fingerprint(last)`` gives floats (loss, parameter sums) that the harness compares across
    frameworks to check they compute the same thing.
    """

    step: Callable[[], Any]
    reset: Callable[[], None]
    fingerprint: Callable[[Any], list[float]]
