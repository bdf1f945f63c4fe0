"""The smaller names PyTorch scripts reach for: ``cr.testing.assert_close`` (PyTorch's
tolerances and messages), ``cr.special`` (values and gradients against ``torch.special``),
``cr.autograd.Variable``, ``cr.jit``, ``cr.hub``, ``cr.mps``, and
``cr.utils.tensorboard.SummaryWriter`` (real event files when tensorboard is installed)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chainrule as cr


def _message(fn: Any) -> str:
    try:
        fn()
    except Exception as e:  # the type and the text are what is compared
        return f"{type(e).__name__}: {e}"
    return "no error"


# (actual, expected, keyword arguments) built from a library module L
CLOSE_CASES = {
    "one_element": lambda L: (L.tensor([1., 2., 3.]), L.tensor([1., 2.1, 3.]), {}),
    "two_elements": lambda L: (L.tensor([1., 2., 3.]), L.tensor([1., 2.1, 3.5]), {}),
    "2d_index": lambda L: (L.tensor([[1., 2.], [3, 4]]), L.tensor([[1., 2.], [3, 5]]), {}),
    "shape": lambda L: (L.tensor([1., 2.]), L.tensor([1., 2., 3.]), {}),
    "dtype": lambda L: (L.tensor([1., 2.]), L.tensor([1., 2.], dtype=L.float64), {}),
    "no_dtype_check": lambda L: (L.tensor([1., 2.]), L.tensor([1., 2.], dtype=L.float64),
                                 {"check_dtype": False}),
    "integers": lambda L: (L.tensor([1, 2]), L.tensor([1, 3]), {}),
    "bool": lambda L: (L.tensor([True]), L.tensor([False]), {}),
    "nan": lambda L: (L.tensor([1., float("nan")]), L.tensor([1., float("nan")]), {}),
    "equal_nan": lambda L: (L.tensor([1., float("nan")]), L.tensor([1., float("nan")]),
                            {"equal_nan": True}),
    "inf": lambda L: (L.tensor([float("inf")]), L.tensor([float("inf")]), {}),
    "0d": lambda L: (L.tensor(1.), L.tensor(1.2), {}),
    "atol_default": lambda L: (L.tensor([0., 1.]), L.tensor([1e-6, 1.]), {}),
    "float16_close": lambda L: (L.tensor([1., 2.]).half(), L.tensor([1.001, 2.]).half(), {}),
    "float16_far": lambda L: (L.tensor([1., 2.]).half(), L.tensor([1.01, 2.]).half(), {}),
    "exact": lambda L: (L.tensor([1., 2.]), L.tensor([1., 2.5]), {"rtol": 0, "atol": 0}),
    "rtol_alone": lambda L: (L.tensor([1.]), L.tensor([1.]), {"rtol": 1e-3}),
    "msg": lambda L: (L.tensor([1.]), L.tensor([2.]), {"msg": "custom"}),
    "msg_callable": lambda L: (L.tensor([1.]), L.tensor([2.]), {"msg": lambda m: m + " EXTRA"}),
    "floats": lambda L: (1.0, 1.1, {}),
    "ints": lambda L: (1, 2, {}),
    "int_vs_float": lambda L: (1, 1.0, {}),
    "sequence_item": lambda L: ([L.tensor(1.), L.tensor(2.)], [L.tensor(1.), L.tensor(2.5)], {}),
    "mapping_item": lambda L: ({"a": [L.tensor(1.)]}, {"a": [L.tensor(1.5)]}, {}),
    "mapping_keys": lambda L: ({"a": 1}, {"b": 1}, {}),
    "lengths": lambda L: ([1.0], [1.0, 2.0], {}),
    "list_vs_tuple": lambda L: ([1.0, 2.0], (1.0, 2.0), {}),
    "requires_grad": lambda L: (L.tensor([1., 2.], requires_grad=True), L.tensor([1., 2.]), {}),
    "negative": lambda L: (L.tensor([-3., 0.]), L.tensor([3., 0.]), {}),
}


@pytest.mark.parametrize("case", CLOSE_CASES)
def test_assert_close_says_what_pytorch_says(case: str) -> None:
    torch = pytest.importorskip("torch")
    a, e, kw = CLOSE_CASES[case](cr)
    ta, te, tkw = CLOSE_CASES[case](torch)
    ours = _message(lambda: cr.testing.assert_close(a, e, **kw))
    theirs = _message(lambda: torch.testing.assert_close(ta, te, **tkw))
    assert ours == theirs.replace("torch.Size", "cr.Size").replace("torch.", "cr.")


def test_assert_close_refuses_mixed_kinds() -> None:
    with pytest.raises(TypeError, match="No comparison pair was able to handle"):
        cr.testing.assert_close(cr.tensor([1.0]), 1.0)
    cr.testing.assert_close(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-9]))


def test_make_tensor_ranges() -> None:
    cr.manual_seed(0)
    f = cr.testing.make_tensor(3, 4, dtype=cr.float32, low=-1, high=1)
    i = cr.testing.make_tensor((5,), dtype=cr.int64, exclude_zero=True)
    assert f.shape == (3, 4) and f.dtype == cr.float32 and float(f.abs().max()) <= 1
    assert i.dtype == cr.int64 and bool((i != 0).all()) and int(i.min()) >= -9


SPECIAL = {
    "expit": ([np.array([-2.0, -0.5, 0.0, 0.3, 1.7])], {}),
    "psi": ([np.array([0.5, 0.7, 2.0, 3.5])], {}),
    "gammaln": ([np.array([0.5, 0.7, 2.0, 3.5])], {}),
    "ndtr": ([np.array([-2.0, -0.5, 0.0, 0.3, 1.7])], {}),
    "ndtri": ([np.array([0.01, 0.3, 0.5, 0.9])], {}),
    "log_ndtr": ([np.array([-8.0, -2.0, 0.0, 3.0])], {}),
    "entr": ([np.array([0.1, 0.5, 1.0, 2.0])], {}),
    "xlog1py": ([np.array([0., 1., 2.]), np.array([3., 0.5, -0.5])], {}),
    "multigammaln": ([np.array([2.0, 2.5, 4.0])], {"p": 3}),
    "logit": ([np.array([0.01, 0.3, 0.5, 0.9])], {}),
    "softmax": ([np.array([-2.0, 0.0, 1.7])], {"dim": 0}),
    "log_softmax": ([np.array([-2.0, 0.0, 1.7])], {"dim": 0}),
    "logsumexp": ([np.array([-2.0, 0.0, 1.7])], {"dim": 0}),
    "sinc": ([np.array([-2.0, -0.5, 0.3, 1.7])], {}),
    "xlogy": ([np.array([0.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0])], {}),
    "erfinv": ([np.array([-0.5, 0.1, 0.7])], {}),
    "polygamma": ([np.array([0.5, 2.0])], {}),
}


@pytest.mark.parametrize("name", SPECIAL)
def test_special_matches_torch_special(name: str) -> None:
    torch = pytest.importorskip("torch")
    arrays, kw = SPECIAL[name]
    lead = (1,) if name == "polygamma" else ()
    ours_in = [cr.tensor(a, requires_grad=True) for a in arrays]
    theirs_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    ours = getattr(cr.special, name)(*lead, *ours_in, **kw)
    theirs = getattr(torch.special, name)(*lead, *theirs_in, **kw)
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-8,
                               atol=1e-12)  # polygamma: SciPy's and PyTorch's differ at 4e-10
    ours.sum().backward()
    theirs.sum().backward()
    for a, b in zip(ours_in, theirs_in):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-8, atol=1e-10)


def test_special_values_at_the_edges_and_names_only() -> None:
    torch = pytest.importorskip("torch")
    x = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(cr.special.entr(cr.tensor(x)).numpy(),
                                  torch.special.entr(torch.tensor(x)).numpy())
    np.testing.assert_array_equal(cr.special.round(cr.tensor([0.5, 1.5, 2.25]), decimals=1)
                                  .numpy(), np.array([0.5, 1.5, 2.2], np.float32))
    missing = {n for n in dir(torch.special) if not n.startswith("_")} - set(dir(cr.special))
    assert missing <= {"common_args", "multi_dim_common", "torch", "Tensor"}
    with pytest.raises(NotImplementedError, match=r"cr\.special\.zeta is not implemented.*"
                       r"scipy\.special\.zeta"):
        cr.special.zeta(cr.ones(2), cr.ones(2))


def test_variable_is_a_tensor_as_in_pytorch() -> None:
    torch = pytest.importorskip("torch")
    from chainrule.autograd import Variable

    for lib, V in ((cr, Variable), (torch, torch.autograd.Variable)):
        x = lib.ones(2, requires_grad=True)
        v = V(x)
        assert type(v) is lib.Tensor and v is not x and not v.requires_grad
        assert isinstance(x, V)
        assert V(lib.ones(2), requires_grad=True).requires_grad
        assert V(x * 2).grad_fn is None
    assert _message(lambda: Variable([1, 2])) == _message(
        lambda: torch.autograd.Variable([1, 2]))
    with pytest.warns(UserWarning, match="volatile was removed"):
        Variable(cr.ones(1), volatile=True)
    x = cr.ones(3)
    Variable(x).numpy()[0] = 5.0  # shares memory, as PyTorch's
    assert float(x[0]) == 5.0


def test_jit_runs_eagerly_and_refuses_files(tmp_path: Path) -> None:
    import chainrule.jit as jit

    jit._WARNED.clear()
    model = cr.nn.Linear(2, 2)
    with pytest.warns(UserWarning, match="no TorchScript compiler"):
        assert cr.jit.script(model) is model
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once only
        assert cr.jit.script(model) is model

    def f(x):
        return x * 2 if float(x.sum()) > 0 else x  # data-dependent: fine when run eagerly

    with pytest.warns(UserWarning):
        assert cr.jit.trace(f, cr.ones(2)) is f

    @cr.jit.ignore
    def g(x):
        return x

    @cr.jit.unused
    def h(x):
        return x

    @cr.jit.ignore(drop=True)
    def k(x):
        return x

    assert g(1) == h(1) == k(1) == 1 and cr.jit.export(f) is f
    assert not cr.jit.is_scripting() and not cr.jit.is_tracing()
    assert cr.jit.annotate(list, [1]) == [1]
    for call in (lambda: cr.jit.save(model, str(tmp_path / "m.pt")),
                 lambda: cr.jit.load(str(tmp_path / "m.pt"))):
        with pytest.raises(RuntimeError, match=r"no TorchScript format.*cr\.save\(model\."
                           r"state_dict\(\).*cr\.onnx\.export"):
            call()


def test_hub_refuses_with_the_local_way() -> None:
    for call in (lambda: cr.hub.load("pytorch/vision", "resnet18", pretrained=True),
                 lambda: cr.hub.load_state_dict_from_url("https://example.com/w.pth"),
                 lambda: cr.hub.download_url_to_file("https://example.com/w.pth", "w.pth")):
        with pytest.raises(RuntimeError, match=r"does not download.*load_safetensors"):
            call()
    cr.hub.set_dir("/tmp/hubdir")
    assert cr.hub.get_dir() == "/tmp/hubdir"


def test_no_apple_gpu() -> None:
    assert not cr.mps.is_available() and not cr.backends.mps.is_available()
    assert cr.mps.device_count() == 0 and cr.cpu.is_available() and cr.cpu.device_count() == 1
    cr.mps.manual_seed(0)
    cr.mps.synchronize()


def test_summary_writer_writes_event_files(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from chainrule.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(tmp_path)) as w:
        for step in range(3):
            w.add_scalar("loss", cr.tensor(1.0 / (step + 1)), step)
        w.add_scalars("acc", {"train": 0.5, "val": 0.25}, 0)
        w.add_histogram("weights", cr.randn(100), 0)
        w.add_image("image", cr.rand(3, 8, 8), 0)
        w.add_text("note", "hello", 0)
    ea = EventAccumulator(str(tmp_path), size_guidance={"tensors": 0})
    ea.Reload()
    assert [(e.step, round(e.value, 4)) for e in ea.Scalars("loss")] == [
        (0, 1.0), (1, 0.5), (2, 0.3333)]
    assert ea.Histograms("weights")[0].histogram_value.num == 100
    assert ea.Images("image")[0].width == 8
    assert "note/text_summary" in ea.Tags()["tensors"]
    val = EventAccumulator(str(tmp_path / "acc_val"))
    val.Reload()
    assert val.Scalars("acc")[0].value == 0.25
    with pytest.raises(NotImplementedError, match="add_graph"):
        SummaryWriter(str(tmp_path)).add_graph(cr.nn.Linear(2, 2))


def test_summary_writer_without_tensorboard_says_how_to_get_it(monkeypatch) -> None:
    import builtins

    real = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("tensorboard"):
            raise ImportError(f"No module named {name!r}")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    from chainrule.utils.tensorboard import SummaryWriter

    with pytest.raises(ImportError, match="pip install tensorboard"):
        SummaryWriter("unused")
