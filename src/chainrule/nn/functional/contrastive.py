"""Contrastive losses: NT-Xent (SimCLR's normalised temperature-scaled cross-entropy, InfoNCE
with the other views of the batch as negatives)."""

from __future__ import annotations

from typing import Any

from chainrule import backend, ops
from chainrule.autograd.factories import from_numpy
from chainrule.nn.functional.layers import normalize
from chainrule.nn.functional.loss import cross_entropy

__all__ = ["nt_xent_loss"]


def nt_xent_loss(z1: Any, z2: Any, temperature: float = 0.5, reduction: str = "mean") -> Any:
    """NT-Xent (Chen et al. 2020): rows ``z1[i]`` and ``z2[i]`` are two views of example i.

    With z the 2N unit-normalised rows of ``cat(z1, z2)`` and s_ij = z_i . z_j / temperature,
    the loss of row i is ``-log(exp(s_ip) / sum_{j != i} exp(s_ij))`` where p is i's other view;
    the mean (or sum, or 'none': the 2N values) over the 2N rows.
    """
    if tuple(z1.shape) != tuple(z2.shape) or len(z1.shape) != 2:
        raise ValueError(f"nt_xent_loss: z1 {tuple(z1.shape)} and z2 {tuple(z2.shape)}; "
                         "expected two (N, D) batches of the same shape")
    if not temperature > 0:
        raise ValueError(f"nt_xent_loss: temperature must be positive, got {temperature}")
    n = z1.shape[0]
    z = normalize(ops.cat([z1, z2], 0), dim=1)
    sim = (z @ z.t()) * (1.0 / temperature)
    xp = backend.xp
    sim = ops.masked_fill(sim, from_numpy(xp.eye(2 * n, dtype=bool)), -1e4 / temperature)
    target = from_numpy(xp.concatenate([xp.arange(n, 2 * n), xp.arange(0, n)]))
    return cross_entropy(sim, target, reduction=reduction)
