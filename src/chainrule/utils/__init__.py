"""PyTorch-compatible aliases: ``chainrule.utils.data`` is ``chainrule.data``."""

from chainrule.utils import data
