"""The op table of the docs, generated from the registry (``python -m chainrule.ops.table``).

``docs/ops.md`` is this module's output; a test keeps the two equal, so the table cannot drift
from the code.
"""

from __future__ import annotations

from chainrule.ops.registry import REGISTRY


def markdown_table() -> str:
    """Every registered primitive: its gradient formula, derivative order and PyTorch twin."""
    lines = [
        "# Differentiable ops",
        "",
        "Generated from `chainrule.ops.REGISTRY` by `python -m chainrule.ops.table > docs/ops.md`"
        " (a test checks it is current). Every row is checked against finite differences in "
        "float64 (first order, and second order where the order is 2) and, where a PyTorch "
        "name is given, against PyTorch.",
        "",
        "| op | gradient | order | PyTorch | saves |",
        "|---|---|---|---|---|",
    ]
    for name in sorted(REGISTRY):
        op = REGISTRY[name]
        torch = (f"`torch.{op.torch}`" if isinstance(op.torch, str)
                 else "yes" if op.torch is not None else "")
        saves = ", ".join(k for k, v in (("inputs", op.saves_x), ("output", op.saves_out)) if v)
        formula = op.formula.replace("|", "\\|")
        lines.append(f"| `{name}` | {formula} | {op.order} | {torch} | {saves or '-'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import chainrule  # noqa: F401  (loads every op)

    print(markdown_table(), end="")
