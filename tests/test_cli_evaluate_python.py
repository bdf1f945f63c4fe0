"""``chainrule evaluate`` on weights written by fit()/save_checkpoint or cr.save (issue 13 item
14). A model built from ``chainrule.nn`` layers is saved with its architecture (plain data) and
evaluated directly; one that cannot be described (your own subclass with its own forward) or
weights saved alone make the command say exactly how to evaluate them from Python, and that
recipe, run as printed, works."""

from __future__ import annotations

from pathlib import Path

import pytest

import chainrule
import chainrule as cr
from chainrule import nn, optim
from chainrule.cli import main as cli
from chainrule.data import TensorDataset
from chainrule.train import ModelCheckpoint, fit


class MyNet(nn.Sequential):
    """A user's own subclass with its own forward: not describable as chainrule.nn layers."""

    def forward(self, x):  # type: ignore[override]
        return super().forward(x) * 2.0


def _model() -> nn.Module:
    return MyNet(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


@pytest.mark.parametrize("how", ["fit", "cr.save"])
def test_evaluate_explains_and_its_python_recipe_runs(how: str, tmp_path: Path, capsys) -> None:
    cr.manual_seed(0)
    ds = TensorDataset(cr.randn(20, 4), cr.randint(0, 3, (20,)))
    model = _model()
    if how == "fit":
        path = tmp_path / "fit.ckpt"
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), ds, epochs=1,
            callbacks=[ModelCheckpoint(path)], progress=False)
    else:
        path = tmp_path / "weights.safetensors"
        cr.save(model.state_dict(), path)
    assert cli.main(["evaluate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "no architecture" in err or "holds no model architecture" in err, err
    assert "0.weight (8, 4)" in err and "2.bias (3,)" in err, err  # which layers to build
    recipe = err.split(", then ", 1)[1].split(". `chainrule train`", 1)[0]
    fresh = _model()
    scope = {"model": fresh, "test_dataset": ds, "loss_fn": nn.CrossEntropyLoss(),
             "cr": cr, "chainrule": chainrule}
    exec(f"result = [{recipe.replace('; ', ', ')}]", scope)
    assert 0.0 <= scope["result"][-1]["accuracy"] <= 1.0
    for a, b in zip(fresh.parameters(), model.parameters()):
        assert (a.detach().numpy() == b.detach().numpy()).all()
