"""The architecture's rules, enforced: dependency direction and a line budget on the core."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import chainrule

SRC = Path(chainrule.__file__).parent

# backend -> core (autograd + ops) -> func, nn.functional -> nn -> optim, data -> io, train
# -> viz, cli. A module may import its own layer or lower ones, never a higher one.
LAYERS = {
    "backend": 0, "errors": 0,
    "autograd": 1, "ops": 1, "random": 1, "creation": 1, "runtime": 1,
    "func": 2, "nn.functional": 2, "distributed": 2, "distributions": 2, "linalg": 2,
    "compile": 2, "amp": 2, "profiler": 2, "special": 2, "testing": 2, "jit": 2, "hub": 2,
    "nn": 3,
    "optim": 4, "data": 4, "utils": 4,
    "io": 5, "train": 5, "onnx": 5,
    "viz": 6, "cli": 6, "exercise": 6, "reproduce": 6,
}


def layer_of(module: str) -> int | None:
    """The layer of a dotted module name inside chainrule (None for the package root)."""
    parts = module.split(".")
    if parts[0] != "chainrule" or len(parts) == 1:
        return None
    for n in (2, 1):
        key = ".".join(parts[1:1 + n])
        if key in LAYERS:
            return LAYERS[key]
    return None


def imports_of(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
            out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names
                    if node.module == "chainrule"]
    return out


def test_every_module_has_a_layer() -> None:
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC.parent).with_suffix("")
        mod = ".".join(rel.parts).removesuffix(".__init__")
        if mod == "chainrule":
            continue
        assert layer_of(mod) is not None, f"{mod}: add its package to LAYERS (and DESIGN.md)"


# Deliberate exceptions, each a lazy import inside one function: (module, imported module).
# None: the core imports nothing above it (``cr.explain`` lives in the package root).
ALLOWED_UPWARD: set[tuple[str, str]] = set()


def test_dependencies_point_downward() -> None:
    wrong = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC.parent).with_suffix("")
        mod = ".".join(rel.parts).removesuffix(".__init__")
        own = layer_of(mod)
        if own is None:
            continue
        for line, target in imports_of(path):
            t = layer_of(target)
            if t is not None and t > own and (mod, target) not in ALLOWED_UPWARD:
                wrong.append(f"{path.relative_to(SRC.parent)}:{line}: {mod} (layer {own}) "
                             f"imports {target} (layer {t})")
    assert not wrong, "imports against the dependency direction:\n" + "\n".join(wrong)


CORE_AUTOGRAD = {"tensor", "node", "engine", "grad_mode", "dtypes", "factories", "inplace",
                 "to_args"}
CORE_BUDGET = 1700


def test_engine_core_line_budget() -> None:
    """The engine reads in one sitting: the tensor, node, engine, grad mode, the dtype policy,
    the factories, the in-place rules and the apply point (every core file is counted)."""
    core = [p.relative_to(SRC).as_posix() for p in sorted((SRC / "autograd").glob("*.py"))
            if p.stem in CORE_AUTOGRAD] + ["ops/registry.py"]
    code_lines = 0
    for rel in core:
        for line in (SRC / rel).read_text().splitlines():
            s = line.strip()
            if s and not s.startswith("#"):
                code_lines += 1
    assert code_lines <= CORE_BUDGET, (
        f"engine core has {code_lines} non-blank lines (budget {CORE_BUDGET}): {core}")


def test_import_chainrule_loads_no_tool_layer() -> None:
    """``import chainrule`` loads neither viz, cli nor train (checked in a fresh interpreter)."""
    code = ("import sys, chainrule; print(sorted(m for m in sys.modules if m.split('.')[:2] in "
            "(['chainrule', 'viz'], ['chainrule', 'cli'], ['chainrule', 'train'])))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=SRC.parent, env=_env())
    assert out.stdout.strip() == "[]", f"import chainrule loaded: {out.stdout.strip()}"


def _env() -> dict[str, str]:
    import os

    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": str(SRC.parent) + (os.pathsep + path if path else "")}


def test_no_private_engine_names_outside_autograd() -> None:
    """Tools watch the engine through ``observe`` and the public Node API, never its internals:
    no module outside ``chainrule/autograd`` imports ``_name`` from ``chainrule.autograd.engine``
    (nor the engine module itself to reach into it)."""
    wrong = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        if rel.parts[0] == "autograd":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "chainrule.autograd.engine":
                wrong += [f"{rel}:{node.lineno}: {a.name}" for a in node.names
                          if a.name.startswith("_")]
            elif isinstance(node, ast.ImportFrom) and node.module == "chainrule.autograd":
                wrong += [f"{rel}:{node.lineno}: engine module" for a in node.names
                          if a.name == "engine"]
            elif isinstance(node, ast.Import):
                wrong += [f"{rel}:{node.lineno}: {a.name}" for a in node.names
                          if a.name == "chainrule.autograd.engine"]
    assert not wrong, "private engine names imported outside autograd:\n" + "\n".join(wrong)


def test_tools_import_no_private_autograd_name() -> None:
    """The tools (viz, cli, exercise, train) use only public names of ``chainrule.autograd.*``."""
    wrong = []
    for tool in ("viz", "cli", "exercise", "train"):
        for path in (SRC / tool).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                        "chainrule.autograd"):
                    wrong += [f"{path.relative_to(SRC)}:{node.lineno}: {node.module}.{a.name}"
                              for a in node.names if a.name.startswith("_")]
    assert not wrong, "private autograd names imported by tools:\n" + "\n".join(wrong)
