"""nn.MixtureOfExperts against a hand computation in NumPy, and by finite differences."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn


def _linear_experts(ws: list[np.ndarray]) -> list[nn.Module]:
    experts = []
    for w in ws:
        lin = nn.Linear(w.shape[1], w.shape[0], bias=False).double()
        lin.weight.data = cr.tensor(w)
        experts.append(lin)
    return experts


def _moe(rng: np.random.Generator, E: int = 4, D: int = 3, O: int = 3, **kw):
    ws = [rng.standard_normal((O, D)) for _ in range(E)]
    moe = nn.MixtureOfExperts(_linear_experts(ws), D, **kw).double()
    wr = rng.standard_normal((E, D))
    moe.router.weight.data = cr.tensor(wr)
    return moe, ws, wr


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _reference(x, ws, wr, k, cap=None, identity=False):
    """The contract, token by token (a loop: this is the slow, obvious version)."""
    logits = x @ wr.T
    probs = _softmax(logits)
    E = len(ws)
    out = np.zeros((x.shape[0], ws[0].shape[0]))
    taken = np.zeros(E, int)
    counts = np.zeros(E, int)
    chosen = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    for n in range(x.shape[0]):
        sel = chosen[n]
        gates = probs[n, sel] if k == 1 else _softmax(logits[n, sel])
        for e, g in zip(sel, gates):
            counts[e] += 1
            if cap is None or taken[e] < cap:
                taken[e] += 1
                out[n] += g * (ws[e] @ x[n])
            elif identity:
                out[n] += g * x[n]
    f = counts / (x.shape[0] * k)
    aux = E * np.sum(f * probs.mean(0))
    return out, counts, chosen, aux, logits


@pytest.mark.parametrize("k", [1, 2, 3])
def test_routing_matches_hand_computation(k: int) -> None:
    rng = np.random.default_rng(k)
    moe, ws, wr = _moe(rng, k=k)
    x = rng.standard_normal((7, 3))
    y = moe(cr.tensor(x))
    ref, counts, chosen, aux, _ = _reference(x, ws, wr, k)
    np.testing.assert_allclose(y.detach().numpy(), ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(moe.expert_counts.detach().numpy(), counts)
    np.testing.assert_array_equal(moe.last_routing.experts.detach().numpy(), chosen)
    assert moe.dropped == 0 and moe.last_routing.kept.detach().numpy().all()
    np.testing.assert_allclose(moe.aux_loss.item(), aux, rtol=1e-12)
    np.testing.assert_allclose(moe.last_routing.gates.detach().numpy().sum(1) <= 1 + 1e-12, True)


def test_switch_gate_is_the_probability_over_all_experts() -> None:
    rng = np.random.default_rng(0)
    moe, _, wr = _moe(rng, k=1)
    x = rng.standard_normal((5, 3))
    moe(cr.tensor(x))
    p = _softmax(x @ wr.T)
    np.testing.assert_allclose(moe.last_routing.gates.detach().numpy()[:, 0], p.max(1), rtol=1e-12)


@pytest.mark.parametrize("k,cf", [(1, 1.0), (2, 0.5), (2, 1.25)])
@pytest.mark.parametrize("policy", ["zero", "identity"])
def test_capacity_drops_first_come_first_served(k: int, cf: float, policy: str) -> None:
    rng = np.random.default_rng(3)
    moe, ws, wr = _moe(rng, E=3, k=k, capacity_factor=cf, drop_policy=policy)
    wr[0] += 3.0  # most tokens prefer expert 0: it overflows
    moe.router.weight.data = cr.tensor(wr)
    x = np.abs(rng.standard_normal((8, 3)))
    y = moe(cr.tensor(x))
    cap = math.ceil(cf * 8 * k / 3)
    assert moe.capacity(8) == cap
    ref, counts, _, aux, _ = _reference(x, ws, wr, k, cap=cap, identity=policy == "identity")
    np.testing.assert_allclose(y.detach().numpy(), ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(moe.expert_counts.detach().numpy(), counts)  # before drops
    assert moe.dropped == int(np.maximum(counts - cap, 0).sum()) > 0
    np.testing.assert_allclose(moe.aux_loss.item(), aux, rtol=1e-12)  # counted before drops
    kept = moe.last_routing.kept.detach().numpy()
    e0 = moe.last_routing.experts.detach().numpy() == 0
    # the first `cap` assignments to expert 0, in token order, are the kept ones
    order = np.nonzero(e0.reshape(-1))[0]
    assert kept.reshape(-1)[order[:cap]].all() and not kept.reshape(-1)[order[cap:]].any()


def test_router_z_loss_and_aux_parts() -> None:
    rng = np.random.default_rng(1)
    moe, ws, wr = _moe(rng, k=2, router_z_loss=0.01)
    x = rng.standard_normal((6, 3))
    moe(cr.tensor(x))
    _, _, _, aux, logits = _reference(x, ws, wr, 2)
    m = logits.max(1)
    lse = m + np.log(np.exp(logits - m[:, None]).sum(1))
    z = 0.01 * np.mean(lse ** 2)
    np.testing.assert_allclose(moe.z_loss.item(), z, rtol=1e-12)
    np.testing.assert_allclose(moe.balance_loss.item(), aux, rtol=1e-12)
    np.testing.assert_allclose(moe.aux_loss.item(), aux + z, rtol=1e-12)


def test_balanced_routing_gives_aux_loss_one() -> None:
    moe = nn.MixtureOfExperts(2, 2, k=1, hidden=2).double()
    moe.router.weight.data.zero_()  # uniform probabilities: P_e = 1/E, and sum f_e = 1
    moe(cr.randn(6, 2, dtype=cr.float64))
    np.testing.assert_allclose(moe.balance_loss.item(), 1.0, rtol=1e-12)


def test_one_forward_per_expert_no_loop_over_tokens() -> None:
    cr.manual_seed(0)
    moe = nn.MixtureOfExperts(4, 5, k=2, hidden=6)
    calls: list[int] = []
    for e in moe.experts:
        e.register_forward_hook(lambda mod, inp, out: calls.append(inp[0].shape[0]))
    moe(cr.randn(3, 20, 5))
    assert len(calls) <= 4 and sum(calls) == 3 * 20 * 2


@pytest.mark.parametrize("kw", [{"k": 2}, {"k": 1}, {"k": 2, "capacity_factor": 0.75},
                                {"k": 1, "capacity_factor": 1.0, "drop_policy": "identity"},
                                {"k": 2, "router_z_loss": 0.1}])
def test_gradients_by_finite_differences(kw: dict) -> None:
    rng = np.random.default_rng(7)
    cr.manual_seed(7)
    moe = nn.MixtureOfExperts(3, 4, hidden=5, **kw).double()
    for p in moe.parameters():
        p.data = p.data + cr.tensor(rng.standard_normal(p.shape) * 0.3)
    x = cr.tensor(rng.standard_normal((6, 4)), requires_grad=True)
    u = cr.tensor(rng.standard_normal((6, 4)))
    params = list(moe.parameters())

    def objective(x):
        return (moe(x) * u).sum() + moe.aux_loss

    assert cr.autograd.gradcheck(objective, (x,))
    objective(x).backward()
    for p in params:  # each parameter against central differences of the same objective
        base = p.data.detach().numpy().copy()
        num = np.zeros_like(base)
        for i in np.ndindex(base.shape):
            for s in (1, -1):
                b = base.copy()
                b[i] += s * 1e-6
                p.data = cr.tensor(b)
                with cr.no_grad():
                    num[i] += s * objective(x).item() / 2e-6
            p.data = cr.tensor(base)
        grad = np.zeros_like(base) if p.grad is None else p.grad.detach().numpy()
        np.testing.assert_allclose(grad, num, atol=1e-6, rtol=1e-5)


def test_gradient_reaches_only_the_chosen_experts_and_the_router() -> None:
    rng = np.random.default_rng(0)
    moe, _, _ = _moe(rng, E=4, k=1)
    x = rng.standard_normal((1, 3))
    for p in moe.parameters():
        p.requires_grad_(True)
    moe(cr.tensor(x)).sum().backward()
    chosen = int(moe.last_routing.experts.detach().numpy()[0, 0])
    for e, expert in enumerate(moe.experts):
        assert (expert.weight.grad is not None) == (e == chosen)
    assert moe.router.weight.grad is not None and np.abs(moe.router.weight.grad.numpy()).sum() > 0


def test_noisy_gating_only_in_training_and_utilisation() -> None:
    cr.manual_seed(0)
    moe = nn.MixtureOfExperts(4, 3, k=1, hidden=4, noisy_gating=True)
    x = cr.randn(50, 3)
    moe.eval()
    a = moe(x).detach().numpy()
    np.testing.assert_array_equal(a, moe(x).detach().numpy())
    assert moe.expert_load.sum() == 0  # eval forwards do not count
    moe.train()
    moe(x)
    e1 = moe.last_routing.experts.detach().numpy().copy()
    moe(x)
    assert (e1 != moe.last_routing.experts.detach().numpy()).any()  # noise changes some choices
    assert moe.expert_load.sum() == 100
    np.testing.assert_allclose(moe.utilisation.detach().numpy().sum(), 1.0)
    moe.reset_utilisation()
    assert moe.expert_load.sum() == 0
    assert "noise.weight" in moe.state_dict()


def test_shapes_and_errors() -> None:
    moe = nn.MixtureOfExperts(3, 4, k=2, hidden=5, out_features=2)
    assert moe(cr.randn(2, 3, 4)).shape == (2, 3, 2)
    assert moe(cr.randn(0, 4)).shape == (0, 2)
    with pytest.raises(ValueError, match="expected"):
        moe(cr.randn(2, 5))
    with pytest.raises(ValueError, match="hidden="):
        nn.MixtureOfExperts(3, 4)
    with pytest.raises(ValueError, match="k = 4"):
        nn.MixtureOfExperts(3, 4, k=4, hidden=2)
    with pytest.raises(ValueError, match="drop_policy"):
        nn.MixtureOfExperts(3, 4, hidden=2, drop_policy="skip")
    bad = nn.MixtureOfExperts(3, 4, k=1, hidden=5, out_features=2, capacity_factor=0.1,
                              drop_policy="identity")
    with pytest.raises(ValueError, match="identity"):
        bad(cr.randn(9, 4))
