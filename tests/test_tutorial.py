"""docs/tutorial.md runs top to bottom and prints exactly what it shows.

The tutorial's ```python blocks run in order in one namespace (after ``cr.manual_seed(0)``);
each block's stdout must equal the ```text block that follows it (one blank line between).
A text block preceded by ``<!-- output varies -->`` (timings) is only checked to be non-empty;
a python block with no text block must print nothing.

Regenerate the outputs from a real run with ``python tests/test_tutorial.py --update``.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import chainrule as cr

DOC = Path(__file__).resolve().parents[1] / "docs" / "tutorial.md"
VARIES = "<!-- output varies -->\n"
BLOCK = re.compile(r"```python\n(?P<code>.*?)```\n"
                   r"(?:\n(?P<marker>" + re.escape(VARIES) + r")?```text\n(?P<out>.*?)```\n)?",
                   re.S)


@dataclass
class Block:
    code: str
    shown: str | None  # the text block after it (None: no text block)
    varies: bool
    start: int  # span of the whole match in the doc
    end: int


def blocks(text: str) -> list[Block]:
    """The python blocks of ``text`` with the output shown after each."""
    return [Block(m["code"], m["out"], m["marker"] is not None, m.start(), m.end())
            for m in BLOCK.finditer(text)]


def run(bs: list[Block]) -> list[str]:
    """Execute the blocks in one namespace; return each block's stdout."""
    cr.manual_seed(0)
    ns: dict = {"__name__": "tutorial"}
    outs = []
    for i, b in enumerate(bs):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(compile(b.code, f"<docs/tutorial.md block {i + 1}>", "exec"), ns)
        outs.append(buf.getvalue())
    return outs


def update(path: Path = DOC) -> None:
    """Rewrite the text blocks of ``path`` from a real run (keeping the varies markers)."""
    text = path.read_text()
    bs = blocks(text)
    outs = run(bs)
    parts, pos = [], 0
    for b, out in zip(bs, outs):
        parts.append(text[pos:b.start])
        parts.append(f"```python\n{b.code}```\n")
        if out:
            marker = VARIES if b.varies else ""
            parts.append(f"\n{marker}```text\n{out}{'' if out.endswith(chr(10)) else chr(10)}```\n")
        pos = b.end
    parts.append(text[pos:])
    path.write_text("".join(parts))


def test_tutorial_outputs_are_real() -> None:
    text = DOC.read_text()
    bs = blocks(text)
    assert len(bs) >= 10, "docs/tutorial.md: expected its python blocks"
    assert text.count("```python") == len(bs)
    outs = run(bs)
    stale = "docs/tutorial.md is stale: run `python tests/test_tutorial.py --update`"
    for i, (b, out) in enumerate(zip(bs, outs), 1):
        where = f"block {i}:\n{b.code}"
        if b.shown is None:
            assert out == "", f"{where}\nprints output the doc does not show. {stale}"
        elif b.varies:
            assert out.strip(), f"{where}\nprinted nothing"
        else:
            assert out == b.shown, f"{where}\noutput differs from the doc. {stale}"


def test_parser_pairs_blocks_with_outputs() -> None:
    doc = ("x\n```python\nprint(1)\n```\n\n```text\n1\n```\n"
           "```python\ny = 2\n```\n"
           "```python\nprint('t')\n```\n\n" + VARIES + "```text\nt\n```\n")
    bs = blocks(doc)
    assert [(b.shown, b.varies) for b in bs] == [("1\n", False), (None, False), ("t\n", True)]
    assert run(bs) == ["1\n", "", "t\n"]


if __name__ == "__main__":
    if sys.argv[1:] == ["--update"]:
        update()
        print(f"updated {DOC}")
    else:
        raise SystemExit("usage: python tests/test_tutorial.py --update")
