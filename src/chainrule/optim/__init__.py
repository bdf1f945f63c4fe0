"""Optimisers and learning-rate schedulers with PyTorch's names (``torch.optim``).

``cr.optim.SGD``, ``Adam``, ``AdamW``, ``RMSprop``, ``Adagrad``, ``Adadelta``, ``Adamax``,
``NAdam``, ``RAdam``, ``LBFGS``, ``Rprop``, ``ASGD``, ``Adafactor``, ``SparseAdam``; schedulers in
``cr.optim.lr_scheduler`` (``StepLR``, ``CosineAnnealingLR``, ``OneCycleLR``, ...); weight averaging
in ``cr.optim.swa_utils`` (``AveragedModel``, ``SWALR``, ``update_bn``).
"""

from chainrule.optim import lr_scheduler, swa_utils
from chainrule.optim.adadelta import Adadelta
from chainrule.optim.adafactor import Adafactor
from chainrule.optim.adagrad import Adagrad
from chainrule.optim.adam import Adam, AdamW
from chainrule.optim.adamax import Adamax
from chainrule.optim.asgd import ASGD
from chainrule.optim.lbfgs import LBFGS
from chainrule.optim.nadam import NAdam
from chainrule.optim.optimizer import Optimizer, required
from chainrule.optim.radam import RAdam
from chainrule.optim.rmsprop import RMSprop
from chainrule.optim.rprop import Rprop
from chainrule.optim.sgd import SGD
from chainrule.optim.sparse_adam import SparseAdam

__all__ = ["ASGD", "LBFGS", "SGD", "Adadelta", "Adafactor", "Adagrad", "Adam", "AdamW", "Adamax",
           "NAdam", "Optimizer", "RAdam", "RMSprop", "Rprop", "SparseAdam", "lr_scheduler",
           "required", "swa_utils"]
