"""The models of ``chainrule train --model cnn|lenet|spec`` as architecture records: a
``Sequential`` of ``chainrule.nn`` layers described as plain data (``chainrule.nn.architecture``,
the one place that decides which classes and arguments a record may hold), so that ``evaluate``,
``predict`` and ``export`` rebuild the model from the checkpoint without running code.

The model takes the same flat rows as the MLP; its first layer (``"0"``, an ``Unflatten``)
gives them back their image shape (C, H, W). Every record is checked when it is made by running
a batch of two zero samples through it layer by layer, so a layer that cannot take its input is
named before training starts.

A ``--model-spec`` file lists the layers, in order::

    input_shape = [1, 8, 8]   # optional: what the first layer receives (default: the dataset's
                              # image shape, (N, features) rows when it has none)
    [[layer]]
    type = "Conv2d"
    in_channels = 1
    out_channels = 8
    kernel_size = 3
    padding = 1
    [[layer]]
    type = "ReLU"
    ...

The checkpoint names layer ``i`` of the file ``i`` (``3.weight``), as its messages do.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.cli.common import CLIError, load_toml, one_line

ACTIVATION_CLASSES = {"relu": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh",
                      "leaky_relu": "LeakyReLU", "elu": "ELU", "gelu": "GELU", "silu": "SiLU",
                      "softplus": "Softplus", "identity": "Identity"}
SPEC_KEYS = ("input_shape", "layer")


def _node(cls: str, **args: Any) -> dict[str, Any]:
    return {"class": cls, "args": args}


def _act(name: str) -> dict[str, Any]:
    return _node(ACTIVATION_CLASSES[name])


def _record(layers: list[dict[str, Any]], shape: list[int]) -> dict[str, Any]:
    """The ``chainrule.nn`` record of ``Sequential(Unflatten to shape, *layers)`` (no Unflatten
    for rows), children named "0" (the reshape), "1", "2", ..."""
    from chainrule.nn.architecture import FORMAT, VERSION

    children = [["0", _node("Unflatten", dim=1, unflattened_size=list(shape))]] \
        if len(shape) > 1 else []
    children += [[str(i), node] for i, node in enumerate(layers, 1)]
    return {"format": FORMAT, "version": VERSION,
            "module": {"class": "Sequential", "children": children}}


def image_shape(model: str, data: Any, given: list[int] | None) -> list[int]:
    """The (C, H, W) a ``--model cnn|lenet`` reshapes each row to: ``--input-shape``, else the
    dataset's image shape; refused, saying what to do, for rows of features."""
    shape = checked_shape(given, data) if given is not None else data.image_shape
    if shape is None:
        side = math.isqrt(data.n_features)
        eg = (f"e.g. --input-shape 1,{side},{side} for {data.n_features} grey pixels"
              if side * side == data.n_features else f"C*H*W = {data.n_features}")
        raise CLIError(f"--model {model} needs images, but dataset {data.name!r} has rows of "
                       f"{data.n_features} features and no image shape; use --model mlp (or "
                       f"moe) for feature rows, or give the shape of each row's pixels with "
                       f"--input-shape C,H,W ({eg})")
    if len(shape) == 2:
        shape = [1, *shape]
    if len(shape) != 3:
        raise CLIError(f"--model {model} needs images (C,H,W); --input-shape gives "
                       f"{','.join(map(str, shape))}")
    return list(shape)


def checked_shape(shape: list[int], data: Any) -> list[int]:
    """``--input-shape`` checked against the dataset's features per sample."""
    if math.prod(shape) != data.n_features:
        raise CLIError(f"--input-shape {','.join(map(str, shape))} holds {math.prod(shape)} "
                       f"values per sample but dataset {data.name!r} has {data.n_features} "
                       "features per sample")
    return list(shape)


def _out_act(out_act: str | None) -> list[dict[str, Any]]:
    return [_act(out_act)] if out_act else []


