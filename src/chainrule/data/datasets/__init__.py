"""Ready-made datasets: synthetic problems, the bundled 8x8 digits, MNIST / Fashion-MNIST, and
loaders for your own CSV / NPZ tables."""

from chainrule.data.datasets.digits import Digits, load_digits
from chainrule.data.datasets.idx import (
    MNIST,
    ChecksumError,
    DatasetNotFoundError,
    DownloadError,
    FashionMNIST,
    IDXError,
    read_idx,
    write_idx,
)
from chainrule.data.datasets.synthetic import (
    blobs,
    circles,
    encoder,
    moons,
    parity,
    regression_1d,
    spirals,
    xor,
)
from chainrule.data.datasets.tabular import load_csv, load_npz
