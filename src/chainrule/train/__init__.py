"""Training: ``fit`` / ``Trainer``, ``evaluate``, ``predict``, metrics, callbacks, history.

::

    from chainrule.train import fit, evaluate, EarlyStopping, ModelCheckpoint
    history = fit(model, loss_fn, optimizer, train_ds, epochs=10, val_split=0.1, seed=0)
"""

from chainrule.train.callbacks import (
    Callback,
    CallbackList,
    CSVLogger,
    EarlyStopping,
    JSONLinesLogger,
    LambdaCallback,
    ModelCheckpoint,
    ReduceLROnPlateau,
    TerminateOnNaN,
)
from chainrule.train.history import History
from chainrule.train.loop import NonFiniteLossError, Trainer, evaluate, fit, predict
from chainrule.train.metrics import (
    MAE,
    MSE,
    R2,
    Accuracy,
    ConfusionMatrix,
    Mean,
    Metric,
    TopKAccuracy,
    get_metric,
)
from chainrule.train.progress import ProgressBar
