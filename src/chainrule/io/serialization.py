"""``cr.save`` / ``cr.load``: what PyTorch scripts save, in one safetensors file, never pickled.

A saved object (a tensor, a ``state_dict``, ``{"model": ..., "optimizer": ..., "epoch": 3}``, any
nesting of dicts, lists and tuples of tensors, NumPy arrays, Python numbers, bools, None and
strings) becomes one safetensors file:

* its tensors are the flattened leaves, named by their path (``model.fc1.weight``,
  ``optimizer.state.0.exp_avg``; a top-level ``state_dict``'s tensors are named by their keys,
  so ``safetensors.torch.load_file`` reads our weights as plain tensors);
* its ``__metadata__`` holds ``format`` ("chainrule"), ``format_version``, ``structure`` (JSON:
  container types, OrderedDict vs dict, tuple vs list, int vs str keys, Python scalars exactly,
  each leaf's kind: Tensor, Parameter, NumPy array or NumPy scalar, with dtype, shape and
  ``requires_grad``) and ``sha256``, a digest of the format, the structure and every tensor's
  name, dtype, shape and bytes.

Loading reads only data: nothing is unpickled or evaluated, so a file cannot run code, and
``weights_only`` is accepted for PyTorch compatibility but changes nothing. ``cr.load`` refuses,
naming the file and the problem, anything that is not one of ours (a PyTorch zip, a pickle, a
plain safetensors file: read that with ``load_safetensors``), a truncated file, a file whose
digest does not match (tampered or corrupted), and an unknown format version. Writes are atomic
(``chainrule.io.atomic``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
from collections import OrderedDict
from typing import Any, BinaryIO

import numpy as np
import safetensors.numpy as stnp
from safetensors import SafetensorError, safe_open

from chainrule.autograd.factories import from_numpy
from chainrule.autograd.tensor import Tensor
from chainrule.backend import check_device
from chainrule.io.atomic import atomic_write, os_error_naming

FORMAT = "chainrule"
FORMAT_VERSION = 1
MAX_HEADER = 100_000_000  # safetensors' own limit on the JSON header

_DTYPES = {np.dtype(n).name: np.dtype(n) for n in (
    "bool", "uint8", "int8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
    "float16", "float32", "float64")}
_LEAVES = ("tensor", "parameter", "ndarray", "npscalar")

PathLike = str | os.PathLike[Any]


class CheckpointError(ValueError):
    """A file ``cr.load`` refuses: not ours, truncated, tampered with, or of an unknown version."""


def _contiguous(a: np.ndarray) -> np.ndarray:
    """``a`` in C order (``np.ascontiguousarray`` would turn a 0-d array into 1-d)."""
    return a if a.flags.c_contiguous else a.copy(order="C")


# -- save ---------------------------------------------------------------------------------------

def _fmt_path(path: list[Any]) -> str:
    return "obj" + "".join(f"[{k!r}]" for k in path)


def _parameter_class() -> type | None:
    try:
        from chainrule.nn.parameter import Parameter
    except ImportError:  # nn not built yet: Parameters are stored as tensors
        return None
    return Parameter


class _Encoder:
    """Walks an object, collecting its array leaves and returning its JSON description."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self._seen: dict[int, dict] = {}  # id(tensor or array) -> its node: shared ones once
        self._alive: list[Any] = []  # keeps ids unique while encoding
        self._open: set[int] = set()  # containers being walked: a cycle is an error
        self._param = _parameter_class()

    def _name(self, path: list[Any]) -> str:
        base = ".".join(str(k) for k in path) or "tensor"
        name, n = base, 1
        while name in self.arrays or name == "__metadata__":
            n += 1
            name = f"{base}#{n}"
        return name

    def _leaf(self, obj: Any, kind: str, arr: np.ndarray, path: list[Any],
              requires_grad: bool = False) -> dict:
        if id(obj) in self._seen:
            return self._seen[id(obj)]
        if arr.dtype.name not in _DTYPES or arr.dtype.kind not in "biuf":
            raise TypeError(
                f"cr.save: cannot store the {arr.dtype} {kind} at {_fmt_path(path)}; supported "
                f"dtypes are {', '.join(_DTYPES)}")
        if arr.dtype.byteorder == ">":
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        arr = _contiguous(arr)  # safetensors reads raw memory
        name = self._name(path)
        self.arrays[name] = arr
        node: dict[str, Any] = {"t": kind, "name": name, "dtype": arr.dtype.name,
                                "shape": list(arr.shape)}
        if kind in ("tensor", "parameter"):
            node["requires_grad"] = bool(requires_grad)
        self._seen[id(obj)] = node
        self._alive.append(obj)
        return node

    def encode(self, obj: Any, path: list[Any]) -> Any:
        if obj is None or type(obj) in (bool, int, str):
            return obj
        if type(obj) is float:
            return {"t": "float", "v": obj.hex()}
        if type(obj) is complex:
            return {"t": "complex", "v": [obj.real.hex(), obj.imag.hex()]}
        if isinstance(obj, Tensor):
            kind = "parameter" if self._param and isinstance(obj, self._param) else "tensor"
            return self._leaf(obj, kind, obj.detach().numpy(), path, obj.requires_grad)
        if isinstance(obj, np.ndarray):
            return self._leaf(obj, "ndarray", obj, path)
        if isinstance(obj, np.generic):
            return self._leaf(obj, "npscalar", np.asarray(obj), path)
        if isinstance(obj, np.dtype) and obj.name in _DTYPES:
            return {"t": "dtype", "v": obj.name}
        if isinstance(obj, (dict, list, tuple)) and not hasattr(obj, "_fields"):
            if id(obj) in self._open:
                raise ValueError(f"cr.save: {_fmt_path(path)} contains itself; a checkpoint "
                                 "must be a tree of containers")
            self._open.add(id(obj))
            try:
                return self._container(obj, path)
            finally:
                self._open.discard(id(obj))
        hint = ("; save its .state_dict() instead" if hasattr(obj, "state_dict")
                else "; convert it first (a namedtuple: ._asdict())")
        where = f" at {_fmt_path(path)}" if path else ""
        raise TypeError(
            f"cr.save: cannot store a {type(obj).__module__}.{type(obj).__qualname__}{where}: a "
            "checkpoint holds tensors, NumPy arrays and scalars, Python numbers, bools, None and "
            f"strings, in dicts (str or int keys), lists and tuples{hint}")

    def _container(self, obj: Any, path: list[Any]) -> dict:
        if isinstance(obj, list):
            return {"t": "list", "items": [self.encode(v, [*path, i]) for i, v in enumerate(obj)]}
        if isinstance(obj, tuple):
            return {"t": "tuple", "items": [self.encode(v, [*path, i]) for i, v in enumerate(obj)]}
        items = []
        for k, v in obj.items():
            if k is not None and type(k) not in (str, int, bool):
                raise TypeError(f"cr.save: {_fmt_path(path)} has the key {k!r} of type "
                                f"{type(k).__name__}; keys must be str or int (as in a "
                                "state_dict or an optimizer's state)")
            items.append([k, self.encode(v, [*path, k])])
        node: dict[str, Any] = {"t": "odict" if isinstance(obj, OrderedDict) else "dict",
                                "items": items}
        meta = getattr(obj, "_metadata", None)  # PyTorch's state_dict carries module versions
        if meta is not None:
            node["meta"] = self.encode(meta, [*path, "_metadata"])
        return node


