"""The Module contract, as PyTorch defines it: registration, enumeration order and names,
state dicts, hooks, modes, conversions, reprs, containers."""

from __future__ import annotations

import copy
import pickle
from collections import OrderedDict

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn


def build(N, self) -> None:
    """The same nested model in chainrule.nn and torch.nn (N is the namespace)."""
    self.fc = N.Linear(3, 4)
    self.bn = N.BatchNorm1d(4)
    self.blocks = N.ModuleList([N.Sequential(N.Linear(4, 4), N.ReLU()) for _ in range(2)])
    self.head = N.Sequential(OrderedDict(drop=N.Dropout(0.1), out=N.Linear(4, 2)))
    self.emb = N.Embedding(5, 3, padding_idx=0)
    self.ln = N.LayerNorm(4)
    self.act = N.PReLU()
    self.scale = N.Parameter(cr.ones(2) if N is nn else __import__("torch").ones(2))


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        build(nn, self)

    def forward(self, x):
        h = self.bn(self.fc(x))
        for block in self.blocks:
            h = block(h)
        return self.head(self.act(self.ln(h))) * self.scale


def torch_net():
    torch = pytest.importorskip("torch")

    class TNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            build(torch.nn, self)

    return TNet()


# --- registration and enumeration ------------------------------------------------------------


def test_names_and_order_match_pytorch() -> None:
    ours, theirs = Net(), torch_net()
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [tuple(p.shape) for p in ours.parameters()] == [
        tuple(p.shape) for p in theirs.parameters()]
    assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters())


def test_setattr_registers_and_reassigns() -> None:
    m = nn.Module()
    m.w = nn.Parameter(cr.zeros(2))
    m.sub = nn.Linear(2, 2)
    m.register_buffer("count", cr.zeros(()))
    m.plain = 3
    assert list(m._parameters) == ["w"] and list(m._modules) == ["sub"]
    assert list(m._buffers) == ["count"] and m.plain == 3
    assert m.w is m._parameters["w"] and m.count is m._buffers["count"]
    m.w = None  # an absent optional parameter
    assert m.w is None and [n for n, _ in m.named_parameters()] == ["sub.weight", "sub.bias"]
    with pytest.raises(TypeError, match="parameter 'w'"):
        m.w = cr.zeros(2)  # a plain tensor is not a Parameter
    with pytest.raises(TypeError, match="child module 'sub'"):
        m.sub = 3
    m.count = cr.ones(())  # buffers can be replaced by tensors
    assert m.count.item() == 1.0
    with pytest.raises(TypeError, match="buffer 'count'"):
        m.count = 1.0
    m.sub = nn.Parameter(cr.zeros(1))  # a Parameter replaces the module of the same name
    assert "sub" not in m._modules and "sub" in m._parameters
    del m.sub
    del m.count
    assert "sub" not in m._parameters and "count" not in m._buffers
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'missing'"):
        _ = m.missing


def test_registration_errors_teach() -> None:
    class Forgot(nn.Module):
        def __init__(self) -> None:
            self.w = nn.Parameter(cr.zeros(1))

    with pytest.raises(AttributeError, match=r"before Module.__init__\(\) call"):
        Forgot()
    m = nn.Module()
    with pytest.raises(KeyError, match="contain"):
        m.register_buffer("a.b", cr.zeros(1))
    with pytest.raises(KeyError, match="already exists"):
        m.register_parameter("training", None)
    w = cr.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="non-leaf"):
        m.register_parameter("p", _nonleaf_param(w))
    with pytest.raises(NotImplementedError, match='missing the required "forward"'):
        m(cr.zeros(1))


def _nonleaf_param(w):
    p = nn.Parameter(cr.zeros(2))
    p._node = (w * 2)._node  # a parameter that is the output of an op (as torch forbids)
    return p


def test_shared_parameters_listed_once() -> None:
    a = nn.Linear(2, 2)
    m = nn.Sequential(a, nn.ReLU(), a)
    assert len(list(m.parameters())) == 2
    assert [n for n, _ in m.named_parameters(remove_duplicate=False)] == [
        "0.weight", "0.bias", "2.weight", "2.bias"]
    assert len(list(m.modules())) == 3  # Sequential, Linear (once), ReLU


