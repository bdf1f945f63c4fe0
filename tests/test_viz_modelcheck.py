import subprocess
import sys

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.viz import check_model_gradients


def _batch():
    cr.manual_seed(0)
    return cr.randn(6, 4), cr.tensor([0, 1, 2, 0, 1, 2])


class _WrongTanh(cr.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.tanh()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (1 - x.tanh())  # wrong: should be 1 - tanh(x)**2


class WrongTanh(nn.Module):
    def forward(self, x):
        return _WrongTanh.apply(x)


def test_sigmoid_mlp_passes_and_model_untouched():
    x, y = _batch()
    model = nn.MLP([4, 5, 3], activation="sigmoid")
    before = model[0].weight.detach().numpy().copy()
    res = check_model_gradients(model, nn.CrossEntropyLoss(), x, y)
    assert res.ok and [r.status for r in res] == ["ok"] * 4
    assert [r.name for r in res] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert res[0].shape == (5, 4) and res[0].checked == 20
    assert max(r.max_abs_err for r in res) < 1e-7
    assert res.passes == 1 + 2 * 43
    assert model[0].weight.dtype == cr.float32 and model[0].weight.grad is None
    np.testing.assert_array_equal(model[0].weight.detach().numpy(), before)
    assert "verdict: ok" in res.table() and res.table(markdown=True).startswith("| parameter")


def test_wrong_backward_fails():
    x, y = _batch()
    model = nn.Sequential(nn.Linear(4, 5), WrongTanh(), nn.Linear(5, 3))
    res = check_model_gradients(model, nn.CrossEntropyLoss(), x, y)
    assert not res.ok
    assert [r.status for r in res] == ["FAIL", "FAIL", "ok", "ok"]
    assert res[0].max_rel_err > 0.1 and res[0].failed > 0


def test_relu_kink_flagged_not_failed():
    x, y = _batch()
    x = x.double()
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)).double()
    z = x.detach().numpy() @ model[0].weight.detach().numpy().T + model[0].bias.detach().numpy()
    with cr.no_grad():
        model[0].bias[0] -= float(z[0, 0])  # sample 0's pre-activation of unit 0 is exactly 0
    res = check_model_gradients(model, nn.CrossEntropyLoss(), x, y)
    assert res.ok
    assert res[1].status == "kink" and res[1].kinks == 1 and res[1].failed == 0
    assert res[0].status == "kink" and res[2].status == "ok"
    assert f"0 element(s) failed, {sum(r.kinks for r in res)} at a kink" in res.table()


def test_sampling_is_said():
    x, y = _batch()
    res = check_model_gradients(nn.MLP([4, 5, 3], activation="tanh"), nn.CrossEntropyLoss(),
                                x, y, max_elements_per_tensor=4)
    assert [r.checked for r in res] == [4, 4, 4, 3]
    assert res[0].sampled and not res[3].sampled
    assert "4/20 (sample)" in res.table() and "random sample in 0.weight" in res.table()


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "chainrule.cli.main", "gradcheck", *args],
                          capture_output=True, text=True, timeout=120)


def test_cli_gradcheck_default_and_error():
    r = _cli("--layers", "4", "--examples", "3", "--max-elements", "30")
    assert r.returncode == 0, r.stderr
    assert "fresh MLP 64-4-10 sigmoid" in r.stdout and "verdict: ok" in r.stdout
    assert "30/256 (sample)" in r.stdout
    bad = _cli("--examples", "0")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip() == "chainrule: error: --examples: must be >= 1, got 0"