def _digest(structure: str, arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over the format, the structure and every tensor's name, dtype, shape and bytes."""
    h = hashlib.sha256(f"{FORMAT}\n{FORMAT_VERSION}\n".encode())
    h.update(structure.encode())
    for name in sorted(arrays):
        a = arrays[name]
        h.update(json.dumps([name, a.dtype.name, list(a.shape)]).encode())
        if a.dtype.byteorder == ">":
            a = a.astype(a.dtype.newbyteorder("<"))
        h.update(_contiguous(a).reshape(-1).view(np.uint8))
    return h.hexdigest()


def _encode(obj: Any) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    enc = _Encoder()
    structure = json.dumps(enc.encode(obj, []), separators=(",", ":"), allow_nan=False)
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION),
                "structure": structure, "sha256": _digest(structure, enc.arrays)}
    return enc.arrays, metadata


def _write_file(arrays: dict[str, np.ndarray], tmp: str,
                metadata: dict[str, str] | None) -> None:
    """Write a safetensors file's bytes into ``tmp``, the temporary file of an atomic write.

    Never safetensors' own file writer: it raises ``SafetensorError`` naming no path when the
    disk is full and leaves its own ``.tmpXXXXXX`` file behind when interrupted."""
    data = stnp.save(arrays, metadata=metadata)
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()


