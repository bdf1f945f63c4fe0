"""cr.save / cr.load, plain safetensors, atomic writes and bit-exact checkpoint resume."""

from __future__ import annotations

import io
import json
import os
import pathlib
import pickle
import random
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from collections import OrderedDict
from typing import Any

import numpy as np
import pytest
import safetensors.numpy as stnp
from safetensors import safe_open

import chainrule as cr
from chainrule.io import (
    CheckpointError,
    atomic_write,
    load_checkpoint,
    load_safetensors,
    save_checkpoint,
    save_safetensors,
    serialization,
)

DTYPES = ["bool", "uint8", "int8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
          "float16", "float32", "float64"]


def _array(dtype: str, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        return np.asarray(rng.random(shape) > 0.5)
    if np.dtype(dtype).kind == "f":
        return np.asarray(rng.standard_normal(shape) * 100).astype(dtype)
    info = np.iinfo(dtype)
    return np.asarray(rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True))


def _same(a: object, b: object) -> None:
    """Deep equality that also checks types, dtypes, shapes, bits and requires_grad."""
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, cr.Tensor):
        assert a.requires_grad == b.requires_grad
        _same(a.detach().numpy(), b.detach().numpy())
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()
    elif isinstance(a, dict):
        assert list(a.keys()) == list(b.keys())
        assert [type(k) for k in a] == [type(k) for k in b]
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, float) and a != a:
        assert b != b
    elif isinstance(a, float):
        assert a.hex() == b.hex()  # bit-exact, incl. -0.0
    else:
        assert a == b


def _roundtrip(obj: object, tmp_path: pathlib.Path) -> object:
    path = tmp_path / "obj.ckpt"
    cr.save(obj, path)
    out = cr.load(path)
    buf = io.BytesIO()
    cr.save(obj, buf)
    buf.seek(0)
    _same(out, cr.load(buf))
    return out


# -- round trips ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (0,), (2, 0, 3), (5,), (3, 4), (2, 3, 4)])
def test_array_and_tensor_roundtrip(dtype: str, shape: tuple[int, ...],
                                    tmp_path: pathlib.Path) -> None:
    a = _array(dtype, shape)
    obj = {"array": a, "tensor": cr.from_numpy(a.copy()), "scalar": a.reshape(-1)[:1].copy()}
    if a.size:
        obj["npscalar"] = a.reshape(-1)[0]
    out = _roundtrip(obj, tmp_path)
    _same(obj, out)
    assert out["array"].flags.writeable and out["tensor"].numpy().flags.writeable


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int64", "bool"])
def test_non_contiguous_and_big_endian(dtype: str, tmp_path: pathlib.Path) -> None:
    base = _array(dtype, (6, 8))
    views = {"t": base.T, "step": base[::2, 1::3], "neg": base[::-1], "col": base[:, 3]}
    if dtype != "bool":
        views["be"] = base.astype(np.dtype(dtype).newbyteorder(">"))
    obj = {k: v for k, v in views.items()} | {"tensor_t": cr.from_numpy(base).T}
    out = _roundtrip(obj, tmp_path)
    for k, v in obj.items():
        got = out[k].numpy() if isinstance(out[k], cr.Tensor) else out[k]
        want = v.numpy() if isinstance(v, cr.Tensor) else v
        assert got.shape == want.shape and np.array_equal(got, want)
        assert got.dtype.name == want.dtype.name


def test_requires_grad_and_parameter(tmp_path: pathlib.Path) -> None:
    w = cr.randn(3, 2, requires_grad=True)
    y = (w * 2.0).sum()  # a non-leaf with requires_grad comes back as a leaf that requires grad
    out = _roundtrip({"w": w, "y": y, "c": cr.zeros(2)}, tmp_path)
    assert out["w"].requires_grad and out["w"].is_leaf and out["w"].grad is None
    assert out["y"].requires_grad and out["y"].is_leaf
    assert not out["c"].requires_grad
    out["w"].sum().backward()
    assert np.array_equal(out["w"].grad.numpy(), np.ones((3, 2), np.float32))
    from chainrule.nn.parameter import Parameter

    p = Parameter(cr.randn(4))
    back = _roundtrip({"p": p}, tmp_path)["p"]
    assert isinstance(back, Parameter) and back.requires_grad
    assert np.array_equal(back.detach().numpy(), p.detach().numpy())


