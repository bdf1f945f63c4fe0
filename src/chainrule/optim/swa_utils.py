"""Weight averaging (``torch.optim.swa_utils``): ``AveragedModel`` keeps a running average of a
model's parameters (stochastic weight averaging, SWA, by default; an exponential moving average,
EMA, with ``get_ema_multi_avg_fn``), ``SWALR`` anneals the learning rate to a constant for the
averaging phase, and ``update_bn`` recomputes batch-norm statistics for the averaged weights.

Typical use::

    swa_model = AveragedModel(model)
    swa_sched = SWALR(opt, swa_lr=0.05)
    for epoch in range(epochs):
        train_one_epoch(model, opt)
        if epoch >= swa_start:
            swa_model.update_parameters(model)
            swa_sched.step()
    update_bn(train_loader, swa_model)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from copy import deepcopy
from typing import Any

from chainrule import backend
from chainrule.autograd.factories import tensor
from chainrule.autograd.grad_mode import no_grad
from chainrule.autograd.tensor import Tensor
from chainrule.nn.module import Module
from chainrule.nn.normalization import _BatchNorm
from chainrule.optim.lr_scheduler import LRScheduler, _format_param
from chainrule.optim.optimizer import Optimizer, lerp_

__all__ = ["SWALR", "AveragedModel", "get_ema_avg_fn", "get_ema_multi_avg_fn", "get_swa_avg_fn",
           "get_swa_multi_avg_fn", "update_bn"]

ParamList = list[Tensor]


def _write(dst: Tensor, value: Any) -> None:
    """Copy ``value`` (an array) into ``dst``'s array in place (cast as ``copy_`` does)."""
    backend.get_array_module(dst._data).copyto(dst._data, value, casting="unsafe")
    dst._vc[0] += 1


def _check_decay(decay: float) -> None:
    if decay < 0.0 or decay > 1.0:
        raise ValueError(f"Invalid decay value {decay} provided. Please provide a value in "
                         "[0,1] range.")


def get_ema_multi_avg_fn(decay: float = 0.999) -> Callable[[ParamList, ParamList, Any], None]:
    """An exponential moving average over lists of tensors, in place:
    ``ema = decay * ema + (1 - decay) * current`` (for ``AveragedModel(multi_avg_fn=...)``)."""
    _check_decay(decay)

    def ema_update(ema_params: ParamList, current_params: ParamList, _: Any) -> None:
        for e, c in zip(ema_params, current_params):
            a = e._data
            if a.dtype.kind == "f":
                lerp_(backend.get_array_module(a), a, c._data, 1.0 - decay, a.copy())
                e._vc[0] += 1
            else:
                _write(e, a * decay + c._data * (1.0 - decay))
    return ema_update


def get_swa_multi_avg_fn() -> Callable[[ParamList, ParamList, Any], None]:
    """The running mean over lists of tensors, in place:
    ``avg = avg + (current - avg) / (n_averaged + 1)``."""
    def swa_update(avg_params: ParamList, current_params: ParamList, num_averaged: Any) -> None:
        n = int(num_averaged.item() if isinstance(num_averaged, Tensor) else num_averaged)
        for a, c in zip(avg_params, current_params):
            _write(a, a._data + (c._data - a._data) / (n + 1))
    return swa_update


def get_ema_avg_fn(decay: float = 0.999) -> Callable[[Tensor, Tensor, Any], Tensor]:
    """An exponential moving average of one tensor: ``decay * ema + (1 - decay) * current``."""
    _check_decay(decay)

    def ema_update(ema_param: Tensor, current_param: Tensor, num_averaged: Any) -> Tensor:
        with no_grad():
            return decay * ema_param + (1 - decay) * current_param
    return ema_update


def get_swa_avg_fn() -> Callable[[Tensor, Tensor, Any], Tensor]:
    """The running mean of one tensor: ``avg + (current - avg) / (n_averaged + 1)``."""
    def swa_update(avg_param: Tensor, current_param: Tensor, num_averaged: Any) -> Tensor:
        with no_grad():
            return avg_param + (current_param - avg_param) / (num_averaged + 1)
    return swa_update


