"""Inference tensors: what ``inference_mode`` makes, and what they refuse outside it, as PyTorch
(the cases checked against torch side by side)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import chainrule as cr
from tests.helpers import require_torch


def _made(lib: Any) -> dict[str, Any]:
    """Tensors made inside inference mode with ``lib`` (chainrule or torch)."""
    w = lib.ones(3, requires_grad=True)
    with lib.inference_mode():
        made = {"factory": lib.ones(3), "from data": lib.tensor([1.0, 2.0, 3.0]),
                "op of a normal tensor": w * 2, "view of a normal tensor": w[0:2],
                "requires grad": lib.ones(3, requires_grad=True)}
        made["in place inside"] = made["factory"].add_(1)
    return {"w": w, **made}


def test_is_inference_matches_torch() -> None:
    torch = require_torch()
    ours, theirs = _made(cr), _made(torch)
    for k in ours:
        assert ours[k].is_inference() == theirs[k].is_inference(), k
        if k != "view of a normal tensor":  # torch: requires grad (a view keeps autograd's
            #  metadata); chainrule: no graph is recorded inside, as under no_grad
            assert ours[k].requires_grad == theirs[k].requires_grad, k
    assert not cr.ones(2).is_inference()


CASES: dict[str, Callable[[Any, Any, Any], Any]] = {
    "saved by mul": lambda lib, x, w: x * w,
    "saved by matmul": lambda lib, x, w: lib.matmul(x, w),
    "saved by tanh(w) * x": lambda lib, x, w: lib.tanh(w) * x,
    "not saved by add": lambda lib, x, w: x + w,
    "no graph": lambda lib, x, w: x * 2,
    "view": lambda lib, x, w: x[0:2],
    "clone": lambda lib, x, w: x.clone(),
    "detach": lambda lib, x, w: x.detach(),
    "in place": lambda lib, x, w: x.add_(1),
    "in place mul_": lambda lib, x, w: x.mul_(2),
    "zero_": lambda lib, x, w: x.zero_(),
    "requires_grad_": lambda lib, x, w: x.requires_grad_(),
    "saved under no_grad": lambda lib, x, w: _no_grad(lib, lambda: x * w),
}


def _no_grad(lib: Any, f: Callable[[], Any]) -> Any:
    with lib.no_grad():
        return f()


def _outcome(lib: Any, case: str) -> tuple:
    made = _made(lib)
    x, w = made["factory"], made["w"]
    try:
        r = CASES[case](lib, x, w)
    except RuntimeError as e:
        msg = str(e)
        return ("error", next(k for k in ("cannot be saved for backward", "Inplace update",
                                          "Setting requires_grad=True") if k in msg))
    return ("ok", r.is_inference(), r.requires_grad, x.tolist())


@pytest.mark.parametrize("case", sorted(CASES))
def test_inference_tensor_outside_inference_mode_as_torch(case: str) -> None:
    torch = require_torch()
    assert _outcome(cr, case) == _outcome(torch, case)


def test_refused_in_place_leaves_the_values_alone() -> None:
    with cr.inference_mode():
        x = cr.ones(3)
    for f in (lambda: x.add_(1), lambda: x.fill_(5), lambda: x.__setitem__(0, 7.0),
              lambda: x.clamp_(max=0.5)):
        with pytest.raises(RuntimeError, match="Inplace update to inference tensor"):
            f()
    assert x.tolist() == [1.0, 1.0, 1.0]
    with cr.inference_mode():  # back inside: allowed again
        x.add_(1)
    assert x.tolist() == [2.0, 2.0, 2.0]


def test_a_model_run_in_inference_mode_then_trained_on_a_clone() -> None:
    model = cr.nn.Linear(3, 2)
    with cr.inference_mode():
        feats = model(cr.randn(4, 3))
    assert feats.is_inference() and not model.weight.is_inference()
    with pytest.raises(RuntimeError, match="cannot be saved for backward"):
        feats * model.weight[:, 0]  # mul saves its inputs for backward
    loss = (feats.clone() * model.weight[:, 0]).sum()  # a clone is a normal tensor
    loss.backward()
    assert model.weight.grad is not None
