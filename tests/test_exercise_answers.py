"""The reference answers folded into docs/exercises.md pass their exercises."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr

DOC = Path(__file__).resolve().parents[1] / "docs" / "exercises.md"
ANSWERS = re.findall(r"<summary>(\w+)</summary>\s*```python\n(.*?)```", DOC.read_text(), re.S)


def test_three_answers_are_in_the_doc() -> None:
    assert [name for name, _ in ANSWERS] == [
        "sigmoid_backward", "softmax_cross_entropy_backward", "mlp_backprop"]


@pytest.mark.parametrize(("name", "code"), ANSWERS, ids=[n for n, _ in ANSWERS])
def test_reference_answer_passes(name: str, code: str, capsys: pytest.CaptureFixture) -> None:
    scope: dict = {"np": np}
    exec(code, scope)
    report = getattr(cr.exercise, name)(scope[name])
    assert report, str(report)
    assert "PASS" in capsys.readouterr().out
