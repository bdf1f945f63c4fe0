"""IDX files (the MNIST format) and the ``MNIST`` / ``FashionMNIST`` datasets.

IDX: two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
0x0E float64), the number of dimensions, then one big-endian uint32 per dimension and the values,
big-endian, row-major. ``read_idx`` accepts the raw file or its gzip (told apart by the magic
bytes, not the name), checks the header and that the payload is exactly the size the header
declares, and refuses a truncated or corrupt file with an error instead of returning part of it.

Where ``MNIST`` / ``FashionMNIST`` look for the four files (``train-images-idx3-ubyte.gz``,
``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``;
gzipped or not, ``-idx3-`` or ``.idx3-`` in the name), in this order:

1. ``root`` (and ``root/<ClassName>/raw``, torchvision's layout) when given;
2. the cache folder ``$CHAINRULE_DATA/<name>`` (default ``~/.cache/chainrule/datasets/<name>``);
3. the Debian/Ubuntu package ``dataset-fashion-mnist``, which installs the four gzipped files in
   ``/usr/share/datasets/fashion-mnist/`` (Fashion-MNIST only; Debian recompressed them, so the
   .gz bytes differ from upstream but the IDX payloads are identical: see ``RAW_SHA256``).

With ``download=True`` missing files are fetched from the class's ``mirrors`` (or ``mirrors=``)
into ``root/<ClassName>/raw`` (or the cache folder), each into a temporary file that is renamed
into place only after its SHA-256 matches the known digest of the official .gz file.

The digests (class attributes ``sha256``: the official .gz files; ``raw_sha256``: their
decompressed payloads, checked with ``verify=True``) are those published in torchvision's dataset
definitions and by several independent projects; the Fashion-MNIST .gz digests belong to the
files whose MD5 sums the upstream README lists, and the Debian package's payloads hash to the
``raw_sha256`` values.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import struct
import tempfile
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from chainrule.data.dataset import ArrayDataset

IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in IDX_TYPES.items()}


class IDXError(ValueError):
    """An IDX file that is malformed, truncated or corrupt."""


class DownloadError(OSError):
    """No mirror delivered a file."""


class ChecksumError(DownloadError):
    """A downloaded file's SHA-256 differs from the expected digest."""


class DatasetNotFoundError(FileNotFoundError):
    """The dataset's files are not on this machine."""


# -- the IDX format -------------------------------------------------------------------------------
def _decompressed(raw: bytes, name: str) -> bytes:
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError:
        reason = "ends before the end of the gzip stream: the file is truncated"
    except (gzip.BadGzipFile, zlib.error) as e:
        reason = f"is not a valid gzip stream ({e}): the file is corrupt"
    raise IDXError(f"read_idx: {name} {reason}; delete it and get it again")


def parse_idx(data: bytes | bytearray | memoryview, name: str = "<bytes>") -> np.ndarray:
    """The array in an (uncompressed) IDX byte string, native byte order, writable."""
    data = memoryview(data).cast("B")
    if len(data) < 4:
        raise IDXError(f"read_idx: {name} is {len(data)} bytes long; an IDX file starts with a "
                       "4-byte magic number")
    z0, z1, code, ndim = data[0], data[1], data[2], data[3]
    if z0 or z1:
        hint = " (it looks like an HTML page: a failed download?)" if data[0] == ord("<") else ""
        raise IDXError(f"read_idx: {name} is not an IDX file: it starts with bytes "
                       f"{bytes(data[:4]).hex(' ')}; expected 00 00 <type> <ndim>{hint}")
    if code not in IDX_TYPES:
        known = ", ".join(f"0x{c:02X} {d.name}" for c, d in IDX_TYPES.items())
        raise IDXError(f"read_idx: {name}: unknown IDX type code 0x{code:02X}; expected one of "
                       f"{known}")
    if ndim == 0:
        raise IDXError(f"read_idx: {name}: the header declares 0 dimensions; expected at least 1")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IDXError(f"read_idx: {name}: the header declares {ndim} dimensions ({header} bytes "
                       f"of header) but the file has only {len(data)} bytes: it is truncated")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = IDX_TYPES[code]
    expected = math.prod(dims) * dtype.itemsize
    actual = len(data) - header
    if actual != expected:
        what = "truncated" if actual < expected else f"followed by {actual - expected} extra bytes"
        raise IDXError(f"read_idx: {name}: the header declares shape {dims} of {dtype.name} "
                       f"= {expected} bytes of data, but the file holds {actual} bytes after "
                       f"the {header}-byte header: it is {what} (a corrupt or partial file); "
                       "delete it and get it again")
    arr = np.frombuffer(data, dtype=dtype, count=math.prod(dims), offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))  # a native, writable copy


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, raw or gzipped (see the module docstring)."""
    path = Path(path)
    return parse_idx(_decompressed(path.read_bytes(), str(path)), str(path))


def encode_idx(array: Any) -> bytes:
    """The IDX bytes of ``array`` (uint8, int8, int16, int32, float32 or float64, 1 to 255 dims)."""
    a = np.asarray(array)
    code = _CODES.get(a.dtype.newbyteorder("="))
    if code is None:
        raise TypeError(f"write_idx: IDX cannot store dtype {a.dtype}; expected uint8, int8, "
                        "int16, int32, float32 or float64")
    if not 1 <= a.ndim <= 255 or any(d >= 2 ** 32 for d in a.shape):
        raise ValueError(f"write_idx: IDX stores 1 to 255 dimensions of size < 2**32, got shape "
                         f"{a.shape}")
    head = bytes([0, 0, code, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    return head + np.ascontiguousarray(a, dtype=IDX_TYPES[code]).tobytes()


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_idx(path: str | os.PathLike, array: Any, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file (gzipped when ``compress``, by default when the name ends
    in .gz), atomically: a reader never sees a partial file."""
    path = Path(path)
    data = encode_idx(array)
    if compress if compress is not None else path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    _atomic_write(path, data)


