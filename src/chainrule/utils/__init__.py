"""PyTorch-compatible aliases: ``chainrule.utils.data`` is ``chainrule.data``;
``chainrule.utils.checkpoint`` (activation checkpointing) and ``chainrule.utils.tensorboard``
(``SummaryWriter``) are imported on first use."""

from chainrule.utils import data


def __getattr__(name: str) -> object:
    if name in ("checkpoint", "tensorboard"):
        import importlib

        return importlib.import_module(f"chainrule.utils.{name}")
    raise AttributeError(f"module 'chainrule.utils' has no attribute {name!r}")
