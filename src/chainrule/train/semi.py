"""Semi- and self-supervised learning through ``fit``.

Self-supervised (the input is its own label, or two views of it are):

- ``pretrain_autoencoder(encoder, decoder, x, noise_std=0.0)``: reconstruct x (MSE); with
  ``noise_std > 0`` a denoising autoencoder (the input is corrupted, the target clean).
- ``pretrain_contrastive(encoder, x, augment)``: SimCLR: two augmented views per example, a
  projection head, ``nn.NTXentLoss``.
- ``linear_probe(encoder, x, y)``: a Linear classifier on the frozen encoder's features;
  ``fine_tune(encoder, x, y)``: encoder + Linear, all trained.

Semi-supervised (a few labelled examples plus the unlabelled rest; batches of both from
``SemiBatches``), each a wrapper module that reports its unlabelled loss as ``aux_loss``, which
``fit``'s auxiliary-loss hook adds to the labelled cross-entropy and logs:

- ``PseudoLabel(model, threshold, weight, rampup, augment)``: the model's own predictions on
  unlabelled data (where confident) are its targets, weighted by Lee 2013's ramp-up
  (``lee_weight``); ``ThresholdSchedule`` moves the threshold over the epochs.
- ``FixMatch(model, weak, strong, threshold)``: the prediction on a weakly augmented view,
  where confident, is the target for a strongly augmented view (Sohn et al. 2020).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from chainrule import nn, optim
from chainrule.autograd.factories import from_numpy
from chainrule.autograd.grad_mode import no_grad
from chainrule.data.dataset import ArrayDataset
from chainrule.nn import functional as F
from chainrule.random import default_generator
from chainrule.train.callbacks import Callback
from chainrule.train.loop import fit

__all__ = ["FixMatch", "PseudoLabel", "SemiBatches", "SimCLR", "ThresholdSchedule", "TwoViews",
           "features", "fine_tune", "lee_weight", "linear_probe", "pretrain_autoencoder",
           "pretrain_contrastive"]


def _np(x: Any) -> np.ndarray:
    return np.asarray(x.detach().numpy() if hasattr(x, "numpy") else x)


def _batch(fn: Callable[[Any], Any] | None, x: np.ndarray) -> np.ndarray:
    if fn is None:
        return x
    b = getattr(fn, "batch", None)
    return np.asarray(b(x) if b is not None else np.stack([fn(s) for s in x]))


# -- data ------------------------------------------------------------------------------------------

class TwoViews:
    """A dataset of ``(view1, view2, index)``: two independent augmentations of each example."""

    def __init__(self, x: Any, augment: Callable[[Any], Any]) -> None:
        self.x = _np(x)
        self.augment = augment

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> Any:
        return self.get_batch(np.asarray([i]))  # rarely used: the loader takes batches

    def get_batch(self, idx: np.ndarray) -> list[Any]:
        xb = self.x[idx]
        return [from_numpy(_batch(self.augment, xb)), from_numpy(_batch(self.augment, xb)),
                from_numpy(np.asarray(idx, dtype=np.int64))]


class SemiBatches:
    """Each step: a labelled batch and ``mu`` times as many unlabelled examples, as
    ``[x_labelled, x_unlabelled, y_labelled]`` (``fit`` passes the two inputs to the model).
    An epoch is one pass over the unlabelled data; the labelled data cycle, reshuffled."""

    def __init__(self, x_l: Any, y_l: Any, x_u: Any, batch_size: int = 64, mu: int = 1) -> None:
        self.x_l, self.y_l, self.x_u = _np(x_l), _np(y_l), _np(x_u)
        self.batch_size = int(batch_size)
        self.mu = int(mu)

    def __len__(self) -> int:
        return max(1, math.ceil(len(self.x_u) / (self.batch_size * self.mu)))

    def __iter__(self) -> Iterator[list[Any]]:
        rng = default_generator.numpy
        u = rng.permutation(len(self.x_u))
        lab = np.empty(0, dtype=np.int64)
        bu = self.batch_size * self.mu
        for s in range(len(self)):
            while lab.size < self.batch_size:
                lab = np.concatenate([lab, rng.permutation(len(self.x_l))])
            li, lab = lab[:self.batch_size], lab[self.batch_size:]
            ui = u[s * bu:(s + 1) * bu]
            yield [from_numpy(self.x_l[li]), from_numpy(self.x_u[ui]),
                   from_numpy(self.y_l[li])]


# -- semi-supervised wrappers ----------------------------------------------------------------------

def lee_weight(step: int, t1: int, t2: int, final: float) -> float:
    """Lee 2013's weight alpha(t) of the unlabelled loss: 0 before step ``t1``, rising linearly
    to ``final`` at ``t2``, ``final`` after (no pseudo-labels while the model is still guessing)."""
    if step < t1:
        return 0.0
    if step >= t2:
        return float(final)
    return float(final) * (step - t1) / (t2 - t1)


class PseudoLabel(nn.Module):
    """Pseudo-labelling (Lee 2013): the model's own argmax on unlabelled data is their target.

    ``forward(x_l, x_u)`` returns ``model(x_l)`` and sets ``aux_loss`` = alpha(t) x the
    cross-entropy of the prediction on ``augment(x_u)`` against the argmax of the prediction on
    ``x_u`` (recomputed at every step, no gradient through it), over the pseudo-labels whose
    softmax confidence is at least ``threshold``, averaged over all of x_u. ``forward(x)`` alone
    is ``model(x)`` (evaluation).

    alpha(t) is Lee's ramp-up (``lee_weight``): 0 for the first ``rampup[0]`` training steps
    (each training forward with unlabelled data is a step; ``step`` counts them), then linear to
    ``weight`` at step ``rampup[1]``. Lee used T1 = 100, T2 = 600 (epochs), alpha_f = 3 and every
    argmax as a label (``threshold=0``); the defaults here, a ramp from step 0 to 400 and
    FixMatch's threshold 0.95, did best on two moons (``ThresholdSchedule`` moves the threshold).

    ``augment``: a perturbation of the unlabelled input (``data.augment.GaussianNoise``, ...),
    the input-space form of Lee's dropout noise; the target is the argmax on the clean input.
    Without one the target is the prediction itself and the loss only sharpens it (entropy
    minimisation): a model already confident on the unlabelled points keeps its boundary
    (``bench.pseudo_label_moons``, docs/semi_self_supervised.md). ``mask_rate``: the confident
    share.
    """

    def __init__(self, model: nn.Module, threshold: float = 0.95, weight: float = 3.0,
                 rampup: tuple[int, int] = (0, 400),
                 augment: Callable[[Any], Any] | None = None) -> None:
        super().__init__()
        t1, t2 = (int(t) for t in rampup)
        if not 0 <= t1 <= t2:
            raise ValueError(f"PseudoLabel: rampup {tuple(rampup)}; expected (T1, T2) with "
                             f"0 <= T1 <= T2 (steps)")
        self.model = model
        self.threshold = float(threshold)
        self.weight = float(weight)
        self.rampup = (t1, t2)
        self.augment = augment
        self.step = 0
        self.aux_loss = None
        self.mask_rate = 0.0

    @property
    def alpha(self) -> float:
        """The unlabelled loss's weight at the current step (Lee's alpha(t))."""
        return lee_weight(self.step, *self.rampup, self.weight)

    def _unlabelled_loss(self, logits_target: Any, logits_train: Any) -> Any:
        probs = F.softmax(logits_target.detach(), dim=1).detach().numpy()
        conf, label = probs.max(1), probs.argmax(1)
        mask = (conf >= self.threshold).astype(probs.dtype)
        self.mask_rate = float(mask.mean()) if mask.size else 0.0
        per = F.cross_entropy(logits_train, from_numpy(label.astype(np.int64)), reduction="none")
        alpha = self.alpha
        if self.training:
            self.step += 1
        return (per * from_numpy(mask)).sum() * (alpha / max(len(mask), 1))

    def forward(self, x: Any, x_u: Any = None) -> Any:
        if x_u is None:
            return self.model(x)
        if self.augment is not None:
            return self._two_views(x, x_u, None, self.augment)
        n = x.shape[0]
        out = self.model(_cat(x, x_u))  # one forward: the target is the prediction itself
        self.aux_loss = self._unlabelled_loss(out[n:], out[n:])
        return out[:n]

    def _two_views(self, x: Any, x_u: Any, weak: Callable[[Any], Any] | None,
                   strong: Callable[[Any], Any]) -> Any:
        """The target from ``weak(x_u)`` (no gradient), trained on ``strong(x_u)``; the
        labelled batch goes through ``weak`` too (``None``: as it is)."""
        xu = _np(x_u)
        with no_grad():
            target = self.model(from_numpy(_batch(weak, xu)))
        n = x.shape[0]
        out = self.model(_cat(from_numpy(_batch(weak, _np(x))),
                              from_numpy(_batch(strong, xu))))
        self.aux_loss = self._unlabelled_loss(target, out[n:])
        return out[:n]


def _cat(a: Any, b: Any) -> Any:
    from chainrule import ops

    return ops.cat([a, b], 0)


class FixMatch(PseudoLabel):
    """``forward(x_l, x_u)``: the prediction on ``weak(x_u)`` (no gradient), where its
    confidence reaches ``threshold``, is the target of the prediction on ``strong(x_u)``;
    ``aux_loss`` = ``weight`` x that cross-entropy (Sohn et al. 2020)."""

    def __init__(self, model: nn.Module, weak: Callable[[Any], Any],
                 strong: Callable[[Any], Any], threshold: float = 0.95,
                 weight: float = 1.0) -> None:
        super().__init__(model, threshold, weight, rampup=(0, 0))
        self.weak, self.strong = weak, strong

    def forward(self, x: Any, x_u: Any = None) -> Any:
        if x_u is None:
            return self.model(x)
        return self._two_views(x, x_u, self.weak, self.strong)


class ThresholdSchedule(Callback):
    """Moves ``module.threshold`` linearly from ``start`` (first epoch) to ``end`` (last):
    a low threshold early admits many pseudo-labels, a high one later only sure ones (or the
    reverse: a curriculum that starts strict). ``record`` keeps each epoch's ``threshold`` and
    ``mask_rate`` (the share of unlabelled examples over it in the last batch)."""

    def __init__(self, module: PseudoLabel, start: float, end: float) -> None:
        self.module, self.start, self.end = module, float(start), float(end)
        self.record: dict[str, list[float]] = {"threshold": [], "mask_rate": []}

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any]) -> None:
        total = max(self.trainer.epochs - 1, 1)
        t = min(max((epoch - 1) / total, 0.0), 1.0)
        self.module.threshold = self.start + (self.end - self.start) * t

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        self.record["threshold"].append(self.module.threshold)
        self.record["mask_rate"].append(self.module.mask_rate)


# -- self-supervised -------------------------------------------------------------------------------

class SimCLR(nn.Module):
    """``encoder`` + a projection head (Linear-ReLU-Linear to ``proj_dim``); ``forward(v1, v2)``
    returns the two projections stacked, ``cat(z1, z2)``, for ``NTXentLoss``."""

    def __init__(self, encoder: nn.Module, feat_dim: int, proj_dim: int = 32) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Sequential(nn.Linear(feat_dim, feat_dim), nn.ReLU(),
                                  nn.Linear(feat_dim, proj_dim))

    def forward(self, v1: Any, v2: Any = None) -> Any:
        if v2 is None:
            return self.head(self.encoder(v1))
        return self.head(self.encoder(_cat(v1, v2)))


def pretrain_autoencoder(encoder: nn.Module, decoder: nn.Module, x: Any, epochs: int = 10,
                         batch_size: int = 64, lr: float = 1e-3, noise_std: float = 0.0,
                         **fit_kw: Any) -> Any:
    """Train ``decoder(encoder(x)) ~ x`` by MSE (``noise_std > 0``: from x + N(0, std^2)
    noise: a denoising autoencoder). Returns fit's History."""
    from chainrule.data.augment import GaussianNoise

    xa = _np(x).astype(np.float32)
    noise = GaussianNoise(noise_std) if noise_std > 0 else None
    model = nn.Sequential(encoder, decoder)
    return fit(model, nn.MSELoss(), optim.Adam(model.parameters(), lr=lr),
               ArrayDataset(xa, xa, transform=noise), epochs=epochs, batch_size=batch_size,
               metrics=(), **{"progress": False, **fit_kw})


