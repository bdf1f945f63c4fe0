"""``chainrule reproduce``: Rumelhart's tasks solve, the MNIST-1D generator matches the paper's
description, the registry lists pending rows and refuses to run them, the CLI runs short."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from chainrule.cli import main as cli
from chainrule.reproduce import Options, PendingError, mnist1d, registry, rumelhart

HAVE_TORCH = importlib.util.find_spec("torch") is not None


def test_xor_solves_with_the_exact_rule() -> None:
    for task in rumelhart.xor_tasks():
        run = rumelhart.train_chainrule(task, [0, 1, 2], max_sweeps=5000)
        assert run.solved() == 3, (task.name, run.sweeps)
        for w in run.weights:  # the stored weights really solve it
            assert w is not None


def test_symmetry_solves_with_antisymmetric_weights_in_ratio_1_2_4() -> None:
    task = rumelhart.symmetry_task()
    run = rumelhart.train_chainrule(task, [1, 5, 6], max_sweeps=3000)
    assert run.solved() == 3, run.sweeps
    assert all(300 < s < 3000 for s in run.sweeps if s is not None)
    for w in run.weights:
        assert w is not None
        a = rumelhart.symmetry_analysis(w["w1"])
        assert a["antisymmetry"] < 0.1
        np.testing.assert_allclose(a["ratio"], [1, 2, 4], rtol=0.15)


def test_the_rule_is_sgd_with_momentum_on_the_summed_error() -> None:
    """One sweep changes each weight by -eps dE/dw (E = 1/2 sum of squares), then momentum."""
    task = rumelhart.xor_tasks()[0]
    w0 = rumelhart.initial_weights(task, 0)
    run = rumelhart.train_chainrule(task, [0], max_sweeps=0)
    assert run.sweeps == [None]
    x, t = task.inputs, task.targets
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    h = sig(x @ w0["w1"] + w0["b1"])
    y = sig(h @ w0["w2"] + w0["b2"])
    d_out = (y - t) * y * (1 - y)
    grad_w2 = h.T @ d_out
    import chainrule as cr
    from chainrule import optim

    p = {k: cr.from_numpy(v[None].copy()).requires_grad_() for k, v in w0.items()}
    opt = optim.SGD(list(p.values()), lr=task.eps, momentum=task.alpha)
    out = ((cr.from_numpy(x) @ p["w1"] + p["b1"]).sigmoid() @ p["w2"] + p["b2"]).sigmoid()
    (0.5 * ((out - cr.from_numpy(t)) ** 2).sum()).backward()
    np.testing.assert_allclose(p["w2"].grad.numpy()[0], grad_w2, rtol=1e-12)
    opt.step()
    np.testing.assert_allclose(p["w2"].detach().numpy()[0], w0["w2"] - task.eps * grad_w2)


@pytest.mark.skipif(not HAVE_TORCH, reason="torch not installed")
def test_pytorch_from_the_same_weights_needs_the_same_sweeps() -> None:
    task = rumelhart.xor_tasks()[0]
    a = rumelhart.train_chainrule(task, [3], 3000)
    b = rumelhart.train_torch(task, [3], 3000)
    assert a.sweeps == b.sweeps and a.sweeps[0] is not None


def test_mnist1d_generator_matches_the_paper_description() -> None:
    d = mnist1d.make_dataset()
    assert d["x"].shape == (4000, 40) and d["x_test"].shape == (1000, 40)
    assert d["x"].dtype == np.float32 and d["y"].dtype == np.int64
    y = np.concatenate([d["y"], d["y_test"]])
    assert np.array_equal(np.bincount(y), np.full(10, 500))  # 500 examples of each digit
    train_counts = np.bincount(d["y"], minlength=10)
    assert train_counts.min() > 340 and train_counts.max() < 460  # shuffled, roughly balanced
    x = np.concatenate([d["x"], d["x_test"]])
    assert abs(float(x.mean())) < 1e-5 and abs(float(x.std()) - 1) < 1e-5  # standardised
    again = mnist1d.make_dataset()
    assert np.array_equal(again["x"], d["x"]) and np.array_equal(again["y"], d["y"])
    other = mnist1d.make_dataset(mnist1d.Config(seed=7))
    assert not np.array_equal(other["x"], d["x"])
    tpl = mnist1d.templates()
    assert tpl.shape == (10, 12) and np.allclose(tpl[:, 0], 0)
    assert np.allclose(tpl.std(axis=1), 1 / 6)


def test_mnist1d_gaussian_smooth_matches_scipy() -> None:
    ndimage = pytest.importorskip("scipy.ndimage")
    x = np.random.default_rng(0).standard_normal(72)
    np.testing.assert_allclose(mnist1d.gaussian_smooth(x, 2.0), ndimage.gaussian_filter(x, 2),
                               atol=1e-12)


def test_mnist1d_each_class_is_its_template() -> None:
    """A nearest-template classifier on the noiseless pipeline gets every example right."""
    cfg = mnist1d.Config(num_samples=100, corr_noise_scale=0.0, iid_noise_scale=0.0,
                         shear_scale=0.0, max_translation=1, scale_coeff=0.0, padding=(36, 36))
    d = mnist1d.make_dataset(cfg)
    assert d["x"].shape == (80, 40)
    x = np.concatenate([d["x"], d["x_test"]])
    y = np.concatenate([d["y"], d["y_test"]])
    for c in range(10):  # noiseless examples of one class are all the same signal
        rows = x[y == c]
        assert np.allclose(rows, rows[0], atol=1e-6)


def test_registry_lists_pending_rows_and_refuses_them() -> None:
    text = registry.listing()
    for name in ("xor", "symmetry", "parity", "encoder", "nielsen", "fashion-mnist", "mnist1d"):
        assert f"`{name}`" in text
    from chainrule import nn

    if not hasattr(nn, "Conv1d"):
        assert "pending: needs nn.Conv1d" in text
    if not hasattr(nn, "GRU"):
        assert "pending: needs nn.GRU" in text

    def fn(opts: Options) -> object:
        raise AssertionError("must not run")

    exp = registry.Experiment("_test_pending", "t", "s", fn, needs=("NoSuchLayer",))
    registry.register(exp)
    try:
        with pytest.raises(PendingError, match=r"needs nn\.NoSuchLayer"):
            registry.run("_test_pending")
        with pytest.raises(ValueError, match="already registered"):
            registry.register(exp)
    finally:
        del registry.EXPERIMENTS["_test_pending"]
    with pytest.raises(KeyError, match="did you mean 'symmetry'"):
        registry.get("symetry")


def test_cli_list_and_a_short_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["reproduce", "--list"]) == 0
    out = capsys.readouterr().out
    assert "| `mnist1d` |" in out and "row: CNN" in out
    out_dir = tmp_path / "xor"
    assert cli.main(["reproduce", "xor", "--seeds", "2", "--no-torch", "--quiet",
                     "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert "| XOR, 2-1-1 with direct input-output links | chainrule | 558 sweeps |" in out
    assert "2/2" in out
    assert (out_dir / "results.md").read_text().startswith("## Rumelhart")


def test_cli_symmetry_writes_the_hinton_diagram(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    assert cli.main(["reproduce", "symmetry", "--seeds", "2", "--epochs", "1500", "--no-torch",
                     "--quiet", "--out", str(tmp_path)]) == 0
    assert "1 : 2 : 4" in capsys.readouterr().out
    assert (tmp_path / "symmetry_weights.png").stat().st_size > 10_000


def test_cli_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["reproduce", "symetry"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean 'symmetry'" in err
    assert cli.main(["reproduce"]) == 2
    assert "--list" in capsys.readouterr().err
    assert cli.main(["reproduce", "xor", "--seeds", "0"]) == 2
    assert "--seeds 0" in capsys.readouterr().err


def test_mnist1d_short_run() -> None:
    from chainrule import reproduce

    rep = reproduce.run("mnist1d", Options(seeds=1, epochs=3, torch=False, progress=False))
    text = rep.markdown()
    assert "| logistic regression (linear 40-10) | 32% |" in text
    res = rep.data["MLP 40-100-100-10, ReLU"]["chainrule"][0]
    assert len(res.accuracy) == 3 and res.final > 0.2  # well above chance after 120 steps


def _conv_gru_rows() -> list[tuple[str, object, object, int]]:
    from chainrule.reproduce import fashion

    return [("mnist1d CNN", mnist1d.cnn, mnist1d.RECIPE, 40),
            ("mnist1d GRU", mnist1d.gru, mnist1d.RECIPE, 40),
            ("fashion CNN", fashion.cnn, fashion.ROWS[1].recipe, 784)]


@pytest.mark.parametrize("i", [0, 1, 2], ids=["mnist1d-cnn", "mnist1d-gru", "fashion-cnn"])
def test_conv_and_gru_rows_train_one_step_on_chainrule(i: int) -> None:
    """The CNN and GRU rows are no longer pending: each builds on chainrule.nn and one training
    step (a mini-batch of 8 random examples, cross-entropy, Adam at the row's rate) gives every
    parameter a finite gradient and changes it; with PyTorch installed, the same batch from the
    same weights gives the same loss and gradients. (Not the same weights after Adam's first
    step: it moves each weight by about lr * g / (|g| + 1e-8), so a weight whose gradient is
    near 1e-8, e.g. behind a dead ReLU, moves by an amount float rounding decides.)"""
    import chainrule as cr
    from chainrule import nn, optim
    from chainrule.nn import functional as F
    from chainrule.reproduce import trainloop

    label, build, recipe, width = _conv_gru_rows()[i]
    assert "pending" not in registry.listing()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, width)).astype(np.float32)
    y = rng.integers(0, 10, 8)
    state = trainloop.initial_state(build, 0)  # type: ignore[arg-type]
    model = build(nn)  # type: ignore[operator]
    model.load_state_dict({k: cr.from_numpy(v) for k, v in state.items()})
    opt = optim.Adam(model.parameters(), lr=recipe.lr)  # type: ignore[attr-defined]
    loss = F.cross_entropy(model(cr.from_numpy(x)), cr.from_numpy(y))
    opt.zero_grad()
    loss.backward()
    grads = {}
    for name, p in model.named_parameters():
        assert p.grad is not None and np.isfinite(p.grad.numpy()).all(), (label, name)
        grads[name] = p.grad.numpy().copy()
    opt.step()
    new = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    assert all(not np.array_equal(new[k], state[k]) for k in state), label
    if HAVE_TORCH:
        import torch

        tm = build(torch.nn)  # type: ignore[operator]
        tm.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
        tloss = torch.nn.functional.cross_entropy(tm(torch.from_numpy(x)), torch.from_numpy(y))
        tloss.backward()
        assert np.isclose(float(loss.item()), float(tloss.item()), rtol=1e-5), label
        for k, tp in tm.named_parameters():
            assert np.allclose(grads[k], tp.grad.numpy(), rtol=1e-4, atol=1e-6), (label, k)


def test_nielsen_on_any_idx_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--data DIR`` trains the book's four configurations on the IDX files in DIR."""
    from chainrule.data.datasets.idx import write_idx

    rng = np.random.default_rng(0)
    for prefix, n in (("train", 200), ("t10k", 50)):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte",
                  rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte",
                  rng.integers(0, 10, n, dtype=np.uint8))
    out = tmp_path / "out"
    assert cli.main(["reproduce", "nielsen", "--data", str(tmp_path), "--epochs", "1",
                     "--no-torch", "--quiet", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"IDX files in {tmp_path}" in text
    assert text.count("| ch. ") == 4 and "95.42% (ch. 1" in text
    assert cli.main(["reproduce", "nielsen", "--data", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "the IDX files were not found there" in err and err.count("\n") == 1
