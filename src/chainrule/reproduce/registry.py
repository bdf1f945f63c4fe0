"""The registry of experiments: one ``Experiment`` per published result.

Adding a result is one ``register(Experiment(...))`` call. An experiment that needs a layer
``chainrule.nn`` does not have yet (``needs=("Conv1d",)``) is listed as pending and refuses to
run with a message that names the layer; it runs as soon as the layer exists.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field

from chainrule.reproduce.common import Options, Report


class PendingError(RuntimeError):
    """An experiment was asked to run before the layers it needs exist in ``chainrule.nn``."""


@dataclass(frozen=True)
class Experiment:
    """One reproducible result: ``fn(options) -> Report``."""

    name: str
    title: str
    source: str  # the paper or book, with the figure's place in it
    fn: Callable[[Options], Report]
    needs: tuple[str, ...] = ()  # chainrule.nn layers it needs (e.g. "Conv1d")
    seeded: bool = False  # reports a distribution over --seeds
    default_seeds: int = 1
    parts: tuple[str, ...] = field(default=())  # rows that are pending on their own (see listing)


EXPERIMENTS: dict[str, Experiment] = {}
ORDER = ("xor", "symmetry", "parity", "encoder", "nielsen", "fashion-mnist", "mnist1d")


def _ordered() -> list[Experiment]:
    """The experiments in the order of the history (then any others by name)."""
    rank = {n: i for i, n in enumerate(ORDER)}
    return sorted(EXPERIMENTS.values(), key=lambda e: (rank.get(e.name, len(ORDER)), e.name))


def register(exp: Experiment) -> Experiment:
    """Add ``exp`` to ``EXPERIMENTS`` (its name must be new)."""
    if exp.name in EXPERIMENTS:
        raise ValueError(f"reproduce: an experiment named {exp.name!r} is already registered")
    EXPERIMENTS[exp.name] = exp
    return exp


def missing_layers(needs: tuple[str, ...] | list[str]) -> list[str]:
    """The names in ``needs`` that ``chainrule.nn`` does not export yet."""
    from chainrule import nn

    return [n for n in needs if not hasattr(nn, n)]


def get(name: str) -> Experiment:
    """The experiment called ``name``; a ``KeyError`` that suggests the nearest name."""
    if name in EXPERIMENTS:
        return EXPERIMENTS[name]
    near = difflib.get_close_matches(name, list(EXPERIMENTS), n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    known = ", ".join(e.name for e in _ordered())
    raise KeyError(f"unknown experiment {name!r}{hint}; known: {known}")


def listing() -> str:
    """A Markdown table of every experiment and row, pending rows marked with what they need."""
    lines = ["| name | what it reproduces | source | status |", "|---|---|---|---|"]
    for exp in _ordered():
        miss = missing_layers(exp.needs)
        status = f"pending: needs nn.{', nn.'.join(miss)}" if miss else "ready"
        lines.append(f"| `{exp.name}` | {exp.title} | {exp.source} | {status} |")
        for part in exp.parts:  # "row label|Layer,Layer"
            label, _, layers = part.partition("|")
            need = tuple(x for x in layers.split(",") if x)
            pmiss = missing_layers(need)
            pstat = f"pending: needs nn.{', nn.'.join(pmiss)}" if pmiss else "ready"
            lines.append(f"| `{exp.name}` | row: {label} | | {pstat} |")
    return "\n".join(lines)


def run(name: str, options: Options | None = None, **kw: object) -> Report:
    """Run the experiment ``name`` and return its report (``kw`` fills ``Options``)."""
    exp = get(name)
    miss = missing_layers(exp.needs)
    if miss:
        raise PendingError(
            f"reproduce {name}: pending: needs nn.{', nn.'.join(miss)}, which chainrule.nn does "
            "not have yet; it runs as soon as the layer exists (docs/layers.md: how to add one)")
    opts = options if options is not None else Options(**kw)  # type: ignore[arg-type]
    if opts.seeds is None:
        opts.seeds = exp.default_seeds
    return exp.fn(opts)
