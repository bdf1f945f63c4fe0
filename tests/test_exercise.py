"""cr.exercise.check: a correct backward passes, a wrong one fails and names the wrong entries."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr


def _softmax_ce(logits: np.ndarray, targets: np.ndarray, g: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = z / z.sum(axis=1, keepdims=True)
    p[np.arange(len(targets)), targets] -= 1
    return g * p / len(targets)


def _mlp(params: dict, x: np.ndarray, y: np.ndarray, tanh_prime: bool = True) -> dict:
    h = np.tanh(x @ params["W1"] + params["b1"])
    d = _softmax_ce(h @ params["W2"] + params["b2"], y, np.array(1.0))
    dh = d @ params["W2"].T * ((1 - h**2) if tanh_prime else 1)
    return {"W1": x.T @ dh, "b1": dh.sum(0), "W2": h.T @ d, "b2": d.sum(0)}


def test_reachable_from_package() -> None:
    assert cr.exercise.check is not None
    assert set(cr.exercise.EXERCISES) == {"sigmoid_backward", "softmax_cross_entropy_backward",
                                          "mlp_backprop"}


def test_sigmoid_correct_and_wrong(capsys: pytest.CaptureFixture[str]) -> None:
    def good(x, grad_output):
        s = 1 / (1 + np.exp(-x))
        return grad_output * s * (1 - s)

    def bad(x, grad_output):
        r = good(x, grad_output)
        r[1, 2] += 0.5
        return r

    assert cr.exercise.sigmoid_backward(good).passed
    assert "PASS" in capsys.readouterr().out
    rep = cr.exercise.sigmoid_backward(bad)
    out = capsys.readouterr().out
    assert not rep.passed
    assert rep.wrong == {"x": [(1, 2)]}
    assert "FAIL: sigmoid_backward: 1 entry differ" in out
    assert "[1, 2]" in out and "<- wrong" in out


def test_softmax_cross_entropy() -> None:
    assert cr.exercise.softmax_cross_entropy_backward(_softmax_ce, verbose=False).passed
    rep = cr.exercise.softmax_cross_entropy_backward(
        lambda logits, targets, g: _softmax_ce(logits, targets, g) * len(targets), verbose=False)
    assert not rep.passed and len(rep.wrong["logits"]) == 12


def test_mlp_backprop() -> None:
    assert cr.exercise.mlp_backprop(_mlp, verbose=False).passed
    rep = cr.exercise.mlp_backprop(lambda p, x, y: _mlp(p, x, y, tanh_prime=False),
                                   verbose=False)
    assert not rep.passed
    assert set(rep.wrong) == {"W1", "b1"}  # the output layer's gradients are right
    assert "W1" in str(rep) and "FAIL" in str(rep)


def test_problems_are_reported() -> None:
    rep = cr.exercise.sigmoid_backward(lambda x, g: ..., verbose=False)
    assert not rep.passed and "fill in" in str(rep)
    rep = cr.exercise.sigmoid_backward(lambda x, g: g.T, verbose=False)
    assert not rep.passed and "shape (4, 3), expected (3, 4)" in str(rep)
    rep = cr.exercise.mlp_backprop(lambda p, x, y: {"W1": p["W1"]}, verbose=False)
    assert "no gradient returned for b1, W2, b2" in str(rep)


def test_check_any_op_and_template(capsys: pytest.CaptureFixture[str]) -> None:
    x = np.linspace(-2.0, 2.0, 5)
    rep = cr.exercise.check(lambda x, g: g * (1 - np.tanh(x) ** 2), reference=cr.tanh,
                            inputs=[x], verbose=False)
    assert rep.passed
    cr.exercise.mlp_backprop()
    out = capsys.readouterr().out
    assert "Exercise 3" in out and "..." in out
    assert "return ..." in cr.exercise.template("sigmoid_backward")


def test_an_exception_in_the_solution_is_a_clear_failure(capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    """Issue 13 item 18: a student's code that raises gives a FAIL naming the exercise and the
    exception (with the line), not a traceback."""
    def sigmoid_backward(x, grad_output):
        return grad_output * x.undefined_name  # an AttributeError on a NumPy array

    rep = cr.exercise.sigmoid_backward(sigmoid_backward)
    out = capsys.readouterr().out
    assert not rep.passed
    assert "FAIL: sigmoid_backward" in out
    assert "sigmoid_backward raised AttributeError" in out and "undefined_name" in out, out
    assert "line " in out and "Traceback" not in out
