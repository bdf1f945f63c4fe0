"""``chainrule train``: train a model on a dataset, print progress and the test accuracy.

    chainrule train                                   # digits, an MLP, a few seconds
    chainrule train --model cnn                       # a small CNN on the digits' 8x8 images
    chainrule train --model lenet --dataset fashion-mnist --epochs 5
    chainrule train --model-spec examples/net.toml    # the layers listed in a TOML file
    chainrule train --dataset fashion-mnist --layers 256,128 --epochs 10
    chainrule train --dataset fashion-mnist --layers 30 --activation sigmoid \\
        --loss quadratic --optimizer sgd --lr 3.0 --batch-size 10        # Nielsen's network
    chainrule train --config run.toml --lr 0.01       # flags override the file
    chainrule train --out runs/x --epochs 4 --resume  # continue runs/x/model.ckpt to epoch 4

The test set is evaluated after every epoch (``test_loss``, ``test_accuracy``, as in Nielsen's
book: for watching, not for choosing; ``--val-split`` holds out validation data for that).
"""

from __future__ import annotations

import argparse
import contextlib
import re
import time
from pathlib import Path
from typing import Any

from chainrule.cli import config as C
from chainrule.cli import datasets as D
from chainrule.cli.common import CLIError, read_checkpoint, say
from chainrule.cli.model import (
    architecture,
    build_loss,
    build_model,
    build_optimizer,
    describe_arch,
    moe_architecture,
)
from chainrule.cli.plot import PLOT_HINT, have_matplotlib, plot_history

HELP = "train an MLP, CNN, LeNet-5, MoE or TOML-listed model (default: an MLP on the bundled " \
       "digits) and report its test accuracy"


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("train", help=HELP, description=__doc__.split("\n\n")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", metavar="FILE", default=None,
                   help="TOML file of options (the flags below override it)")
    p.add_argument("--resume", metavar="CKPT", nargs="?", const="", default=None,
                   help="continue from a checkpoint (default OUT/model.ckpt) up to --epochs; "
                        "its options are the base, flags override them")
    C.add_arguments(p)
    p.set_defaults(run=run)
    return p


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(name).stem if "/" in name else name).strip("-")


def resolve(args: argparse.Namespace) -> tuple[dict[str, Any], str | None]:
    """The final options (see chainrule.cli.config for the precedence) and the checkpoint to
    resume from (None for a fresh run)."""
    given = C.normalise({k: v for k, v in vars(args).items() if k in C.OPTIONS}, "")
    from_file = C.read_config(args.config) if args.config else {}
    stored: dict[str, Any] = {}
    ckpt_path = None
    if args.resume is not None:
        out = given.get("out") or from_file.get("out")
        if args.resume:
            ckpt_path = args.resume
        elif out:
            ckpt_path = str(Path(out) / "model.ckpt")
        else:
            ds = given.get("dataset") or from_file.get("dataset") or "digits"
            ckpt_path = str(Path("runs") / _slug(ds) / "model.ckpt")
        ckpt = read_checkpoint(ckpt_path)
        stored = C.normalise({k: v for k, v in (ckpt["meta"].get("config") or {}).items()
                              if k in C.OPTIONS}, f"checkpoint {ckpt_path}")
        stored["_resumed_epoch"] = ckpt.get("epoch")
    dataset = given.get("dataset") or from_file.get("dataset") or stored.get("dataset") or \
        "digits"
    resumed_epoch = stored.pop("_resumed_epoch", None)
    explicit = given.get("model") or from_file.get("model")
    spec = given.get("model_spec") or from_file.get("model_spec") or stored.get("model_spec")
    model = explicit or ("spec" if spec else stored.get("model")) or "mlp"
    if spec and model != "spec":
        raise CLIError(f"--model-spec {spec} lists the whole model; drop --model {model} (or "
                       "--model-spec)")
    if model == "spec" and not spec:
        raise CLIError("--model spec needs --model-spec FILE.toml (the layers, see docs/cli.md)")
    cfg = {**C.defaults_for(dataset, model), **stored, **from_file, **given, "model": model}
    old_epochs = stored.get("epochs")
    if (cfg["schedule"] == "cosine" and stored.get("schedule") == "cosine" and old_epochs
            and cfg["epochs"] != old_epochs):
        raise CLIError(f"--resume with --schedule cosine: the checkpoint's run anneals the "
                       f"learning rate to 0 at epoch {old_epochs} (it is at epoch "
                       f"{resumed_epoch}); --epochs {cfg['epochs']} would bend the curve back "
                       f"up after epoch {old_epochs}. Resume with --epochs {old_epochs}, or "
                       "start a fresh run (or another --out) for a longer cosine schedule")
    if cfg["out"] is None and not cfg["no_save"]:
        cfg["out"] = str(Path("runs") / _slug(cfg["dataset"]))
    return cfg, ckpt_path