def pretrain_contrastive(encoder: nn.Module, feat_dim: int, x: Any,
                         augment: Callable[[Any], Any], epochs: int = 10, batch_size: int = 128,
                         lr: float = 1e-3, temperature: float = 0.5, proj_dim: int = 32,
                         **fit_kw: Any) -> Any:
    """SimCLR pre-training of ``encoder`` (its output has ``feat_dim`` features)."""
    model = SimCLR(encoder, feat_dim, proj_dim)
    loss = nn.NTXentLoss(temperature)

    def loss_fn(out: Any, _: Any) -> Any:
        z1, z2 = out.chunk(2, 0)
        return loss(z1, z2)

    return fit(model, loss_fn, optim.Adam(model.parameters(), lr=lr), TwoViews(x, augment),
               epochs=epochs, batch_size=batch_size, metrics=(),
               **{"progress": False, **fit_kw})


def features(encoder: nn.Module, x: Any, batch_size: int = 512) -> np.ndarray:
    """The encoder's outputs for ``x`` (eval mode, no graph)."""
    was = encoder.training
    encoder.eval()
    xa = _np(x).astype(np.float32)
    with no_grad():
        out = [encoder(from_numpy(xa[i:i + batch_size])).detach().numpy()
               for i in range(0, len(xa), batch_size)]
    encoder.train(was)
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