def test_get_submodule_parameter_buffer() -> None:
    m = Net()
    assert m.get_submodule("blocks.1.0") is m.blocks[1][0]
    assert m.get_submodule("") is m
    assert m.get_parameter("head.out.bias") is m.head.out.bias
    assert m.get_buffer("bn.running_var") is m.bn.running_var
    with pytest.raises(AttributeError, match="has no attribute `nope`"):
        m.get_submodule("blocks.nope")
    with pytest.raises(AttributeError, match=r"not an nn\.Module"):
        m.get_submodule("fc.weight")


def test_dir_lists_registered_names() -> None:
    m = Net()
    d = dir(m)
    for name in ("fc", "scale", "forward", "state_dict", "training"):
        assert name in d
    assert "0" not in dir(m.blocks)


# --- state dicts -----------------------------------------------------------------------------


def test_state_dict_round_trip_and_detached() -> None:
    cr.manual_seed(0)
    a, b = Net(), Net()
    sd = a.state_dict()
    assert isinstance(sd, OrderedDict)
    assert all(not v.requires_grad for v in sd.values())
    assert sd["fc.weight"].numpy() is a.fc.weight.detach().numpy()  # shares memory, like PyTorch
    assert "bn.num_batches_tracked" in sd and sd["bn.num_batches_tracked"].dtype == np.int64
    w_before = b.fc.weight
    assert b.load_state_dict(sd).missing_keys == []
    assert b.fc.weight is w_before  # copied in place
    for (k, v), (k2, v2) in zip(a.state_dict().items(), b.state_dict().items()):
        assert k == k2 and np.array_equal(v.numpy(), v2.numpy())
    assert b.fc.weight.detach().numpy() is not a.fc.weight.detach().numpy()
    kv = a.state_dict(keep_vars=True)
    assert kv["fc.weight"] is a.fc.weight


def test_load_state_dict_keeps_dtype_and_accepts_arrays() -> None:
    m = nn.Linear(2, 3)
    m.load_state_dict({"weight": np.ones((3, 2)), "bias": cr.zeros(3, dtype=cr.float64)})
    assert m.weight.dtype == np.float32 and m.weight.detach().numpy().sum() == 6


def test_load_state_dict_reports_every_mismatch_at_once() -> None:
    m = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    bad = {"0.weight": cr.zeros(3, 3), "extra": cr.zeros(1), "1.running_mean": cr.zeros(4),
           "1.blah.x": cr.zeros(1)}
    with pytest.raises(RuntimeError) as info:
        m.load_state_dict(bad)
    msg = str(info.value)
    assert msg.startswith("Error(s) in loading state_dict for Sequential:")
    assert 'Missing key(s) in state_dict: "0.bias", "1.weight", "1.bias", "1.running_var".' in msg
    assert 'Unexpected key(s) in state_dict: "extra", "1.blah.x".' in msg
    assert ("size mismatch for 0.weight: copying a param with shape (3, 3) from checkpoint, "
            "the shape in current model is (3, 2).") in msg
    assert "size mismatch for 1.running_mean" in msg and "(4,)" in msg


def test_load_state_dict_message_matches_pytorch() -> None:
    torch = pytest.importorskip("torch")
    ours = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    theirs = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3))
    with pytest.raises(RuntimeError) as a:
        ours.load_state_dict({"0.weight": cr.zeros(3, 2), "x": cr.zeros(1)})
    with pytest.raises(RuntimeError) as b:
        theirs.load_state_dict({"0.weight": torch.zeros(3, 2), "x": torch.zeros(1)})
    assert str(a.value) == str(b.value)