def test_python_values_and_containers(tmp_path: pathlib.Path) -> None:
    obj = {
        "ints": [0, -1, 2**100, -(2**70)],
        "floats": [0.1, -0.0, float("inf"), float("-inf"), float("nan"), 1e-310, 1.8e308 / 1.1],
        "complex": 1.5 - 2j,
        "bools": (True, False),
        "none": None,
        "strs": ["", "héllo ✓", "a\"b\\c\n", "__metadata__"],
        "nested": {"a": [1, (2, [3, {"b": ()}])], "empty": {}, "elist": [], "etuple": ()},
        "odict": OrderedDict([("z", 1), ("a", 2)]),
        "int_keys": {1: "one", "1": "string one", 0: [0.5], -3: None, None: 7},
        "dtypes": [cr.float32, np.dtype("int64"), cr.bool],
        "npscalars": [np.float16(1.5), np.int64(-7), np.bool_(True), np.uint8(255),
                      np.float64(np.pi)],
    }
    out = _roundtrip(obj, tmp_path)
    _same(obj, out)
    assert type(out["odict"]) is OrderedDict and type(out["nested"]) is dict
    assert type(out["bools"]) is tuple and type(out["strs"]) is list
    assert _roundtrip({True: 1, "True": 2}, tmp_path) == {True: 1, "True": 2}
    assert list(out["int_keys"]) == [1, "1", 0, -3, None]


def test_top_level_values(tmp_path: pathlib.Path) -> None:
    for obj in (cr.tensor([1.0, 2.0]), cr.tensor(3.5), np.arange(3), 5, "x", None, [cr.ones(1)],
                (cr.ones(2), 1)):
        _same(obj, _roundtrip(obj, tmp_path))


def test_shared_tensors_stay_shared_and_names_never_collide(tmp_path: pathlib.Path) -> None:
    t = cr.randn(3)
    a, b = cr.ones(2), cr.zeros(2)
    obj = {"x": t, "y": [t], "a.b": a, "a": {"b": b}, "__metadata__": cr.full((2,), 7.0)}
    path = tmp_path / "s.ckpt"
    cr.save(obj, path)
    out = cr.load(path)
    assert out["x"] is out["y"][0]
    _same(out["a.b"], a)
    _same(out["a"]["b"], b)
    _same(out["__metadata__"], obj["__metadata__"])
    assert len(stnp.load_file(path)) == 4  # t stored once


def _state_dict_like() -> OrderedDict:
    sd = OrderedDict([("fc1.weight", cr.randn(8, 4)), ("fc1.bias", cr.zeros(8)),
                      ("bn.running_mean", cr.zeros(8)), ("bn.num_batches_tracked", cr.tensor(3)),
                      ("fc2.weight", cr.randn(2, 8, dtype=cr.float64))])
    sd._metadata = OrderedDict([("", {"version": 1}), ("bn", {"version": 2})])
    return sd


def test_pytorch_style_checkpoint(tmp_path: pathlib.Path) -> None:
    sd = _state_dict_like()
    optim = {
        "state": {0: {"step": cr.tensor(10.0), "exp_avg": cr.randn(8, 4),
                      "exp_avg_sq": cr.rand(8, 4)},
                  1: {"step": 10, "momentum_buffer": None}},
        "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0,
                          "amsgrad": False, "foreach": None, "params": [0, 1, 2, 3, 4]}],
    }
    sched = {"step_size": 30, "gamma": 0.1, "base_lrs": [1e-3], "last_epoch": 4,
             "_step_count": 5, "_get_lr_called_within_step": False, "_last_lr": [1e-3]}
    ckpt = {"model": sd, "optimizer": optim, "scheduler": sched, "epoch": 4, "step": 1234,
            "best_acc": 0.9731, "rng": cr.get_rng_state(), "np_rng": np.random.get_state(),
            "args": {"lr": 0.001, "name": "run-1", "layers": [784, 128, 10]}}
    out = _roundtrip(ckpt, tmp_path)
    _same(ckpt, out)
    assert out["model"]._metadata == sd._metadata
    assert list(out["optimizer"]["state"]) == [0, 1]  # int keys stay int
    names = set(stnp.load_file(tmp_path / "obj.ckpt"))
    assert "model.fc1.weight" in names and "optimizer.state.0.exp_avg" in names