class _Probe(nn.Module):
    def __init__(self, encoder: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.encoder, self.head = encoder, head

    def forward(self, x: Any) -> Any:
        with no_grad():
            f = self.encoder(x)
        return self.head(f)


def linear_probe(encoder: nn.Module, x: Any, y: Any, n_classes: int, epochs: int = 30,
                 batch_size: int = 64, lr: float = 1e-2, **fit_kw: Any) -> nn.Module:
    """A Linear classifier trained on the frozen encoder's features; returns the model
    ``head(encoder(x))`` (the encoder is not trained)."""
    f = features(encoder, x)
    head = nn.Linear(f.shape[1], n_classes)
    fit(head, nn.CrossEntropyLoss(), optim.Adam(head.parameters(), lr=lr),
        (f, _np(y).astype(np.int64)), epochs=epochs, batch_size=batch_size,
        **{"progress": False, **fit_kw})
    encoder.eval()
    return _Probe(encoder, head)


def fine_tune(encoder: nn.Module, feat_dim: int, x: Any, y: Any, n_classes: int,
              epochs: int = 30, batch_size: int = 64, lr: float = 1e-3,
              **fit_kw: Any) -> nn.Module:
    """``Sequential(encoder, Linear(feat_dim, n_classes))`` trained end to end on (x, y)."""
    model = nn.Sequential(encoder, nn.Linear(feat_dim, n_classes))
    fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=lr),
        (_np(x).astype(np.float32), _np(y).astype(np.int64)), epochs=epochs,
        batch_size=batch_size, **{"progress": False, **fit_kw})
    return model