def _save_atomic(path: PathLike, build: Any) -> None:
    """``_write_file(*build())`` into ``path`` through ``atomic_write``: any failure removes the
    temporary file; an ``OSError`` (disk full, ...) is re-raised naming ``path``."""
    try:
        with atomic_write(path) as tmp:  # the temp file exists from here: any failure removes it
            arrays, metadata = build()
            _write_file(arrays, tmp, metadata)
    except OSError as e:
        raise os_error_naming(e, path) from e


def save(obj: Any, f: PathLike | BinaryIO) -> None:
    """Save ``obj`` (a tensor, a state_dict, a dict of them, ...) to ``f``, as ``torch.save`` does.

    The file is a safetensors file (see the module docstring); a path is written atomically, so
    a crash mid-write leaves the previous file intact. ``f`` may also be a binary file object.

    >>> import chainrule as cr, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "w.ckpt")
    >>> cr.save({"w": cr.ones(2), "epoch": 3}, path)
    >>> cr.load(path)["epoch"]
    3
    """
    if hasattr(f, "write"):
        arrays, metadata = _encode(obj)
        f.write(stnp.save(arrays, metadata=metadata))
        return
    _save_atomic(f, lambda: _encode(obj))


# -- load ---------------------------------------------------------------------------------------

def _where(f: Any) -> str:
    if hasattr(f, "read"):
        name = getattr(f, "name", None)
        return repr(name) if isinstance(name, str) else f"<{type(f).__name__}>"
    return repr(os.fspath(f))


def _head_of(read: Any) -> bytes:
    """The 8-byte length and the JSON header (as much of it as there is)."""
    head = read(8)
    if len(head) == 8:
        n = int.from_bytes(head, "little")
        if n <= MAX_HEADER:
            head += read(n)
    return head


def _check_meta(meta: Any, where: str) -> dict:
    hint = "read its tensors with chainrule.io.load_safetensors(path)"
    if meta is None or meta == {}:
        raise CheckpointError(
            f"{where} is a plain safetensors file (no metadata), not a chainrule checkpoint; "
            f"{hint}")
    if not isinstance(meta, dict):
        raise CheckpointError(f"{where} is corrupted: its safetensors __metadata__ is a "
                              f"{type(meta).__name__}, not a table of strings")
    fmt = meta.get("format")
    if fmt is None:
        raise CheckpointError(
            f"{where} is a plain safetensors file (its metadata has the keys "
            f"{', '.join(sorted(map(repr, meta))[:5])}, no 'format'), not a chainrule "
            f"checkpoint; {hint}")
    if fmt != FORMAT:
        raise CheckpointError(
            f"{where} is a plain safetensors file written by another tool (metadata format "
            f"{str(fmt)[:40]!r}, not {FORMAT!r}), not a chainrule checkpoint; {hint}")
    version = meta.get("format_version")
    if version != str(FORMAT_VERSION):
        if isinstance(version, str) and version.isdigit() and int(version) > FORMAT_VERSION:
            raise CheckpointError(
                f"{where} was written by a newer chainrule (checkpoint format version {version}; "
                f"this chainrule reads version {FORMAT_VERSION}); upgrade chainrule to load it")
        raise CheckpointError(f"{where} has an unknown chainrule format version {version!r} "
                              f"(this chainrule reads version {FORMAT_VERSION})")
    for key in ("structure", "sha256"):
        if not isinstance(meta.get(key), str):
            raise CheckpointError(f"{where} is corrupted: its chainrule metadata has no {key!r}")
    return meta


