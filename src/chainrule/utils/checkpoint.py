"""``cr.utils.checkpoint``, as ``torch.utils.checkpoint``: activation checkpointing
(``chainrule.autograd.checkpoint``; see docs/amp.md)."""

from chainrule.autograd.checkpoint import (
    CheckpointFunction,
    checkpoint,
    checkpoint_sequential,
    noop_context_fn,
)

__all__ = ["CheckpointFunction", "checkpoint", "checkpoint_sequential", "noop_context_fn"]
