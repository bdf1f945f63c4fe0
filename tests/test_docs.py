"""Docs that are generated from the code stay equal to it."""

from __future__ import annotations

from pathlib import Path

from chainrule.ops.table import markdown_table

ROOT = Path(__file__).resolve().parents[1]


def test_op_table_is_current() -> None:
    path = ROOT / "docs" / "ops.md"
    assert path.read_text() == markdown_table(), (
        "docs/ops.md is stale: run `python -m chainrule.ops.table > docs/ops.md`")
