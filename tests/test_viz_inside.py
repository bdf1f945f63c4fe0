"""What CNNs and attention models compute, drawn: filters, feature maps, attention maps, from
Python and from ``chainrule plot RUN_DIR`` on a checkpoint that holds conv layers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.cli import main as cli
from chainrule.viz import plots as P

pytest.importorskip("matplotlib")

PNG = b"\x89PNG\r\n\x1a\n"


def png(p: Path) -> bool:
    data = Path(p).read_bytes()
    return data[:8] == PNG and len(data) > 5_000


def digits_cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 4 * 4, 10))


def test_feature_maps_are_the_conv_outputs(tmp_path: Path) -> None:
    cr.manual_seed(0)
    m = digits_cnn()
    x = np.random.default_rng(0).random((3, 64)).astype(np.float32)
    xi = P.model_input(m, x)
    assert tuple(xi.shape) == (1, 1, 8, 8)
    maps = P.feature_maps(m, xi)
    assert list(maps) == ["0", "3"]
    np.testing.assert_allclose(maps["0"], m[0](xi).detach().numpy()[0], rtol=1e-6)
    np.testing.assert_allclose(maps["3"], m[3](m[2](m[1](m[0](xi)))).detach().numpy()[0],
                               rtol=1e-5)
    assert png(P.plot_filters(m, tmp_path / "f.png"))
    assert png(P.plot_filters(m, tmp_path / "f3.png", layer="3"))  # 4 x 6 channel pairs
    assert png(P.plot_feature_maps(m, xi, tmp_path / "m.png"))
    with pytest.raises(ValueError, match="no Conv2d named 'nope'"):
        P.plot_filters(m, layer="nope")
    with pytest.raises(ValueError, match="not 1 square"):
        P.model_input(m, np.zeros((1, 10)))
    with pytest.raises(ValueError, match="has no Conv2d"):
        P.feature_maps(nn.Linear(2, 2), cr.randn(1, 2))


def test_attention_maps_from_mha_and_transformer(tmp_path: Path) -> None:
    cr.manual_seed(0)
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    x = cr.randn(2, 5, 8)
    _, want = mha(x, x, x, average_attn_weights=False)

    class Self(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = mha

        def forward(self, x: cr.Tensor) -> cr.Tensor:
            return self.attn(x, x, x, need_weights=False)[0]

    got = P.attention_maps(Self(), x)
    np.testing.assert_allclose(got["attn"], want.detach().numpy(), rtol=1e-6)
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0,
                                                           batch_first=True), 2)
    before = enc(x).detach().numpy()
    maps = P.attention_maps(enc, x)
    assert sorted(maps) == ["layers.0.self_attn", "layers.1.self_attn"]
    for a in maps.values():
        assert a.shape == (2, 2, 5, 5)
        np.testing.assert_allclose(a.sum(-1), 1.0, rtol=1e-5)  # each query's weights
    np.testing.assert_allclose(enc(x).detach().numpy(), before)  # hooks removed, same output
    assert png(P.plot_attention(enc, x, path=tmp_path / "a.png", tokens=list("abcde")))
    with pytest.raises(ValueError, match="no MultiheadAttention"):
        P.attention_maps(nn.Linear(2, 2), cr.randn(1, 2))


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder whose model.ckpt holds a CNN trained a little on the digits with Trainer
    (the checkpoint names its dataset, as ``chainrule train`` does)."""
    from chainrule.cli import datasets as D
    from chainrule.data import TensorDataset
    from chainrule.train import Trainer

    cr.manual_seed(0)
    data = D.load("digits", 256)
    x, y = D.materialize(data.train)
    model = nn.Sequential(nn.Unflatten(1, (1, 8, 8)), *digits_cnn())
    trainer = Trainer(model, nn.CrossEntropyLoss(), cr.optim.Adam(model.parameters(), lr=1e-2))
    trainer.extra = {"data": {"name": "digits", "task": "classification"},
                     "config": {"limit": 256}}
    trainer.fit(TensorDataset(cr.tensor(x), cr.tensor(y)), epochs=2, batch_size=64,
                progress=False)
    out = tmp_path_factory.mktemp("cnn")
    trainer.save_checkpoint(out / "model.ckpt")
    return out


def test_cli_plot_draws_a_cnn_checkpoint(cnn_run: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["plot", str(cnn_run)]) == 0
    said = capsys.readouterr().out
    for name in ("filters.png", "feature_maps.png", "histograms.png"):
        assert png(cnn_run / "plots" / name), name
        assert name in said


def test_cli_plot_cnn_without_a_named_dataset(tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    """A fit()/save_checkpoint checkpoint names no dataset: the filters still, the maps with
    --dataset."""
    from chainrule.io import save_checkpoint

    cr.manual_seed(0)
    model = digits_cnn()  # takes (N, 1, 8, 8): the flat digits rows are reshaped for it
    save_checkpoint(tmp_path / "model.ckpt", model)
    assert cli.main(["plot", str(tmp_path)]) == 0
    said = capsys.readouterr().out
    assert png(tmp_path / "plots" / "filters.png")
    assert not (tmp_path / "plots" / "feature_maps.png").exists()
    assert "pass --dataset" in said
    assert cli.main(["plot", str(tmp_path), "--dataset", "digits"]) == 0
    assert png(tmp_path / "plots" / "feature_maps.png")


def test_inside_pictures_of_an_attention_model(tmp_path: Path) -> None:
    """The CLI's function for models with attention (rows of a digit as 8 tokens of 8)."""
    from chainrule.cli import datasets as D
    from chainrule.cli.plot_cmd import inside_pictures

    cr.manual_seed(0)
    model = nn.Sequential(nn.Unflatten(1, (8, 8)),
                          nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True),
                          nn.Flatten(), nn.Linear(64, 10))
    made = inside_pictures(model, D.load("digits", 64), tmp_path)
    assert set(made) == {"attention", "histograms"}
    assert all(png(p) for p in made.values())