def test_state_dict_tensors_are_named_by_key(tmp_path: pathlib.Path) -> None:
    sd = _state_dict_like()
    path = tmp_path / "w.safetensors"
    cr.save(sd, path)
    plain = stnp.load_file(path)
    assert set(plain) == set(sd)
    for k, v in sd.items():
        assert np.array_equal(plain[k], v.numpy()) and plain[k].dtype == v.dtype
    got = load_safetensors(path)
    assert set(got) == set(sd) and all(isinstance(v, cr.Tensor) for v in got.values())


def test_safetensors_interop_with_torch(tmp_path: pathlib.Path) -> None:
    torch = pytest.importorskip("torch")
    import safetensors.torch as stt
    sd = _state_dict_like()
    path = tmp_path / "ours.safetensors"
    cr.save(sd, path)
    theirs = stt.load_file(str(path))
    assert set(theirs) == set(sd)
    for k, v in sd.items():
        assert np.array_equal(theirs[k].numpy(), v.numpy())
    # and the other way: a file torch wrote reads with load_safetensors, is refused by cr.load
    tpath = tmp_path / "torch.safetensors"
    stt.save_file({"w": torch.arange(6.0).reshape(2, 3), "i": torch.tensor([1, 2])}, str(tpath))
    got = load_safetensors(tpath)
    assert np.array_equal(got["w"].numpy(), np.arange(6.0, dtype=np.float32).reshape(2, 3))
    with pytest.raises(CheckpointError, match=r"plain safetensors file.*load_safetensors"):
        cr.load(tpath)
    zpath = tmp_path / "torch.pt"
    torch.save({"w": torch.ones(2)}, str(zpath))
    with pytest.raises(CheckpointError, match=r"zip archive.*never unpickles"):
        cr.load(zpath)


