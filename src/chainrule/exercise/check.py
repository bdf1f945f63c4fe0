"""``check``: compare a hand-written backward pass with finite differences and with the engine.

Two kinds of student function:

* an op's backward: ``student(*inputs, grad_output) -> gradient(s)``, one array per floating
  input (a single array when there is one), given the forward ``reference`` on tensors;
* a network's manual backprop: ``inputs[0]`` is a dict of parameter arrays, and
  ``student(params, *rest) -> {name: gradient}`` for the scalar loss ``reference(params, *rest)``.

The expected gradient is chainrule's own (backward through ``reference`` in float64); central
finite differences check that expectation independently. No answer is stored anywhere.
"""

from __future__ import annotations

import inspect
import os
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["CheckReport", "check"]


@dataclass
class CheckReport:
    """What ``check`` found: ``passed``, the worst entries and one line per gradient."""

    name: str
    passed: bool
    rows: list[tuple[str, tuple[int, ...], float, float, float, float, float, bool]]
    summary: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    wrong: dict[str, list[tuple[int, ...]]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        lines = [f"check {self.name}"]
        lines += [f"  {s}" for s in self.summary]
        lines += [f"  problem: {p}" for p in self.problems]
        if self.rows:
            head = (f"  {'gradient':<10} {'index':<10} {'expected':>12} {'finite diff':>12} "
                    f"{'got':>12} {'abs err':>10} {'rel err':>10}")
            lines += ["  worst entries:", head]
            for g, idx, exp, fd, got, ae, re_, bad in self.rows:
                lines.append(f"  {g:<10} {list(idx)!s:<10} {exp:>12.6g} {fd:>12.6g} "
                             f"{got:>12.6g} {ae:>10.2e} {re_:>10.2e}{'  <- wrong' if bad else ''}")
        n_bad = sum(len(v) for v in self.wrong.values())
        verdict = "PASS" if self.passed else "FAIL"
        why = "every entry matches" if self.passed else (
            f"{n_bad} entr{'y' if n_bad == 1 else 'ies'} differ" if n_bad else "see the problems")
        lines.append(f"{verdict}: {self.name}: {why}")
        return "\n".join(lines)


def _tensor(a: Any, grad: bool) -> Any:
    from chainrule.autograd.factories import from_numpy

    arr = np.array(a)
    if arr.dtype.kind == "f":
        arr = arr.astype(np.float64)
    return from_numpy(arr).requires_grad_(grad and arr.dtype.kind == "f")


def _arg_names(fn: Callable[..., Any], n: int) -> list[str]:
    try:
        ps = [p.name for p in inspect.signature(fn).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        ps = []
    return ps[:n] if len(ps) >= n else ([f"input{i}" for i in range(n)] if n > 1 else ["input"])


def _flatten(inputs: Sequence[Any], network: bool, arg_names: list[str]
             ) -> tuple[list[str], list[np.ndarray], Callable[..., Any]]:
    """Names and float arrays of every differentiable input (a network's: its parameters
    only), and a function rebuilding the argument list from tensors for them."""
    names: list[str] = []
    arrays: list[np.ndarray] = []
    slots: list[tuple[int, str | None]] = []
    for i, x in enumerate(inputs):
        if isinstance(x, dict):
            for k, v in x.items():
                names.append(str(k))
                arrays.append(np.asarray(v, dtype=np.float64))
                slots.append((i, k))
        elif not network and np.asarray(x).dtype.kind == "f":
            names.append(arg_names[i])
            arrays.append(np.asarray(x, dtype=np.float64))
            slots.append((i, None))

    def rebuild(*ts: Any) -> list[Any]:
        args = [dict(x) if isinstance(x, dict) else _tensor(x, False) for x in inputs]
        for (i, k), t in zip(slots, ts):
            if k is None:
                args[i] = t
            else:
                args[i][k] = t
        return args

    return names, arrays, rebuild


def _where(e: BaseException) -> str:
    """`` (line N of FILE, in FUNC)`` for the innermost frame of ``e``'s traceback."""
    frames = traceback.extract_tb(e.__traceback__)
    if not frames:
        return ""
    f = frames[-1]
    return f" (line {f.lineno} of {os.path.basename(f.filename)}, in {f.name}: {f.line or ''})"


def _student_answers(student: Callable[..., Any], inputs: Sequence[Any], names: list[str],
                     network: bool, grad_output: np.ndarray | None
                     ) -> tuple[dict[str, Any], list[str]]:
    copies = [{k: np.array(v, dtype=np.float64) for k, v in x.items()} if isinstance(x, dict)
              else np.array(x) for x in inputs]
    copies = [c.astype(np.float64) if isinstance(c, np.ndarray) and c.dtype.kind == "f" else c
              for c in copies]
    try:
        got = student(*copies) if network else student(*copies, np.array(grad_output))
    except Exception as e:  # the student's code failed: a failed check, not a traceback
        who = getattr(student, "__name__", "the solution")
        return {}, [f"{who} raised {type(e).__name__}: {e}{_where(e)}; fix it and run the "
                    "check again"]
    if got is None or got is Ellipsis:
        return {}, ["the solution returned nothing: fill in the `...`"]
    if network:
        if not isinstance(got, dict):
            return {}, [f"expected a dict {{name: gradient}} for {names}, got "
                        f"{type(got).__name__}"]
        missing = [n for n in names if n not in got]
        return dict(got), ([f"no gradient returned for {', '.join(missing)}"] if missing else [])
    seq = list(got) if isinstance(got, (tuple, list)) else [got]
    n_float = len(names)
    if len(seq) == len(inputs) and len(inputs) != n_float:  # one per input, None for labels
        seq = [g for g, x in zip(seq, inputs) if np.asarray(x).dtype.kind == "f"]
    if len(seq) != n_float:
        return {}, [f"expected {n_float} gradient(s) ({', '.join(names)}), got {len(seq)}"]
    return dict(zip(names, seq)), []


def check(student_fn: Callable[..., Any], reference: Callable[..., Any], inputs: Sequence[Any],
          grad_output: Any = None, *, atol: float = 1e-6, rtol: float = 1e-4, worst: int = 6,
          name: str | None = None, verbose: bool = True, seed: int = 0) -> CheckReport:
    """Check ``student_fn``'s gradients of ``reference`` at ``inputs``; print and return a
    ``CheckReport``. An entry is wrong when ``|got - expected| > atol + rtol * |expected|``.

    ``grad_output`` is the upstream gradient handed to an op's backward (default: random
    normal of the output's shape, ``seed``); ignored for networks (the loss is a scalar).
    """
    from chainrule.autograd.engine import grad
    from chainrule.autograd.gradcheck import finite_difference

    inputs = list(inputs) if isinstance(inputs, (tuple, list)) else [inputs]
    network = isinstance(inputs[0], dict)
    names, arrays, rebuild = _flatten(inputs, network, _arg_names(student_fn, len(inputs)))
    label = name or getattr(student_fn, "__name__", "solution")
    leaves = [_tensor(a, True) for a in arrays]
    out = reference(*rebuild(*leaves))
    if network and out.numel() != 1:
        raise ValueError(f"check: the reference loss must be a scalar, got shape {out.shape}")
    if network:
        g = np.ones(out.shape)
    elif grad_output is None:
        g = np.random.default_rng(seed).standard_normal(out.shape)
    else:
        g = np.broadcast_to(np.asarray(grad_output, dtype=np.float64), out.shape).copy()
    expected = [np.asarray(e.detach().numpy()) if e is not None else np.zeros(a.shape)
                for e, a in zip(grad(out, leaves, _tensor(g, False), allow_unused=True), arrays)]
    fd = finite_difference(lambda *ts: reference(*rebuild(*ts)), [_tensor(a, True) for a in arrays],
                           grad_outputs=g)
    fd_arrays = [np.asarray(t.detach().numpy()) for t in fd]

    answers, problems = _student_answers(student_fn, inputs, names, network, g)
    summary: list[str] = []
    rows: list[Any] = []
    wrong: dict[str, list[tuple[int, ...]]] = {}
    engine_fd = max((float(np.max(np.abs(e - f), initial=0.0)) for e, f in
                     zip(expected, fd_arrays)), default=0.0)
    summary.append(f"engine vs finite differences: max abs diff {engine_fd:.1e}")
    for n, exp, f in zip(names, expected, fd_arrays):
        if n not in answers:
            continue
        got = answers[n]
        try:
            got = np.asarray(got.detach().numpy() if hasattr(got, "numpy") else got,
                             dtype=np.float64)
        except (TypeError, ValueError):
            problems.append(f"{n}: not an array ({type(answers[n]).__name__})")
            continue
        if got.shape != exp.shape:
            problems.append(f"{n}: shape {got.shape}, expected {exp.shape} (the shape of {n})")
            continue
        err = np.abs(got - exp)
        rel = err / np.maximum(np.abs(exp), 1e-12)
        bad = err > atol + rtol * np.abs(exp)
        wrong[n] = [tuple(int(i) for i in ix) for ix in np.argwhere(bad)]
        summary.append(f"{n} {tuple(exp.shape)}: {int(bad.sum())}/{exp.size} entries differ, "
                       f"max abs err {float(err.max(initial=0.0)):.2e}")
        for flat in np.argsort(-err, axis=None, kind="stable")[:worst]:
            ix = np.unravel_index(flat, exp.shape) if exp.ndim else ()
            rows.append((n, tuple(int(i) for i in ix), float(exp[ix]), float(f[ix]),
                         float(got[ix]), float(err[ix]), float(rel[ix]), bool(bad[ix])))
    rows.sort(key=lambda r: -r[5])
    rows = rows[:worst]
    wrong = {k: v for k, v in wrong.items() if v}
    report = CheckReport(label, not problems and not wrong, rows, summary, problems, wrong)
    if verbose:
        print(report)
    return report
