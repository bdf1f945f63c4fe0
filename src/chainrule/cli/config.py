"""Options of ``chainrule train`` declared once: the command line, TOML config files and the
configuration a checkpoint remembers all go through the same table.

Precedence, lowest first: built-in defaults, the dataset's defaults, the model kind's (cnn:
dropout 0.25), the configuration stored in the checkpoint being resumed, the ``--config`` file,
the flags on the command line. A config file holds the same names (dashes or underscores), at
top level or under ``[train]``::

    dataset = "fashion-mnist"
    layers = [256, 128]          # or "256,128"
    optimizer = "adam"
    lr = 1e-3
    epochs = 10
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chainrule.cli.common import CLIError, load_toml
from chainrule.cli.model import (
    ACTIVATIONS,
    KINDS,
    LOSS_ALIASES,
    LOSSES,
    OPTIMIZERS,
    OUTPUT_ACTIVATIONS,
    parse_layers,
    parse_sizes,
)


def _int(name: str, low: int | None = None) -> Callable[[Any], int]:
    def parse(v: Any) -> int:
        if isinstance(v, bool):
            raise CLIError(f"--{name}: expected a whole number, got {v!r}")
        try:
            n = int(v) if not isinstance(v, float) or v.is_integer() else None
        except (TypeError, ValueError):
            n = None
        if n is None:
            raise CLIError(f"--{name}: expected a whole number, got {v!r}")
        if low is not None and n < low:
            raise CLIError(f"--{name}: must be >= {low}, got {n}")
        return n
    return parse


def _float(name: str, low: float | None = None, high: float | None = None,
           open_high: bool = False) -> Callable[[Any], float]:
    def parse(v: Any) -> float:
        if isinstance(v, bool):
            raise CLIError(f"--{name}: expected a number, got {v!r}")
        try:
            x = float(v)
        except (TypeError, ValueError):
            raise CLIError(f"--{name}: expected a number, got {v!r}") from None
        if x != x:
            raise CLIError(f"--{name}: expected a number, got nan")
        if low is not None and x < low:
            raise CLIError(f"--{name}: must be >= {low}, got {x}")
        if high is not None and (x >= high if open_high else x > high):
            raise CLIError(f"--{name}: must be {'<' if open_high else '<='} {high}, got {x}")
        return x
    return parse


def _choice(name: str, choices: tuple[str, ...],
            aliases: dict[str, str] | None = None) -> Callable[[Any], str]:
    def parse(v: Any) -> str:
        s = str(v).strip().lower()
        s = (aliases or {}).get(s, s)
        if s not in choices:
            close = difflib.get_close_matches(s, choices, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise CLIError(f"--{name}: unknown value {v!r}{hint}; choose from "
                           f"{', '.join(choices)}")
        return s
    return parse


def _bool(name: str) -> Callable[[Any], bool]:
    def parse(v: Any) -> bool:
        if isinstance(v, bool):
            return v
        s = str(v).strip().lower()
        if s in ("1", "true", "yes", "on"):
            return True
        if s in ("0", "false", "no", "off"):
            return False
        raise CLIError(f"--{name}: expected true or false, got {v!r}")
    return parse


def _str(v: Any) -> str:
    return str(v)


def _opt(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``parse`` that lets None (and "none"/"auto" in files) through as None."""
    def wrapped(v: Any) -> Any:
        if v is None or (isinstance(v, str) and v.strip().lower() in ("none", "auto", "")):
            return None
        return parse(v)
    return wrapped


@dataclass(frozen=True)
class Option:
    """One option of ``chainrule train``."""

    name: str  # the config key; the flag is --name with dashes
    parse: Callable[[Any], Any]
    default: Any
    help: str
    metavar: str | None = None
    flag: bool = False  # a switch without a value
    negatable: bool = False  # a switch with a --no- form


def _layers(v: Any) -> list[int]:
    return parse_layers(v)


def _channels(v: Any) -> list[int]:
    return parse_sizes(v, "--channels", "channels per conv block like 32,64")