def _refuse_foreign(head: bytes, where: str) -> None:
    """Name the common files that are not safetensors at all."""
    if head[:4] == b"PK\x03\x04":
        raise CheckpointError(
            f"{where} is a zip archive (a PyTorch torch.save file or a NumPy .npz), not a "
            "chainrule checkpoint; chainrule never unpickles. Convert it where torch is "
            "installed: safetensors.torch.save_file(torch.load(f), 'w.safetensors'), then read "
            "it with chainrule.io.load_safetensors")
    # PROTO 2..5, then an opcode (never 0; a safetensors length's third byte usually is)
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05") and \
            head[2:3] not in (b"", b"\x00"):
        raise CheckpointError(f"{where} is a Python pickle (e.g. a legacy torch.save file), not "
                              "a chainrule checkpoint; chainrule never unpickles (it could run "
                              "arbitrary code)")
    if head[:6] == b"\x93NUMPY":
        raise CheckpointError(f"{where} is a NumPy .npy file, not a chainrule checkpoint; read "
                              "it with numpy.load")


def _describe_json(value: Any) -> str:
    shown = json.dumps(value)
    return shown if len(shown) <= 60 else f"a {type(value).__name__} ({shown[:50]}...)"


def _entry_end(name: str, info: Any, where: str) -> int:
    """The end offset of one tensor entry of a safetensors header, after checking its
    data_offsets are two whole numbers, begin <= end, neither negative."""
    entry = f"{where} is corrupted: the header entry {name[:80]!r}"
    if not isinstance(info, dict):
        raise CheckpointError(f"{entry} is {_describe_json(info)}, not a tensor description "
                              "({'dtype', 'shape', 'data_offsets'})")
    offsets = info.get("data_offsets")
    if not (isinstance(offsets, list) and len(offsets) == 2
            and all(type(o) is int for o in offsets)):
        raise CheckpointError(f"{entry} has no valid data_offsets (two whole numbers, "
                              f"[begin, end]; got {_describe_json(offsets)})")
    begin, end = offsets
    if begin < 0 or end < 0:
        raise CheckpointError(f"{entry} has negative data_offsets [{begin}, {end}]")
    if begin > end:
        raise CheckpointError(f"{entry} has reversed data_offsets [{begin}, {end}] (its data "
                              "would end before it begins)")
    return end


