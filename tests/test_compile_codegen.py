"""``cr.compile``'s generated replay: the inlined (lowered) ops give eager's bits for every
dtype/broadcast case, the source is inspectable, and inlined checks keep eager's errors."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

LR = 0.05


def _run(f: Any, shapes: list, dtype: str, compiled: bool, steps: int = 4) -> tuple:
    rng = np.random.default_rng(0)
    ps = [cr.tensor(rng.uniform(0.5, 1.5, s).astype(dtype), requires_grad=True) for s in shapes]

    def step() -> Any:
        for q in ps:
            q.grad = None
        loss = f(*ps)
        loss.backward()
        with cr.no_grad():
            for q in ps:
                q -= LR * q.grad
        return loss
    fn = cr.compile(step, strict=True) if compiled else step
    losses = [fn()._data.tobytes() for _ in range(steps)]
    return losses, [q._data.tobytes() for q in ps], fn


CASES = {
    "add": (lambda a, b: (a + b).sum(), [(3, 4), (4,)]),
    "sub": (lambda a, b: (a - b * 2.0).sum(), [(3, 4), (3, 1)]),
    "mul": (lambda a, b: (a * b * 3).sum(), [(2, 3), (2, 3)]),
    "div": (lambda a, b: (a / b).sum(), [(2, 3), (3,)]),
    "neg": (lambda a: (-a).sum(), [(5,)]),
    "tanh exp log": (lambda a: a.tanh().exp().log().sum(), [(2, 5)]),
    "sqrt square": (lambda a: a.sqrt().square().sum(), [(6,)]),
    "relu sigmoid": (lambda a: (F.relu(a - 1.0).sigmoid() * a).sum(), [(4, 3)]),
    "linear": (lambda x, w, b: F.linear(x, w, b).tanh().sum(), [(5, 3), (2, 3), (2,)]),
    "linear no bias": (lambda x, w: F.linear(x, w).sum(), [(5, 3), (2, 3)]),
    "mse_loss": (lambda x, y: F.mse_loss(x.sigmoid(), y), [(4, 3), (4, 3)]),
    "cross_entropy": (lambda x: F.cross_entropy(x, cr.tensor([0, 2, 1, 2])), [(4, 3)]),
    "cross_entropy sum": (lambda x: F.cross_entropy(x * 2.0, cr.tensor([1, 1, 0]),
                                                    reduction="sum"), [(3, 2)]),
    "sum mean": (lambda a, b: (a * b).sum() + (a - b).mean() * 3.0, [(2, 3), (3,)]),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_lowered_ops_bit_for_bit(case: str, dtype: str) -> None:
    f, shapes = CASES[case]
    with warnings.catch_warnings():
        warnings.simplefilter("error", cr.CompileWarning)
        l1, p1, _ = _run(f, shapes, dtype, False)
        l2, p2, fn = _run(f, shapes, dtype, True)
    assert (l1, p1) == (l2, p2)
    assert fn.replays == 2
    prog = next(p for ps in fn.programs.values() for p in ps)
    assert prog.lowered > 0


def test_hot_ops_are_inlined_and_the_code_is_inspectable(capsys: Any) -> None:
    _, _, fn = _run(CASES["linear"][0], CASES["linear"][1], "float32", True)
    code = fn.code
    assert code.startswith("def _make(") and "def replay(" in code
    assert "matmul(" in code and "tanh(" in code
    assert "vjp_tanh" not in code and "fwd_linear" not in code  # inlined, not called
    fn.print_code()
    assert capsys.readouterr().out.strip() == code.strip()
    assert cr.compile(lambda: None).code == ""


def test_inlined_cross_entropy_keeps_eager_errors_for_bad_targets() -> None:
    w = cr.tensor(np.ones((3, 4), np.float32), requires_grad=True)

    def step(x: Any, t: Any) -> Any:
        w.grad = None
        loss = cr.cross_entropy(F.linear(x, w), t)  # ignore_index None: inlined
        loss.backward()
        return loss
    fn = cr.compile(step, strict=True)
    x = cr.tensor(np.ones((2, 4), np.float32))
    for _ in range(3):
        fn(x, cr.tensor([0, 2]))
    assert fn.replays == 1 and "ce_error" in fn.code
    for bad in ([0, 3], [-1, 0]):
        with pytest.raises((IndexError, ValueError)) as eager:
            step(x, cr.tensor(bad))
        with pytest.raises(type(eager.value), match="cross_entropy"):
            fn(x, cr.tensor(bad))


def test_cross_entropy_with_ignore_index_on_input_targets_is_not_inlined() -> None:
    w = cr.tensor(np.ones((3, 4), np.float32), requires_grad=True)

    def step(x: Any, t: Any) -> Any:
        w.grad = None
        loss = F.cross_entropy(F.linear(x, w), t)  # ignore_index=-100 (eager's other path)
        loss.backward()
        return loss
    fn = cr.compile(step, strict=True)
    x = cr.tensor(np.arange(8, dtype=np.float32).reshape(2, 4))
    for t in ([0, 2], [0, 2], [1, -100]):
        got = fn(x, cr.tensor(t))
    assert fn.replays == 1 and "ce_error" not in fn.code
    assert got._data.tobytes() == step(x, cr.tensor([1, -100]))._data.tobytes()