class AveragedModel(Module):
    """A copy of ``model`` whose parameters are an average of ``model``'s over the calls to
    ``update_parameters(model)``, as ``torch.optim.swa_utils.AveragedModel``.

    The first call copies the parameters; later calls average with ``avg_fn`` (one tensor at a
    time: ``avg_fn(averaged, current, n_averaged)`` returns the new average), ``multi_avg_fn``
    (lists of tensors, updated in place) or, given neither, the equal-weight running mean (SWA).
    Buffers (batch-norm statistics) are copied from ``model`` unless ``use_buffers=True``, which
    averages them with the parameters. ``n_averaged`` (a buffer) counts the calls. The forward
    runs the averaged copy, ``self.module``.

    Args:
        model: the model to average (deep-copied).
        device: accepted for PyTorch compatibility; chainrule computes on the CPU.
        avg_fn: the averaging function of one tensor (e.g. ``get_ema_avg_fn(0.99)``).
        multi_avg_fn: the averaging function of lists (e.g. ``get_ema_multi_avg_fn(0.99)``).
        use_buffers: average the buffers as well, instead of copying them (default False).
    """

    def __init__(self, model: Module, device: Any = None,
                 avg_fn: Callable[[Tensor, Tensor, Any], Tensor] | None = None,
                 multi_avg_fn: Callable[[ParamList, ParamList, Any], None] | None = None,
                 use_buffers: bool = False) -> None:
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise AssertionError("AveragedModel: only one of avg_fn and multi_avg_fn should be "
                                 "provided")
        self.module = deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", tensor(0, dtype=backend.int64))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)

    def update_parameters(self, model: Module) -> None:
        """Fold ``model``'s current parameters (and buffers) into the average."""
        if self.use_buffers:
            mine = list(itertools.chain(self.module.parameters(), self.module.buffers()))
            theirs = list(itertools.chain(model.parameters(), model.buffers()))
        else:
            mine, theirs = list(self.parameters()), list(model.parameters())
        if len(mine) != len(theirs):
            raise ValueError(f"AveragedModel.update_parameters: the model has {len(theirs)} "
                             f"parameters{' and buffers' if self.use_buffers else ''}, the "
                             f"averaged copy {len(mine)}; pass the model it was made from")
        current = [t.detach() for t in theirs]
        n = int(self.n_averaged.item())
        if n == 0:
            for a, c in zip(mine, current):
                _write(a, c._data)
        elif self.avg_fn is not None:
            count = self.n_averaged.detach()
            for a, c in zip(mine, current):
                _write(a, self.avg_fn(a.detach(), c, count)._data)
        else:
            fn = self.multi_avg_fn or get_swa_multi_avg_fn()
            for dtype in dict.fromkeys(a.dtype for a in mine):  # grouped by dtype, as PyTorch
                pairs = [(a.detach(), c) for a, c in zip(mine, current) if a.dtype == dtype]
                fn([a for a, _ in pairs], [c for _, c in pairs], self.n_averaged.detach())
        if not self.use_buffers:
            for b_avg, b_model in zip(self.module.buffers(), model.buffers()):
                _write(b_avg, b_model._data)
        _write(self.n_averaged, self.n_averaged._data + 1)


def update_bn(loader: Iterable[Any], model: Module, device: Any = None) -> None:
    """Recompute the running statistics of every batch-norm layer of ``model`` with one pass over
    ``loader`` (a batch, or a tuple/list whose first item is the batch), as
    ``torch.optim.swa_utils.update_bn``: the statistics are reset and accumulated as a
    cumulative average (momentum None) in training mode; the momenta and mode are restored.
    Instance norms are left alone, as in PyTorch."""
    momenta = {}
    for module in model.modules():
        if isinstance(module, _BatchNorm):  # the instance norms are not _BatchNorm
            module.reset_running_stats()
            momenta[module] = module.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for module in momenta:
        module.momentum = None
    with no_grad():
        for batch in loader:
            if isinstance(batch, (list, tuple)):
                batch = batch[0]
            if device is not None:
                batch = batch.to(device)
            model(batch)
    for module, momentum in momenta.items():
        module.momentum = momentum
    model.train(was_training)


class SWALR(LRScheduler):
    """Anneal each group's rate from its current value to ``swa_lr`` over ``anneal_epochs``
    epochs (cosine or linear), then hold it, as ``torch.optim.swa_utils.SWALR``.

    Args:
        optimizer: the optimiser.
        swa_lr: the rate to reach (or one per group).
        anneal_epochs: epochs of the annealing, >= 0 (default 10).
        anneal_strategy: ``"cos"`` (default) or ``"linear"``.
        last_epoch: index of the last epoch (default -1).
    """

    def __init__(self, optimizer: Optimizer, swa_lr: float | list[float],
                 anneal_epochs: int = 10, anneal_strategy: str = "cos",
                 last_epoch: int = -1) -> None:
        for lr, group in zip(_format_param("swa_lr", optimizer, swa_lr), optimizer.param_groups):
            group["swa_lr"] = lr
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError("SWALR: anneal_strategy must be one of 'cos' or 'linear', instead "
                             f"got {anneal_strategy!r}")
        self._set_anneal_func(anneal_strategy)
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"SWALR: anneal_epochs must be equal or greater than 0, got "
                             f"{anneal_epochs!r}")
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _linear_anneal(t: float) -> float:
        return t

    @staticmethod
    def _cosine_anneal(t: float) -> float:
        return (1 - math.cos(math.pi * t)) / 2

    @staticmethod
    def _get_initial_lr(lr: float, swa_lr: float, alpha: float) -> float:
        return swa_lr if alpha == 1 else (lr - alpha * swa_lr) / (1 - alpha)

    def _set_anneal_func(self, anneal_strategy: str) -> None:
        self._anneal_strategy = anneal_strategy
        self.anneal_func = self._cosine_anneal if anneal_strategy == "cos" \
            else self._linear_anneal

    def get_lr(self) -> list[float]:
        self._warn_outside_step()
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_alpha = self.anneal_func(max(0, min(1, (step - 1) / max(1, self.anneal_epochs))))
        prev_lrs = [self._get_initial_lr(g["lr"], g["swa_lr"], prev_alpha)
                    for g in self.optimizer.param_groups]
        alpha = self.anneal_func(max(0, min(1, step / max(1, self.anneal_epochs))))
        return [g["swa_lr"] * alpha + lr * (1 - alpha)
                for g, lr in zip(self.optimizer.param_groups, prev_lrs)]

    def state_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "anneal_func")}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.__dict__.update(state_dict)
        self._set_anneal_func(self._anneal_strategy)
