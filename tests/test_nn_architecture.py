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


# --- recurrent, transformer and mixture-of-experts layers (argument nodes: version 2) ---------

def _seq(*shape: int) -> cr.Tensor:
    return cr.randn(*shape)


def _outputs(out) -> list[np.ndarray]:
    """Every tensor of a layer's output (LSTM: output, (h_n, c_n))."""
    if isinstance(out, (tuple, list)):
        return [a for o in out for a in _outputs(o)]
    return [out.detach().numpy()]


LAYERS = {
    "rnn": (lambda: nn.RNN(4, 6), lambda: (_seq(5, 2, 4),)),
    "rnn-relu-bidirectional": (lambda: nn.RNN(4, 6, 2, "relu", False, True, 0.0, True),
                               lambda: (_seq(2, 5, 4),)),
    "lstm": (lambda: nn.LSTM(4, 8, num_layers=2, batch_first=True), lambda: (_seq(2, 5, 4),)),
    "lstm-proj-bidirectional": (lambda: nn.LSTM(4, 8, 2, proj_size=3, bidirectional=True,
                                                dropout=0.25),
                                lambda: (_seq(5, 2, 4),)),
    "lstm-float64": (lambda: nn.LSTM(4, 5, bias=False, dtype=cr.float64),
                     lambda: (cr.randn(5, 2, 4, dtype=cr.float64),)),
    "gru": (lambda: nn.GRU(4, 6, 3, batch_first=True, bidirectional=True),
            lambda: (_seq(2, 5, 4),)),
    "encoder-layer": (lambda: nn.TransformerEncoderLayer(8, 2, 16, 0.1),
                      lambda: (_seq(5, 2, 8),)),
    "encoder-layer-gelu-norm-first": (
        lambda: nn.TransformerEncoderLayer(8, 4, 12, 0.0, "gelu", 1e-6, batch_first=True,
                                           norm_first=True, bias=False),
        lambda: (_seq(2, 5, 8),)),
    "encoder-layer-gelu-module": (
        lambda: nn.TransformerEncoderLayer(8, 2, 12, activation=nn.GELU()),
        lambda: (_seq(5, 2, 8),)),
    "decoder-layer": (lambda: nn.TransformerDecoderLayer(8, 2, 16, 0.2, "gelu", norm_first=True,
                                                         dtype=cr.float64),
                      lambda: (cr.randn(4, 2, 8, dtype=cr.float64),
                               cr.randn(5, 2, 8, dtype=cr.float64))),
    "encoder": (lambda: nn.TransformerEncoder(
        nn.TransformerEncoderLayer(8, 2, 16, batch_first=True, norm_first=True), 3,
        norm=nn.LayerNorm(8)), lambda: (_seq(2, 5, 8),)),
    "decoder": (lambda: nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2, 16), 2),
                lambda: (_seq(4, 2, 8), _seq(5, 2, 8))),
    "transformer": (lambda: nn.Transformer(8, 2, 2, 1, 16, 0.1, "gelu", batch_first=True),
                    lambda: (_seq(2, 5, 8), _seq(2, 4, 8))),
    "moe-int": (lambda: nn.MixtureOfExperts(4, 6, k=2, hidden=5, out_features=3,
                                            noisy_gating=True, capacity_factor=1.5),
                lambda: (_seq(7, 6),)),
    "moe-list": (lambda: nn.MixtureOfExperts([nn.Linear(6, 3), nn.Sequential(
        nn.Linear(6, 4), nn.Tanh(), nn.Linear(4, 3))], 6, k=1, drop_policy="zero"),
        lambda: (_seq(7, 6),)),
    "sequential-with-encoder": (lambda: nn.Sequential(
        nn.Linear(3, 8), nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 1),
        nn.Linear(8, 2)), lambda: (_seq(5, 2, 3),)),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_recurrent_transformer_moe_round_trip(name: str) -> None:
    """describe -> JSON -> build -> load_state_dict computes the same function (eval mode)."""
    make, inputs = LAYERS[name]
    cr.manual_seed(0)
    model = make()
    desc = describe(model)
    assert desc is not None, name
    desc = json.loads(json.dumps(desc))  # plain data, nothing else
    twin = build(desc)
    assert type(twin) is type(model) and repr(twin) == repr(model)
    twin.load_state_dict(model.state_dict())
    assert list(twin.state_dict()) == list(model.state_dict())
    model.eval()
    twin.eval()
    xs = inputs()
    for a, b in zip(_outputs(model(*xs)), _outputs(twin(*xs)), strict=True):
        np.testing.assert_array_equal(a, b)
    nests = name.startswith(("encoder", "decoder", "transformer", "moe", "sequential-with"))
    nests = nests and name not in ("encoder-layer", "encoder-layer-gelu-norm-first",
                                   "decoder-layer")
    assert desc["version"] == (2 if nests else 1), desc  # version 1 when no argument nodes


