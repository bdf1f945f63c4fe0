"""``chainrule train`` with few labels: ``--labels N`` (stratified, seeded), ``--semi
pseudo-label|consistency``, ``--pretrain autoencoder|denoising|contrastive`` (on all training
images for ``--pretrain-epochs``) then fine-tune (or ``--probe``: a linear probe on the frozen
encoder). The model is the MLP of ``--layers``; each run ends with the usual test-accuracy line.
"""

from __future__ import annotations

import itertools
import math
import time
from typing import Any

import numpy as np

from chainrule.cli import datasets as D
from chainrule.cli.common import CLIError, say

SEMI = ("none", "pseudo-label", "consistency")
PRETRAIN = ("none", "autoencoder", "denoising", "contrastive")


def _augmentations(shape: list[int]) -> tuple[Any, Any]:
    """(weak, strong) augmentations for flattened inputs of ``shape``."""
    from chainrule.data.augment import Cutout, GaussianNoise, RandomCrop, RandomHorizontalFlip
    from chainrule.data.transforms import Compose

    if len(shape) >= 2 and min(shape[-2:]) >= 8:
        hw = tuple(shape[-2:])
        weak = Compose([RandomHorizontalFlip(image_shape=hw),
                        RandomCrop(hw, padding=max(1, hw[0] // 14), image_shape=hw)])
        strong = Compose([weak, Cutout(max(2, hw[0] // 4), image_shape=hw),
                          GaussianNoise(0.1)])
        return weak, strong
    return GaussianNoise(0.05), GaussianNoise(0.3)


def run_regime(cfg: dict[str, Any], data: Any) -> int:
    import chainrule as cr
    from chainrule import nn, optim
    from chainrule.data.augment import labelled_indices
    from chainrule.nn.perceptron import _activation
    from chainrule.train import evaluate, fit
    from chainrule.train import semi as S

    if data.task != "classification":
        raise CLIError("--labels/--semi/--pretrain need a classification dataset")
    if not cfg["layers"]:
        raise CLIError("--semi/--pretrain need at least one hidden layer (--layers)")
    x, y = D.materialize(data.train)
    x_test, y_test = D.materialize(data.test)
    y = y.astype(np.int64).reshape(-1)
    n_cls = data.n_outputs
    lab, unl = (labelled_indices(y, cfg["labels"], seed=cfg["seed"]) if cfg["labels"]
                else (np.arange(len(y)), np.arange(0)))
    xl, yl, xu = x[lab], y[lab], x[unl]
    sizes = [x.shape[1], *cfg["layers"]]

    def encoder() -> Any:
        mods: list[Any] = []
        for a, b in itertools.pairwise(sizes):
            mods += [nn.Linear(a, b), _activation(cfg["activation"])]
        return nn.Sequential(*mods)

    feat, epochs, bs = sizes[-1], cfg["epochs"], cfg["batch_size"]
    lr = cfg["lr"] or 1e-3
    pre_epochs = cfg["pretrain_epochs"] or epochs
    weak, strong = _augmentations(data.input_shape)
    say(f"chainrule train: {data.name}, {len(lab)} labelled / {len(unl)} unlabelled / "
        f"{len(y_test)} test; encoder MLP {'-'.join(map(str, sizes))}, semi {cfg['semi']}, "
        f"pretrain {cfg['pretrain']}{' + probe' if cfg['probe'] else ''}, seed {cfg['seed']}")
    cr.manual_seed(cfg["seed"])
    progress = {"none": False, "auto": "lines"}.get(cfg["progress"], cfg["progress"])
    t0 = time.perf_counter()
    enc = encoder()
    everything = x  # pre-training sees all training images, labels unused
    if cfg["pretrain"] in ("autoencoder", "denoising"):
        dec_sizes = sizes[::-1]
        mods: list[Any] = []
        for i, (a, b) in enumerate(itertools.pairwise(dec_sizes)):
            mods.append(nn.Linear(a, b))
            if i < len(dec_sizes) - 2:
                mods.append(_activation(cfg["activation"]))
        S.pretrain_autoencoder(enc, nn.Sequential(*mods), everything, epochs=pre_epochs,
                               batch_size=bs, lr=lr,
                               noise_std=0.3 if cfg["pretrain"] == "denoising" else 0.0,
                               progress=progress)
    elif cfg["pretrain"] == "contrastive":
        S.pretrain_contrastive(enc, feat, everything, strong, epochs=pre_epochs,
                               batch_size=max(bs, 128), lr=lr, progress=progress)
    if cfg["probe"]:
        if cfg["pretrain"] == "none":
            raise CLIError("--probe trains a linear classifier on a pre-trained encoder: give "
                           "--pretrain autoencoder|denoising|contrastive")
        model = S.linear_probe(enc, xl, yl, n_cls, epochs=epochs, batch_size=bs,
                               lr=1e-2, progress=progress)
    elif cfg["semi"] != "none":
        if not len(xu):
            raise CLIError("--semi needs unlabelled data: give --labels N")
        net = nn.Sequential(enc, nn.Linear(feat, n_cls))
        mu = max(1, min(7, math.ceil(len(xu) / max(len(xl), 1))))
        batches = S.SemiBatches(xl, yl, xu, bs, mu)
        if cfg["semi"] == "pseudo-label":
            # Lee 2013's ramp-up of the unlabelled weight (to 3) over the first 40% of the steps;
            # the targets from the clean input, trained on the strong view (the noise it needs)
            model = S.PseudoLabel(net, threshold=0.95, weight=3.0, augment=strong,
                                  rampup=(0, max(1, 2 * epochs * len(batches) // 5)))
        else:
            model = S.FixMatch(net, weak, strong, threshold=0.95)
        fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=lr), batches,
            epochs=epochs, progress=progress)
    else:
        model = S.fine_tune(enc, feat, xl, yl, n_cls, epochs=epochs, batch_size=bs, lr=lr,
                            progress=progress)
    elapsed = time.perf_counter() - t0
    final = evaluate(model, (x_test, y_test.astype(np.int64).reshape(-1)),
                     nn.CrossEntropyLoss(), ("accuracy",), batch_size=256)
    say(f"test accuracy {final['accuracy']:.4f} (loss {final['loss']:.4f}) after epoch "
        f"{epochs}, {epochs} epoch(s) in {elapsed:.1f} s")
    return 0