def _sniff(head: bytes, size: int, where: str, ours: bool = True) -> dict:
    """Check the framing of a safetensors file (and, if ``ours``, its chainrule metadata)."""
    if size == 0:
        raise CheckpointError(f"{where} is empty (0 bytes): not a chainrule checkpoint (was its "
                              "write interrupted?)")
    n = int.from_bytes(head[:8], "little") if size >= 8 else 0
    body = head[8:]
    if not (2 <= n <= MAX_HEADER and body[:1] == b"{"):  # not the start of a safetensors file
        _refuse_foreign(head, where)
        if size < 8 or (size == 8 and 2 <= n <= MAX_HEADER):
            raise CheckpointError(f"{where} is truncated or not a checkpoint: only {size} bytes, "
                                  "not even a whole safetensors header")
        raise CheckpointError(
            f"{where} is not a chainrule checkpoint: it does not start with a safetensors header "
            "(chainrule checkpoints are safetensors files written by cr.save)")
    if 8 + n > size:
        raise CheckpointError(f"{where} is truncated: {size} bytes, but its safetensors header "
                              f"alone needs {8 + n} (an interrupted write or incomplete copy?)")
    try:
        header = json.loads(body[:n])
    except RecursionError:  # e.g. [[[[...]]]] 100,000 deep: Python's parser stops at its limit
        raise CheckpointError(
            f"{where} is corrupted or hostile: its safetensors header nests deeper than "
            f"{sys.getrecursionlimit()} levels, Python's limit for parsing JSON (a safetensors "
            "header nests 3 deep)") from None
    except ValueError:
        header = None
    if not isinstance(header, dict):
        raise CheckpointError(f"{where} is corrupted or not a checkpoint: its safetensors header "
                              "is not a valid JSON object")
    end = 0
    for name, info in header.items():
        if name == "__metadata__":
            meta = info
            if meta is not None and not (isinstance(meta, dict) and all(
                    isinstance(v, str) for v in meta.values())):
                raise CheckpointError(
                    f"{where} is corrupted: its safetensors __metadata__ is "
                    f"{_describe_json(meta)}, not a table of strings")
            continue
        end = max(end, _entry_end(name, info, where))
    if ours:
        _check_meta(header.get("__metadata__"), where)
    expected = 8 + n + end
    if size < expected:
        raise CheckpointError(f"{where} is truncated: {size} bytes, but its header describes "
                              f"{expected} (an interrupted write or incomplete copy?)")
    if size > expected:
        raise CheckpointError(f"{where} is corrupted: {size - expected} unexpected bytes follow "
                              "the data its header describes")
    return header


def _read(f: Any, ours: bool) -> tuple[dict[str, np.ndarray], dict]:
    """Check the file, then read its arrays and metadata (from one consistent snapshot)."""
    arrays, meta = _read_raw(f, ours)
    for name, a in arrays.items():  # with ml_dtypes installed (onnx needs it) BF16 reads as such
        if a.dtype.name not in _DTYPES:
            raise CheckpointError(
                f"{_where(f)} holds a tensor whose dtype chainrule cannot read ({name!r}: "
                f"{a.dtype.name}); chainrule reads {', '.join(_DTYPES)} (convert bfloat16 to "
                "float32 before saving)")
    return arrays, meta


def _read_raw(f: Any, ours: bool) -> tuple[dict[str, np.ndarray], dict]:
    where = _where(f)
    try:
        if hasattr(f, "read"):
            data = f.read()
            header = _sniff(_head_of(io.BytesIO(data).read), len(data), where, ours)
            arrays = {k: np.array(v) for k, v in stnp.load(data).items()}  # writable copies
            return arrays, header.get("__metadata__") or {}
        path = os.fspath(f)
        with open(path, "rb") as fh:
            _sniff(_head_of(fh.read), os.fstat(fh.fileno()).st_size, where, ours)
        with safe_open(path, framework="np", backend="pread") as st:  # no mmap: no SIGBUS
            return st.get_tensors(), st.metadata() or {}
    except SafetensorError as e:
        raise CheckpointError(f"{where} is corrupted: safetensors cannot read it ({e})") from None
    except (TypeError, KeyError) as e:  # a dtype NumPy lacks, e.g. BF16
        raise CheckpointError(
            f"{where} holds a tensor whose dtype chainrule cannot read ({e}); chainrule reads "
            f"{', '.join(_DTYPES)} (convert bfloat16 to float32 before saving)") from None


def _check_map_location(map_location: Any) -> None:
    if map_location is None or callable(map_location):
        return
    if isinstance(map_location, dict):
        for target in map_location.values():
            _check_map_location(target)
        return
    check_device(map_location, "cr.load: map_location")


