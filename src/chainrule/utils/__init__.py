"""PyTorch-compatible aliases: ``chainrule.utils.data`` is ``chainrule.data``."""