def test_load_state_dict_strict_false_returns_keys() -> None:
    m = nn.Linear(2, 3)
    result = m.load_state_dict({"weight": cr.ones(3, 2), "other": cr.zeros(1)}, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["other"]
    missing, unexpected = result
    assert (missing, unexpected) == (["bias"], ["other"])
    assert m.weight.detach().numpy().sum() == 6  # what matched was loaded
    assert repr(m.load_state_dict(m.state_dict(), strict=False)) == \
        "<All keys matched successfully>"
    with pytest.raises(RuntimeError, match="size mismatch"):  # shapes are checked regardless
        m.load_state_dict({"weight": cr.ones(2, 2)}, strict=False)


def test_load_state_dict_assign() -> None:
    m = nn.Linear(2, 3)
    w = cr.ones(3, 2)
    m.load_state_dict({"weight": w, "bias": cr.zeros(3)}, assign=True)
    assert isinstance(m.weight, nn.Parameter) and m.weight.detach().numpy() is w.detach().numpy()
    assert m.weight.requires_grad


def test_non_persistent_buffers_not_saved() -> None:
    m = nn.Module()
    m.register_buffer("a", cr.zeros(1))
    m.register_buffer("b", cr.zeros(1), persistent=False)
    assert list(m.state_dict()) == ["a"]
    assert [n for n, _ in m.named_buffers()] == ["a", "b"]
    m.load_state_dict({"a": cr.ones(1)})


def test_batchnorm_loads_checkpoint_without_num_batches_tracked() -> None:
    m = nn.BatchNorm1d(3)
    sd = {k: v for k, v in m.state_dict().items() if k != "num_batches_tracked"}
    assert m.load_state_dict(sd).missing_keys == []


# --- hooks -----------------------------------------------------------------------------------


def test_forward_hooks_modify_and_remove() -> None:
    m = nn.Linear(2, 2)
    calls = []
    h1 = m.register_forward_pre_hook(lambda mod, args: (args[0] * 0,))
    h2 = m.register_forward_hook(lambda mod, args, out: calls.append(out.shape) or out + 1)
    x = cr.ones(1, 2)
    y = m(x)
    np.testing.assert_allclose(y.detach().numpy(), m.bias.detach().numpy()[None] + 1, rtol=1e-6)
    assert calls == [(1, 2)]
    h1.remove()
    h2.remove()
    h2.remove()  # removing twice is harmless
    np.testing.assert_allclose(m(x).detach().numpy(),
                               cr.linear(x, m.weight, m.bias).detach().numpy())
    assert calls == [(1, 2)]


def test_hooks_order_prepend_kwargs_and_context_manager() -> None:
    m = nn.Identity()
    order = []
    m.register_forward_hook(lambda *a: order.append("second"))
    m.register_forward_hook(lambda *a: order.append("first"), prepend=True)
    m.register_forward_pre_hook(lambda mod, args, kwargs: (args, kwargs), with_kwargs=True)
    with m.register_forward_hook(lambda mod, args, kwargs, out: order.append(kwargs),
                                 with_kwargs=True):
        m(cr.ones(1))
    m(cr.ones(1))
    assert order == ["first", "second", {}, "first", "second"]


def test_always_call_hook_runs_when_forward_raises() -> None:
    m = nn.Linear(2, 2)
    seen = []
    m.register_forward_hook(lambda mod, args, out: seen.append(out), always_call=True)
    with pytest.raises(ValueError):
        m(cr.ones(3))
    assert seen == [None]


def test_set_submodule() -> None:
    m = Net()
    new = nn.Linear(4, 4)
    m.set_submodule("blocks.0.0", new)
    assert m.blocks[0][0] is new


def test_hook_gets_intermediate_activations() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    seen = {}
    for name, layer in model.named_children():
        layer.register_forward_hook(lambda mod, args, out, name=name: seen.update({name: out}))
    model(cr.randn(5, 3))
    assert sorted(seen) == ["0", "1", "2"] and seen["1"].shape == (5, 4)


# --- modes, gradients, conversions -------------------------------------------------------------


def test_train_eval_propagates() -> None:
    m = Net()
    assert all(sub.training for sub in m.modules())
    assert m.eval() is m
    assert not any(sub.training for sub in m.modules())
    m.train()
    assert all(sub.training for sub in m.modules())
    with pytest.raises(ValueError, match="boolean"):
        m.train("yes")


def test_zero_grad_and_requires_grad_() -> None:
    m = nn.Linear(3, 2)
    m(cr.randn(4, 3)).sum().backward()
    assert m.weight.grad is not None
    m.zero_grad(set_to_none=False)
    assert m.weight.grad is not None and not m.weight.grad.numpy().any()
    m.zero_grad()
    assert m.weight.grad is None and m.bias.grad is None
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())
    assert not m(cr.randn(1, 3)).requires_grad


def test_to_dtype_keeps_parameter_identity() -> None:
    m = Net()
    params = list(m.parameters())
    m(cr.randn(4, 3)).sum().backward()
    assert m.to(cr.float64) is m
    assert all(a is b for a, b in zip(params, m.parameters()))
    assert all(p.dtype == np.float64 for p in m.parameters())
    assert all(p.grad.dtype == np.float64 for p in m.parameters() if p.grad is not None)
    assert m.bn.running_mean.dtype == np.float64
    assert m.bn.num_batches_tracked.dtype == np.int64  # integer buffers stay
    assert m(cr.randn(4, 3, dtype=cr.float64)).dtype == np.float64
    m.float()
    assert all(p.dtype == np.float32 for p in m.parameters())
    m.half()
    assert m.fc.weight.dtype == np.float16
    m.to("cpu").double()
    assert m.fc.weight.dtype == np.float64
    m.to(cr.zeros(1, dtype=cr.float32))
    assert m.fc.weight.dtype == np.float32
    assert m.cpu() is m
    with pytest.raises(RuntimeError, match="cuda"):
        m.cuda()
    with pytest.raises(TypeError, match="floating point"):
        m.to(cr.int64)