# -- downloading ----------------------------------------------------------------------------------
def download_file(filename: str, folder: Path, mirrors: Sequence[str], sha256: str,
                  timeout: float = 60.0) -> Path:
    """Fetch ``filename`` from the first mirror that serves it with the expected SHA-256.

    The bytes go to a temporary file in ``folder`` and are renamed to ``folder/filename`` only
    after the digest matches, so an interrupted or wrong download never looks like a good file.
    """
    import http.client  # imported here: only downloads pay for the HTTP stack
    import urllib.request

    folder.mkdir(parents=True, exist_ok=True)
    failures, mismatch = [], False
    for base in mirrors:
        url = base.rstrip("/") + "/" + filename
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{filename}.", suffix=".part")
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                while chunk := resp.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
            got = digest.hexdigest()
            if got != sha256:
                mismatch = True
                failures.append(f"{url}: SHA-256 {got} differs from the expected {sha256}")
                continue
            os.replace(tmp, folder / filename)
            return folder / filename
        except (OSError, http.client.HTTPException) as e:  # URLError, timeouts, cut transfers
            failures.append(f"{url}: {e}")
        finally:
            Path(tmp).unlink(missing_ok=True)
    kind = ChecksumError if mismatch else DownloadError
    raise kind(f"download: could not get {filename} from any mirror (nothing was kept):\n  "
               + "\n  ".join(failures or ["no mirrors given"]))


def default_root() -> Path:
    """Where downloaded datasets are kept: ``$CHAINRULE_DATA`` or ``~/.cache/chainrule/datasets``
    (under ``$XDG_CACHE_HOME`` when set)."""
    env = os.environ.get("CHAINRULE_DATA")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "chainrule" / "datasets"


# -- the datasets ---------------------------------------------------------------------------------
_CACHE: dict[tuple, np.ndarray] = {}


