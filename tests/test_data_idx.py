"""IDX reading/writing, MNIST / Fashion-MNIST discovery, verified downloads from a local server."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from chainrule.data import DataLoader
from chainrule.data.datasets import (
    MNIST,
    ChecksumError,
    DatasetNotFoundError,
    DownloadError,
    FashionMNIST,
    IDXError,
    read_idx,
    write_idx,
)
from chainrule.data.datasets.idx import encode_idx, parse_idx

DEBIAN = Path("/usr/share/datasets/fashion-mnist")
FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the user's cache or a proxy; system folders only where a test says so."""
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path / "cache"))
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


# -- the format -----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4), (1, 1, 1, 2)])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_round_trip_every_dtype(tmp_path: Path, dtype: type, shape: tuple, name: str) -> None:
    rng = np.random.default_rng(0)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        a = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    else:
        a = rng.standard_normal(shape).astype(dtype)
    write_idx(tmp_path / name, a)
    raw = (tmp_path / name).read_bytes()
    assert (raw[:2] == b"\x1f\x8b") == name.endswith(".gz")
    b = read_idx(tmp_path / name)
    assert b.dtype == np.dtype(dtype) and b.shape == shape and np.array_equal(a, b)
    b[...] = 0  # writable, native order


def test_big_endian_layout_and_magic_sniffing(tmp_path: Path) -> None:
    data = encode_idx(np.array([1, -2], np.int16))
    assert data == bytes.fromhex("00000b01 00000002 0001 fffe")
    write_idx(tmp_path / "plain.name", np.arange(3, dtype=np.uint8), compress=True)
    assert read_idx(tmp_path / "plain.name").tolist() == [0, 1, 2]
    (tmp_path / "raw.gz").write_bytes(encode_idx(np.arange(2, dtype=np.float32)))
    assert read_idx(tmp_path / "raw.gz").tolist() == [0.0, 1.0]
    with pytest.raises(TypeError, match="int64"):
        encode_idx(np.zeros(2, np.int64))


@pytest.mark.parametrize("data,match", [
    (b"\x00\x00", "2 bytes long"),
    (b"<html>404</html>", "HTML page"),
    (b"\x00\x00\x07\x01\x00\x00\x00\x01\x00", "unknown IDX type code 0x07"),
    (b"\x00\x00\x08\x00", "0 dimensions"),
    (b"\x00\x00\x08\x03\x00\x00\x00\x02", "header declares 3 dimensions"),
    (bytes.fromhex("00000803 00000002 00000002 00000002") + bytes(7), "truncated"),
    (bytes.fromhex("00000801 00000002") + bytes(3), "followed by 1 extra bytes"),
])
def test_malformed_files_are_refused(data: bytes, match: str) -> None:
    with pytest.raises(IDXError, match=match):
        parse_idx(data)