def test_save_safetensors(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "plain.safetensors"
    save_safetensors({"a": cr.ones(2, 3).T, "b": np.arange(4)}, path, metadata={"who": "me"})
    got = stnp.load_file(path)
    assert np.array_equal(got["a"], np.ones((3, 2), np.float32))
    assert np.array_equal(got["b"], np.arange(4))
    with pytest.raises(CheckpointError, match="plain safetensors"):
        cr.load(path)


def test_load_safetensors_refuses_unknown_dtypes(tmp_path: pathlib.Path) -> None:
    header = json.dumps({"w": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}).encode()
    header += b" " * (-len(header) % 8)
    path = tmp_path / "bf16.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header + b"\x80\x3f\x80\x3f")
    with pytest.raises(CheckpointError, match=r"dtype chainrule cannot read.*bfloat16"):
        load_safetensors(path)


def test_save_refuses_what_it_cannot_store(tmp_path: pathlib.Path) -> None:
    class Model:
        def state_dict(self) -> dict:
            return {}

    cyclic: list = []
    cyclic.append(cyclic)
    cases = [
        ({"a": [1, object()]}, TypeError, r"obj\['a'\]\[1\]"),
        ({"m": Model()}, TypeError, r"Model at obj\['m'\].*save its .state_dict\(\) instead"),
        (Model(), TypeError, r"Model: a checkpoint holds.*save its .state_dict\(\) instead"),
        ({"s": {1, 2}}, TypeError, "set"),
        ({1.5: "x"}, TypeError, "key 1.5"),
        ({"c": np.ones(2, np.complex128)}, TypeError, "complex128"),
        ({"o": np.array(["a", "b"])}, TypeError, "<U1"),
        (cyclic, ValueError, "contains itself"),
    ]
    for obj, exc, pattern in cases:
        with pytest.raises(exc, match=pattern):
            cr.save(obj, tmp_path / "bad.ckpt")
    assert list(tmp_path.iterdir()) == []  # no temp file, no partial checkpoint


def test_map_location_and_weights_only(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "m.ckpt"
    cr.save({"w": cr.ones(2)}, path)
    for ml in (None, "cpu", cr.device("cpu"), {"cuda:0": "cpu"}, lambda storage, loc: storage):
        assert np.array_equal(cr.load(path, map_location=ml)["w"].numpy(), np.ones(2))
    assert cr.load(path, weights_only=False)["w"].shape == (2,)
    with pytest.raises(RuntimeError, match="cuda"):
        cr.load(path, map_location="cuda")
    with pytest.raises(RuntimeError, match="cuda"):
        cr.load(path, map_location={"cpu": "cuda:0"})


# -- refusals -------------------------------------------------------------------------------------

def _good_file(tmp_path: pathlib.Path) -> tuple[pathlib.Path, bytes, int]:
    path = tmp_path / "good.ckpt"
    cr.save({"model": _state_dict_like(), "epoch": 3, "lr": 0.5}, path)
    data = path.read_bytes()
    return path, data, int.from_bytes(data[:8], "little")


def test_refuses_files_that_are_not_ours(tmp_path: pathlib.Path) -> None:
    p = tmp_path / "f"
    cases = {
        b"": "is empty",
        pickle.dumps({"w": [1.0, 2.0]}, protocol=2): "pickle",
        pickle.dumps({"w": [1.0, 2.0]}): "pickle",
        np.random.default_rng(0).bytes(5000): "not a chainrule checkpoint",
        b"hello": "truncated or not a checkpoint",
        b"just some text that is long enough to have a header length": "not a chainrule",
    }
    buf = io.BytesIO()
    np.save(buf, np.arange(3))
    cases[buf.getvalue()] = r"\.npy"
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    cases[zbuf.getvalue()] = "zip archive"
    stnp.save_file({"w": np.ones(3, np.float32)}, tmp_path / "plain")
    cases[(tmp_path / "plain").read_bytes()] = "plain safetensors file.*load_safetensors"
    for data, pattern in cases.items():
        p.write_bytes(data)
        with pytest.raises(CheckpointError, match=pattern) as e:
            cr.load(p)
        assert str(p) in str(e.value)
        with pytest.raises(CheckpointError, match=pattern):
            cr.load(io.BytesIO(data))
    with pytest.raises(FileNotFoundError):
        cr.load(tmp_path / "missing.ckpt")


def test_refuses_truncated_files(tmp_path: pathlib.Path) -> None:
    _, data, n = _good_file(tmp_path)
    cut = tmp_path / "cut.ckpt"
    for size in sorted({1, 4, 7, 8, 9, 8 + n // 2, 8 + n - 1, 8 + n, 8 + n + 1,
                        len(data) // 2, len(data) - 1}):
        cut.write_bytes(data[:size])
        with pytest.raises(CheckpointError, match="truncated") as e:
            cr.load(cut)
        assert str(cut) in str(e.value)
    cut.write_bytes(data + b"\0")
    with pytest.raises(CheckpointError, match="unexpected bytes"):
        cr.load(cut)


def test_refuses_a_flipped_byte_anywhere(tmp_path: pathlib.Path) -> None:
    _, data, n = _good_file(tmp_path)
    bad = tmp_path / "bad.ckpt"
    rng = np.random.default_rng(0)
    payload = rng.choice(np.arange(8 + n, len(data)), 40, replace=False)
    for pos in payload:
        flipped = bytearray(data)
        flipped[pos] ^= 1 << int(rng.integers(8))
        bad.write_bytes(bytes(flipped))
        with pytest.raises(CheckpointError, match=r"integrity check.*modified or corrupted"):
            cr.load(bad)
    for pos in range(8 + n):  # every byte of the length and the JSON header
        flipped = bytearray(data)
        flipped[pos] ^= 0x01 if pos % 2 else 0x40
        bad.write_bytes(bytes(flipped))
        with pytest.raises(CheckpointError, match=str(bad)):
            cr.load(bad)


def _rewrite(path: pathlib.Path, arrays: dict | None = None, **meta: str) -> None:
    """Rewrite a checkpoint with changed tensors or metadata but the recorded digest kept."""
    with safe_open(str(path), "np") as f:
        old_meta, old_arrays = f.metadata(), f.get_tensors()
    stnp.save_file(arrays or old_arrays, path, metadata={**old_meta, **meta})


def test_refuses_tampering_that_keeps_the_file_well_formed(tmp_path: pathlib.Path) -> None:
    path, data, _ = _good_file(tmp_path)
    arrays = stnp.load_file(path)
    arrays["model.fc1.bias"] = arrays["model.fc1.bias"] + 1
    _rewrite(path, arrays)
    with pytest.raises(CheckpointError, match="integrity check"):
        cr.load(path)
    path.write_bytes(data)
    meta = safe_open(str(path), "np").metadata()
    structure = meta["structure"].replace('["epoch",3]', '["epoch",4]')
    assert structure != meta["structure"]
    _rewrite(path, structure=structure)
    with pytest.raises(CheckpointError, match="integrity check"):
        cr.load(path)
    path.write_bytes(data)
    _rewrite(path, sha256="0" * 64)
    with pytest.raises(CheckpointError, match="integrity check"):
        cr.load(path)


def test_refuses_unknown_versions(tmp_path: pathlib.Path) -> None:
    path, data, _ = _good_file(tmp_path)
    _rewrite(path, format_version="2")
    with pytest.raises(CheckpointError, match=r"newer chainrule.*version 2.*reads version 1"):
        cr.load(path)
    path.write_bytes(data)
    _rewrite(path, format_version="beta")
    with pytest.raises(CheckpointError, match="unknown chainrule format version 'beta'"):
        cr.load(path)


def test_corrupt_structure_is_refused_cleanly(tmp_path: pathlib.Path) -> None:
    """A structure that does not match its tensors (a buggy or hostile writer) is an error."""
    path = tmp_path / "c.ckpt"
    cr.save({"w": cr.ones(2)}, path)
    meta = safe_open(str(path), "np").metadata()
    arrays = stnp.load_file(path)
    for structure in ('{"t":"tensor","name":"nope","dtype":"float32","shape":[2],'
                      '"requires_grad":false}',
                      '{"t":"tensor","name":"w","dtype":"float64","shape":[2],'
                      '"requires_grad":false}',
                      '{"t":"pickle","v":"cos\\nsystem"}', '[1, 2]', '{"t":"float"}'):
        sha = serialization._digest(structure, arrays)
        stnp.save_file(arrays, path, metadata={**meta, "structure": structure, "sha256": sha})
        with pytest.raises(CheckpointError, match="structure does not describe"):
            cr.load(path)


# -- atomic writes --------------------------------------------------------------------------------

def test_failure_mid_save_leaves_previous_checkpoint(tmp_path: pathlib.Path, monkeypatch) -> None:
    path = tmp_path / "run.ckpt"
    cr.save({"w": cr.ones(1000), "epoch": 1}, path)
    before = path.read_bytes()

    class Unsavable:  # fails during serialisation, after the temp file was opened
        pass

    seen: list[list[str]] = []
    real = serialization._encode

    def spy(obj: object) -> object:
        seen.append(sorted(os.listdir(tmp_path)))
        return real(obj)

    monkeypatch.setattr(serialization, "_encode", spy)
    with pytest.raises(TypeError, match="Unsavable"):
        cr.save({"w": cr.zeros(1000), "epoch": 2, "x": [Unsavable()]}, path)
    assert len(seen[0]) == 2 and any(n.endswith(".tmp") for n in seen[0])  # temp file existed
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["run.ckpt"]

    def half_then_fail(arrays: dict, tmp: str, metadata: dict) -> None:
        data = stnp.save(arrays, metadata=metadata)
        with open(tmp, "wb") as f:
            f.write(data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(serialization, "_write_file", half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        cr.save({"w": cr.zeros(1000), "epoch": 2}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["run.ckpt"]
    assert cr.load(path)["epoch"] == 1


def test_atomic_write_on_interrupt(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), atomic_write(path) as tmp:
        pathlib.Path(tmp).write_bytes(b"new but partial")
        raise KeyboardInterrupt
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["f.bin"]
    with atomic_write(path) as tmp:
        pathlib.Path(tmp).write_bytes(b"new")
    assert path.read_bytes() == b"new" and os.listdir(tmp_path) == ["f.bin"]


def _observe_durability(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Record every os.fsync (what it flushed: a file or a folder, and its inode) and
    os.replace, in order."""
    import stat

    events: list[tuple] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        st = os.fstat(fd)
        events.append(("fsync", "dir" if stat.S_ISDIR(st.st_mode) else "file", st.st_ino))
        real_fsync(fd)

    def replace(src: Any, dst: Any, *a: Any, **k: Any) -> None:
        events.append(("replace", os.fspath(dst)))
        real_replace(src, dst, *a, **k)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return events


@pytest.mark.parametrize("how", ["atomic_write", "cr.save", "save_checkpoint"])
def test_atomic_write_flushes_the_file_then_renames_then_flushes_the_folder(
        how: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 13 item 22: durability is observed, not assumed: the data is fsync-ed before the
    rename (else a power cut can leave an empty file under the final name) and the folder after
    it (else the rename itself can be lost)."""
    path = tmp_path / "f.bin"
    events = _observe_durability(monkeypatch)
    if how == "atomic_write":
        with atomic_write(path) as tmp:
            pathlib.Path(tmp).write_bytes(b"data")
    elif how == "cr.save":
        cr.save({"w": cr.ones(3)}, path)
    else:
        from chainrule.io import save_checkpoint

        model = cr.nn.Linear(2, 1)
        save_checkpoint(path, model=model, optimizer=cr.optim.SGD(model.parameters(), lr=0.1),
                        epoch=1)
    file_ino, dir_ino = path.stat().st_ino, tmp_path.stat().st_ino
    mine = [e for e in events if e[0] == "replace" and e[1] == os.fspath(path)]
    assert len(mine) == 1, events
    at = events.index(mine[0])
    before, after = events[:at], events[at + 1:]
    assert ("fsync", "file", file_ino) in before, f"the file was not fsync-ed before the rename: "\
        f"{events}"
    assert ("fsync", "dir", dir_ino) in after, f"the folder was not fsync-ed after the rename: "\
        f"{events}"


_WRITER = textwrap.dedent("""
    import sys
    import time
    import numpy as np
    import chainrule as cr
    from chainrule.io import serialization
    path, n, slow = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "slow"
    if slow:  # a slow disk: say when half the file is written, then stall (to be killed there)
        def write(arrays, tmp, metadata):
            data = serialization.stnp.save(arrays, metadata=metadata)
            with open(tmp, "wb") as f:
                f.write(data[: len(data) // 2])
                f.flush()
                print("mid", flush=True)
                time.sleep(0.5)
                f.write(data[len(data) // 2:])
        serialization._write_file = write
    i = 0
    while True:
        i += 1
        cr.save({"i": i, "w": np.full(n, i, np.float32), "t": cr.full((n // 4,), float(i))}, path)
        print(i, flush=True)
""")


def _check_consistent(path: pathlib.Path) -> int:
    ckpt = cr.load(path)
    i = ckpt["i"]
    assert ckpt["w"][0] == ckpt["w"][-1] == i and np.all(ckpt["w"] == i)
    assert np.all(ckpt["t"].numpy() == i)
    return i


def _writer(path: pathlib.Path, mode: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(2_000_000), mode],
                            stdout=subprocess.PIPE, text=True, env=env)


def _kill(child: subprocess.Popen) -> None:
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.stdout is not None
    child.stdout.close()


def test_sigkill_during_writes_never_corrupts(tmp_path: pathlib.Path) -> None:
    """A child saves ~10 MB checkpoints in a loop and is SIGKILLed; the file always loads."""
    path = tmp_path / "live.ckpt"
    rng = random.Random(0)
    for _ in range(2):  # killed at a random moment while the parent keeps reading the file
        child = _writer(path, "fast")
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip(), "the writer child failed to start"
            deadline = time.monotonic() + rng.uniform(0.2, 1.0)
            while time.monotonic() < deadline:  # readers during writes see whole files only
                _check_consistent(path)
        finally:
            _kill(child)
        _check_consistent(path)
    # killed for certain in the middle of a write (a slow disk), after a few whole checkpoints
    child = _writer(path, "slow")
    try:
        assert child.stdout is not None
        lines = [child.stdout.readline().strip() for _ in range(5)]  # mid 1 mid 2 mid
        assert lines == ["mid", "1", "mid", "2", "mid"], lines
    finally:
        _kill(child)
    assert len(list(tmp_path.glob(".live.ckpt.*.tmp"))) >= 1  # the half-written temp file
    assert _check_consistent(path) == 2  # the last whole checkpoint, untouched
    for stray in tmp_path.glob(".live.ckpt.*.tmp"):
        stray.unlink()


# -- checkpoints and bit-exact resume -------------------------------------------------------------

class TinyMLP:
    """A stand-in with PyTorch's Module contract (state_dict / load_state_dict) and dropout."""

    def __init__(self, n_in: int = 4, n_hidden: int = 16, n_out: int = 3, p: float = 0.2) -> None:
        self.w1 = (cr.randn(n_in, n_hidden) * 0.5).requires_grad_()
        self.b1 = cr.zeros(n_hidden, requires_grad=True)
        self.w2 = (cr.randn(n_hidden, n_out) * 0.5).requires_grad_()
        self.b2 = cr.zeros(n_out, requires_grad=True)
        self.p = p
        self.training = True

    def parameters(self) -> list:
        return [self.w1, self.b1, self.w2, self.b2]

    def __call__(self, x: cr.Tensor) -> cr.Tensor:
        h = cr.relu(x @ self.w1 + self.b1)
        if self.training:  # dropout: a fresh mask from the default generator every call
            h = h * ((cr.rand(*h.shape) >= self.p).float() * (1.0 / (1.0 - self.p)))
        return h @ self.w2 + self.b2

    def state_dict(self) -> OrderedDict:
        return OrderedDict((k, getattr(self, k).detach()) for k in ("w1", "b1", "w2", "b2"))

    def load_state_dict(self, sd: dict, strict: bool = True) -> None:
        with cr.no_grad():
            for k, v in sd.items():
                getattr(self, k).copy_(v)


class MomentumSGD:
    """A stand-in SGD with momentum and PyTorch's optimizer state_dict format."""

    def __init__(self, params: list, lr: float, momentum: float) -> None:
        self.params = list(params)
        self.param_groups = [{"lr": lr, "momentum": momentum, "dampening": 0,
                              "weight_decay": 0, "nesterov": False}]
        self.state: dict = {}

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        g = self.param_groups[0]
        with cr.no_grad():
            for i, p in enumerate(self.params):
                buf = self.state.get(i)
                if buf is None:
                    buf = self.state[i] = p.grad.detach().clone()
                else:
                    buf.mul_(g["momentum"]).add_(p.grad)
                p.sub_(buf * g["lr"])

    def state_dict(self) -> dict:
        return {"state": {i: {"momentum_buffer": b} for i, b in self.state.items()},
                "param_groups": [{**self.param_groups[0],
                                  "params": list(range(len(self.params)))}]}

    def load_state_dict(self, sd: dict) -> None:
        self.param_groups[0].update({k: v for k, v in sd["param_groups"][0].items()
                                     if k != "params"})
        self.state = {i: s["momentum_buffer"].detach().clone() for i, s in sd["state"].items()}


def _standin() -> tuple:
    model = TinyMLP()
    return model, MomentumSGD(model.parameters(), lr=0.05, momentum=0.9), None


def _real() -> tuple:
    from chainrule import nn, optim

    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    return model, opt, optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)


DATA = np.random.default_rng(42)
X = DATA.standard_normal((64, 4)).astype(np.float32)
Y = DATA.standard_normal((64, 3)).astype(np.float32)


def _batches(loader) -> object:
    """Shuffled mini-batches: a chainrule DataLoader, or a permutation from cr's generator."""
    if loader is not None:
        yield from loader
        return
    perm = cr.randperm(64).numpy()  # drawn from cr's default generator at each epoch start
    for start in range(0, 64, 16):
        idx = perm[start:start + 16]
        yield cr.from_numpy(X[idx]), cr.from_numpy(Y[idx])


def _train(model, opt, sched, loader, epochs: range) -> None:
    for _ in epochs:
        for xb, yb in _batches(loader):
            opt.zero_grad()
            loss = ((model(xb) - yb) ** 2).mean()
            loss.backward()
            opt.step()
        if sched is not None:
            sched.step()


def _weights(model) -> list[np.ndarray]:
    return [v.numpy().copy() for v in model.state_dict().values()]


@pytest.mark.parametrize("impl", ["standin", "chainrule", "chainrule+loader"])
def test_resume_is_bit_exact(impl: str, tmp_path: pathlib.Path) -> None:
    """2 epochs, checkpoint, 2 more in fresh objects == 4 epochs straight, bit for bit."""
    def make() -> tuple:
        model, opt, sched = _standin() if impl == "standin" else _real()
        gen = loader = None
        if impl == "chainrule+loader":  # a DataLoader shuffling with its own cr.Generator
            from chainrule import data

            gen = cr.Generator().manual_seed(7)
            loader = data.DataLoader(data.TensorDataset(X, Y), batch_size=16, shuffle=True,
                                     generator=gen)
        return model, opt, sched, loader, gen

    cr.manual_seed(0)
    model, opt, sched, loader, _ = make()
    _train(model, opt, sched, loader, range(4))
    straight = _weights(model)

    cr.manual_seed(0)
    model, opt, sched, loader, gen = make()
    _train(model, opt, sched, loader, range(2))
    path = tmp_path / "resume.ckpt"
    extra = {"note": "half way", "loader_rng": gen.get_state() if gen is not None else None}
    save_checkpoint(path, model, opt, sched, epoch=1, step=8, extra=extra)
    del model, opt, sched, loader, gen

    results = {}
    for restore in (True, False):
        cr.manual_seed(1234)  # a different process, a different seed: the checkpoint decides
        np.random.seed(99)
        model, opt, sched, loader, gen = make()  # fresh objects, different initial weights
        info = load_checkpoint(path, model, opt, sched, restore_rng=restore)
        assert info["epoch"] == 1 and info["step"] == 8 and info["extra"]["note"] == "half way"
        if gen is not None and restore:
            gen.set_state(info["extra"]["loader_rng"])
        _train(model, opt, sched, loader, range(info["epoch"] + 1, 4))
        results[restore] = _weights(model)
    for a, b in zip(straight, results[True]):
        assert np.array_equal(a, b) and a.tobytes() == b.tobytes()
    # without the RNG state the shuffles and dropout masks differ, so the weights do too
    assert any(not np.array_equal(a, b) for a, b in zip(straight, results[False]))


def test_checkpoint_contents_and_errors(tmp_path: pathlib.Path) -> None:
    model, opt, _ = _standin()
    path = tmp_path / "c.ckpt"
    save_checkpoint(path, model=model, epoch=7)
    raw = cr.load(path)
    assert raw["manifest"]["kind"] == "chainrule.checkpoint"
    assert raw["manifest"]["chainrule_version"] == cr.__version__
    assert raw["manifest"]["contents"] == ["model"] and raw["optimizer"] is None
    assert "created" in raw["manifest"] and raw["rng"]["chainrule"]["bit_generator"] == "PCG64"

    info = load_checkpoint(path)  # nothing given: the state dicts come back
    assert info["epoch"] == 7 and set(info["model"]) == {"w1", "b1", "w2", "b2"}
    with pytest.raises(CheckpointError, match="holds no optimizer state"):
        load_checkpoint(path, model, opt)
    cr.save({"w": cr.ones(2)}, tmp_path / "plain.ckpt")
    with pytest.raises(CheckpointError, match="not a checkpoint written by save_checkpoint"):
        load_checkpoint(tmp_path / "plain.ckpt")

    # the RNG state comes back exactly: the next draws repeat
    cr.manual_seed(5)
    random.seed(5)
    save_checkpoint(path, model)
    draws = (cr.rand(3).numpy(), np.random.random(2), random.random())
    cr.manual_seed(6)
    load_checkpoint(path, model)
    again = (cr.rand(3).numpy(), np.random.random(2), random.random())
    assert np.array_equal(draws[0], again[0]) and np.array_equal(draws[1], again[1])
    assert draws[2] == again[2]
    info = load_checkpoint(path, restore_rng=False)
    assert info["rng"]["chainrule"]["bit_generator"] == "PCG64"