def _load(path: Path, raw_sha256: str | None) -> np.ndarray:
    """Read an IDX file once per (path, size, mtime); the cached array is read-only."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, raw_sha256)
    if key not in _CACHE:
        data = _decompressed(path.read_bytes(), str(path))
        if raw_sha256 is not None:
            got = hashlib.sha256(data).hexdigest()
            if got != raw_sha256:
                raise IDXError(f"read_idx: {path}: the IDX payload has SHA-256 {got}, expected "
                               f"{raw_sha256} (verify=True): not the official file")
        arr = parse_idx(data, str(path))
        arr.setflags(write=False)
        if len(_CACHE) >= 4:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = arr
    return _CACHE[key]


def _variants(filename: str) -> list[str]:
    """Names a file may have on disk: gzipped or not, ``-idx3-`` or ``.idx3-`` (as unzipped from
    some archives)."""
    stem = filename.removesuffix(".gz")
    dotted = stem.replace("-idx", ".idx")
    return [filename, stem, dotted + ".gz", dotted]


class MNIST(ArrayDataset):
    """The MNIST handwritten digits: 60000 training / 10000 test images of 28x28, 10 classes.

    ``ds[i]`` is ``(image, label)``: the image a float32 tensor of shape (1, 28, 28) in [0, 1]
    (what torchvision gives with ``transform=ToTensor()``), then ``transform`` if given; the
    label an int64 tensor, then ``target_transform``. ``DataLoader`` builds batches with one
    fancy index and applies the transforms per batch. ``.data`` (uint8, (N, 28, 28)) and
    ``.targets`` (int64) hold the raw arrays; ``.folder`` says where the files were found.
    """

    name: ClassVar[str] = "mnist"
    mirrors: ClassVar[list[str]] = [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ]
    resources: ClassVar[dict[str, tuple[str, str]]] = {
        "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
        "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
    }
    sha256: ClassVar[dict[str, str]] = {  # the official .gz files
        "train-images-idx3-ubyte.gz":
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz":
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz":
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz":
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    }
    raw_sha256: ClassVar[dict[str, str]] = {  # their decompressed IDX payloads
        "train-images-idx3-ubyte.gz":
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte.gz":
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte.gz":
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte.gz":
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    }
    system_folders: ClassVar[tuple[tuple[str, str], ...]] = ()  # (folder, how to install it)
    classes: ClassVar[list[str]] = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
                                    "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True,
                 transform: Callable | None = None, target_transform: Callable | None = None,
                 download: bool = False, *, mirrors: Sequence[str] | None = None,
                 hashes: dict[str, str] | None = None, verify: bool = False) -> None:
        self.root = None if root is None else Path(root).expanduser()
        self.train = train
        self._mirrors = list(type(self).mirrors if mirrors is None else mirrors)
        self._hashes = {**type(self).sha256, **(hashes or {})}
        split = "train" if train else "test"
        found = self._find(self.resources[split])
        if found is None and download:
            self.download()
            found = self._find(self.resources[split])
        if found is None:
            raise DatasetNotFoundError(self._not_found(split))
        self.folder, paths = found
        raw = self.raw_sha256 if verify else {}
        images, labels = (_load(p, raw.get(f)) for p, f in zip(paths, self.resources[split]))
        if images.ndim != 3 or images.dtype != np.uint8:
            raise IDXError(f"{type(self).__name__}: {paths[0]} holds {images.dtype} of shape "
                           f"{images.shape}; expected uint8 images of shape (N, rows, cols)")
        if labels.shape != (len(images),):
            raise IDXError(f"{type(self).__name__}: {len(images)} images in {paths[0]} but "
                           f"labels of shape {labels.shape} in {paths[1]}; expected "
                           f"({len(images)},)")
        if labels.size and labels.max() >= len(self.classes):
            raise IDXError(f"{type(self).__name__}: {paths[1]} has label {labels.max()}; "
                           f"expected 0..{len(self.classes) - 1}")
        super().__init__(images, labels.astype(np.int64), transform, target_transform)

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.classes)}

    def _prepare(self, x: np.ndarray, batched: bool) -> np.ndarray:
        out = x.astype(np.float32)
        out /= np.float32(255)
        return out[:, None] if batched else out[None]

    # -- finding and fetching files --------------------------------------------------------------
    def _folders(self) -> list[tuple[Path, str]]:
        out = []
        if self.root is not None:
            out += [(self.root, "root"), (self.root / type(self).__name__ / "raw", "root"),
                    (self.root / type(self).__name__, "root"), (self.root / self.name, "root")]
        else:
            out.append((default_root() / self.name, "cache"))
        out += [(Path(f), how) for f, how in self.system_folders]
        return out

    def _find(self, files: Sequence[str]) -> tuple[Path, list[Path]] | None:
        for folder, _ in self._folders():
            paths = []
            for f in files:
                hit = next((folder / v for v in _variants(f) if (folder / v).is_file()), None)
                if hit is None:
                    break
                paths.append(hit)
            else:
                return folder, paths
        return None

    def _download_folder(self) -> Path:
        if self.root is not None:
            return self.root / type(self).__name__ / "raw"
        return default_root() / self.name

    def download(self) -> None:
        """Fetch the four files (those not already present) and check their SHA-256."""
        folder = self._download_folder()
        for files in self.resources.values():
            for f in files:
                if any((folder / v).is_file() for v in _variants(f)):
                    continue
                digest = self._hashes.get(f)
                if not digest:
                    raise ChecksumError(f"{type(self).__name__}.download: no SHA-256 known for "
                                        f"{f}; pass hashes={{{f!r}: '<sha256>'}}")
                download_file(f, folder, self._mirrors, digest)

    def _not_found(self, split: str) -> str:
        cls = type(self).__name__
        files = ", ".join(self.resources[split])
        looked = "\n".join(f"  {folder}" for folder, _ in self._folders())
        ways = [f"  - {cls}(..., download=True): fetches them from {self._mirrors[0]}"
                f"{' (or another mirror)' if len(self._mirrors) > 1 else ''}, checks their "
                f"SHA-256, keeps them in {self._download_folder()}"]
        ways += [f"  - {how}" for _, how in self.system_folders]
        ways.append(f"  - {cls}(root='folder') with the files (gzipped or not) in that folder")
        return (f"{cls}: the {split} files ({files}) were not found; looked in:\n{looked}\n"
                "Get them one of these ways:\n" + "\n".join(ways))


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST (MIT licensed): 28x28 grayscale clothes, 10 classes, MNIST's
    format and sizes. Found in ``root``, the cache folder, or the Debian package
    ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``); see ``MNIST``."""

    name: ClassVar[str] = "fashion-mnist"
    mirrors: ClassVar[list[str]] = [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ]
    sha256: ClassVar[dict[str, str]] = {
        "train-images-idx3-ubyte.gz":
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz":
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz":
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz":
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    }
    raw_sha256: ClassVar[dict[str, str]] = {
        "train-images-idx3-ubyte.gz":
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte.gz":
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte.gz":
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte.gz":
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    }
    system_folders: ClassVar[tuple[tuple[str, str], ...]] = (
        ("/usr/share/datasets/fashion-mnist",
         "sudo apt-get install dataset-fashion-mnist  (Debian/Ubuntu: puts the four .gz files "
         "in /usr/share/datasets/fashion-mnist, found automatically)"),
    )
    classes: ClassVar[list[str]] = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
