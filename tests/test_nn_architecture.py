"""A model's architecture saved as plain data wherever a model is saved, and rebuilt safely
(issue 13 item 14): ``chainrule evaluate`` works on checkpoints written by ``fit``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.cli import main as cli
from chainrule.data import TensorDataset
from chainrule.io import load_checkpoint, save_checkpoint
from chainrule.nn.architecture import ArchitectureError, build, describe
from chainrule.train import ModelCheckpoint, fit

MODELS = {
    "sequential": lambda: nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Dropout(0.2),
                                        nn.LayerNorm(8), nn.Linear(8, 3, bias=False)),
    "mlp": lambda: nn.MLP([4, 6, 3], activation="gelu", dropout=0.1),
    "float64": lambda: nn.Sequential(nn.Linear(4, 3, dtype=cr.float64), nn.ELU(0.5)),
    "batchnorm": lambda: nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5, momentum=0.3),
                                       nn.LeakyReLU(0.2), nn.Linear(5, 3)),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_describe_build_round_trip(name: str) -> None:
    cr.manual_seed(0)
    model = MODELS[name]()
    desc = describe(model)
    assert desc is not None
    json.dumps(desc)  # plain data, nothing else
    twin = build(json.loads(json.dumps(desc)))
    twin.load_state_dict(model.state_dict())
    model.eval()
    twin.eval()
    x = cr.randn(5, 4, dtype=next(model.parameters()).dtype)
    np.testing.assert_array_equal(model(x).detach().numpy(), twin(x).detach().numpy())
    for (k, a), (k2, b) in zip(model.state_dict().items(), twin.state_dict().items()):
        assert k == k2 and a.dtype == b.dtype


def test_own_subclass_is_not_described() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, x):
            return self.fc(x).relu()

    assert describe(Net()) is None
    assert describe(nn.Sequential(nn.Linear(2, 2), Net())) is None


@pytest.mark.parametrize("node, words", [
    ({"class": "Module", "args": {}}, "does not export"),
    ({"class": "os.system", "args": {}}, "does not export"),
    ({"class": "Linear", "args": {"in_features": 2, "out_features": 2, "cmd": 1}},
     "has argument 'cmd'"),
    ({"class": "Linear", "args": {"in_features": {"t": 1}, "out_features": 2}},
     "is a dict"),
    ({"class": "Linear", "args": {"in_features": 2, "out_features": 2, "dtype": "object"}},
     "dtype 'object'"),
    ({"class": "Linear", "args": {"in_features": -2, "out_features": 2}}, "failed"),
    ({"class": "Sequential", "children": [["0", {"class": "eval"}]]}, "does not export"),
    ({"class": "Sequential", "children": "x"}, "children"),
])
def test_build_refuses_what_is_not_a_chainrule_layer(node: dict, words: str) -> None:
    with pytest.raises(ArchitectureError, match=words):
        build({"format": "chainrule.nn", "version": 1, "module": node})


def test_build_refuses_deep_nesting() -> None:
    node: dict = {"class": "Identity", "args": {}}
    for _ in range(100):
        node = {"class": "Sequential", "children": [["0", node]]}
    with pytest.raises(ArchitectureError, match="deeper than"):
        build({"format": "chainrule.nn", "version": 1, "module": node})


def test_checkpoint_keeps_the_architecture(tmp_path: Path) -> None:
    model = MODELS["sequential"]()
    save_checkpoint(tmp_path / "a.ckpt", model)
    info = load_checkpoint(tmp_path / "a.ckpt", restore_rng=False)
    assert info["architecture"] == describe(model)


def _data() -> TensorDataset:
    cr.manual_seed(0)
    x = cr.randn(30, 4)
    return TensorDataset(x, (x[:, 0] > 0).long())


@pytest.mark.parametrize("weights_only", [False, True])
def test_evaluate_reads_a_fit_checkpoint(weights_only: bool, tmp_path: Path, capsys) -> None:
    ds = _data()
    x, y = ds.tensors
    np.savez(tmp_path / "data.npz", x_train=x.numpy(), y_train=y.numpy(), x_test=x.numpy(),
             y_test=y.numpy())
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    path = tmp_path / "fit.ckpt"
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), ds, epochs=2,
        callbacks=[ModelCheckpoint(path, save_weights_only=weights_only)], progress=False)
    capsys.readouterr()
    assert cli.main(["evaluate", str(path)]) == 2  # no dataset recorded: says what to pass
    assert "--dataset" in capsys.readouterr().err
    assert cli.main(["evaluate", str(path), "--dataset", str(tmp_path / "data.npz")]) == 0
    out = capsys.readouterr().out
    assert "Sequential (4 inputs, 2 outputs)" in out, out
    from chainrule.train import evaluate

    model.eval()
    expect = evaluate(model, ds, nn.CrossEntropyLoss(), ("accuracy",))["accuracy"]
    assert f"accuracy {expect:.4f}" in out, out


def test_describe_leaves_the_random_stream_alone() -> None:
    """describe() checks itself by building a twin: that must not move the caller's stream
    (a resumed run would otherwise draw different batches and masks)."""
    cr.manual_seed(3)
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5))
    state = cr.get_rng_state()
    expect = cr.rand(4).numpy()
    cr.set_rng_state(state)
    assert describe(model) is not None
    np.testing.assert_array_equal(cr.rand(4).numpy(), expect)
