"""What the experiments share: options, the report, Markdown tables, statistics, timing."""

from __future__ import annotations

import importlib.util
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class Options:
    """What ``chainrule reproduce`` passes to an experiment."""

    seeds: int | None = None  # how many seeds (0 .. seeds-1); None: the experiment's default
    out: str | None = None  # folder for pictures and the table (None: write nothing)
    data: str | None = None  # a folder of MNIST-style IDX files (nielsen, fashion-mnist)
    torch: bool | None = None  # run PyTorch beside (None: when it is importable)
    epochs: int | None = None  # fewer epochs / steps for a quick run (None: the paper's)
    limit: int | None = None  # at most this many training samples (quick runs)
    progress: bool = True  # print a line per epoch / configuration

    def want_torch(self) -> bool:
        """Whether to run PyTorch beside: asked for, or (default) importable."""
        if self.torch is None:
            return importlib.util.find_spec("torch") is not None
        return self.torch

    def folder(self) -> Path | None:
        """The output folder, created (None when nothing is written)."""
        if self.out is None:
            return None
        p = Path(self.out).expanduser()
        p.mkdir(parents=True, exist_ok=True)
        return p

    def say(self, *parts: Any) -> None:
        if self.progress:
            print(*parts, flush=True)


@dataclass
class Report:
    """An experiment's result: Markdown sections, the pictures written, raw numbers."""

    title: str
    sections: list[str] = field(default_factory=list)
    pictures: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def markdown(self) -> str:
        parts = [f"## {self.title}", *self.sections]
        if self.pictures:
            parts.append("Pictures: " + ", ".join(f"`{p}`" for p in self.pictures))
        parts.append(f"Total time: {self.seconds:.1f} s ({machine()}).")
        return "\n\n".join(parts) + "\n"

    def write(self, folder: Path | None) -> None:
        if folder is not None:
            (folder / "results.md").write_text(self.markdown())


def table(header: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table."""
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def spread(values: list[float] | np.ndarray, fmt: str = "{:.0f}") -> str:
    """``median [min-max]`` of the finite values, or a dash when there are none."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if v.size == 0:
        return "-"
    med = fmt.format(float(np.median(v)))
    if v.size == 1:
        return med
    return f"{med} [{fmt.format(float(v.min()))}-{fmt.format(float(v.max()))}]"


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def machine() -> str:
    """A short description of where the numbers were measured."""
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    return f"{platform.machine()}, {os.cpu_count()} cores, OMP_NUM_THREADS={threads}"


class Timer:
    """``with Timer() as t: ...; t.seconds``."""

    def __enter__(self) -> Timer:
        self.t0 = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.t0


def import_torch() -> Any:
    """``torch`` with one thread (the comparisons are per core), or an ImportError that says
    how to install it."""
    try:
        import torch
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("PyTorch is not installed: pip install torch==2.13.0 (CPU), or run "
                          "without --torch") from e
    torch.set_num_threads(1)
    return torch


def have_matplotlib() -> bool:
    return importlib.util.find_spec("matplotlib") is not None
