"""The model, loss and optimiser the CLI builds from names, and the architecture record that a
checkpoint keeps so that ``evaluate`` / ``predict`` can rebuild the model."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.cli.common import CLIError

ACTIVATIONS = ("relu", "sigmoid", "tanh", "leaky_relu", "elu", "gelu", "silu", "softplus",
               "identity")
OUTPUT_ACTIVATIONS = ("auto", "none", "sigmoid", "tanh", "identity")
LOSSES = ("cross-entropy", "mse", "quadratic", "l1", "huber")
OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "rmsprop", "adagrad")
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.05, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3,
              "adagrad": 1e-2}
KINDS = ("mlp", "moe", "cnn", "lenet", "spec")  # what ``--model`` builds
RECORDED = ("cnn", "lenet", "spec", "module")  # rebuilt from their chainrule.nn layer record
LOSS_ALIASES = {"ce": "cross-entropy", "cross_entropy": "cross-entropy",
                "crossentropy": "cross-entropy", "nielsen": "quadratic", "l2": "mse"}


def parse_layers(spec: Any) -> list[int]:
    """Hidden layer sizes from ``"256,128"``, ``[256, 128]``, ``256`` or ``""``/``"none"``."""
    return parse_sizes(spec, "--layers", "hidden layer sizes like 256,128 (or 'none' for no "
                       "hidden layer)", allow_empty=True)


def parse_sizes(spec: Any, flag: str, expected: str, allow_empty: bool = False) -> list[int]:
    """Positive whole numbers from ``"32,64"``, ``"1x28x28"``, ``[32, 64]`` or ``32``; ``flag``
    and ``expected`` word the error (``allow_empty``: ``""``/``"none"`` give ``[]``)."""
    if isinstance(spec, (list, tuple)):
        items = list(spec)
    elif isinstance(spec, int) and not isinstance(spec, bool):
        items = [spec]
    elif isinstance(spec, str):
        s = spec.strip().strip("[]()").replace(" ", "")
        items = [] if s.lower() in ("", "none", "-") else s.replace("x", ",").split(",")
    else:
        raise CLIError(f"{flag}: expected {expected}, got {spec!r}")
    if not items and not allow_empty:
        raise CLIError(f"{flag}: expected {expected}, got {spec!r}")
    sizes = []
    for item in items:
        try:
            n = int(item)
        except (TypeError, ValueError):
            raise CLIError(f"{flag} {spec!r}: {item!r} is not a whole number; expected "
                           f"{expected}") from None
        if n <= 0:
            raise CLIError(f"{flag} {spec!r}: sizes must be positive, got {n}")
        sizes.append(n)
    return sizes


def architecture(n_inputs: int, hidden: list[int], n_outputs: int, activation: str,
                 output_activation: str | None, dropout: float) -> dict[str, Any]:
    """The architecture record (what a checkpoint keeps)."""
    return {"kind": "mlp", "sizes": [int(n_inputs), *map(int, hidden), int(n_outputs)],
            "activation": activation, "output_activation": output_activation,
            "dropout": float(dropout)}


def moe_architecture(n_inputs: int, hidden: list[int], n_outputs: int, activation: str,
                     experts: int, k: int, capacity_factor: float | None) -> dict[str, Any]:
    """The record of an MoE MLP: Linear(in, d) - act - MixtureOfExperts(E experts d-h-d, k) -
    act - Linear(d, out), with ``hidden = [d, h]`` (``[d]``: h = d)."""
    if not hidden or len(hidden) > 2:
        raise CLIError(f"--model moe: --layers gives the width and each expert's hidden size, "
                       f"like 128,64; got {hidden}")
    if k > experts:
        raise CLIError(f"--k {k} is more than --experts {experts}")
    d, h = hidden[0], hidden[-1]
    return {"kind": "moe", "sizes": [int(n_inputs), d, h, int(n_outputs)],
            "activation": activation, "experts": int(experts), "k": int(k),
            "capacity_factor": capacity_factor, "output_activation": None, "dropout": 0.0}


def build_moe(arch: dict[str, Any]) -> Any:
    from chainrule import nn
    from chainrule.nn.perceptron import _activation

    n_in, d, h, n_out = arch["sizes"]

    def act() -> Any:
        return _activation(arch["activation"])

    return nn.Sequential(nn.Linear(n_in, d), act(),
                         nn.MixtureOfExperts(arch["experts"], d, k=arch["k"],
                                             capacity_factor=arch.get("capacity_factor"),
                                             hidden=h),
                         act(), nn.Linear(d, n_out))


def build_model(arch: dict[str, Any]) -> Any:
    """An ``nn.MLP`` (or the MoE MLP of ``moe_architecture``) from an architecture record.

    An architecture too large to allocate (a hostile checkpoint asking for a 10^9-wide layer)
    raises ``CLIError`` naming it, not the generic out-of-memory advice about batch sizes."""
    try:
        return _build_model(arch)
    except MemoryError:
        shown = repr(arch.get("sizes") if arch.get("kind") == "mlp" else arch.get("module"))
        shown = shown if len(shown) <= 160 else shown[:157] + "..."
        raise CLIError(f"the model's architecture is too large to allocate in memory (kind "
                       f"{arch.get('kind')!r}, layers {shown}); its parameters alone do not fit, "
                       "whatever the batch size") from None


def _build_model(arch: dict[str, Any]) -> Any:
    from chainrule import nn

    if arch.get("kind") == "moe":
        return build_moe(arch)
    if arch.get("kind") in RECORDED:  # chainrule.nn layers described as plain data
        from chainrule.nn.architecture import ArchitectureError, build

        try:
            return build(arch.get("module"))
        except ArchitectureError as e:
            raise CLIError(f"cannot rebuild the checkpoint's model: {e}") from None
    if arch.get("kind") != "mlp":
        raise CLIError(f"unknown model kind {arch.get('kind')!r} in the checkpoint; this "
                       f"version of chainrule builds {', '.join(KINDS)}")
    try:
        return nn.MLP(arch["sizes"], activation=arch["activation"],
                      output_activation=arch.get("output_activation"),
                      dropout=float(arch.get("dropout") or 0.0))
    except (ValueError, TypeError, KeyError) as e:
        raise CLIError(f"cannot build the model {arch}: {e}") from None


def describe_arch(arch: dict[str, Any]) -> str:
    """The model an architecture record describes, in words, for every command's output:
    ``MLP 64-256-128-10 relu``, ``MoE MLP (8 experts, k=2) 64-32-16-10 relu``,
    ``CNN 1x8x8 -> conv3x3 32,64 ... -> 10``, ``LeNet-5 ...``, ``Sequential from net.toml ...``."""
    try:
        return _describe(arch)
    except (TypeError, ValueError, AttributeError):  # an edited record: say so, do not crash
        return f"model of kind {str(arch.get('kind'))[:40]!r} (its description is malformed)"


def _describe(arch: dict[str, Any]) -> str:
    kind = arch.get("kind")
    sizes = arch.get("sizes") or []
    dashed = "-".join(map(str, sizes))
    act = arch.get("activation")
    if kind == "mlp":
        out = arch.get("output_activation")
        return f"MLP {dashed} {act}{' -> ' + str(out) if out else ''}"
    if kind == "moe":
        return f"MoE MLP ({arch.get('experts')} experts, k={arch.get('k')}) {dashed} {act}"
    shape = "x".join(map(str, arch.get("input_shape") or sizes[:1]))
    n_out = sizes[-1] if sizes else "?"
    if kind == "cnn":
        drop = arch.get("dropout") or 0.0
        return (f"CNN {shape} -> conv3x3 {','.join(map(str, arch.get('channels') or []))} "
                f"(BatchNorm, {act}, max-pool 2){f' -> dropout {drop:g}' if drop else ''} -> "
                f"{n_out}")
    if kind == "lenet":
        return f"LeNet-5 {shape} -> conv5x5 6,16 ({act}, max-pool 2) -> fc 120,84 -> {n_out}"
    if kind == "spec":
        module = (arch.get("module") or {}).get("module") or {}
        types = [str(c[1].get("class")) for c in module.get("children") or []
                 if isinstance(c, (list, tuple)) and len(c) == 2 and isinstance(c[1], dict)
                 and c[0] != "0"]
        shown = "-".join(types[:10]) + ("-..." if len(types) > 10 else "")
        return (f"Sequential from {str(arch.get('spec'))[:80]} ({len(types)} layers: {shown}) "
                f"{shape} -> {n_out}")
    if kind == "module":
        shape = f" ({sizes[0]} inputs, {sizes[-1]} outputs)" if sizes else ""
        return f"{arch.get('name', 'Module')}{shape} rebuilt from its chainrule.nn layers"
    return f"model of unknown kind {str(kind)[:40]!r}"


class OneHotLoss:
    """A loss on class-probability rows given class indices: the labels become one-hot rows
    (float32) before ``loss(output, one_hot)``: the quadratic cost of Nielsen's book."""

    def __init__(self, loss: Any, num_classes: int) -> None:
        self.loss = loss
        self.eye = np.eye(num_classes, dtype=np.float32)

    def __call__(self, output: Any, target: Any) -> Any:
        from chainrule.autograd.factories import from_numpy

        labels = target.detach().numpy() if hasattr(target, "numpy") else np.asarray(target)
        if labels.dtype.kind in "iub":
            target = from_numpy(self.eye[labels.astype(np.int64)])
        return self.loss(output, target)

    def __repr__(self) -> str:
        return f"OneHotLoss({self.loss!r}, num_classes={len(self.eye)})"