def test_optimiser_style_update_survives_to() -> None:
    m = nn.Linear(2, 1)
    params = list(m.parameters())
    m.double()
    m(cr.ones(1, 2, dtype=cr.float64)).sum().backward()
    with cr.no_grad():
        for p in params:  # an optimiser holding the old list still updates the model
            p -= 0.1 * p.grad
    assert m.weight.dtype == np.float64


def test_apply_visits_children_first() -> None:
    m = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU()))
    seen = []
    m.apply(lambda mod: seen.append(type(mod).__name__))
    assert seen == ["Linear", "ReLU", "Sequential", "Sequential"]

    def init_weights(mod):
        if isinstance(mod, nn.Linear):
            nn.init.zeros_(mod.weight)

    m.apply(init_weights)
    assert not m[0].weight.detach().numpy().any()


def test_deepcopy_and_pickle() -> None:
    m = Net()
    m.eval()
    c = copy.deepcopy(m)
    assert not c.training
    for (n1, p1), (n2, p2) in zip(m.named_parameters(), c.named_parameters()):
        assert n1 == n2 and p1 is not p2 and isinstance(p2, nn.Parameter)
        assert np.array_equal(p1.detach().numpy(), p2.detach().numpy()) and p2.requires_grad
    x = cr.randn(5, 3)
    np.testing.assert_allclose(c(x).detach().numpy(), m(x).detach().numpy())
    with cr.no_grad():
        c.fc.weight.add_(1.0)
    assert not np.array_equal(c.fc.weight.detach().numpy(), m.fc.weight.detach().numpy())
    shared = nn.Sequential(m.fc, m.fc)
    shared_copy = copy.deepcopy(shared)
    assert shared_copy[0] is shared_copy[1]
    p = pickle.loads(pickle.dumps(m))
    np.testing.assert_allclose(p(x).detach().numpy(), m(x).detach().numpy())
    assert isinstance(p.fc.weight, nn.Parameter)


# --- reprs ---------------------------------------------------------------------------------


def test_repr_matches_pytorch() -> None:
    torch = pytest.importorskip("torch")
    assert repr(Net()).replace("Net", "M") == repr(torch_net()).replace("TNet", "M")
    pairs = [
        (nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10)),
         torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(),
                             torch.nn.Linear(128, 10))),
        (nn.ModuleList([nn.Linear(2, 2)] * 3 + [nn.Tanh()]),
         torch.nn.ModuleList([torch.nn.Linear(2, 2)] * 3 + [torch.nn.Tanh()])),
        (nn.ModuleDict({"a": nn.ReLU(), "b": nn.GELU("tanh")}),
         torch.nn.ModuleDict({"a": torch.nn.ReLU(), "b": torch.nn.GELU("tanh")})),
        (nn.ModuleList(), torch.nn.ModuleList()),
        (nn.Module(), torch.nn.Module()),
    ]
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)
    for make in [lambda N: N.Linear(3, 2, bias=False), lambda N: N.BatchNorm1d(4, momentum=None),
                 lambda N: N.BatchNorm1d(4, affine=False, track_running_stats=False),
                 lambda N: N.LayerNorm((2, 3), elementwise_affine=False),
                 lambda N: N.LayerNorm(5, bias=False), lambda N: N.Embedding(10, 3),
                 lambda N: N.Embedding(10, 3, padding_idx=-1, max_norm=1.0),
                 lambda N: N.Dropout(0.2), lambda N: N.Flatten(), lambda N: N.Flatten(0, 2),
                 lambda N: N.Unflatten(1, (2, 3)), lambda N: N.Identity(),
                 lambda N: N.PReLU(3), lambda N: N.ELU(0.5), lambda N: N.GELU(),
                 lambda N: N.SiLU(), lambda N: N.Sigmoid(), lambda N: N.Tanh(),
                 lambda N: N.Softplus(2.0, 10.0), lambda N: N.Softmax(dim=1),
                 lambda N: N.LogSoftmax(dim=-1), lambda N: N.Softmax(),
                 lambda N: N.LeakyReLU(0.2), lambda N: N.ReLU(inplace=True),
                 lambda N: N.LeakyReLU(inplace=True), lambda N: N.Hardtanh(),
                 lambda N: N.ReLU6()]:
        assert repr(make(nn)) == repr(make(torch.nn))