class _Decoder:
    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays
        self._built: dict[str, Any] = {}
        self._param = _parameter_class()

    def decode(self, node: Any) -> Any:
        if node is None or type(node) in (bool, int, str):
            return node
        t = node["t"]
        if t == "float":
            return float.fromhex(node["v"])
        if t == "complex":
            return complex(float.fromhex(node["v"][0]), float.fromhex(node["v"][1]))
        if t == "list":
            return [self.decode(v) for v in node["items"]]
        if t == "tuple":
            return tuple(self.decode(v) for v in node["items"])
        if t in ("dict", "odict"):
            out = (OrderedDict if t == "odict" else dict)()
            for k, v in node["items"]:
                if k is not None and type(k) not in (str, int, bool):
                    raise TypeError(f"bad key {k!r}")
                out[k] = self.decode(v)
            if "meta" in node:
                out._metadata = self.decode(node["meta"])  # type: ignore[union-attr]
            return out
        if t == "dtype":
            return _DTYPES[node["v"]]
        if t in _LEAVES:
            name = node["name"]
            if name not in self._built:
                self._built[name] = self._leaf(node)
            return self._built[name]
        raise ValueError(f"unknown node type {t!r}")

    def _leaf(self, node: dict) -> Any:
        arr = self.arrays[node["name"]]
        if arr.dtype.name != node["dtype"] or list(arr.shape) != node["shape"]:
            raise ValueError(f"tensor {node['name']!r} is {arr.dtype}{list(arr.shape)}, the "
                             f"structure says {node['dtype']}{node['shape']}")
        t = node["t"]
        if t == "ndarray":
            return arr
        if t == "npscalar":
            return arr[()]
        if t == "parameter" and self._param is not None:
            return self._param(from_numpy(arr), requires_grad=node["requires_grad"])
        out = from_numpy(arr)
        if node["requires_grad"]:
            out.requires_grad_(True)
        return out


def load(f: PathLike | BinaryIO, map_location: Any = None, weights_only: bool = True) -> Any:
    """Load what ``cr.save`` wrote, as ``torch.load`` does; tensors come back as chainrule tensors.

    ``map_location`` may be None, "cpu", ``cr.device("cpu")``, a dict or a callable (all mean the
    CPU here; "cuda" raises). ``weights_only`` is accepted and ignored: nothing is ever unpickled.
    Raises ``CheckpointError`` for a file that is not a chainrule checkpoint, is truncated, fails
    its SHA-256 check, or has an unknown format version.
    """
    _check_map_location(map_location)
    where = _where(f)
    arrays, meta = _read(f, ours=True)
    meta = _check_meta(meta, where)
    digest = _digest(meta["structure"], arrays)
    if digest != meta["sha256"]:
        raise CheckpointError(
            f"{where} failed its integrity check: the SHA-256 of its contents is {digest[:16]}..., "
            f"the file records {meta['sha256'][:16]}...; it was modified or corrupted after it "
            "was written, so chainrule refuses to load it")
    try:
        return _Decoder(arrays).decode(json.loads(meta["structure"]))
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, RuntimeError) as e:
        raise CheckpointError(f"{where} is corrupted: its structure does not describe its "
                              f"tensors ({type(e).__name__}: {e})") from None


# -- plain safetensors --------------------------------------------------------------------------

def load_safetensors(f: PathLike | BinaryIO) -> dict[str, Tensor]:
    """Read any safetensors file (from PyTorch, Hugging Face, ...) into ``{name: Tensor}``.

    Only the tensors are read (a chainrule checkpoint gives its flattened leaves by path); use
    ``cr.load`` to rebuild a chainrule checkpoint's structure.
    """
    arrays, _ = _read(f, ours=False)
    return {k: from_numpy(v) for k, v in arrays.items()}


def save_safetensors(tensors: dict[str, Any], path: PathLike,
                     metadata: dict[str, str] | None = None) -> None:
    """Write ``{name: tensor or array}`` as a plain safetensors file for other tools."""
    arrays = {}
    for k, v in tensors.items():
        a = v.detach().numpy() if isinstance(v, Tensor) else np.asarray(v)
        if a.dtype.name not in _DTYPES:
            raise TypeError(f"save_safetensors: {k!r} has dtype {a.dtype}; supported dtypes are "
                            f"{', '.join(_DTYPES)}")
        arrays[str(k)] = _contiguous(a)
    _save_atomic(path, lambda: (arrays, dict(metadata) if metadata else None))