class QuadraticCost:
    """Nielsen's quadratic cost ``C = 1/(2n) sum_x ||y(x) - a(x)||^2``: half the squared error
    summed over the outputs, averaged over the batch. (``MSELoss`` also averages over the
    outputs and does not halve: its gradient is 2/outputs times this one, so a learning rate
    from the book, eta = 3.0 for 10 outputs, needs the quadratic cost to mean the same.)"""

    def __init__(self) -> None:
        from chainrule import nn

        self.sum = nn.MSELoss(reduction="sum")

    def __call__(self, output: Any, target: Any) -> Any:
        n = output.shape[0] if output.ndim else 1
        return self.sum(output, target) * (0.5 / n)

    def __repr__(self) -> str:
        return "QuadraticCost()"


def build_loss(name: str, task: str, n_outputs: int) -> Any:
    from chainrule import nn

    name = LOSS_ALIASES.get(name, name)
    if name == "cross-entropy":
        if task != "classification":
            raise CLIError("--loss cross-entropy needs class labels; this dataset has real-valued "
                           "targets (use --loss mse)")
        return nn.CrossEntropyLoss()
    base = {"mse": nn.MSELoss, "quadratic": QuadraticCost, "l1": nn.L1Loss,
            "huber": nn.HuberLoss}.get(name)
    if base is None:
        raise CLIError(f"unknown loss {name!r}; known: {', '.join(LOSSES)}")
    loss = base()
    return OneHotLoss(loss, n_outputs) if task == "classification" else loss