def test_truncated_and_corrupt_gzip_are_refused(tmp_path: Path) -> None:
    full = gzip.compress(encode_idx(np.arange(5000, dtype=np.int32)), mtime=0)
    (tmp_path / "cut.gz").write_bytes(full[: len(full) // 2])
    with pytest.raises(IDXError, match="truncated"):
        read_idx(tmp_path / "cut.gz")
    bad = bytearray(full)
    bad[len(bad) // 2] ^= 0xFF
    (tmp_path / "bad.gz").write_bytes(bytes(bad))
    with pytest.raises(IDXError, match=r"truncated|corrupt"):
        read_idx(tmp_path / "bad.gz")
    whole = encode_idx(np.arange(100, dtype=np.uint8).reshape(10, 10))
    (tmp_path / "short").write_bytes(whole[:-1])
    with pytest.raises(IDXError, match=r"shape \(10, 10\) of uint8 = 100 bytes.*99 bytes"):
        read_idx(tmp_path / "short")


# -- MNIST-style datasets from generated files ----------------------------------------------------
def fake_files(n_train: int = 12, n_test: int = 5) -> dict[str, bytes]:
    rng = np.random.default_rng(1)
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        out[f"{prefix}-images-idx3-ubyte.gz"] = gzip.compress(
            encode_idx(rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)), mtime=0)
        out[f"{prefix}-labels-idx1-ubyte.gz"] = gzip.compress(
            encode_idx((np.arange(n) % 10).astype(np.uint8)), mtime=0)
    return out


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_files_in_root_gzipped_or_unpacked(tmp_path: Path) -> None:
    files = fake_files()
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    ds = MNIST(root=tmp_path, train=True)
    assert len(ds) == 12 and ds.folder == tmp_path and ds.data.dtype == np.uint8
    x, y = ds[3]
    assert x.shape == (1, 28, 28) and x.dtype == np.float32 and y.item() == 3
    expected = gzip.decompress(files["train-images-idx3-ubyte.gz"])[16 + 3 * 784:16 + 4 * 784]
    assert np.allclose(x.numpy().reshape(-1) * 255, np.frombuffer(expected, np.uint8))
    xb, yb = next(iter(DataLoader(ds, batch_size=4)))
    assert xb.shape == (4, 1, 28, 28) and yb.tolist() == [0, 1, 2, 3]
    assert np.array_equal(xb.numpy()[3], x.numpy())

    raw = tmp_path / "other" / "FashionMNIST" / "raw"  # torchvision's layout, unpacked, dotted
    raw.mkdir(parents=True)
    for name, data in files.items():
        (raw / name.removesuffix(".gz").replace("-idx", ".idx")).write_bytes(
            gzip.decompress(data))
    test = FashionMNIST(root=tmp_path / "other", train=False)
    assert len(test) == 5 and test.folder == raw and test.classes[9] == "Ankle boot"


def test_missing_dataset_says_how_to_get_it(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    how = "sudo apt-get install dataset-fashion-mnist"
    monkeypatch.setattr(FashionMNIST, "system_folders", ((str(tmp_path / "nowhere"), how),))
    with pytest.raises(DatasetNotFoundError) as info:
        FashionMNIST(root=tmp_path / "empty")
    msg = str(info.value)
    assert "apt-get install dataset-fashion-mnist" in msg and "download=True" in msg
    assert "root=" in msg and str(tmp_path / "empty") in msg
    with pytest.raises(DatasetNotFoundError, match="download=True"):
        MNIST()


def test_truncated_local_file_is_refused(tmp_path: Path) -> None:
    files = fake_files()
    for name, data in files.items():
        (tmp_path / name).write_bytes(data[:-20] if name.startswith("train-images") else data)
    with pytest.raises(IDXError, match="truncated"):
        MNIST(root=tmp_path)


# -- downloads from a real local HTTP server ------------------------------------------------------
@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on 127.0.0.1 (ephemeral port) serving ``tmp_path/www``; ``/cut/<name>``
    announces the full length but sends half and closes."""
    www = tmp_path / "www"
    www.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k) -> None:  # type: ignore[no-untyped-def]
            super().__init__(*a, directory=str(www), **k)

        def do_GET(self) -> None:
            if self.path.startswith("/cut/"):
                data = (www / self.path[5:]).read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.close_connection = True
                return
            super().do_GET()

        def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", www
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_download_checks_sha256_and_falls_back_to_next_mirror(
        tmp_path: Path, server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FashionMNIST, "system_folders", ())  # the Debian copy would be found
    url, www = server
    files = fake_files()
    for name, data in files.items():
        (www / name).write_bytes(data)
    hashes = {name: sha(data) for name, data in files.items()}
    root = tmp_path / "data"
    ds = FashionMNIST(root=root, train=True, download=True, hashes=hashes,
                      mirrors=[url + "/missing/", url])
    folder = root / "FashionMNIST" / "raw"
    assert ds.folder == folder and len(ds) == 12
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)  # all four, no .part
    assert all((folder / n).read_bytes() == d for n, d in files.items())
    again = FashionMNIST(root=root, train=False, download=True, hashes=hashes, mirrors=[])
    assert len(again) == 5  # already there: nothing fetched


def test_download_refuses_a_hash_mismatch(tmp_path: Path, server: tuple[str, Path]) -> None:
    url, www = server
    files = fake_files()
    for name, data in files.items():
        (www / name).write_bytes(data)
    hashes = {name: sha(data) for name, data in files.items()}
    hashes["train-labels-idx1-ubyte.gz"] = "0" * 64
    root = tmp_path / "data"
    with pytest.raises(ChecksumError, match="differs from the expected 0000"):
        MNIST(root=root, download=True, hashes=hashes, mirrors=[url])
    left = {p.name for p in (root / "MNIST" / "raw").iterdir()}
    assert "train-labels-idx1-ubyte.gz" not in left and not any(".part" in n for n in left)


def test_download_refuses_a_truncated_transfer(tmp_path: Path,
                                               server: tuple[str, Path]) -> None:
    url, www = server
    files = fake_files()
    for name, data in files.items():
        (www / name).write_bytes(data)
    hashes = {name: sha(data) for name, data in files.items()}
    root = tmp_path / "data"
    with pytest.raises(DownloadError) as info:
        MNIST(root=root, download=True, hashes=hashes, mirrors=[url + "/cut"])
    assert "train-images-idx3-ubyte.gz" in str(info.value)
    assert not list((root / "MNIST" / "raw").iterdir())
    for name, data in files.items():  # a mirror whose files are cut short: digests differ
        (www / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(ChecksumError):
        MNIST(root=root, download=True, hashes=hashes, mirrors=[url])
    assert not list((root / "MNIST" / "raw").iterdir())


# -- the Debian package ---------------------------------------------------------------------------
@pytest.mark.skipif(not DEBIAN.is_dir(), reason="Debian package dataset-fashion-mnist not "
                    "installed (apt-get install dataset-fashion-mnist puts it in "
                    "/usr/share/datasets/fashion-mnist)")
def test_debian_fashion_mnist_package() -> None:
    assert sorted(p.name for p in DEBIAN.glob("*.gz")) == sorted(FILES)
    train = FashionMNIST(train=True, verify=True)  # the payloads are the official ones
    test = FashionMNIST(train=False, verify=True)
    assert train.folder == DEBIAN and test.folder == DEBIAN
    assert train.data.shape == (60000, 28, 28) and test.data.shape == (10000, 28, 28)
    assert np.bincount(train.targets).tolist() == [6000] * 10
    assert np.bincount(test.targets).tolist() == [1000] * 10
    assert train.targets[:8].tolist() == [9, 0, 0, 3, 0, 2, 7, 2]
    assert test.targets[:5].tolist() == [9, 2, 1, 1, 6]
    xb, _ = next(iter(DataLoader(test, batch_size=64)))
    assert xb.shape == (64, 1, 28, 28) and 0.0 <= xb.numpy().min() <= xb.numpy().max() <= 1.0