def cnn_architecture(shape: list[int], n_out: int, channels: list[int], activation: str,
                     dropout: float, out_act: str | None) -> dict[str, Any]:
    """A small modern CNN: per size in ``channels`` a block Conv2d 3x3 (padding 1, no bias) -
    BatchNorm2d - activation - MaxPool2d 2; then Flatten, Dropout (when > 0), Linear."""
    c, h, w = shape
    if min(h, w) < 2 ** len(channels):
        raise CLIError(f"--model cnn: {len(channels)} conv block(s) (--channels "
                       f"{','.join(map(str, channels))}) each halve the image, so they need "
                       f"images of at least {2 ** len(channels)}x{2 ** len(channels)}; the "
                       f"images are {h}x{w}: give fewer --channels, or use --model mlp")
    layers = []
    for out in channels:
        layers += [_node("Conv2d", in_channels=c, out_channels=out, kernel_size=3, padding=1,
                         bias=False),
                   _node("BatchNorm2d", num_features=out), _act(activation),
                   _node("MaxPool2d", kernel_size=2)]
        c, h, w = out, h // 2, w // 2
    layers.append(_node("Flatten"))
    if dropout:
        layers.append(_node("Dropout", p=float(dropout)))
    layers += [_node("Linear", in_features=c * h * w, out_features=n_out), *_out_act(out_act)]
    return _checked({"kind": "cnn", "input_shape": list(shape), "channels": list(channels),
                     "activation": activation, "dropout": float(dropout)},
                    _record(layers, shape), n_out, "--model cnn")


def lenet_architecture(shape: list[int], n_out: int, activation: str,
                       out_act: str | None) -> dict[str, Any]:
    """LeNet-5 as in most MNIST tutorials: Conv2d(C, 6, 5, padding 2) - act - MaxPool2d 2 -
    Conv2d(6, 16, 5) - act - MaxPool2d 2 - Flatten - Linear 120 - act - Linear 84 - act -
    Linear. On images under 12x12 (the 8x8 digits) the second convolution is padded too (2),
    so that something is left to pool; under 4x4 it is refused."""
    c, h, w = shape
    if min(h, w) < 4:
        raise CLIError(f"--model lenet: its two 2x2 max-pools need images of at least 4x4; the "
                       f"images are {h}x{w}: use --model mlp")
    pad2 = 0 if min(h, w) // 2 >= 6 else 2
    h2, w2 = (h // 2 - 4 + 2 * pad2) // 2, (w // 2 - 4 + 2 * pad2) // 2
    layers = [_node("Conv2d", in_channels=c, out_channels=6, kernel_size=5, padding=2),
              _act(activation), _node("MaxPool2d", kernel_size=2),
              _node("Conv2d", in_channels=6, out_channels=16, kernel_size=5, padding=pad2),
              _act(activation), _node("MaxPool2d", kernel_size=2), _node("Flatten"),
              _node("Linear", in_features=16 * h2 * w2, out_features=120), _act(activation),
              _node("Linear", in_features=120, out_features=84), _act(activation),
              _node("Linear", in_features=84, out_features=n_out), *_out_act(out_act)]
    return _checked({"kind": "lenet", "input_shape": list(shape), "activation": activation},
                    _record(layers, shape), n_out, "--model lenet")


def spec_architecture(path: str, data: Any, given: list[int] | None) -> dict[str, Any]:
    """The model a ``--model-spec`` TOML file lists (the module docstring): each layer built by
    ``chainrule.nn.architecture`` (only ``chainrule.nn`` classes, plain arguments), then a
    batch run through them; errors name the file, the layer's number and type."""
    from chainrule.nn.architecture import CONTAINERS, ArchitectureError, build_layer

    where = f"--model-spec {path}"
    spec = load_toml(path, "model spec", "--model-spec")
    unknown = sorted(set(spec) - set(SPEC_KEYS))
    if unknown:
        raise CLIError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; a model spec "
                       "holds input_shape = [C, H, W] (optional) and [[layer]] tables")
    layers = spec.get("layer")
    if not isinstance(layers, list) or not layers or \
            not all(isinstance(t, dict) for t in layers):
        raise CLIError(f"{where}: no layers; list them as [[layer]] tables, e.g. "
                       "[[layer]] type = \"Linear\" in_features = 64 out_features = 10")
    if given is not None:
        shape = checked_shape(given, data)
    elif "input_shape" in spec:
        from chainrule.cli.config import parse_input_shape

        try:
            shape = checked_shape(parse_input_shape(spec["input_shape"]), data)
        except CLIError as e:
            raise CLIError(f"{where}: input_shape: {e}") from None
    else:
        shape = list(data.image_shape or [data.n_features])
    nodes = []
    for i, table in enumerate(layers, 1):
        args = dict(table)
        kind = args.pop("type", None)
        at = f"{where}: layer {i}"
        if not isinstance(kind, str):
            raise CLIError(f"{at} has no type = \"...\" naming its chainrule.nn class (e.g. type "
                           f"= \"Conv2d\"); it has keys {', '.join(sorted(table)) or 'none'}")
        if kind in CONTAINERS:
            raise CLIError(f"{at}: {kind} is a container; list its layers as [[layer]] tables "
                           "instead (the spec is itself a Sequential)")
        node = _node(kind, **args)
        try:
            build_layer(node, at)
        except ArchitectureError as e:
            raise CLIError(str(e)) from None
        nodes.append(node)
    return _checked({"kind": "spec", "spec": Path(path).name, "input_shape": shape},
                    _record(nodes, shape), data.n_outputs, where)


