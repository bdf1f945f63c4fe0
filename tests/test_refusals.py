"""docs/refusals.md runs: every snippet on the page raises, and the message printed under it is
exactly the one chainrule gives (so the page cannot drift from the code)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn

PAGE = Path(__file__).resolve().parents[1] / "docs" / "refusals.md"
PAIRS = re.findall(r"```python\n(.*?)```\n+```text\n(.*?)```", PAGE.read_text(), re.S)


def test_the_page_has_entries() -> None:
    assert len(PAIRS) >= 10
    assert PAGE.read_text().count("```python") == len(PAIRS)  # every snippet has its message


@pytest.mark.parametrize("code, expected", PAIRS, ids=[f"entry{i}" for i in range(len(PAIRS))])
def test_snippet_gives_the_documented_message(code: str, expected: str, tmp_path: Path,
                                              monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    ns = {"cr": cr, "nn": nn, "F": F, "np": np}
    with pytest.raises(Exception) as info:  # any refusal: the message is checked below
        exec(compile(code, str(PAGE), "exec"), ns)
    assert f"{type(info.value).__name__}: {info.value}" == expected.strip()