def build_optimizer(name: str, params: Any, lr: float | None, weight_decay: float | None,
                    momentum: float | None) -> Any:
    """The optimiser ``name`` (sgd, momentum = SGD with momentum 0.9, adam, adamw, rmsprop,
    adagrad); ``lr`` None takes ``DEFAULT_LR``; ``weight_decay`` None takes the optimiser's own
    default (0.01 for AdamW, 0 otherwise)."""
    from chainrule import optim

    if name not in OPTIMIZERS:
        raise CLIError(f"unknown optimizer {name!r}; known: {', '.join(OPTIMIZERS)}")
    lr = DEFAULT_LR[name] if lr is None else lr
    if name in ("sgd", "momentum"):
        m = momentum if momentum is not None else (0.9 if name == "momentum" else 0.0)
        return optim.SGD(params, lr=lr, momentum=m, weight_decay=weight_decay or 0.0)
    cls = {"adam": optim.Adam, "adamw": optim.AdamW, "rmsprop": optim.RMSprop,
           "adagrad": optim.Adagrad}[name]
    kw: dict[str, Any] = {"lr": lr}
    if name == "rmsprop" and momentum is not None:
        kw["momentum"] = momentum
    if weight_decay is not None:
        kw["weight_decay"] = weight_decay
    return cls(params, **kw)