def parse_input_shape(v: Any) -> list[int]:
    shape = parse_sizes(v, "--input-shape", "C,H,W like 1,28,28 (or H,W; or N for rows of N "
                        "features)")
    if len(shape) > 3:
        raise CLIError(f"--input-shape {v!r}: expected at most 3 sizes (C,H,W), got {len(shape)}")
    return shape


OPTIONS: dict[str, Option] = {o.name: o for o in (
    Option("dataset", _str, "digits", "digits (default, bundled), fashion-mnist, mnist, xor, "
           "parity, encoder, spirals, moons, circles, blobs, sine; or a folder of IDX files, a "
           ".csv or an .npz file", "NAME|PATH"),
    Option("task", _choice("task", ("auto", "classification", "regression")), "auto",
           "for a .csv/.npz dataset: auto (whole-number labels 0..9999 are classes; other "
           "labels are real-valued targets, regression, unless they take at most 20 distinct "
           "values: then the run stops and asks for --task), classification, regression",
           "TASK"),
    Option("allow_nonfinite", _bool("allow-nonfinite"), False,
           "keep nan/inf cells of a .csv/.npz dataset (refused by default, naming the row and "
           "column)", flag=True),
    Option("layers", _layers, [256, 128], "hidden layer sizes, e.g. 256,128 ('none': no hidden "
           "layer)", "SIZES"),
    Option("activation", _choice("activation", ACTIVATIONS), "relu",
           f"hidden activation: {', '.join(ACTIVATIONS)}", "NAME"),
    Option("output_activation", _choice("output-activation", OUTPUT_ACTIVATIONS), "auto",
           "after the last layer: auto (sigmoid for mse/quadratic on classes, as in Nielsen's "
           "book; none otherwise), none, sigmoid, tanh", "NAME"),
    Option("dropout", _float("dropout", 0.0, 1.0, open_high=True), 0.0,
           "dropout after each hidden activation, or before the cnn's last layer (0: none; "
           "default 0, 0.25 for --model cnn)", "P"),
    Option("loss", _opt(_choice("loss", LOSSES, LOSS_ALIASES)), None,
           "cross-entropy (default for classes), mse (default for real targets), quadratic "
           "(Nielsen's 1/2n sum ||y - a||^2), l1, huber; mse/quadratic compare with one-hot "
           "targets", "NAME"),
    Option("optimizer", _choice("optimizer", OPTIMIZERS), "adam",
           f"{', '.join(OPTIMIZERS)} (momentum: SGD with momentum 0.9)", "NAME"),
    Option("lr", _opt(_float("lr", 0.0)), None,
           "learning rate (default: sgd 0.1, momentum 0.05, adam/adamw/rmsprop 0.001, "
           "adagrad 0.01)", "RATE"),
    Option("momentum", _opt(_float("momentum", 0.0, 1.0)), None,
           "momentum of sgd/momentum/rmsprop", "M"),
    Option("weight_decay", _opt(_float("weight-decay", 0.0)), None,
           "L2 penalty (AdamW: decoupled; default 0.01 for adamw, 0 otherwise)", "L2"),
    Option("schedule", _choice("schedule", ("none", "cosine", "plateau")), "none",
           "learning-rate schedule per epoch: none, cosine (annealed to 0 at the last epoch), "
           "plateau (x0.1 after 3 epochs without a lower val_loss, or loss)", "NAME"),
    Option("model", _choice("model", KINDS), "mlp",
           "mlp (default); moe (Linear-act-MixtureOfExperts-act-Linear, --layers WIDTH,"
           "EXPERT_HIDDEN); cnn (conv3x3 blocks of --channels with BatchNorm and max-pool, "
           "dropout, linear); lenet (LeNet-5); spec (the layers of --model-spec); cnn and lenet "
           "take images", "KIND"),
    Option("model_spec", _opt(_str), None,
           "a TOML file listing the model's chainrule.nn layers ([[layer]] type = \"Conv2d\" "
           "in_channels = 1 ...; see docs/cli.md); implies --model spec", "FILE"),
    Option("channels", _channels, [32, 64],
           "--model cnn: output channels of its conv3x3 blocks, one block per size (each "
           "halves the image)", "SIZES"),
    Option("input_shape", _opt(parse_input_shape), None,
           "the image shape C,H,W of each sample's features, for cnn/lenet/spec on data that "
           "has none (a .csv of pixels; e.g. 1,28,28); default: the dataset's own (digits "
           "1,8,8, MNIST-style 1,28,28, an .npz of images)", "C,H,W"),
    Option("experts", _int("experts", 1), 8, "experts of --model moe", "E"),
    Option("k", _int("k", 1), 2, "experts per example of --model moe", "K"),
    Option("capacity_factor", _opt(_float("capacity-factor", 0.0)), None,
           "--model moe: each expert takes at most ceil(F * N * k / E) of a batch's N examples",
           "F"),
    Option("balance_weight", _float("balance-weight", 0.0), 0.01,
           "weight of the modules' aux_loss (the MoE load-balancing loss) in the training loss; "
           "0: none", "W"),
    Option("labels", _opt(_int("labels", 1)), None,
           "keep N labelled training examples (stratified, seeded); the rest unlabelled", "N"),
    Option("semi", _choice("semi", ("none", "pseudo-label", "consistency")), "none",
           "semi-supervised: pseudo-label (threshold 0.7 -> 0.95) or consistency (FixMatch)",
           "KIND"),
    Option("pretrain", _choice("pretrain", ("none", "autoencoder", "denoising", "contrastive")),
           "none", "self-supervised pre-training on all training inputs, then fine-tune",
           "KIND"),
    Option("pretrain_epochs", _opt(_int("pretrain-epochs", 1)), None,
           "epochs of --pretrain (default --epochs)", "N"),
    Option("probe", _bool("probe"), False,
           "after --pretrain: a linear probe on the frozen encoder instead of fine-tuning",
           flag=True),
    Option("epochs", _int("epochs", 1), 10, "epochs to train (with --resume: the total)", "N"),
    Option("batch_size", _int("batch-size", 1), 64, "mini-batch size", "N"),
    Option("seed", _int("seed", 0), 0, "random seed: weights, shuffling, dropout", "N"),
    Option("val_split", _float("val-split", 0.0, 1.0, open_high=True), 0.0,
           "fraction of the training data held out for validation (val_loss, val_accuracy)",
           "F"),
    Option("early_stopping", _opt(_int("early-stopping", 1)), None,
           "stop when val_loss has not improved for this many epochs (needs --val-split); "
           "keeps the best weights", "PATIENCE"),
    Option("standardize", _bool("standardize"), False,
           "shift and scale each input feature by the training split's mean and std (+0.01); "
           "on by default for digits", negatable=True),
    Option("limit", _opt(_int("limit", 1)), None,
           "use at most N training and N test samples (quick runs)", "N"),
    Option("download", _bool("download"), False,
           "fetch MNIST / Fashion-MNIST if missing (checked by SHA-256)", flag=True),
    Option("out", _opt(_str), None, "output folder: model.ckpt, metrics.csv, metrics.jsonl, "
           "loss.png (default runs/<dataset>)", "DIR"),
    Option("no_save", _bool("no-save"), False, "write no files", flag=True),
    Option("threads", _opt(_int("threads", 1)), None,
           "BLAS/OpenMP threads: auto (1 for small models, where more threads only add "
           "overhead; up to 4 cores for large ones) or N; printed at the start", "N|auto"),
    Option("compile", _bool("compile"), False,
           "record the training step once per batch shape and replay it (cr.compile: same "
           "weights as eager, bit for bit; faster on small models)", flag=True),
    Option("progress", _choice("progress", ("auto", "bar", "lines", "none")), "auto",
           "auto (a bar in a terminal, one line per epoch otherwise), bar, lines, none",
           "MODE"),
)}

DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    "digits": {"epochs": 20, "batch_size": 32, "standardize": True},
    "xor": {"layers": [8], "activation": "tanh", "epochs": 300, "batch_size": 4, "lr": 0.05},
    "parity": {"layers": [16], "activation": "tanh", "epochs": 500, "batch_size": 8,
               "lr": 0.05},
    "encoder": {"layers": [3], "activation": "sigmoid", "epochs": 1500, "batch_size": 8,
                "lr": 0.05},
    "spirals": {"layers": [64, 64], "activation": "tanh", "epochs": 100, "batch_size": 32,
                "lr": 0.01},
    "moons": {"layers": [16, 16], "epochs": 50, "batch_size": 32, "lr": 0.01},
    "circles": {"layers": [16, 16], "epochs": 50, "batch_size": 32, "lr": 0.01},
    "blobs": {"layers": [16], "epochs": 30, "batch_size": 32, "lr": 0.01},
    "sine": {"layers": [32, 32], "activation": "tanh", "epochs": 200, "batch_size": 32,
             "lr": 0.01},
}


def _shown(v: Any) -> str:
    return ",".join(map(str, v)) if isinstance(v, list) else str(v)


def help_with_default(o: Option) -> str:
    """``o.help`` with its built-in default, and the default dataset's own where it differs
    (the flags' argparse default is 'not given', so argparse cannot show it)."""
    if o.flag or o.default is None or "default" in o.help:
        return o.help
    digits = DATASET_DEFAULTS["digits"].get(o.name)
    own = "" if digits is None else f"; digits: {_shown(digits)}"
    others = sorted(k for k, v in DATASET_DEFAULTS.items() if k != "digits" and o.name in v)
    more = "; the built-in sets xor, spirals, ... have their own" if others else ""
    return f"{o.help} (default: {_shown(o.default)}{own}{more})"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The train options as flags whose default is 'not given' (so files can fill them in)."""
    for o in OPTIONS.values():
        o = Option(**{**o.__dict__, "help": help_with_default(o)})
        flag = "--" + o.name.replace("_", "-")
        if o.negatable:
            p.add_argument(flag, dest=o.name, action=argparse.BooleanOptionalAction,
                           default=argparse.SUPPRESS, help=o.help)
        elif o.flag:
            p.add_argument(flag, dest=o.name, action="store_true", default=argparse.SUPPRESS,
                           help=o.help)
        else:
            p.add_argument(flag, dest=o.name, default=argparse.SUPPRESS, help=o.help,
                           metavar=o.metavar)


def normalise(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """Parse and check every value of ``raw`` (keys with dashes or underscores)."""
    out = {}
    for key, value in raw.items():
        name = key.replace("-", "_")
        if name not in OPTIONS:
            close = difflib.get_close_matches(name, list(OPTIONS), n=1)
            hint = f" (did you mean {close[0].replace('_', '-')!r}?)" if close else ""
            raise CLIError(f"{where or 'command line'}: unknown option {key!r}{hint}")
        try:
            out[name] = OPTIONS[name].parse(value)
        except CLIError as e:
            raise CLIError(f"{where}: {e}" if where else str(e)) from None
    return out


def read_config(path: str) -> dict[str, Any]:
    """The options in a TOML file (top level, or the ``[train]`` table)."""
    data = load_toml(path, "config file", "--config")
    if isinstance(data.get("train"), dict):
        data = {**{k: v for k, v in data.items() if k != "train"}, **data["train"]}
    return normalise(data, f"config file {path}")


MODEL_DEFAULTS: dict[str, dict[str, Any]] = {"cnn": {"dropout": 0.25}}


def defaults_for(dataset: str, model: str = "mlp") -> dict[str, Any]:
    """The built-in defaults, then the dataset's, then the model kind's."""
    base = {name: o.default for name, o in OPTIONS.items()}
    key = dataset.strip().lower()
    base.update(DATASET_DEFAULTS.get(key, {}))
    base.update(MODEL_DEFAULTS.get(model, {}))
    return base
