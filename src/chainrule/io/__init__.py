"""Saving and loading: ``cr.save``/``cr.load`` (safetensors, never pickle), atomic writes,
training checkpoints that resume bit-exactly."""

from chainrule.io.atomic import atomic_write
from chainrule.io.checkpoint import load_checkpoint, save_checkpoint
from chainrule.io.serialization import (
    CheckpointError,
    load,
    load_safetensors,
    save,
    save_safetensors,
)
