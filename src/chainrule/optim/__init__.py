"""Optimisers and learning-rate schedulers with PyTorch's names (``torch.optim``).

``cr.optim.SGD``, ``Adam``, ``AdamW``, ``RMSprop``, ``Adagrad``, ``LBFGS``; schedulers in
``cr.optim.lr_scheduler`` (``StepLR``, ``CosineAnnealingLR``, ``OneCycleLR``, ...).
"""

from chainrule.optim import lr_scheduler
from chainrule.optim.adagrad import Adagrad
from chainrule.optim.adam import Adam, AdamW
from chainrule.optim.lbfgs import LBFGS
from chainrule.optim.optimizer import Optimizer, required
from chainrule.optim.rmsprop import RMSprop
from chainrule.optim.sgd import SGD

__all__ = ["LBFGS", "SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "lr_scheduler",
           "required"]
