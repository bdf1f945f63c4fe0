"""Parallel training wrappers (PyTorch's ``torch.nn.parallel``)."""

from chainrule.nn.parallel.distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