def test_parameter_repr_and_container_reprs() -> None:
    p = nn.Parameter(cr.tensor([1.0, 2.0]))
    assert repr(p) == "Parameter containing:\ntensor([1., 2.], requires_grad=True)"
    pl = nn.ParameterList([nn.Parameter(cr.zeros(3)), cr.zeros(2, 3, dtype=cr.float64)])
    assert repr(pl) == ("ParameterList(\n"
                        "    (0): Parameter containing: [chainrule.float32 of size 3]\n"
                        "    (1): Parameter containing: [chainrule.float64 of size 2x3]\n)")


# --- containers ------------------------------------------------------------------------------


def test_sequential_indexing_slicing_append() -> None:
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    s = nn.Sequential(a, b, c)
    assert len(s) == 3 and s[0] is a and s[-1] is c and list(s) == [a, b, c]
    head = s[:2]
    assert isinstance(head, nn.Sequential) and list(head) == [a, b]
    assert list(head._modules) == ["0", "1"]
    s.append(nn.Sigmoid())
    assert len(s) == 4 and s(cr.randn(5, 2)).shape == (5, 1)
    del s[1]
    assert list(s._modules) == ["0", "1", "2"] and s[1] is c
    s[0] = nn.Linear(2, 3)
    assert s[0] is not a
    named = nn.Sequential(OrderedDict(first=a, act=b))
    assert named.first is a and named[1] is b
    with pytest.raises(IndexError):
        s[5]
    assert len(s + named) == 5
    s.insert(0, nn.Identity())
    assert isinstance(s[0], nn.Identity) and len(s) == 4
    assert s.pop(0) is not None and len(s) == 3


def test_module_list_and_dict() -> None:
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3 and len(list(layers.parameters())) == 6
    layers.append(nn.ReLU())
    layers.extend([nn.Tanh()])
    assert isinstance(layers[-1], nn.Tanh) and len(layers[1:3]) == 2
    del layers[0]
    assert list(layers._modules) == ["0", "1", "2", "3"]
    layers.insert(1, nn.Identity())
    assert isinstance(layers[1], nn.Identity)
    d = nn.ModuleDict({"enc": nn.Linear(2, 2)})
    d["dec"] = nn.Linear(2, 2)
    assert list(d) == ["enc", "dec"] and "dec" in d and len(d) == 2
    assert [n for n, _ in d.named_parameters()] == [
        "enc.weight", "enc.bias", "dec.weight", "dec.bias"]
    assert list(d.keys()) == ["enc", "dec"] and d.pop("enc") is not None and len(d) == 1


def test_parameter_list_and_dict() -> None:
    pl = nn.ParameterList([cr.zeros(2), nn.Parameter(cr.ones(3))])
    assert all(isinstance(p, nn.Parameter) for p in pl) and len(pl) == 2
    pl.append(cr.zeros(1))
    assert [n for n, _ in pl.named_parameters()] == ["0", "1", "2"]
    pd = nn.ParameterDict({"a": cr.zeros(2)})
    pd["b"] = nn.Parameter(cr.ones(1))
    assert list(pd.keys()) == ["a", "b"] and isinstance(pd["a"], nn.Parameter)
    assert [n for n, _ in pd.named_parameters()] == ["a", "b"]
    m = nn.Module()
    m.pl = pl
    assert [n for n, _ in m.named_parameters()] == ["pl.0", "pl.1", "pl.2"]
    with pytest.raises(RuntimeError, match="should not be called"):
        pl()


def test_parameter_shares_memory() -> None:
    t = cr.zeros(3)
    p = nn.Parameter(t)
    assert p.detach().numpy() is t.detach().numpy() and p.requires_grad and p.is_leaf
    assert isinstance(p, cr.Tensor)
    q = nn.Parameter(cr.zeros(2), requires_grad=False)
    assert not q.requires_grad
    assert nn.Parameter().shape == (0,)


def test_docstring_examples_run() -> None:
    import doctest

    from chainrule.nn import parameter, perceptron

    for mod in (parameter, perceptron):
        result = doctest.testmod(mod)
        assert result.failed == 0 and result.attempted > 0, mod.__name__