def _checked(arch: dict[str, Any], record: dict[str, Any], n_out: int, where: str
             ) -> dict[str, Any]:
    """``arch`` with the record, ``sizes`` [inputs, outputs] and ``macs`` (multiply-adds per
    sample), once a batch of two samples has gone through every layer (in eval mode)."""
    from chainrule.autograd.factories import from_numpy
    from chainrule.autograd.grad_mode import no_grad
    from chainrule.nn.architecture import build
    from chainrule.random import get_rng_state, set_rng_state

    shape = arch["input_shape"]
    rng = get_rng_state()  # building the check's copy must not move the run's random stream
    try:
        model = build(record).eval()
    finally:
        set_rng_state(rng)
    x: Any = from_numpy(np.zeros((2, math.prod(shape)), np.float32))
    macs = 0
    with no_grad():
        for name, layer in model._modules.items():
            what = "the input reshape (Unflatten)" if name == "0" else \
                f"layer {name} ({type(layer).__name__})"
            try:
                y = layer(x)
            except (ValueError, TypeError, RuntimeError, IndexError) as e:
                hint = _hint(name, layer, tuple(x.shape), shape)
                raise CLIError(f"{where}: {what} cannot take its input of shape "
                               f"{tuple(x.shape)} (a batch of 2): {one_line(e)}{hint}") from None
            if not hasattr(y, "shape"):
                raise CLIError(f"{where}: {what} returns a {type(y).__name__}, not a tensor; "
                               "a Sequential passes one tensor from layer to layer")
            macs += _multiply_adds(layer, y)
            x = y
    if tuple(x.shape) != (2, n_out):
        raise CLIError(f"{where}: the last layer gives outputs of shape {tuple(x.shape)} for a "
                       f"batch of 2; the dataset needs (2, {n_out}) ({n_out} class scores or "
                       f"targets per sample): end with a layer of {n_out} outputs, e.g. "
                       f"type = \"Linear\" ... out_features = {n_out}")
    n_in = math.prod(shape)
    return {**arch, "module": record, "sizes": [n_in, n_out], "macs": macs}


def _hint(name: str, layer: Any, got: tuple[int, ...], shape: list[int]) -> str:
    first = name in ("0", "1") and len(shape) > 1
    if first and type(layer).__name__ == "Linear":
        return (f"; the spec's layers receive images {tuple(shape)}: start with type = "
                f"\"Flatten\", or set input_shape = [{math.prod(shape)}] at the top of the spec "
                "for rows")
    if name in ("0", "1") and len(shape) == 1 and len(got) == 2:
        return ("; the spec's layers receive rows of features: set input_shape = [C, H, W] at "
                "the top of the spec (or --input-shape) for images")
    return ""


def _multiply_adds(layer: Any, out: Any) -> int:
    """Multiply-adds per sample of a layer's weight matrices (Linear, Conv): each weight is used
    once per output position."""
    n = out.shape[0] if out.ndim else 1
    return sum(p.numel() * max(1, out.numel() // max(1, n * p.shape[0]))
               for p in layer.parameters() if p.ndim >= 2)