def test_recurrent_arguments_are_recorded() -> None:
    desc = describe(nn.LSTM(4, 8, num_layers=2, batch_first=True))
    assert desc["module"] == {"class": "LSTM", "args": {
        "input_size": 4, "hidden_size": 8, "num_layers": 2, "bias": True, "batch_first": True,
        "dropout": 0.0, "bidirectional": False, "proj_size": 0, "dtype": "float32"}}
    args = describe(nn.RNN(4, 6, 2, "relu", False, True, 0.5, True))["module"]["args"]
    assert (args["nonlinearity"], args["bias"], args["batch_first"], args["dropout"],
            args["bidirectional"]) == ("relu", False, True, 0.5, True)
    args = describe(nn.TransformerEncoderLayer(8, 4, 12, 0.3, "gelu", 1e-6, True, True,
                                               False))["module"]["args"]
    assert args == {"d_model": 8, "nhead": 4, "dim_feedforward": 12, "dropout": 0.3,
                    "activation": "gelu", "layer_norm_eps": 1e-6, "batch_first": True,
                    "norm_first": True, "bias": False, "dtype": "float32"}


def test_recurrent_positional_arguments_as_pytorch() -> None:
    torch = pytest.importorskip("torch")
    for name, args in [("RNN", (4, 6, 2, "relu", False, True, 0.0, True)),
                       ("GRU", (4, 6, 2, False, True, 0.0, True)),
                       ("GRU", (4, 6, 2, False, True, 0.0, True, 0)),
                       ("LSTM", (4, 6, 2, False, True, 0.0, True, 3))]:
        ours, theirs = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
        assert repr(ours) == repr(theirs)
        assert [tuple(p.shape) for p in ours.parameters()] == \
            [tuple(p.shape) for p in theirs.parameters()]
    with pytest.raises(ValueError, match="only supported for LSTM"):
        nn.RNN(4, 6, proj_size=2)
    with pytest.raises(TypeError, match="unexpected keyword argument 'hidden'"):
        nn.GRU(4, 6, hidden=3)


def test_what_cannot_be_rebuilt_is_not_described() -> None:
    class Expert(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(x).relu()

    assert describe(nn.TransformerEncoderLayer(8, 2, activation=lambda x: x.tanh())) is None
    assert describe(nn.MixtureOfExperts([Expert(), Expert()], 4, k=1)) is None
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 2)
    enc.layers[1] = nn.TransformerEncoderLayer(8, 2, 16, activation="gelu")
    assert describe(enc) is None  # the layers differ: not num_layers copies of one


def _layer(**args) -> dict:
    return {"class": "TransformerEncoderLayer", "args": {"d_model": 4, "nhead": 2, **args}}


@pytest.mark.parametrize("version, node, words", [
    (1, {"class": "TransformerEncoder", "args": {"encoder_layer": _layer(), "num_layers": 1}},
     "is a dict"),  # argument nodes need version 2
    (2, {"class": "TransformerEncoder", "args": {"encoder_layer": {"class": "os.system",
                                                                   "args": {}}, "num_layers": 1}},
     "module.encoder_layer asks for class 'os.system'"),
    (2, {"class": "TransformerEncoder", "args": {"encoder_layer": {"t": 1}, "num_layers": 1}},
     "is a dict"),
    (2, {"class": "TransformerEncoder", "args": {"encoder_layer": {"class": "Module", "args": {}},
                                                 "num_layers": 1}}, "does not export"),
    (2, {"class": "TransformerEncoder", "args": {"encoder_layer": _layer(cmd="ls"),
                                                 "num_layers": 1}}, "has argument 'cmd'"),
    (2, {"class": "TransformerEncoder", "args": {"encoder_layer": [_layer()], "num_layers": 1}},
     "is a list"),
    (3, _layer(), "version 3"),
    ("2", _layer(), "version '2'"),
])
def test_build_refuses_hostile_argument_nodes(version, node: dict, words: str) -> None:
    with pytest.raises(ArchitectureError, match=words):
        build({"format": "chainrule.nn", "version": version, "module": node})


def test_build_limits_depth_through_argument_nodes() -> None:
    node: dict = {"class": "Identity", "args": {}}
    for _ in range(100):
        node = {"class": "MixtureOfExperts", "args": {"experts": {"class": "ModuleList",
                                                                  "children": [["0", node]]},
                                                      "in_features": 2, "k": 1}}
    with pytest.raises(ArchitectureError, match="deeper than"):
        build({"format": "chainrule.nn", "version": 2, "module": node})


def test_cli_rebuilds_a_fit_checkpoint_of_an_lstm(tmp_path: Path) -> None:
    """fit() saves an LSTM's architecture; the CLI's loader rebuilds it with the weights."""
    from chainrule.cli.common import read_checkpoint
    from chainrule.cli.model import build_model

    cr.manual_seed(0)
    x = cr.randn(12, 5, 3)
    ds = TensorDataset(x, x.sum(dim=(1, 2)))
    model = nn.LSTM(3, 6, num_layers=2, batch_first=True, proj_size=1)

    def loss(out, y):
        return ((out[0][:, -1, 0] - y) ** 2).mean()

    path = tmp_path / "lstm.ckpt"
    fit(model, loss, optim.SGD(model.parameters(), lr=0.05), ds, epochs=2, batch_size=4,
        metrics=(), callbacks=[ModelCheckpoint(path)], progress=False)
    ckpt = read_checkpoint(path)
    assert ckpt["meta"]["arch"]["name"] == "LSTM"
    twin = build_model(ckpt["meta"]["arch"])
    assert isinstance(twin, nn.LSTM) and repr(twin) == repr(model)
    twin.load_state_dict(ckpt["model"])
    for a, b in zip(_outputs(model(x)), _outputs(twin(x)), strict=True):
        np.testing.assert_array_equal(a, b)
