"""README.md's first Python snippet runs and teaches the right lesson (issue 13 item 15):
backprop and finite differences print the same numbers, which needs float64."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import chainrule as cr

README = Path(__file__).resolve().parents[1] / "README.md"


def first_python_snippet() -> str:
    m = re.search(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert m, "README.md has no ```python block"
    return m.group(1)


def test_first_snippet_backprop_and_finite_differences_agree() -> None:
    code = first_python_snippet()
    assert "float64" in code, "the snippet compares with finite differences: it needs float64"
    cr.manual_seed(0)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    lines = [ln for ln in out.getvalue().splitlines() if ln.strip()]
    assert len(lines) == 2, out.getvalue()
    backprop, finite = (re.findall(r"-?\d+\.\d+", ln) for ln in lines)
    assert len(backprop) == 3 and backprop == finite, out.getvalue()