def _architecture(cfg: dict[str, Any], data: Any, out_act: str | None) -> dict[str, Any]:
    """The architecture record of ``--model`` (cli.model, cli.convnets) for ``data``."""
    from chainrule.cli import convnets

    kind = cfg["model"]
    if kind == "moe":
        return moe_architecture(data.n_features, cfg["layers"], data.n_outputs,
                                cfg["activation"], cfg["experts"], cfg["k"],
                                cfg["capacity_factor"])
    if kind == "spec":
        return convnets.spec_architecture(cfg["model_spec"], data, cfg["input_shape"])
    if kind in ("cnn", "lenet"):
        shape = convnets.image_shape(kind, data, cfg["input_shape"])
        if kind == "lenet":
            return convnets.lenet_architecture(shape, data.n_outputs, cfg["activation"], out_act)
        return convnets.cnn_architecture(shape, data.n_outputs, cfg["channels"],
                                         cfg["activation"], cfg["dropout"], out_act)
    return architecture(data.n_features, cfg["layers"], data.n_outputs, cfg["activation"],
                        out_act, cfg["dropout"])


def _plain_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """What the checkpoint stores (no None values: they mean 'the default')."""
    skip = ("no_save", "progress", "download", "threads")  # threads: this machine's choice
    return {k: v for k, v in cfg.items() if v is not None and k not in skip}


def run(args: argparse.Namespace) -> int:
    """``chainrule train``: the thread limit it sets is lifted when it returns."""
    with contextlib.ExitStack() as stack:
        return _run(args, stack)


