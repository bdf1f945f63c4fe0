"""fit's auxiliary-loss hook (MoE balance loss) and ``chainrule train --model moe``."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.cli import main as cli
from chainrule.train import LambdaCallback, fit


def _data(n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int64)


def test_fit_adds_and_logs_the_aux_loss() -> None:
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.MixtureOfExperts(4, 6, k=2, hidden=5),
                          nn.MixtureOfExperts(4, 6, k=1, hidden=5), nn.Linear(6, 2))
    h = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.01), _data(),
            epochs=2, batch_size=16, progress=False)
    logs = h.history
    assert {"aux_loss", "aux_loss/1", "aux_loss/2"} <= set(logs)
    np.testing.assert_allclose(np.add(logs["aux_loss/1"], logs["aux_loss/2"]),
                               logs["aux_loss"], rtol=1e-6)
    assert all(v >= 1.0 - 1e-6 for v in logs["aux_loss/1"])


def test_aux_loss_reaches_the_router_and_weight_zero_turns_it_off() -> None:
    x, y = _data(16)

    def router_grad(weight: float) -> np.ndarray:
        cr.manual_seed(1)
        moe = nn.MixtureOfExperts(4, 4, k=1, hidden=3, out_features=2)
        opt = optim.SGD(moe.parameters(), lr=0.0)  # lr 0: look at the gradient only
        grads = []

        def watch(*_: object) -> None:
            grads.append(moe.router.weight.grad.numpy().copy())

        fit(moe, nn.CrossEntropyLoss(), opt, (x, y), epochs=1, batch_size=16, shuffle=False,
            progress=False, aux_loss_weight=weight,
            callbacks=[LambdaCallback(on_batch_end=watch)])
        return grads[0]

    g0, g1 = router_grad(0.0), router_grad(1.0)
    assert not np.allclose(g0, g1)


def test_cli_train_moe(capsys) -> None:
    rc = cli.main(["train", "--model", "moe", "--experts", "8", "--k", "2", "--layers", "32,16",
                   "--epochs", "3", "--no-save", "--progress", "none"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "MoE MLP (8 experts, k=2" in out
    acc = float(out.split("test accuracy ")[1].split()[0])
    assert acc > 0.6, out


@pytest.mark.parametrize("extra", [["--semi", "consistency"], ["--semi", "pseudo-label"],
                                   ["--pretrain", "contrastive", "--probe"],
                                   ["--pretrain", "autoencoder", "--pretrain-epochs", "5"], []])
def test_cli_few_labels_regimes(capsys, extra: list[str]) -> None:
    rc = cli.main(["train", "--dataset", "moons", "--labels", "10", "--epochs", "20",
                   "--no-save", "--progress", "none", *extra])
    out = capsys.readouterr().out
    assert rc == 0 and "10 labelled" in out
    assert float(out.split("test accuracy ")[1].split()[0]) > 0.7, out


def test_cli_probe_needs_pretrain(capsys) -> None:
    assert cli.main(["train", "--dataset", "moons", "--probe", "--no-save"]) == 2
    assert "--pretrain" in capsys.readouterr().err
