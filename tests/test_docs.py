"""Docs that are generated from the code stay equal to it."""

from __future__ import annotations

from pathlib import Path

from chainrule.ops.table import markdown_table

ROOT = Path(__file__).resolve().parents[1]


def test_op_table_is_current() -> None:
    path = ROOT / "docs" / "ops.md"
    assert path.read_text() == markdown_table(), (
        "docs/ops.md is stale: run `python -m chainrule.ops.table > docs/ops.md`")


def test_every_image_a_doc_shows_exists() -> None:
    import re

    missing = [(md.name, ref) for md in sorted((ROOT / "docs").glob("*.md"))
               for ref in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", md.read_text())
               if "://" not in ref and not (md.parent / ref).is_file()]
    assert not missing, f"docs show images that are not there: {missing}"
    shown = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)",
                       (ROOT / "docs" / "training_pictures.md").read_text())
    for name in ("cnn_filters.png", "cnn_feature_maps.png", "attention_reverse.png"):
        assert f"images/{name}" in shown
        assert name in (ROOT / "docs" / "make_images.py").read_text()  # regenerated there