def _run(args: argparse.Namespace, stack: contextlib.ExitStack) -> int:
    import chainrule as cr
    from chainrule import distributed as dist
    from chainrule.train import (
        CSVLogger,
        EarlyStopping,
        JSONLinesLogger,
        ModelCheckpoint,
        NonFiniteLossError,
        Trainer,
        evaluate,
    )

    if dist.launched_by_mpi() and not dist.is_initialized():  # mpirun -n N chainrule train
        dist.init_process_group("mpi")
    cfg, ckpt_path = resolve(args)
    data = D.load(cfg["dataset"], cfg["limit"], cfg["download"], cfg["task"],
                  cfg["allow_nonfinite"])
    if cfg["standardize"]:
        data.standardize()
    if cfg["labels"] or cfg["semi"] != "none" or cfg["pretrain"] != "none" or cfg["probe"]:
        from chainrule.cli.regimes import run_regime

        if cfg["model"] != "mlp":
            raise CLIError(f"--labels/--semi/--pretrain/--probe train the MLP of --layers; "
                           f"--model {cfg['model']} is not supported there (drop --model)")
        return run_regime(cfg, data)
    classify = data.task == "classification"
    loss_name = cfg["loss"] or ("cross-entropy" if classify else "mse")
    out_act = cfg["output_activation"]
    if out_act == "auto":
        out_act = "sigmoid" if classify and loss_name != "cross-entropy" else None
    elif out_act in ("none", "identity"):
        out_act = None
    if loss_name == "cross-entropy" and out_act is not None:
        raise CLIError(f"--output-activation {out_act} with cross-entropy: the loss takes raw "
                       "scores (logits); drop --output-activation, or use --loss mse/quadratic")
    if cfg["early_stopping"] and not cfg["val_split"]:
        raise CLIError("--early-stopping watches val_loss: give --val-split too (e.g. 0.1)")
    arch = _architecture(cfg, data, out_act)

    cr.manual_seed(cfg["seed"])
    model = build_model(arch)
    loss_fn = build_loss(loss_name, data.task, data.n_outputs)
    optimizer = build_optimizer(cfg["optimizer"], model.parameters(), cfg["lr"],
                                cfg["weight_decay"], cfg["momentum"])
    metrics = ("accuracy",) if classify else ("mae", "r2")
    scheduler = None
    if cfg["schedule"] == "cosine":
        from chainrule.optim.lr_scheduler import CosineAnnealingLR

        scheduler = CosineAnnealingLR(optimizer, T_max=cfg["epochs"])
    elif cfg["schedule"] == "plateau":
        from chainrule.optim.lr_scheduler import ReduceLROnPlateau

        scheduler = ReduceLROnPlateau(optimizer, patience=3)

    out = None if cfg["no_save"] else Path(cfg["out"])
    callbacks: list[Any] = []
    if cfg["early_stopping"]:
        callbacks.append(EarlyStopping("val_loss", patience=cfg["early_stopping"],
                                       restore_best_weights=True))
    if out is not None:
        if out.exists() and not out.is_dir():
            raise CLIError(f"--out {str(out)!r} is a file; expected a folder")
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise CLIError(f"cannot create the output folder {str(out)!r}: {e.strerror}") from None
        callbacks += [CSVLogger(out / "metrics.csv"), JSONLinesLogger(out / "metrics.jsonl"),
                      ModelCheckpoint(out / "model.ckpt", min_interval=2.0)]

    trainer = Trainer(model, loss_fn, optimizer, metrics=metrics, callbacks=callbacks,
                      scheduler=scheduler, aux_loss_weight=cfg["balance_weight"],
                      compile=bool(cfg.get("compile")))
    trainer.extra = {"arch": arch, "data": data.describe(), "config": _plain_config(cfg),
                     "loss": loss_name}
    from chainrule.train.threads import auto_threads, limit_threads, matmul_work

    if cfg["threads"] is None:
        threads, why = auto_threads(cfg["batch_size"] * arch["macs"] if "macs" in arch else
                                    matmul_work(arch["sizes"], cfg["batch_size"]))
    else:
        threads, why = cfg["threads"], "--threads"
    what = (f"{data.n_outputs} classes" if classify else f"{data.n_outputs} output(s)")
    images = f" ({'x'.join(map(str, arch['input_shape']))} images)" \
        if len(arch.get("input_shape") or ()) > 1 else ""
    lr = optimizer.param_groups[0]["lr"]
    say(f"chainrule train: {data.name} ({len(data.train)} train / {len(data.test)} test, "
        f"{data.n_features} features{images}, {what}; {data.note})")
    kind = describe_arch(arch)
    if arch["kind"] == "moe":
        kind += f", balance weight {cfg['balance_weight']:g}"
    say(f"  model {kind}, loss {loss_name}, {cfg['optimizer']} lr {lr:g}"
        f"{'' if cfg['schedule'] == 'none' else ' (' + cfg['schedule'] + ')'}, "
        f"batch {cfg['batch_size']}, {cfg['epochs']} epochs, seed {cfg['seed']}, "
        f"threads {threads} ({why})")
    if dist.get_world_size() > 1:
        say(f"  data-parallel on {dist.get_world_size()} MPI ranks: batch {cfg['batch_size']} per "
            f"rank ({cfg['batch_size'] * dist.get_world_size()} per step)")
    if ckpt_path:
        say(f"  resuming from {ckpt_path}")

    progress = {"none": False}.get(cfg["progress"], cfg["progress"])
    stack.enter_context(limit_threads(threads))
    t0 = time.perf_counter()
    try:
        history = trainer.fit(data.train, epochs=cfg["epochs"], batch_size=cfg["batch_size"],
                              val_split=cfg["val_split"] or None, val_data={"test": data.test},
                              seed=cfg["seed"], progress=progress, resume=ckpt_path)
    except NonFiniteLossError as e:
        saved = (f"; {out / 'model.ckpt'} holds the last finite epoch" if out is not None and
                 (out / "model.ckpt").exists() else "")
        raise CLIError(f"{str(e).replace('fit: ', 'training stopped: ', 1)} (this run: "
                       f"{cfg['optimizer']} lr {lr:g}){saved}") from None
    elapsed = time.perf_counter() - t0
    ran = len(history) - (trainer.initial_epoch if ckpt_path else 0)
    if ckpt_path and ran == 0:
        say(f"  the checkpoint is already at epoch {trainer.initial_epoch}; pass --epochs N "
            "(the total) to train further")

    final = evaluate(model, data.test, loss_fn, metrics, batch_size=max(256, cfg["batch_size"]))
    if classify:
        say(f"test accuracy {final['accuracy']:.4f} (loss {final['loss']:.4f}) after epoch "
            f"{trainer.epoch}, {ran} epoch(s) in {elapsed:.1f} s")
    else:
        say(f"test mae {final['mae']:.4f}, r2 {final['r2']:.4f} (loss {final['loss']:.4f}) "
            f"after epoch {trainer.epoch}, {ran} epoch(s) in {elapsed:.1f} s")
    if out is not None:
        if ran and cfg["early_stopping"]:  # the restored best weights, not the last epoch's
            trainer.save_checkpoint(out / "model.ckpt")
        files = ["model.ckpt", "metrics.csv", "metrics.jsonl"]
        if have_matplotlib() and dist.is_main_process():
            plot_history(history, out / "loss.png", title=f"{data.name}: {kind}")
            files.append("loss.png")
            say(f"saved {out}/: {', '.join(files)}")
        else:
            say(f"saved {out}/: {', '.join(files)} ({PLOT_HINT})")
    return 0
