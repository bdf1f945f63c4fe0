"""``MixtureOfExperts``: a sparse layer that sends each token to k of E expert networks.

Shazeer et al. 2017 (noisy top-k gating), GShard (capacity), Switch Transformer (k = 1,
the load-balancing loss E * sum_e f_e P_e) and ST-MoE (the router z-loss). Composed from
existing ops (``topk``, ``softmax``, ``gather``, ``index_select``, ``cat``, ``sum``):
the routing bookkeeping (who goes where, who is dropped) is integer work on arrays, not graph.

::

    moe = nn.MixtureOfExperts(8, 64, k=2, hidden=128)      # 8 MLP experts 64-128-64
    y = moe(x)                                             # x: (..., 64) -> (..., 64)
    loss = task_loss + moe.aux_loss                        # fit adds aux_loss by itself
    moe.last_routing.experts, moe.expert_counts, moe.dropped, moe.utilisation
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

from chainrule import backend, creation, ops
from chainrule.autograd.factories import from_numpy
from chainrule.autograd.tensor import Tensor, _leaf
from chainrule.nn.activation import ReLU
from chainrule.nn.containers import ModuleList, Sequential
from chainrule.nn.linear import Linear
from chainrule.nn.module import Module
from chainrule.nn.samples import Generator, ModuleSample

DROP_POLICIES = ("zero", "identity")


class Routing(NamedTuple):
    """The routing of the last forward, one row per token (constants, no graph).

    ``experts`` (N, k) int64: the chosen experts, best first; ``gates`` (N, k): their gate
    weights; ``kept`` (N, k) bool: False where the capacity dropped the assignment."""

    experts: Tensor
    gates: Tensor
    kept: Tensor


def _mlp_expert(d_in: int, hidden: int, d_out: int) -> Module:
    return Sequential(Linear(d_in, hidden), ReLU(), Linear(hidden, d_out))


class MixtureOfExperts(Module):
    """Sparse mixture of experts: output = sum over the top-k experts of gate x expert(token).

    Args:
        experts: a list of modules mapping ``(n, in_features)`` to ``(n, out)``, all with the
            same ``out``; or an int E to build E MLP experts ``in -> hidden -> out_features``
            (ReLU).
        in_features: the token size (the last dimension of the input).
        k: experts per token. Gates are the softmax over the k chosen router logits; with
            k = 1 the gate is the chosen expert's softmax probability over all E (Switch).
        capacity_factor: None (no limit), or each expert takes at most
            ``ceil(capacity_factor * N * k / E)`` assignments, in token order (first come, first
            served); the rest are dropped.
        noisy_gating: in training mode, add ``randn * softplus(noise(x))`` to the logits before
            the top-k (Shazeer et al. 2017); ``self.noise`` is a bias-free Linear like the router.
        router_z_loss: coefficient of the ST-MoE z-loss ``mean(logsumexp(logits)^2)`` added to
            ``aux_loss``.
        drop_policy: ``"zero"`` (a dropped assignment contributes nothing) or ``"identity"``
            (the identity stands in for the expert: gate x token; needs out == in).

    After each forward: ``aux_loss`` (differentiable: ``balance_loss + z_loss``),
    ``balance_loss`` = E * sum_e f_e P_e (f_e: fraction of the N*k assignments routed to e,
    counted before capacity drops; P_e: mean router probability of e), ``z_loss``,
    ``last_routing`` (a ``Routing``), ``expert_counts`` (int64 (E,), before drops) and
    ``dropped`` (int). In training mode ``expert_load`` (an int64 array, not in the
    ``state_dict``) accumulates the counts: ``utilisation`` is its share per expert,
    ``reset_utilisation()`` starts again.
    """

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        # torch.nn has no mixture of experts: no parity check
        return ModuleSample(args=(3, 4), kwargs={"k": 2, "hidden": 3, "out_features": 2},
                            inputs=(rng.standard_normal((5, 4)),), torch=False, atol=1e-5)

    def __init__(self, experts: Sequence[Module] | int, in_features: int, k: int = 2,
                 capacity_factor: float | None = None, noisy_gating: bool = False,
                 router_z_loss: float = 0.0, *, hidden: int | None = None,
                 out_features: int | None = None, drop_policy: str = "zero") -> None:
        super().__init__()
        if isinstance(experts, int):
            if hidden is None:
                raise ValueError("MixtureOfExperts: experts=int builds MLP experts and needs "
                                 "hidden= (their hidden size), e.g. "
                                 "MixtureOfExperts(8, 64, hidden=128)")
            d_out = in_features if out_features is None else out_features
            experts = [_mlp_expert(in_features, hidden, d_out) for _ in range(experts)]
        experts = list(experts)
        n = len(experts)
        if n == 0:
            raise ValueError("MixtureOfExperts: no experts given")
        if not 1 <= k <= n:
            raise ValueError(f"MixtureOfExperts: k = {k} must be between 1 and the number of "
                             f"experts ({n})")
        if capacity_factor is not None and not capacity_factor > 0:
            raise ValueError(f"MixtureOfExperts: capacity_factor must be positive or None, got "
                             f"{capacity_factor}")
        if drop_policy not in DROP_POLICIES:
            raise ValueError(f"MixtureOfExperts: drop_policy {drop_policy!r}; expected one of "
                             f"{DROP_POLICIES}")
        self.in_features = in_features
        self.num_experts = n
        self.k = k
        self.capacity_factor = capacity_factor
        self.noisy_gating = noisy_gating
        self.router_z_loss = float(router_z_loss)
        self.drop_policy = drop_policy
        self.experts = ModuleList(experts)
        self.router = Linear(in_features, n, bias=False)
        if noisy_gating:
            self.noise = Linear(in_features, n, bias=False)
            self.noise.weight.data.zero_()  # starts noise-free-ish: softplus(0) = 0.69
        self.expert_load = backend.xp.zeros(n, dtype=backend.int64)  # not a buffer: not saved
        self.aux_loss: Tensor | None = None
        self.balance_loss: Tensor | None = None
        self.z_loss: Tensor | None = None
        self.last_routing: Routing | None = None
        self.expert_counts: Tensor | None = None
        self.dropped = 0

    def extra_repr(self) -> str:
        cf = "" if self.capacity_factor is None else f", capacity_factor={self.capacity_factor}"
        return (f"num_experts={self.num_experts}, in_features={self.in_features}, k={self.k}"
                f"{cf}, noisy_gating={self.noisy_gating}, drop_policy={self.drop_policy!r}")

    def capacity(self, n_tokens: int) -> int:
        """The most assignments one expert takes for ``n_tokens`` tokens."""
        total = n_tokens * self.k
        if self.capacity_factor is None:
            return total
        return math.ceil(self.capacity_factor * total / self.num_experts)

    @property
    def utilisation(self) -> Tensor:
        """Each expert's share of the assignments over training so far (sums to 1)."""
        load = self.expert_load.astype(backend.float64)
        return from_numpy(load / max(load.sum(), 1.0))

    def reset_utilisation(self) -> None:
        self.expert_load[...] = 0

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(f"MixtureOfExperts: input of shape {tuple(x.shape)}; expected "
                             f"(..., {self.in_features})")
        lead = tuple(x.shape[:-1])
        flat = x.reshape(-1, self.in_features)
        n_tok, n_exp, k = flat.shape[0], self.num_experts, self.k
        logits = self.router(flat)
        probs = ops.softmax(logits, -1)
        chooser = logits
        if self.noisy_gating and self.training:
            std = ops.softplus(self.noise(flat))
            chooser = logits + creation.randn(n_tok, n_exp, dtype=logits.dtype) * std
        top, idx = ops.topk(chooser, k, -1)
        if k == 1:
            full = probs if chooser is logits else ops.softmax(chooser, -1)
            gates = ops.gather(full, 1, idx)
        else:
            gates = ops.softmax(top, -1)

        # routing bookkeeping on integer arrays: assignment a = token * k + slot
        xp = backend.get_array_module(idx._data)
        e_of = idx._data.reshape(-1)
        counts = xp.bincount(e_of, minlength=n_exp).astype(backend.int64)
        order = xp.argsort(e_of, kind="stable")  # grouped by expert, token order inside
        starts = xp.cumsum(counts) - counts
        rank = xp.empty_like(order)
        rank[order] = xp.arange(e_of.size) - starts[e_of[order]]
        cap = self.capacity(n_tok)
        kept = rank < cap
        grouped = order[kept[order]]  # kept assignments, expert by expert
        taken = xp.minimum(counts, cap)

        # one forward per expert on its batch of tokens
        gate_flat = gates.reshape(-1)
        outs, offset = [], 0
        for e, expert in enumerate(self.experts):
            m = int(taken[e])
            if m:
                rows = grouped[offset:offset + m] // k
                outs.append(expert(ops.index_select(flat, 0, rows)))
            offset += m
        dropped_ids = xp.nonzero(~kept)[0]
        d_out = outs[0].shape[1] if outs else self._out_features(flat)
        if self.drop_policy == "identity" and dropped_ids.size and d_out != self.in_features:
            raise ValueError("MixtureOfExperts: drop_policy='identity' needs experts whose "
                             f"output size ({d_out}) equals in_features ({self.in_features})")
        # the combination: every assignment's gate-weighted row, put back in assignment order
        # (token by token, its k slots side by side) and summed over the slots. A permutation
        # (index_select) and a sum rather than a scatter_add: np.add.at is several times slower
        pos = xp.empty(e_of.size, dtype=backend.int64)
        pos[grouped] = xp.arange(grouped.size)
        parts = [ops.cat(outs, 0) * ops.index_select(gate_flat, 0, grouped).unsqueeze(1)] \
            if outs else []
        if dropped_ids.size:
            pos[dropped_ids] = grouped.size + xp.arange(dropped_ids.size)
            if self.drop_policy == "identity":  # gate x token stands in for the expert
                parts.append(ops.index_select(flat, 0, dropped_ids // k) *
                             ops.index_select(gate_flat, 0, dropped_ids).unsqueeze(1))
            else:  # a dropped assignment adds zeros
                parts.append(creation.zeros(dropped_ids.size, d_out, dtype=flat.dtype))
        if not parts:  # no tokens
            out = creation.zeros(n_tok, d_out, dtype=flat.dtype)
        else:
            rows = parts[0] if len(parts) == 1 else ops.cat(parts, 0)
            out = ops.index_select(rows, 0, pos).reshape(n_tok, k, d_out).sum(1)

        # the auxiliary losses and the record of this forward
        frac = from_numpy((counts / max(e_of.size, 1)).astype(probs.dtype))
        self.balance_loss = (probs.sum(0) * frac).sum() * (n_exp / max(n_tok, 1))
        aux = self.balance_loss
        self.z_loss = None
        if self.router_z_loss:
            lse2 = ops.logsumexp(logits, -1) ** 2
            self.z_loss = lse2.sum() * (self.router_z_loss / max(n_tok, 1))
            aux = aux + self.z_loss
        self.aux_loss = aux
        self.expert_counts = _leaf(counts)
        self.dropped = int(dropped_ids.size)
        self.last_routing = Routing(_leaf(idx._data.copy()), _leaf(gates._data.copy()),
                                    _leaf(kept.reshape(n_tok, k)))
        if self.training:
            self.expert_load += counts
        return out.reshape(*lead, d_out)

    def _out_features(self, flat: Tensor) -> int:
        from chainrule.autograd.grad_mode import no_grad

        with no_grad():
            return int(self.experts[0](flat[:1]).shape[-1])
