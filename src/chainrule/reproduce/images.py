"""Fashion-MNIST, or any folder of MNIST-style IDX files, as flat float32 arrays."""

from __future__ import annotations

import numpy as np

from chainrule.data.datasets.idx import MNIST, DatasetNotFoundError, FashionMNIST

INSTALL = ("Fashion-MNIST is not installed: `sudo apt-get install -y dataset-fashion-mnist` "
           "(files in /usr/share/datasets/fashion-mnist), or pass --data FOLDER with the four "
           "IDX files")


def load(folder: str | None, limit: int | None = None) -> tuple[tuple[np.ndarray, ...], str]:
    """(x_train, y_train, x_test, y_test) with pixels in [0, 1], flattened, and a name for the
    data: Fashion-MNIST when ``folder`` is None, else the IDX files in ``folder``."""
    try:
        if folder is None:
            train, test, name = FashionMNIST(train=True), FashionMNIST(train=False), \
                "Fashion-MNIST"
        else:
            train, test = MNIST(root=folder, train=True), MNIST(root=folder, train=False)
            name = f"IDX files in {folder}"
    except DatasetNotFoundError as e:
        if folder is None:
            raise FileNotFoundError(INSTALL) from None
        files = ", ".join(f for pair in MNIST.resources.values() for f in pair)
        raise FileNotFoundError(f"--data {folder}: the IDX files were not found there ({files}; "
                                "gzipped or not)") from e

    def flat(ds: MNIST) -> tuple[np.ndarray, np.ndarray]:
        x = ds.data.reshape(len(ds.data), -1).astype(np.float32) / np.float32(255)
        return x, ds.targets.astype(np.int64)

    x, y = flat(train)
    xt, yt = flat(test)
    if limit is not None:
        x, y, xt, yt = x[:limit], y[:limit], xt[:max(limit // 5, 100)], yt[:max(limit // 5, 100)]
    return (x, y, xt, yt), name
