"""Loading data: datasets, samplers, ``DataLoader`` and transforms, with PyTorch's names.

Also importable as ``chainrule.utils.data`` (PyTorch's path)::

    from chainrule.utils.data import DataLoader, TensorDataset
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)

``chainrule.data.datasets`` holds ready-made data (synthetic problems, the bundled digits,
MNIST / Fashion-MNIST, CSV / NPZ loaders); ``chainrule.data.transforms`` the transforms.
"""

from chainrule.data import augment, datasets, transforms
from chainrule.data.augment import split_labelled
from chainrule.data.collate import default_collate, default_convert
from chainrule.data.dataloader import DataLoader
from chainrule.data.dataset import (
    ArrayDataset,
    ConcatDataset,
    Dataset,
    IterableDataset,
    Subset,
    TensorDataset,
    random_split,
)
from chainrule.data.distributed import DistributedSampler
from chainrule.data.sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)
from chainrule.data.worker import WorkerInfo, get_worker_info
